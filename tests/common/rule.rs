//! The weight rule of `tests/fixtures/make_checkpoints.py`, implemented again: every tensor of
//! a state_dict filled from its key and element index, so that torch and convscope build the
//! same network without shipping its weights.

use std::collections::HashMap;

use convscope::model::build::fnv1a;
use convscope::model::HostTensor;

/// The fixture script's weight rule for `key`, as float32 rounded once from float64.
pub fn rule_values(key: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let h = fnv1a(key.as_bytes());
    (0..n)
        .map(|i| {
            let mut x = (i as u64)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(h);
            x ^= x >> 31;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 29;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
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
