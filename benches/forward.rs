//! `cargo bench --bench forward [-- --quick] [-- --json PATH]`
//!
//! Times forward (batch 1 and 16) and forward + input gradient (batch 1) of VGG16 and ResNet50
//! at 224x224 with seeded random weights, on the CPU. Prints medians; with `--json` also writes
//! them for `benches/compare_torch.py`, which times PyTorch in the same run and prints ratios.

use std::time::Instant;

use candle_core::{Device, Tensor};
use convscope::exec::{one_hot_seed, Executor, NoHook, Params, ReluRule};
use convscope::import::zoo;
use convscope::model::Graph;

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up: first-touch allocation and lazy initialization
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn bench(name: &str, graph: &Graph, runs: usize, big_batch: usize, out: &mut Vec<(String, f64)>) {
    let device = Device::Cpu;
    let params = Params::load(graph, &device).expect("weights load");
    let exec = Executor::new(graph, &params);
    let x1 = Tensor::randn(0f32, 1f32, (1, 3, 224, 224), &device).unwrap();
    let xb = Tensor::randn(0f32, 1f32, (big_batch, 3, 224, 224), &device).unwrap();
    let logits = graph.logits_layer();

    let t = median_ms(runs, || {
        exec.forward(&x1, &mut NoHook).unwrap();
    });
    out.push((format!("{name}/forward_b1"), t));
    let t = median_ms(runs.div_ceil(2), || {
        exec.forward(&xb, &mut NoHook).unwrap();
    });
    out.push((format!("{name}/forward_b{big_batch}"), t));
    let t = median_ms(runs, || {
        let acts = exec.forward(&x1, &mut NoHook).unwrap();
        let seed = one_hot_seed(&[1, 1000], 0, &device).unwrap();
        exec.backward(&acts, logits, seed, ReluRule::Normal)
            .unwrap();
    });
    out.push((format!("{name}/forward_input_grad_b1"), t));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let (runs, big_batch) = if quick { (1, 2) } else { (5, 16) };
    let mut results = Vec::new();
    for (name, graph) in [
        ("vgg16", zoo::vgg16(224, 0).unwrap()),
        ("resnet50", zoo::resnet50(224, 0).unwrap()),
    ] {
        bench(name, &graph, runs, big_batch, &mut results);
    }
    for (name, ms) in &results {
        println!("{name:<36} {ms:>10.1} ms (median)");
    }
    if let Some(path) = json {
        let map: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
            .collect();
        std::fs::write(&path, serde_json::to_string_pretty(&map).unwrap())
            .expect("write bench JSON");
        println!("wrote {path}");
    }
}
