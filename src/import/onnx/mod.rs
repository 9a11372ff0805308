//! Reading ONNX files into convscope's graph. The file is untrusted: every size, reference and
//! attribute is checked, and failures name the node and say what to do.

mod attrs;
mod builder;
mod fold;
mod names;
mod ops;
pub mod proto;
mod tensor;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;

use prost::Message;

use self::builder::{Builder, Value};
use self::proto::{GraphProto, ModelProto, NodeProto, ValueInfoProto};
use crate::error::{Error, Result};
use crate::files::{MapSlice, ReadMap};
use crate::model::{Graph, LayerId, LayerKind};

pub use ops::supported_ops;

/// Opsets before 7 have other semantics (legacy `broadcast` attributes, BatchNorm's `spatial`
/// and `consumed_inputs`) that convscope does not read; opsets after the newest that ONNX has
/// released when this was written (25) are refused rather than guessed at, as onnxruntime
/// refuses the opsets it does not know.
const MIN_OPSET: i64 = 7;
const MAX_OPSET: i64 = 25;

/// protobuf's limit on one message, which ONNX files obey.
const MAX_ONNX_BYTES: u64 = 2 << 30;

/// Input dims an export leaves symbolic (e.g. `batch_size`) are taken as 1 for the batch; a
/// symbolic spatial dim is an error, since convscope's shapes are static.
///
/// The file is mapped, not read: weights stay in it (tensors' raw data are views of the map)
/// until a pass copies them out (`files::ReadMap`).
pub fn load(path: &Path) -> Result<Graph> {
    let file = ReadMap::of_file(path, "an ONNX model")?;
    if file.len() as u64 > MAX_ONNX_BYTES {
        return Err(Error::Usage(format!(
            "{} is {} bytes, more than the {MAX_ONNX_BYTES} that protobuf allows an ONNX file \
             (larger models keep their weights in external data files)",
            path.display(),
            file.len()
        )));
    }
    parse_map(Arc::new(file), path)
}

/// Parses ONNX bytes held in memory (the demo model, the fuzz targets); `path` locates
/// external data and names the file in messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Graph> {
    let file = ReadMap::of_bytes(bytes).map_err(|e| Error::io(path, e))?;
    parse_map(Arc::new(file), path)
}

fn parse_map(file: Arc<ReadMap>, path: &Path) -> Result<Graph> {
    let bad = |detail: String| Error::BadModel {
        path: path.to_path_buf(),
        detail,
    };
    if file.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    let bytes = prost::bytes::Bytes::from_owner(MapSlice::whole(file.clone()));
    let model = ModelProto::decode(bytes).map_err(|e| {
        bad(format!(
            "protobuf decoding failed ({e}); the file is not ONNX or is truncated"
        ))
    })?;
    let graph = match model.graph {
        Some(g) if !g.node.is_empty() && model.ir_version > 0 => g,
        _ => return Err(bad("it holds no graph (is it an ONNX model file?)".into())),
    };
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| {
            bad("it declares no opset for the standard ONNX operators (opset_import)".into())
        })?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(bad(format!(
            "it declares opset {opset}, and convscope reads opsets {MIN_OPSET} to {MAX_OPSET}; \
             re-export it, e.g. torch.onnx.export(..., opset_version=17)"
        )));
    }
    let mut b = Builder::new(path.to_path_buf(), file, opset);

    for init in &graph.initializer {
        let mut c = tensor::decode(init, path, &b.file)?;
        c.initializer = true;
        b.values.insert(init.name.clone(), Value::Const(c));
    }
    let mut inputs = Vec::new();
    for vi in &graph.input {
        if b.values.contains_key(&vi.name) {
            continue; // old exports list initializers as inputs too
        }
        inputs.push(input_layer(&mut b, vi)?);
    }
    if inputs.is_empty() {
        return Err(bad("the graph has no non-constant input".into()));
    }
    if inputs.len() > 1 {
        let names: Vec<&str> = inputs.iter().map(|i| b.layers[i.0].name.as_str()).collect();
        return Err(bad(format!(
            "it has {} inputs ({}); convscope explores single-input image models",
            names.len(),
            names.join(", ")
        )));
    }

    for name in graph
        .node
        .iter()
        .flat_map(|n| &n.input)
        .chain(graph.output.iter().map(|o| &o.name))
    {
        *b.uses.entry(name.clone()).or_default() += 1;
    }
    for node in topological_order(&graph, &b)? {
        // Checked before converting: the op converters name their value after output 0.
        let first = node
            .output
            .first()
            .ok_or_else(|| bad(format!("node '{}' has no output", node.name)))?;
        let value = ops::convert(&mut b, node)?;
        b.values.insert(first.clone(), value);
    }

    let mut outputs = Vec::new();
    for vi in &graph.output {
        match b.values.get(&vi.name) {
            Some(Value::Layer(id)) => outputs.push(*id),
            Some(Value::Const(_)) => {
                return Err(bad(format!("graph output '{}' is a constant", vi.name)))
            }
            None => {
                return Err(bad(format!(
                    "graph output '{}' is produced by no node",
                    vi.name
                )))
            }
        }
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    b.finish(name, inputs, outputs)
}

fn input_layer(b: &mut Builder, vi: &ValueInfoProto) -> Result<LayerId> {
    let bad = |detail: String| Error::BadModel {
        path: b.path.clone(),
        detail: format!("input '{}': {detail}", vi.name),
    };
    let tt = vi
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| bad("not a tensor".into()))?;
    if tt.elem_type != proto::data_type::FLOAT {
        return Err(bad(format!(
            "element type {} is not supported; convscope feeds float32 inputs",
            proto::data_type::name(tt.elem_type)
        )));
    }
    let dims = tt
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match (d.dim_value, &d.dim_param) {
            (Some(v), _) if v > 0 && v < 1 << 20 => shape.push(v as usize),
            (_, _) if i == 0 => shape.push(1), // symbolic or unset batch
            (Some(v), _) => return Err(bad(format!("dim {i} = {v} is not a valid size"))),
            (None, p) => {
                return Err(bad(format!(
                    "dim {i} is symbolic ('{}'); convscope needs a fixed input size: re-export with a static shape",
                    p.as_deref().unwrap_or("?")
                )))
            }
        }
    }
    if shape.len() < 2 {
        return Err(bad(format!(
            "shape {shape:?} has no batch and feature dims"
        )));
    }
    if shape[0] != 1 {
        shape[0] = 1; // shapes are kept at batch 1; the executor runs any batch
    }
    let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if numel.is_none_or(|n| n > crate::model::shape::MAX_ACTIVATION_ELEMENTS) {
        return Err(bad(format!("shape {shape:?} is absurdly large")));
    }
    let id = LayerId(b.layers.len());
    b.layers.push(crate::model::Layer::new(
        vi.name.clone(),
        "input".into(),
        LayerKind::Input,
        vec![],
        shape,
        vec![],
    ));
    b.values.insert(vi.name.clone(), Value::Layer(id));
    Ok(id)
}

/// Orders nodes so every input is produced before use (the standard asks for this order, but
/// the file is untrusted). Names a dangling input or a node on a cycle.
fn topological_order<'g>(graph: &'g GraphProto, b: &Builder) -> Result<Vec<&'g NodeProto>> {
    let bad = |detail: String| Error::BadModel {
        path: b.path.clone(),
        detail,
    };
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if producer.insert(o, i).is_some() || b.values.contains_key(o.as_str()) {
                return Err(bad(format!("tensor '{o}' is produced twice")));
            }
        }
    }
    let mut pending = vec![0usize; graph.node.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    for (i, n) in graph.node.iter().enumerate() {
        let mut deps = HashSet::new();
        for input in n.input.iter().filter(|s| !s.is_empty()) {
            match producer.get(input.as_str()) {
                Some(&p) => {
                    if deps.insert(p) {
                        users[p].push(i);
                    }
                }
                None if b.values.contains_key(input.as_str()) => {}
                None => {
                    return Err(bad(format!(
                        "node '{}' ({}) reads '{input}', which no node, initializer or input provides (dangling input)",
                        n.name, n.op_type
                    )))
                }
            }
        }
        pending[i] = deps.len();
    }
    let mut ready: VecDeque<usize> = (0..graph.node.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(i) = ready.pop_front() {
        order.push(&graph.node[i]);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if order.len() != graph.node.len() {
        let stuck = (0..graph.node.len())
            .find(|&i| pending[i] > 0)
            .expect("some node is pending");
        let n = &graph.node[stuck];
        return Err(bad(format!(
            "the graph has a cycle through node '{}' ({})",
            n.name, n.op_type
        )));
    }
    Ok(order)
}
