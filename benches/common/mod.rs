//! What the benchmarks share: medians after a warm-up, and the JSON that
//! `benches/compare_torch.py` reads.

use std::time::Instant;

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
    for (name, ms) in results {
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
