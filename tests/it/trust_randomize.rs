//! The randomization check (src/trust/randomize.rs): against a reference that injects
//! convscope's draws (tests/fixtures/make_trust.py: torch autograd for the saliency maps,
//! scipy's `spearmanr`, scikit-image's SSIM), reproducible, and never touching the model's
//! own weights.
//!
//! Tolerance 1e-4 on ρ and SSIM: the maps are float32 gradients computed by two libraries
//! (differences of 1e-7 relative), which can swap the ranks of a few nearly equal pixels.

use std::sync::Arc;

use candle_core::Device;
use convscope::engine::{explain, Request, Session};
use convscope::import::onnx;
use convscope::input::preprocess::Preprocess;
use convscope::input::{Input, Source};
use convscope::methods::{self, Control, Objective, Options};
use convscope::trust::randomize::{check, parameterized, Order, Run};
use serde_json::Value;

use crate::common::fixtures;

pub(crate) struct Sharp {
    pub(crate) session: Session,
    pub(crate) input: Arc<Input>,
    pub(crate) target: usize,
}

pub(crate) fn sharp() -> Sharp {
    let dir = fixtures().join("trust");
    let graph = onnx::load(&dir.join("sharp.onnx")).unwrap();
    let session = Session::new(graph, Device::Cpu).unwrap();
    let input = Arc::new(
        Input::load(
            &session.graph,
            &Source::Npy(dir.join("sharp.input.npy")),
            Preprocess::Imagenet,
        )
        .unwrap(),
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sharp.json")).unwrap()).unwrap();
    let target = manifest["target"].as_u64().unwrap() as usize;
    Sharp {
        session,
        input,
        target,
    }
}

impl Sharp {
    pub(crate) fn request(&self) -> Request {
        Request {
            method: methods::by_id("saliency").unwrap(),
            layer: None,
            objective: Objective::Class {
                scores: self.session.graph.logits_layer(),
                class: self.target,
            },
            options: Options::Default,
            batch: 1,
        }
    }

    fn saliency(&self) -> Vec<f32> {
        let subject = self.session.subject(&self.input).unwrap();
        let done = explain(&self.session, &subject, self.request(), Control::default()).unwrap();
        done.output.artifact.data().to_vec()
    }

    fn check(&self, order: Order, seed: u64) -> convscope::trust::Check {
        self.check_observed(order, seed, &|_| {})
    }

    fn check_observed(
        &self,
        order: Order,
        seed: u64,
        observer: &dyn Fn(&convscope::trust::Check),
    ) -> convscope::trust::Check {
        let subject = self.session.subject(&self.input).unwrap();
        let original = explain(&self.session, &subject, self.request(), Control::default())
            .unwrap()
            .output
            .artifact;
        let layers = parameterized(&self.session.graph);
        let request = || self.request();
        check(
            &self.session,
            &self.input,
            &request,
            &original,
            &layers,
            order,
            &Run {
                seed,
                control: &Control::default(),
                observer,
            },
        )
        .unwrap()
    }
}

#[test]
fn cascading_and_independent_match_the_reference_with_the_same_draws() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("trust/trust.json")).unwrap(),
    )
    .unwrap();
    let reference = &reference["randomization"];
    let net = sharp();
    assert_eq!(reference["target"].as_u64().unwrap() as usize, net.target);
    let names: Vec<&str> = parameterized(&net.session.graph)
        .iter()
        .map(|&l| net.session.graph.layer(l).name.as_str())
        .collect();
    assert_eq!(names, ["fc", "conv2", "conv1"], "top first");
    let seed = reference["seed"].as_u64().unwrap();
    for (order, key) in [
        (Order::Cascading, "cascading"),
        (Order::Independent, "independent"),
    ] {
        let got = net.check(order, seed);
        let want = reference[key].as_array().unwrap();
        assert_eq!(got.steps.len(), want.len());
        for (g, w) in got.steps.iter().zip(want) {
            let layer = &net.session.graph.layer(g.layer).name;
            assert_eq!(layer, w["layer"].as_str().unwrap());
            for (name, value) in [
                ("spearman_abs", g.spearman_abs),
                ("spearman_signed", g.spearman_signed),
                ("ssim", g.ssim),
            ] {
                let (value, want) = (value.unwrap() as f64, w[name].as_f64().unwrap());
                assert!(
                    (value - want).abs() < 1e-4,
                    "{key} {layer} {name}: {value} vs {want}"
                );
            }
        }
    }
}

#[test]
fn the_check_is_seeded_and_leaves_the_models_weights_alone() {
    let net = sharp();
    let before = net.saliency();
    let a = net.check(Order::Cascading, 11);
    let b = net.check(Order::Cascading, 11);
    let c = net.check(Order::Cascading, 12);
    let rho = |x: &convscope::trust::Check| -> Vec<Option<f32>> {
        x.steps.iter().map(|s| s.spearman_abs).collect()
    };
    assert_eq!(rho(&a), rho(&b), "same seed, same draws");
    assert_ne!(rho(&a), rho(&c), "another seed, other draws");
    // The session's own weights, and so its maps, are as they were.
    assert_eq!(net.saliency(), before);
    let fresh = sharp();
    assert_eq!(fresh.saliency(), before);
}

/// The observer sees the check after each step, growing by one step at a time, ending as the
/// result: what the interface draws while the check runs.
#[test]
fn the_observer_sees_each_step_as_it_is_made() {
    let net = sharp();
    let seen = std::cell::RefCell::new(Vec::new());
    let got = net.check_observed(Order::Cascading, 3, &|c| {
        seen.borrow_mut()
            .push((c.steps.len(), c.steps.last().unwrap().spearman_abs));
    });
    let seen = seen.into_inner();
    assert_eq!(seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2, 3]);
    let last: Vec<Option<f32>> = got.steps.iter().map(|s| s.spearman_abs).collect();
    assert_eq!(seen.iter().map(|(_, r)| *r).collect::<Vec<_>>(), last);
}
