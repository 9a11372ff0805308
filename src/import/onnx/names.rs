//! Readable layer names. Exporters mangle module names (`/features/features.0/Conv`,
//! `node_Conv_12`, `model/block1_conv1/BiasAdd`); we derive the module path a user knows, from
//! the weight names when there are weights, else from the node's scope path. The original stays
//! visible as the layer's `source_name`.

use std::collections::HashSet;

#[derive(Default)]
pub struct NameAllocator {
    used: HashSet<String>,
}

impl NameAllocator {
    /// A unique readable name for a node.
    pub fn allocate(&mut self, node_name: &str, op_type: &str, weight_names: &[&str]) -> String {
        let base = readable(node_name, op_type, weight_names);
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
        // Each torch scope component is either a child's full dotted path ("layer1.0") or its
        // attribute name ("conv1"): join into one dotted path.
        let mut path = String::new();
        for p in parts {
            if path.is_empty() || p.starts_with(&format!("{path}.")) {
                path = p.to_string();
            } else {
                path = format!("{path}.{p}");
            }
        }
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
    fn allocator_makes_names_unique() {
        let mut a = NameAllocator::default();
        assert_eq!(a.allocate("/layer1/layer1.0/Add", "Add", &[]), "layer1.0");
        assert_eq!(
            a.allocate("/layer1/layer1.0/Add_1", "Add", &[]),
            "layer1.0_1"
        );
    }
}
