//! `cargo bench --bench methods [-- --quick] [-- --json PATH]`
//!
//! Times every explanation method on VGG16, ResNet50, MobileNetV2 and EfficientNet-B0 at
//! 224x224, batch 1, seeded random weights, on the CPU or `CONVSCOPE_BENCH_DEVICE` (medians). SmoothGrad and IG use reduced counts (10 samples, 20 steps,
//! batches of 5 and 10) so a run fits a coffee break; `benches/compare_torch.py` times captum
//! and pytorch-grad-cam with the same counts and prints the ratios.
//!
//! Occlusion (window 3,16,16, stride 3,8,8: 27 x 27 = 729 windows at 224x224) and Score-CAM (one
//! pass per channel of the default layer: 512 for VGG16, 2048 for ResNet50) run in batches of
//! 16 and are timed once, without a warm-up: each takes minutes. Limit a run with
//! `CONVSCOPE_BENCH_METHODS=occlusion,scorecam` and `CONVSCOPE_BENCH_MODELS=vgg16` (see
//! `common`); smoke-test with `CONVSCOPE_BENCH_SIZE=32`. Activation maximization runs 50 lucid
//! steps, once.
//!
//! Occlusion is incremental (each layer recomputed only where a window reaches). The plain
//! computation, every occluded input through the whole network, is the row `occlusion_plain`,
//! timed only when named (`CONVSCOPE_BENCH_METHODS=occlusion,occlusion_plain`): it takes
//! minutes more.

mod common;

use candle_core::Tensor;
use common::{median_ms, once_ms, sync};
use convscope::exec::{Executor, NoHook, Params};
use convscope::methods::{
    self, cam, ActMaxOptions, Control, Cx, IgOptions, Objective, OcclusionOptions, Options,
    SmoothGradOptions,
};
use convscope::model::Graph;

pub const SMOOTHGRAD_SAMPLES: usize = 10;
pub const IG_STEPS: usize = 20;
pub const ACTMAX_STEPS: usize = 50;
/// Occlusion's window and stride, and the batch of the two long methods (compare_torch.py uses
/// the same).
pub const OCCLUSION_WINDOW: [usize; 3] = [3, 16, 16];
pub const OCCLUSION_STRIDE: [usize; 3] = [3, 8, 8];
pub const LONG_BATCH: usize = 16;

/// Each method's options and batch for the benchmark.
fn options(id: &str) -> (Options, usize) {
    match id {
        "smoothgrad" => (
            Options::SmoothGrad(SmoothGradOptions {
                samples: SMOOTHGRAD_SAMPLES,
                ..SmoothGradOptions::default()
            }),
            5,
        ),
        "ig" => (
            Options::Ig(IgOptions {
                steps: IG_STEPS,
                ..IgOptions::default()
            }),
            10,
        ),
        "occlusion" | "occlusion_plain" => (
            Options::Occlusion(OcclusionOptions {
                incremental: id == "occlusion",
                window: OCCLUSION_WINDOW.to_vec(),
                stride: OCCLUSION_STRIDE.to_vec(),
                ..OcclusionOptions::default()
            }),
            LONG_BATCH,
        ),
        "scorecam" => (Options::Default, LONG_BATCH),
        // 50 lucid steps: the count the performance issue compares with lucent.
        "actmax" => (
            Options::ActMax(ActMaxOptions {
                steps: Some(ACTMAX_STEPS),
                ..ActMaxOptions::default()
            }),
            10,
        ),
        _ => (Options::Default, 10),
    }
}

fn bench(name: &str, graph: &Graph, runs: usize, out: &mut Vec<(String, f64)>) {
    let device = common::device();
    let params = Params::load(graph, &device).unwrap();
    let side = common::size();
    let input = Tensor::randn(0f32, 1f32, (1, 3, side, side), &device).unwrap();
    let exec = Executor::new(graph, &params);
    let scores = graph.logits_layer();
    let logits: Vec<f32> = exec
        .forward(&input, &mut NoHook)
        .unwrap()
        .get(scores)
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let target = methods::target::top1(&logits);
    // Filters and features are a weight read and one forward pass: nothing to time.
    let skip = ["filters", "features"];
    let mut ids: Vec<&str> = methods::ids();
    if common::method_named("occlusion_plain") {
        ids.push("occlusion_plain");
    }
    for id in ids
        .into_iter()
        .filter(|id| !skip.contains(id) && common::method_selected(id))
    {
        let mut cx = Cx::new(
            graph,
            &params,
            input.clone(),
            Objective::Class {
                scores,
                class: target,
            },
            Control::default(),
        );
        cx.layer = cam::default_layer(graph);
        cx.options = options(id).0;
        cx.batch = options(id).1;
        let method = methods::by_id(id.trim_end_matches("_plain")).unwrap();
        let run = || {
            // Each run pays for its own clean forward pass, as a single `render` does.
            cx.clean = None;
            method.run(&mut cx).unwrap();
            sync(&device);
        };
        let t = match id {
            "occlusion" | "occlusion_plain" | "scorecam" | "actmax" => once_ms(run),
            "smoothgrad" | "ig" => median_ms(runs.div_ceil(2), run),
            _ => median_ms(runs, run),
        };
        out.push((format!("{name}/{id}"), t));
    }
}

fn main() {
    // As the binary does, so that the figures are what a user gets.
    convscope::exec::cpu::keep_freed_memory();
    let (quick, json) = common::args();
    let runs = if quick { 1 } else { 5 };
    let mut results = Vec::new();
    for (name, graph) in common::models() {
        bench(name, &graph, runs, &mut results);
    }
    common::report(&results, json);
}
