//! `cargo bench --bench methods [-- --quick] [-- --json PATH]`
//!
//! Times every explanation method on VGG16 and ResNet50 at 224x224, batch 1, seeded random
//! weights, on the CPU (medians). SmoothGrad and IG use reduced counts (10 samples, 20 steps,
//! batches of 5 and 10) so a run fits a coffee break; `benches/compare_torch.py` times captum
//! and pytorch-grad-cam with the same counts and prints the ratios.

mod common;

use candle_core::{Device, Tensor};
use common::median_ms;
use convscope::exec::{Executor, NoHook, Params};
use convscope::import::zoo;
use convscope::methods::{self, cam, Cx, Knobs};
use convscope::model::Graph;

pub const SMOOTHGRAD_SAMPLES: usize = 10;
pub const IG_STEPS: usize = 20;

fn bench(name: &str, graph: &Graph, runs: usize, out: &mut Vec<(String, f64)>) {
    let device = Device::Cpu;
    let params = Params::load(graph, &device).unwrap();
    let input = Tensor::randn(0f32, 1f32, (1, 3, 224, 224), &device).unwrap();
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
    // Occlusion (729 windows at 224x224) and Score-CAM (one pass per channel) are timed with
    // their batching and incremental-inference work (the performance issue), not here; nor are
    // filters and features, which are a weight read and one forward pass.
    let skip = ["occlusion", "scorecam", "filters", "features"];
    for id in methods::ids().into_iter().filter(|id| !skip.contains(id)) {
        let knobs = Knobs {
            samples: SMOOTHGRAD_SAMPLES,
            steps: Some(IG_STEPS),
            batch: if id == "smoothgrad" { 5 } else { 10 },
            ..Knobs::default()
        };
        let mut cx = Cx {
            graph,
            exec: Executor::new(graph, &params),
            input: input.clone(),
            target,
            scores,
            layer: cam::default_layer(graph),
            knobs,
            control: Default::default(),
        };
        let method = methods::by_id(id).unwrap();
        let runs = if matches!(id, "smoothgrad" | "ig") {
            runs.div_ceil(2)
        } else {
            runs
        };
        let t = median_ms(runs, || {
            method.run(&mut cx).unwrap();
        });
        out.push((format!("{name}/{id}"), t));
    }
}

fn main() {
    let (quick, json) = common::args();
    let runs = if quick { 1 } else { 5 };
    let mut results = Vec::new();
    for (name, graph) in [
        ("vgg16", zoo::vgg16(224, 0).unwrap()),
        ("resnet50", zoo::resnet50(224, 0).unwrap()),
    ] {
        bench(name, &graph, runs, &mut results);
    }
    common::report(&results, json);
}
