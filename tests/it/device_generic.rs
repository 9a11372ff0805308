//! The device-generic paths, proved on the CPU: with convscope's own CPU kernels off
//! (`exec::cpu::with_kernels(false, …)`), every op goes through candle's tensor ops, the paths a
//! CUDA device takes (only the backend under candle differs). Every method of the registry, on
//! the demo model and its picture, must then give the map the kernels give; and occlusion must
//! say that it left its incremental pass out, as it does on a GPU. With `CONVSCOPE_TEST_DEVICE`
//! naming a GPU, the generic side runs there: every method on CUDA against the CPU's kernels.
//!
//! Tolerance: 1e-4 of the map's largest magnitude for the one-pass methods (the two paths sum
//! float32 products in different orders: ~1e-6 relative per layer); 1e-3 for the methods that
//! iterate or divide by small numbers (SmoothGrad, IG, Score-CAM's softmax over scores, CAM
//! weights normalized by sums of gradients); measured: 4e-6 at most. Activation maximization,
//! hundreds of steps of gradient ascent where rounding differences grow, is compared step by
//! step for a few steps, and by the objective it reaches over its full run (within 10%).

use std::sync::Arc;

use crate::common::{device, pearson, rel_max_err_of, report_and_map};

use candle_core::Device;
use convscope::engine::{explain, Request, Session};
use convscope::exec::cpu::with_kernels;
use convscope::import::demo;
use convscope::input::preprocess::Preprocess;
use convscope::input::{Input, Source};
use convscope::methods::{
    self, cam, filters, ActMaxOptions, Control, LayerNeed, Method, Objective, Options, Output,
};

fn run(method: &'static dyn Method, options: Options, kernels: bool) -> Output {
    with_kernels(kernels, || {
        // A session per path: a session keeps its latest clean pass, which must be this path's.
        // The generic path runs on the test device: the CPU, or the GPU the test switch names.
        let device = if kernels { Device::Cpu } else { device() };
        let session = Session::new(demo::graph().unwrap(), device).unwrap();
        let graph = &session.graph;
        let input = Arc::new(Input::load(graph, &Source::Sample, Preprocess::Imagenet).unwrap());
        let subject = session.subject(&input).unwrap();
        let layer = match method.info().layer {
            LayerNeed::SpatialMap => cam::default_layer(graph),
            LayerNeed::Kernel => filters::default_layer(graph),
            LayerNeed::None | LayerNeed::Optional => None,
        };
        let request = Request {
            method,
            layer,
            objective: Objective::Class {
                scores: graph.logits_layer(),
                class: methods::target::top1(&subject.scores(&session).unwrap()),
            },
            options,
            batch: 8,
        };
        explain(&session, &subject, request, Control::default())
            .unwrap_or_else(|e| panic!("{} (kernels {kernels}): {e}", method.info().id))
            .output
    })
}

#[test]
fn every_method_gives_the_same_map_without_the_cpu_kernels() {
    for method in methods::all() {
        let id = method.info().id;
        let (kernels, generic) = (
            run(method, Options::Default, true),
            run(method, Options::Default, false),
        );
        let (k, g) = (kernels.artifact.data(), generic.artifact.data());
        assert!(g.iter().all(|v| v.is_finite()), "{id}: non-finite values");
        match id {
            "actmax" => {
                let end = |o: &Output| o.extras["objective_end"].as_f64().unwrap();
                let start = |o: &Output| o.extras["objective_start"].as_f64().unwrap();
                println!(
                    "{id}: correlation {:.3}, objective {:.3} → {:.3} (kernels), {:.3} → {:.3} (generic)",
                    pearson(g, k),
                    start(&kernels),
                    end(&kernels),
                    start(&generic),
                    end(&generic)
                );
                let gap = (end(&generic) - end(&kernels)).abs() / end(&kernels).abs();
                assert!(gap < 0.1, "{id}: the objectives reached differ by {gap}");
                assert!(end(&generic) > start(&generic));
            }
            _ => {
                let tol = match id {
                    "smoothgrad" | "ig" | "scorecam" | "gradcampp" | "xgradcam" => 1e-3,
                    _ => 1e-4,
                };
                let err = rel_max_err_of(g, k);
                println!("{id}: rel err {err:.2e}");
                assert!(err < tol, "{id}: the generic path differs by {err}");
            }
        }
        if id == "occlusion" {
            assert_eq!(kernels.extras["incremental"], true);
            assert_eq!(generic.extras["incremental"], false);
            let why = generic.extras["incremental_skipped"].as_str().unwrap();
            assert!(
                why.contains("kernels are off") || why.contains("not on the CPU"),
                "{why}"
            );
        }
    }
}

/// Activation maximization step by step: the same picture after a few steps (measured: 1e-6
/// after 4 steps). Over its full run the two paths part (1e-2 after 8 steps, correlation 0.6
/// after 300): a rounding difference of 1e-7 flips some discrete choice — a ReLU's sign, a
/// max-pool's winner — and ascent amplifies it, as it would between any two devices. So the
/// test above compares the objective each path reaches.
#[test]
fn actmax_agrees_step_by_step_for_its_first_steps() {
    let method = methods::by_id("actmax").unwrap();
    let options = || {
        Options::ActMax(ActMaxOptions {
            steps: Some(4),
            ..Default::default()
        })
    };
    let (k, g) = (run(method, options(), true), run(method, options(), false));
    let err = rel_max_err_of(g.artifact.data(), k.artifact.data());
    println!("actmax, 4 steps: rel err {err:.2e}");
    assert!(err < 1e-4, "actmax after 4 steps differs by {err}");
}

/// The process-wide switch, as a user sets it: the binary with `CONVSCOPE_CPU_KERNELS=off` takes
/// the generic paths (occlusion says so) and writes the same map.
#[test]
fn the_environment_switch_turns_the_kernels_off_in_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let render = |kernels: &str| {
        let (png, npy) = (
            dir.path().join(format!("{kernels}.png")),
            dir.path().join(format!("{kernels}.npy")),
        );
        report_and_map(
            assert_cmd::Command::new(crate::common::e2e_bin())
                .env("CONVSCOPE_CPU_KERNELS", kernels)
                .args(["render", "occlusion", "--json", "-o"])
                .arg(&png)
                .arg("--npy")
                .arg(&npy),
            &npy,
        )
    };
    let (on, on_map) = render("on");
    let (off, off_map) = render("off");
    assert_eq!(on["incremental"], true, "{on}");
    assert_eq!(off["incremental"], false, "{off}");
    assert!(
        off["incremental_skipped"]
            .as_str()
            .is_some_and(|why| why.contains("CONVSCOPE_CPU_KERNELS=off")),
        "{off}"
    );
    let err = rel_max_err_of(&off_map, &on_map);
    assert!(err < 1e-4, "the maps differ by {err}");
}
