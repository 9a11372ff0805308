//! `cargo bench --bench forward [-- --quick] [-- --json PATH]`
//!
//! Times forward (batch 1 and 16) and forward + input gradient (batch 1 and 16) of VGG16,
//! ResNet50, MobileNetV2 and EfficientNet-B0 at 224x224 with seeded random weights, on the CPU
//! or `CONVSCOPE_BENCH_DEVICE` (waiting for the GPU to finish each call). Prints
//! medians; with `--json` also writes them for `benches/compare_torch.py`, which times PyTorch
//! in the same run and prints ratios.
//! `CONVSCOPE_BENCH_MODELS` and `CONVSCOPE_BENCH_SIZE` limit a run (see `common`).

mod common;

use candle_core::Tensor;
use common::{median_ms, sync};
use convscope::exec::{one_hot_seed, Executor, Params, ReluRule};
use convscope::model::Graph;

fn bench(name: &str, graph: &Graph, runs: usize, big_batch: usize, out: &mut Vec<(String, f64)>) {
    let device = common::device();
    let params = Params::load(graph, &device).expect("weights load");
    let exec = Executor::new(graph, &params);
    let side = common::size();
    let x1 = Tensor::randn(0f32, 1f32, (1, 3, side, side), &device).unwrap();
    let xb = Tensor::randn(0f32, 1f32, (big_batch, 3, side, side), &device).unwrap();
    let logits = graph.logits_layer();

    // As `predict`, occlusion and Score-CAM run it: only the scores are kept.
    let t = median_ms(runs, || {
        exec.output(&x1, logits).unwrap();
        sync(&device);
    });
    out.push((format!("{name}/forward_b1"), t));
    let t = median_ms(runs.div_ceil(2), || {
        exec.output(&xb, logits).unwrap();
        sync(&device);
    });
    out.push((format!("{name}/forward_b{big_batch}"), t));
    // A forward pass that keeps only what the reverse pass reads; at batch 1 kept after it, as
    // `render saliency` keeps its input's clean pass, and batched freed as the reverse pass
    // goes, as SmoothGrad's and integrated gradients' batches are.
    let input_grad = |x: &Tensor| {
        let seed = one_hot_seed(&[x.dim(0).unwrap(), 1000], 0, &device).unwrap();
        let acts = exec.forward_for_gradients(x, &[logits]).unwrap();
        if x.dim(0).unwrap() == 1 {
            exec.backward_to(&acts, logits, seed, ReluRule::Normal, &graph.inputs)
                .unwrap();
        } else {
            exec.backward_to_releasing(acts, logits, seed, ReluRule::Normal, &graph.inputs)
                .unwrap();
        }
        sync(&device);
    };
    let t = median_ms(runs, || input_grad(&x1));
    out.push((format!("{name}/forward_input_grad_b1"), t));
    let t = median_ms(runs.div_ceil(2), || input_grad(&xb));
    out.push((format!("{name}/forward_input_grad_b{big_batch}"), t));
}

fn main() {
    // As the binary does, so that the figures are what a user gets.
    convscope::exec::cpu::keep_freed_memory();
    let (quick, json) = common::args();
    let (runs, big_batch) = if quick { (1, 2) } else { (5, 16) };
    let mut results = Vec::new();
    for (name, graph) in common::models() {
        bench(name, &graph, runs, big_batch, &mut results);
    }
    common::report(&results, json);
}
