//! Where Keras 3 files keep a layer's variables when they do not name it: the object path
//! Keras derives from the model's layer list and each layer's class.

use std::collections::HashMap;

use super::config::KModel;

/// Where Keras 3 keeps each layer's variables when the file has no names: `layers/<key>`, the
/// key the snake-cased class name, `_1`, `_2`, … for repeats (Keras's `_save_container_state`).
/// A Sequential's `layers` leave out its InputLayer.
pub fn object_paths(m: &KModel) -> HashMap<&str, String> {
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut out = HashMap::new();
    for (i, l) in m.layers.iter().enumerate() {
        if m.class_name == "Sequential" && i == 0 && l.class_name == "InputLayer" {
            continue;
        }
        let base = snake_case(&l.class_name);
        let key = match used.get_mut(&base) {
            Some(n) => {
                *n += 1;
                format!("{base}_{n}")
            }
            None => {
                used.insert(base.clone(), 0);
                base
            }
        };
        out.insert(l.name.as_str(), format!("layers/{key}"));
    }
    out
}

/// Keras's `naming.to_snake_case`: `Conv2D` → `conv2d`, `BatchNormalization` →
/// `batch_normalization`, `ReLU` → `re_lu`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // (.)([A-Z][a-z]+) → \1_\2
    let mut a = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0
            && c.is_ascii_uppercase()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
        {
            a.push('_');
        }
        a.push(c);
    }
    // ([a-z])([A-Z]) → \1_\2
    let b: Vec<char> = a.chars().collect();
    let mut out = String::new();
    for (i, &c) in b.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() && b[i - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(c);
    }
    out.to_lowercase()
}

#[cfg(test)]
mod tests {
    /// Keras's own names for these classes (seen in its files: `layers/p_re_lu/vars`, …).
    #[test]
    fn snake_case_is_keras_s() {
        for (class, key) in [
            ("Conv2D", "conv2d"),
            ("BatchNormalization", "batch_normalization"),
            ("ReLU", "re_lu"),
            ("PReLU", "p_re_lu"),
            ("DepthwiseConv2D", "depthwise_conv2d"),
            ("GlobalAveragePooling2D", "global_average_pooling2d"),
            ("Functional", "functional"),
        ] {
            assert_eq!(super::snake_case(class), key);
        }
    }
}
