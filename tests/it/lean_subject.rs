//! A subject whose clean pass keeps only what its one map reads (`Subject::for_map`, which
//! `render` and `evaluate`'s randomization and sensitivity checks use) gives every gradient and
//! CAM method's map bit for bit as a full clean pass does, on the demo and on fixture networks
//! with batch norm, residual sums, depthwise convolutions and concatenations, while that pass
//! holds less; the other maps keep the full pass. A subject that keeps only the scores
//! (`Subject::scores_only`, `predict`'s) gives the same scores, alone and stacked. Each runs
//! with convscope's CPU kernels and on the device-generic path (kernels off: the GPU's ops),
//! there on the test device (`CONVSCOPE_TEST_DEVICE`), which puts the dropped outputs'
//! stand-ins on a GPU when one is named.

use std::sync::Arc;

use candle_core::Device;
use convscope::engine::{explain, Request, Session, Subject, Together};
use convscope::exec::cpu::with_kernels;
use convscope::exec::CancelToken;
use convscope::input::preprocess::Preprocess;
use convscope::input::{Input, Source};
use convscope::methods::{self, cam, Control, Family, LayerNeed, Objective, Options};
use convscope::model::Graph;
use tempfile::TempDir;

use crate::cli_many::pictures;
use crate::common::{device, fixtures};

/// Bit for bit on the CPU, where the lean and the full pass run the same arithmetic. Elsewhere
/// to 1e-5 of the largest magnitude: a GPU's reductions may sum in another order from one run
/// to the next.
fn same(got: &[f32], want: &[f32], exact: bool) -> bool {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    got.len() == want.len()
        && got.iter().zip(want).all(|(a, b)| match exact {
            true => a.to_bits() == b.to_bits(),
            false => (a - b).abs() <= 1e-5 * scale,
        })
}

/// The CPU with convscope's kernels, then the test device without them.
fn on_both_paths(check: impl Fn(&str, Device)) {
    with_kernels(true, || check("kernels", Device::Cpu));
    with_kernels(false, || check("generic", device()));
}

/// `n` generated pictures, loaded for `session`'s model (the folder lives as long as the
/// first value).
fn inputs(session: &Session, n: usize) -> (TempDir, Vec<Arc<Input>>) {
    let dir = TempDir::new().unwrap();
    let inputs = pictures(dir.path(), n)
        .iter()
        .map(|rel| {
            let source = Source::Image(dir.path().join(rel));
            Arc::new(Input::load(&session.graph, &source, Preprocess::Imagenet).unwrap())
        })
        .collect();
    (dir, inputs)
}

fn lean_equals_full(what: &str, graph: Graph, device: Device) {
    let session = Session::new(graph, device).unwrap();
    let (_dir, mut loaded) = inputs(&session, 1);
    let input = loaded.remove(0);
    let scores = session.graph.logits_layer();
    let layer = cam::default_layer(&session.graph).unwrap();
    let chosen: Vec<_> = methods::all()
        .into_iter()
        .filter(|m| matches!(m.info().family, Family::Gradient | Family::Cam))
        .collect();
    assert!(chosen.len() >= 12, "{}", chosen.len());
    for method in chosen {
        let id = method.info().id;
        let at = (method.info().layer != LayerNeed::None).then_some(layer);
        let request = || Request {
            method,
            layer: at,
            objective: Objective::Class { scores, class: 1 },
            options: Options::Default,
            batch: 4,
        };
        let full = Subject::new(&session, input.clone()).unwrap();
        let lean =
            Subject::new(&session, input.clone())
                .unwrap()
                .for_map(&session.graph, method, at);
        let want = explain(&session, &full, request(), Control::default()).unwrap();
        let got = explain(&session, &lean, request(), Control::default()).unwrap();
        let (g, w) = (got.output.artifact.data(), want.output.artifact.data());
        assert!(
            same(g, w, session.device.is_cpu()),
            "{what} {id}: the lean clean pass changed the map"
        );
        assert_eq!(got.facts.target, want.facts.target, "{what} {id}");
        let (lean_bytes, full_bytes) = (
            lean.cached().unwrap().kept_bytes(),
            full.cached().unwrap().kept_bytes(),
        );
        assert!(
            lean_bytes < full_bytes,
            "{what} {id}: the lean pass holds {lean_bytes} bytes, the full one {full_bytes}"
        );
    }
}

/// The demo and the fixture networks, each with its name.
fn nets() -> Vec<(String, Graph)> {
    let mut nets = vec![(
        "demo".to_string(),
        convscope::import::demo::graph().unwrap(),
    )];
    for net in ["resnet_like", "mobilenet_like", "densenet_like"] {
        let path = fixtures().join(format!("nets/{net}.onnx"));
        let graph = convscope::import::open_model(path.to_str().unwrap()).unwrap();
        nets.push((net.to_string(), graph));
    }
    nets
}

#[test]
fn a_lean_clean_pass_gives_every_gradient_and_cam_map_of_a_full_one() {
    on_both_paths(|path, device| {
        for (net, graph) in nets() {
            lean_equals_full(&format!("{net} ({path})"), graph, device.clone());
        }
    });
}

/// Maps that may read any layer of the clean pass (feature maps, occlusion's cached pass,
/// Score-CAM's activations, filters) keep all of it.
#[test]
fn other_maps_keep_the_full_clean_pass() {
    let session = Session::new(convscope::import::demo::graph().unwrap(), Device::Cpu).unwrap();
    let (_dir, mut loaded) = inputs(&session, 1);
    let input = loaded.remove(0);
    let layer = cam::default_layer(&session.graph);
    let full = Subject::new(&session, input.clone()).unwrap();
    let full_bytes = full
        .clean(&session, &CancelToken::new())
        .unwrap()
        .kept_bytes();
    let others: Vec<_> = methods::all()
        .into_iter()
        .filter(|m| !matches!(m.info().family, Family::Gradient | Family::Cam))
        .collect();
    assert!(others.len() >= 4, "{}", others.len());
    for method in others {
        let subject =
            Subject::new(&session, input.clone())
                .unwrap()
                .for_map(&session.graph, method, layer);
        let bytes = subject
            .clean(&session, &CancelToken::new())
            .unwrap()
            .kept_bytes();
        assert_eq!(bytes, full_bytes, "{}", method.info().id);
        // With gradient and CAM maps beside it (`evaluate --methods`), still the full pass.
        let (saliency, gradcam) = (
            methods::by_id("saliency").unwrap(),
            methods::by_id("gradcam").unwrap(),
        );
        let maps = [(saliency, None), (gradcam, layer), (method, layer)];
        let subject = Subject::new(&session, input.clone())
            .unwrap()
            .for_maps(&session.graph, &maps);
        let acts = subject.clean(&session, &CancelToken::new()).unwrap();
        assert_eq!(
            acts.kept_bytes(),
            full_bytes,
            "{} among others",
            method.info().id
        );
    }
}

/// Several gradient and CAM maps at different layers (`evaluate --methods`): one lean pass
/// that keeps every layer they read, and gives each map of a full pass.
#[test]
fn several_maps_share_a_lean_pass_that_keeps_all_their_layers() {
    let session = Session::new(convscope::import::demo::graph().unwrap(), Device::Cpu).unwrap();
    let (_dir, mut loaded) = inputs(&session, 1);
    let input = loaded.remove(0);
    let graph = &session.graph;
    let spatial: Vec<_> = graph
        .ids()
        .filter(|&id| cam::check_spatial(graph, id).is_ok())
        .collect();
    let (early, late) = (spatial[1], *spatial.last().unwrap());
    let gradcam = methods::by_id("gradcam").unwrap();
    let maps = [
        (methods::by_id("ig").unwrap(), None),
        (gradcam, Some(early)),
        (gradcam, Some(late)),
    ];
    let lean = Subject::new(&session, input.clone())
        .unwrap()
        .for_maps(graph, &maps);
    let full = Subject::new(&session, input.clone()).unwrap();
    for (method, layer) in maps {
        let request = || Request {
            method,
            layer,
            objective: Objective::Class {
                scores: graph.logits_layer(),
                class: 2,
            },
            options: Options::Default,
            batch: 4,
        };
        let want = explain(&session, &full, request(), Control::default()).unwrap();
        let got = explain(&session, &lean, request(), Control::default()).unwrap();
        let what = format!("{} at {layer:?}", method.info().id);
        assert!(
            same(
                got.output.artifact.data(),
                want.output.artifact.data(),
                true
            ),
            "{what}"
        );
    }
    let (lean, full) = (lean.cached().unwrap(), full.cached().unwrap());
    assert!(lean.kept_bytes() < full.kept_bytes());
}

/// `predict`'s subjects: the scores of a pass that keeps nothing else are those of a full
/// pass, bit for bit, one input at a time and several stacked, and the pass holds only them.
fn scores_only_equal_full(what: &str, graph: Graph, device: Device) {
    let session = Session::new(graph, device).unwrap();
    let (_dir, inputs) = inputs(&session, 3);
    let make = |lean: bool| -> Vec<Subject> {
        inputs
            .iter()
            .map(|input| {
                let s = Subject::new(&session, input.clone()).unwrap();
                if lean {
                    s.scores_only(&session.graph)
                } else {
                    s
                }
            })
            .collect()
    };
    let logits = session.graph.layer(session.graph.logits_layer());
    let scores_bytes = logits.out_shape[1..].iter().product::<usize>() * 4;
    for stacked in [false, true] {
        let (full, lean) = (make(false), make(true));
        if stacked {
            Together::forward(&session, &full, &CancelToken::new()).unwrap();
            Together::forward(&session, &lean, &CancelToken::new()).unwrap();
        }
        for (f, l) in full.iter().zip(&lean) {
            let (want, got) = (f.scores(&session).unwrap(), l.scores(&session).unwrap());
            let exact = session.device.is_cpu();
            assert!(same(&got, &want, exact), "{what}, stacked {stacked}");
        }
        if !stacked {
            let held = lean[0].cached().unwrap().kept_bytes();
            assert_eq!(
                held, scores_bytes,
                "{what}: the scores-only pass keeps more"
            );
        }
    }
}

#[test]
fn a_scores_only_pass_gives_the_scores_of_a_full_one() {
    on_both_paths(|path, device| {
        for (net, graph) in nets() {
            scores_only_equal_full(&format!("{net} ({path})"), graph, device.clone());
        }
    });
}
