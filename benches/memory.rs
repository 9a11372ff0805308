//! `cargo bench --bench memory [-- --quick] [-- --json PATH]` (Linux)
//!
//! Peak memory of forward (batch 1 and 16) and forward + input gradient (batch 1 and 16) of the
//! models `benches/forward.rs` times, run as `predict`, `render saliency` (a pass that keeps
//! only what the reverse pass reads, kept after it as the input's clean pass) and SmoothGrad's
//! and integrated gradients' batches (the same pass, freed as the reverse pass goes) run them.
//! Each row runs once in a fresh child process: after the weights and the input are loaded, the
//! peak resident set is reset (`/proc/self/clear_refs`, after the memory loading freed is handed
//! back), the operation runs, and the row is the peak (`VmHWM`) minus the resident set just
//! before, in MB. `benches/compare_torch.py` measures PyTorch the same way, in the same run, and
//! prints the ratios.

mod common;

use std::process::Command;

use candle_core::{Device, Tensor};
use convscope::exec::{one_hot_seed, Executor, Params, ReluRule};

const ROWS: [&str; 4] = [
    "forward_b1",
    "forward_b{big}",
    "forward_input_grad_b1",
    "forward_input_grad_b{big}",
];

/// A `/proc/self/status` field, in kB.
fn status_kb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Runs one row in this process and prints its peak in MB.
fn child(name: &str, row: &str, big_batch: usize) {
    let graph = common::model(name);
    let device = Device::Cpu;
    let params = Params::load(&graph, &device).expect("weights load");
    let exec = Executor::new(&graph, &params);
    let side = common::size();
    let batch = if row == "forward_b1" || row == "forward_input_grad_b1" {
        1
    } else {
        big_batch
    };
    let x = Tensor::randn(0f32, 1f32, (batch, 3, side, side), &device).unwrap();
    let logits = graph.logits_layer();
    // Freed memory stays in the process (`keep_freed_memory`): hand what loading freed back
    // first, or the row would reuse it unseen and read lower than the memory it needs.
    convscope::exec::cpu::give_back_freed_memory();
    let before = status_kb("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident set");
    if row.starts_with("forward_input_grad") {
        let seed = one_hot_seed(&[batch, 1000], 0, &device).unwrap();
        let acts = exec.forward_for_gradients(&x, &[logits]).unwrap();
        if batch == 1 {
            exec.backward_to(&acts, logits, seed, ReluRule::Normal, &graph.inputs)
                .unwrap();
        } else {
            exec.backward_to_releasing(acts, logits, seed, ReluRule::Normal, &graph.inputs)
                .unwrap();
        }
    } else {
        exec.output(&x, logits).unwrap();
    }
    let peak = status_kb("VmHWM:");
    println!("{}", (peak - before) / 1024.0);
}

fn main() {
    convscope::exec::cpu::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let (quick, json) = common::args();
    let big_batch = if quick { 2 } else { 16 };
    if let Some(i) = args.iter().position(|a| a == "--row") {
        let (name, row) = args[i + 1].split_once('/').expect("--row MODEL/ROW");
        child(name, row, big_batch);
        return;
    }
    let me = std::env::current_exe().expect("the bench's own path");
    let mut results = Vec::new();
    for name in common::model_names() {
        for row in ROWS {
            let row = row.replace("{big}", &big_batch.to_string());
            let key = format!("{name}/{row}");
            let out = Command::new(&me)
                .args(["--row", &key])
                .args(quick.then_some("--quick"))
                .output()
                .expect("run a child bench");
            assert!(
                out.status.success(),
                "{key}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mb: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("a child's figure");
            results.push((key, mb));
        }
    }
    common::report_in(&results, json, "MB (peak)");
}
