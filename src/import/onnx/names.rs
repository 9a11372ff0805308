//! Readable layer names. Exporters mangle module names (`/features/features.0/Conv`,
//! `node_Conv_12`, `model/block1_conv1/BiasAdd`); we derive the module path a user knows, from
//! the weight names when there are weights, else from the node's scope path. The original stays
//! visible as the layer's `source_name`.

use std::collections::HashSet;

/// Hands out names, suffixing `_1`, `_2`, … to keep them unique.
#[derive(Default)]
pub struct NameAllocator {
    used: HashSet<String>,
}

impl NameAllocator {
    /// `base`, or `base_1`, `base_2`, … if taken.
    pub fn unique(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut k = 1;
        while !self.used.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    pub fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_string());
    }
}

/// Final names for layers whose readable base names are known: when several nodes share a base
/// (a module that exports to Transpose → LayerNormalization → Transpose, or SiLU to Sigmoid →
/// Mul), the last of them — the module's output — gets the plain name, the others `base.op`.
pub fn finalize(bases: &[(String, String)], reserved: &[String]) -> Vec<String> {
    let mut last = std::collections::HashMap::new();
    for (i, (base, _)) in bases.iter().enumerate() {
        last.insert(base.as_str(), i);
    }
    let mut alloc = NameAllocator::default();
    for r in reserved {
        alloc.reserve(r);
    }
    // Plain names first, so an earlier node's `base.op` never takes a later module's name.
    let mut names = vec![String::new(); bases.len()];
    for (i, (base, _)) in bases.iter().enumerate() {
        if last[base.as_str()] == i {
            names[i] = alloc.unique(base.clone());
        }
    }
    for (i, (base, op)) in bases.iter().enumerate() {
        if last[base.as_str()] != i {
            names[i] = alloc.unique(format!("{base}.{}", op.to_lowercase()));
        }
    }
    names
}

/// The readable name for one node, before uniqueness is enforced.
pub fn readable(node_name: &str, op_type: &str, weight_names: &[&str]) -> String {
    if let Some(prefix) = weights_prefix(weight_names) {
        return prefix;
    }
    if let Some(path) = scope_path(node_name, op_type) {
        return path;
    }
    if node_name.is_empty() || node_name.starts_with('/') || is_generated(node_name) {
        return op_type.to_lowercase();
    }
    node_name.to_string()
}

/// `features.0.weight`, `features.0.bias` -> `features.0`. Ignores exporter-generated names
/// such as `onnx::Conv_123`.
fn weights_prefix(names: &[&str]) -> Option<String> {
    let prefixes: Vec<&str> = names
        .iter()
        .filter(|n| !n.contains("::") && !n.starts_with('/') && !n.contains(':'))
        .filter_map(|n| n.rsplit_once('.').map(|(p, _)| p))
        .collect();
    let first = *prefixes.first()?;
    (!first.is_empty() && prefixes.iter().all(|p| *p == first)).then(|| first.to_string())
}

/// Scope paths: torch's `/layer1/layer1.0/conv1/Conv` -> `layer1.0.conv1`, and tf2onnx's
/// `model/block1_conv1/BiasAdd` -> `block1_conv1`.
fn scope_path(node: &str, op_type: &str) -> Option<String> {
    if let Some(rest) = node.strip_prefix('/') {
        let mut parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        if parts.last().is_some_and(|p| is_op_component(p, op_type)) {
            parts.pop();
        }
        if parts.is_empty() {
            return None;
        }
        // Each torch scope component is a module's name relative to an ancestor: either a new
        // attribute ("conv1") or a dotted path extending the previous component ("layer1" then
        // "layer1.0", "conv" then "conv.0"), which replaces it.
        let mut segments: Vec<&str> = Vec::new();
        for p in parts {
            match segments.last() {
                Some(last) if p.starts_with(&format!("{last}.")) => {
                    *segments.last_mut().expect("non-empty") = p
                }
                _ => segments.push(p),
            }
        }
        let path = segments.join(".");
        return Some(path);
    }
    let parts: Vec<&str> = node.split('/').collect();
    (parts.len() >= 3 && !parts[1].is_empty()).then(|| parts[1].to_string())
}

fn is_op_component(part: &str, op_type: &str) -> bool {
    let base = part.split('_').next().unwrap_or(part);
    base.eq_ignore_ascii_case(op_type) || part.starts_with("Constant")
}

/// Names like `node_Conv_12`, `Conv_3`, `onnx::Relu_5` carry no meaning of their own.
fn is_generated(name: &str) -> bool {
    let stripped = name.strip_prefix("node_").unwrap_or(name);
    let stripped = stripped.rsplit("::").next().unwrap_or(stripped);
    match stripped.rsplit_once('_') {
        Some((_, digits)) => digits.chars().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_scope_paths() {
        assert_eq!(
            readable("/features/features.1/Relu", "Relu", &[]),
            "features.1"
        );
        assert_eq!(
            readable("/layer1/layer1.0/relu_1/Relu", "Relu", &[]),
            "layer1.0.relu_1"
        );
        assert_eq!(readable("/layer1/layer1.0/Add", "Add", &[]), "layer1.0");
        assert_eq!(readable("/Flatten", "Flatten", &[]), "flatten");
        let nested = "/features/features.1/conv/conv.0/conv.0.2/Clip";
        assert_eq!(readable(nested, "Clip", &[]), "features.1.conv.0.2");
    }

    #[test]
    fn weights_name_the_layer() {
        let w = ["features.0.weight", "features.0.bias"];
        assert_eq!(
            readable("/features/features.0/Conv", "Conv", &w),
            "features.0"
        );
        assert_eq!(
            readable("node_Conv_12", "Conv", &["layer1.0.conv1.weight"]),
            "layer1.0.conv1"
        );
        assert_eq!(readable("Conv_0", "Conv", &["onnx::Conv_123"]), "conv");
    }

    #[test]
    fn keras_and_plain_names() {
        assert_eq!(
            readable("model/block1_conv1/BiasAdd", "Add", &[]),
            "block1_conv1"
        );
        assert_eq!(readable("block1_conv1", "Conv", &[]), "block1_conv1");
        assert_eq!(readable("node_relu_3", "Relu", &[]), "relu");
    }

    #[test]
    fn a_module_name_goes_to_its_output() {
        let bases = [
            ("features.0.1", "Transpose"),
            ("features.0.1", "LayerNormalization"),
            ("features.0.1", "Transpose"),
            ("features.1", "Conv"),
        ];
        let bases: Vec<(String, String)> = bases
            .iter()
            .map(|(b, o)| (b.to_string(), o.to_string()))
            .collect();
        let names = finalize(&bases, &["input".into()]);
        assert_eq!(
            names,
            [
                "features.0.1.transpose",
                "features.0.1.layernormalization",
                "features.0.1",
                "features.1"
            ]
        );
    }

    #[test]
    fn allocator_makes_names_unique() {
        let mut a = NameAllocator::default();
        let base = |n: &str| readable(n, "Add", &[]);
        assert_eq!(a.unique(base("/layer1/layer1.0/Add")), "layer1.0");
        assert_eq!(a.unique(base("/layer1/layer1.0/Add_1")), "layer1.0_1");
    }
}
