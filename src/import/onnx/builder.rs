//! The state of one import: the layers made so far and what every ONNX tensor name stands for
//! (a layer's output, or a constant known at import time).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::attrs::node_label;
use super::proto::NodeProto;
use super::tensor::Const;
use crate::error::{Error, Result};
use crate::files::ReadMap;
use crate::model::{shape, Graph, Layer, LayerId, LayerKind, Weight};

#[derive(Clone, Debug)]
pub enum Value {
    Layer(LayerId),
    Const(Const),
}

pub struct Builder {
    pub path: PathBuf,
    /// The model file, which tensors' raw data are read from.
    pub file: Arc<ReadMap>,
    pub opset: i64,
    pub layers: Vec<Layer>,
    pub values: HashMap<String, Value>,
    /// How many nodes (and graph outputs) read each tensor: fusions need single-use tensors.
    pub uses: HashMap<String, usize>,
}

impl Builder {
    pub fn new(path: PathBuf, file: Arc<ReadMap>, opset: i64) -> Self {
        Builder {
            path,
            file,
            opset,
            layers: Vec::new(),
            values: HashMap::new(),
            uses: HashMap::new(),
        }
    }

    /// The value behind input `i` of `node`; `None` for an absent optional input.
    pub fn opt_input(&self, node: &NodeProto, i: usize) -> Result<Option<&Value>> {
        match node.input.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => self.values.get(name).map(Some).ok_or_else(|| {
                Error::graph(
                    node_label(node),
                    format!("input '{name}' is produced by no node (dangling input)"),
                )
            }),
        }
    }

    pub fn input(&self, node: &NodeProto, i: usize) -> Result<&Value> {
        self.opt_input(node, i)?.ok_or_else(|| {
            Error::graph(
                node_label(node),
                format!("{} needs input #{i}", node.op_type),
            )
        })
    }

    /// Input `i` as a layer; a constant there is an error (we do not run ops on constants).
    pub fn layer_input(&self, node: &NodeProto, i: usize) -> Result<LayerId> {
        match self.input(node, i)? {
            Value::Layer(id) => Ok(*id),
            Value::Const(_) => Err(Error::graph(
                node_label(node),
                format!(
                    "input #{i} of {} must be computed from the model input, not a constant",
                    node.op_type
                ),
            )),
        }
    }

    pub fn const_input(&self, node: &NodeProto, i: usize) -> Result<&Const> {
        self.opt_const_input(node, i)?.ok_or_else(|| {
            Error::graph(
                node_label(node),
                format!("{} needs input #{i}", node.op_type),
            )
        })
    }

    pub fn opt_const_input(&self, node: &NodeProto, i: usize) -> Result<Option<&Const>> {
        match self.opt_input(node, i)? {
            None => Ok(None),
            Some(Value::Const(c)) => Ok(Some(c)),
            Some(Value::Layer(_)) => Err(Error::graph(
                node_label(node),
                format!(
                    "input #{i} of {} must be a constant (static shapes and weights only)",
                    node.op_type
                ),
            )),
        }
    }

    pub fn shape(&self, id: LayerId) -> &[usize] {
        &self.layers[id.0].out_shape
    }

    /// Adds a layer whose output shape is inferred from its kind.
    pub fn add(
        &mut self,
        node: &NodeProto,
        kind: LayerKind,
        inputs: Vec<LayerId>,
        weights: Vec<Weight>,
    ) -> Result<Value> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|&i| self.shape(i)).collect();
        let out_shape = shape::infer(&node_label(node), &kind, &shapes, &weights)?;
        self.add_with_shape(node, kind, inputs, weights, out_shape)
    }

    /// Adds a layer whose output shape the caller computed (reshapes with resolved targets).
    pub fn add_with_shape(
        &mut self,
        node: &NodeProto,
        kind: LayerKind,
        inputs: Vec<LayerId>,
        weights: Vec<Weight>,
        out_shape: Vec<usize>,
    ) -> Result<Value> {
        // The readable base name; `finish` makes names unique once every layer is known.
        let weight_names: Vec<&str> = weights.iter().map(|w| w.name.as_str()).collect();
        let name = super::names::readable(&node.name, &node.op_type, &weight_names);
        let id = LayerId(self.layers.len());
        let mut layer = Layer::new(name, node.op_type.clone(), kind, inputs, out_shape, weights);
        layer.source_name = node.name.clone();
        self.layers.push(layer);
        Ok(Value::Layer(id))
    }

    pub fn finish(
        mut self,
        name: String,
        inputs: Vec<LayerId>,
        outputs: Vec<LayerId>,
    ) -> Result<Graph> {
        let reserved: Vec<String> = inputs
            .iter()
            .map(|i| self.layers[i.0].name.clone())
            .collect();
        let others: Vec<usize> = (0..self.layers.len())
            .filter(|i| !inputs.contains(&LayerId(*i)))
            .collect();
        let bases: Vec<(String, String)> = others
            .iter()
            .map(|&i| {
                (
                    self.layers[i].name.clone(),
                    self.layers[i].source_op.clone(),
                )
            })
            .collect();
        for (&i, name) in others.iter().zip(super::names::finalize(&bases, &reserved)) {
            self.layers[i].name = name;
        }
        let graph = Graph {
            name,
            layers: self.layers,
            inputs,
            outputs,
            labels: None,
            sample_image: None,
            origin: None,
            crop_resize: None,
            channels_last: false,
            preprocess: None,
        };
        graph.validate()?;
        Ok(graph)
    }
}

/// Resolves a possibly negative ONNX axis against a rank.
pub fn axis(node: &NodeProto, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let resolved = if a < 0 { a + r } else { a };
    if !(0..r).contains(&resolved) {
        return Err(Error::graph(
            node_label(node),
            format!("axis {a} is out of range for rank {rank}"),
        ));
    }
    Ok(resolved as usize)
}
