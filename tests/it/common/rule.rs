//! The weight rule of `tests/fixtures/make_checkpoints.py`, implemented again: every tensor of
//! a state_dict filled from its key and element index, so that torch and convscope build the
//! same network without shipping its weights.

use std::collections::HashMap;

use candle_core::Tensor;
use convscope::exec::{Executor, NoHook, Params};
use convscope::model::build::fnv1a;
use convscope::model::{Graph, HostTensor};

/// The rule's uniform value in [0, 1) for element `i` of the tensor whose key hashes to `h`.
pub fn rule_unit(h: u64, i: usize) -> f64 {
    let mut x = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(h);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The fixture script's weight rule for `key`, as float32 rounded once from float64.
pub fn rule_values(key: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let h = fnv1a(key.as_bytes());
    (0..n)
        .map(|i| {
            let u = rule_unit(h, i);
            let v = if key.ends_with("running_var") {
                0.5 + u
            } else if key.ends_with("running_mean") {
                0.2 * u - 0.1
            } else if key.ends_with("layer_scale") {
                0.4 + 0.2 * u
            } else if shape.len() == 1 && key.ends_with(".weight") {
                0.8 + 0.4 * u
            } else if shape.len() <= 1 {
                0.2 * u - 0.1
            } else {
                (2.0 * u - 1.0) * (6.0 / (n as f64 / shape[0] as f64)).sqrt()
            };
            v as f32
        })
        .collect()
}

/// The rule's input: x[i] = ((i * 7919) % 2001) / 1000 - 1, shape [1, 3, size, size].
pub fn rule_input(size: usize) -> Vec<f32> {
    (0..3 * size * size)
        .map(|i| (((i * 7919) % 2001) as f64 / 1000.0 - 1.0) as f32)
        .collect()
}

/// A state dict with every `(key, shape)` filled by the rule.
pub fn rule_tensors(keys: &[(String, Vec<usize>)]) -> HashMap<String, HostTensor> {
    keys.iter()
        .map(|(k, shape)| {
            let data = rule_values(k, shape);
            (
                k.clone(),
                HostTensor {
                    shape: shape.clone(),
                    data,
                },
            )
        })
        .collect()
}

/// `graph`'s logits for the rule's input at `size`x`size`, on the CPU.
pub fn rule_logits(graph: &Graph, size: usize) -> Vec<f32> {
    logits(graph, rule_input(size), size)
}

/// `graph`'s logits for the NCHW input `x` at `size`x`size`, on the CPU.
pub fn logits(graph: &Graph, x: Vec<f32>, size: usize) -> Vec<f32> {
    let params = Params::load(graph, &super::device()).unwrap();
    let x = Tensor::from_vec(x, (1, 3, size, size), &super::device()).unwrap();
    let acts = Executor::new(graph, &params)
        .forward(&x, &mut NoHook)
        .unwrap();
    acts.get(graph.logits_layer())
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// The zoo's tolerance: |ours - reference| <= 2e-5 * max|reference| + 1e-6 (float32 both
/// sides, summed in different orders; see `zoo_reference.rs`). Prints and returns the worst
/// difference relative to the largest reference logit.
pub fn assert_logits_close(what: &str, ours: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(ours.len(), reference.len(), "{what}");
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= 2e-5 * scale + 1e-6,
        "{what}: max |ours - reference| = {worst:e} with max |logit| {scale}"
    );
    eprintln!("{what}: max |diff| / max |logit| = {:.2e}", worst / scale);
    worst / scale
}
