//! What the benchmarks share: medians after a warm-up, the subset a run is limited to, and the
//! JSON that `benches/compare_torch.py` reads.
//!
//! Subsets, read from the environment by both this and `compare_torch.py` (the long methods take
//! minutes, so a run can be cut down to what is being worked on):
//! - `CONVSCOPE_BENCH_MODELS=vgg16,resnet50` — which models (default: vgg16, resnet50,
//!   mobilenet_v2, efficientnet_b0);
//! - `CONVSCOPE_BENCH_METHODS=occlusion,scorecam` — which render methods (default all timed);
//! - `CONVSCOPE_BENCH_SIZE=224` — the input side. Other sizes are for smoke tests only: VGG16's
//!   classifier then differs from torchvision's (no adaptive pooling), so ratios mean nothing.
#![allow(dead_code)] // each bench uses a part

use std::time::Instant;

use candle_core::Device;
use convscope::import::zoo;
use convscope::model::Graph;

/// Median wall time of `runs` calls after one warm-up call (first-touch allocation and lazy
/// initialization are not what we measure).
pub fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
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

/// One timed call, no warm-up: for methods that take minutes, where first-touch costs vanish
/// in the noise and a warm-up would double the wait.
pub fn once_ms(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

/// The comma-separated list in `var`, or `None` when unset or empty (= everything).
fn list(var: &str) -> Option<Vec<String>> {
    let v = std::env::var(var).ok()?;
    let items: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

/// Whether `CONVSCOPE_BENCH_METHODS` selects the method `id`.
pub fn method_selected(id: &str) -> bool {
    list("CONVSCOPE_BENCH_METHODS").is_none_or(|l| l.iter().any(|m| m == id))
}

/// Whether `CONVSCOPE_BENCH_METHODS` names the method `id` explicitly (for rows that only run
/// on request).
pub fn method_named(id: &str) -> bool {
    list("CONVSCOPE_BENCH_METHODS").is_some_and(|l| l.iter().any(|m| m == id))
}

/// The input side, `CONVSCOPE_BENCH_SIZE` or 224.
pub fn size() -> usize {
    std::env::var("CONVSCOPE_BENCH_SIZE")
        .ok()
        .map(|v| {
            v.parse()
                .expect("CONVSCOPE_BENCH_SIZE is a number of pixels")
        })
        .unwrap_or(224)
}

/// Where the benchmarks compute: `CONVSCOPE_BENCH_DEVICE` (`cpu`, the default, or `cuda:N` in
/// a build with `--features cuda`), as `--device` takes it.
pub fn device() -> Device {
    let spec = std::env::var("CONVSCOPE_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    convscope::exec::select_device(&spec)
        .unwrap_or_else(|e| panic!("CONVSCOPE_BENCH_DEVICE={spec}: {e}"))
}

/// Waits for the work queued on `device`: a GPU runs kernels after the call that launched them
/// returns, so each timed call ends here (a no-op on the CPU).
pub fn sync(device: &Device) {
    device.synchronize().expect("device synchronizes");
}

/// The architectures benchmarked, in order (issue 7's table).
pub const MODELS: [&str; 4] = ["vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0"];

/// The names of the models `CONVSCOPE_BENCH_MODELS` selects (default all of [`MODELS`]).
pub fn model_names() -> Vec<&'static str> {
    let want = list("CONVSCOPE_BENCH_MODELS");
    if let Some(w) = &want {
        for name in w {
            assert!(
                MODELS.contains(&name.as_str()),
                "CONVSCOPE_BENCH_MODELS: unknown model {name}; models: {}",
                MODELS.join(", ")
            );
        }
    }
    MODELS
        .into_iter()
        .filter(|name| want.as_ref().is_none_or(|w| w.iter().any(|n| n == name)))
        .collect()
}

/// One of [`MODELS`] with seeded random weights, at [`size`].
pub fn model(name: &str) -> Graph {
    let arch = zoo::find(name).expect("a zoo architecture");
    arch.build_at(size(), 1000, 0).expect("zoo model builds")
}

/// The models `CONVSCOPE_BENCH_MODELS` selects, built.
pub fn models() -> Vec<(&'static str, Graph)> {
    model_names()
        .into_iter()
        .map(|name| (name, model(name)))
        .collect()
}

/// `--quick` and `--json PATH` from the bench's arguments.
pub fn args() -> (bool, Option<String>) {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    (quick, json)
}

/// Prints the results and, with `--json`, writes them as `{name: ms}`.
pub fn report(results: &[(String, f64)], json: Option<String>) {
    report_in(results, json, "ms (median)");
}

/// Prints the results with their unit and, with `--json`, writes them as `{name: value}`.
pub fn report_in(results: &[(String, f64)], json: Option<String>, unit: &str) {
    for (name, v) in results {
        println!("{name:<36} {v:>10.1} {unit}");
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
