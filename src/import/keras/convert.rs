//! A Keras model config and its variables into convscope's graph.
//!
//! Layout: convscope runs NCHW. In a channels_last model every 4-D tensor is kept NCHW inside
//! (`Layout::Nchw`) and shown NHWC; kernels are laid out once here (HWIO → OIHW). Layers whose
//! meaning depends on the layout (Flatten, Reshape, Permute, axes) translate it, adding steps
//! folded into their row where they need one (the transpose before a channels_last Flatten).
//!
//! Rows: each Keras layer call becomes one row named as in Keras, whose output is the layer's
//! output as `Model(inputs, layer.output)` gives it (a convolution's fused activation
//! included). The steps before the last (the convolution before its activation) are folded
//! into that row and named `ROW/what` (`block1_conv1/pre_activation`), so `--layer` reaches
//! them.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::config::{KLayer, KModel, TensorRef};
use super::paths::object_paths;
use super::weights::{Found, Var};
use crate::error::{Error, Result};
use crate::model::{shape, Layer, LayerId, LayerKind, SourceLayer, Weight};

/// How a Keras tensor's dims map onto the tensor convscope runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The same dims in the same order.
    Keras,
    /// A 4-D channels_last tensor kept NCHW: Keras's (N, H, W, C) is convscope's (N, C, H, W).
    Nchw,
}

/// A Keras tensor: the layer computing it and how its dims map.
#[derive(Clone, Copy, Debug)]
pub struct T {
    pub id: LayerId,
    pub layout: Layout,
}

/// One step of a layer call: a layer convscope runs.
pub struct Step {
    pub what: &'static str,
    pub kind: LayerKind,
    pub inputs: Vec<LayerId>,
    pub weights: Vec<Weight>,
    /// Set for a Reshape, whose shape the importer resolves.
    pub shape: Option<Vec<usize>>,
}

pub struct Convert<'a> {
    pub layers: Vec<Layer>,
    found: &'a mut Found,
    /// The variables of layers already converted, for a layer called again (shared).
    taken: HashMap<String, Vec<Weight>>,
    names: HashSet<String>,
    pub channels_last: bool,
    /// Keras 2 semantics where they differ (hard_sigmoid).
    pub keras2: bool,
    /// Facts the user should know (an input size chosen for an unfixed one).
    pub notes: Vec<String>,
    /// Inputs of the top-level model.
    pub inputs: Vec<LayerId>,
    /// Weight name → its shape as Keras holds it, for the rows to show.
    pub keras_shapes: HashMap<String, Vec<usize>>,
    /// Build with seeded random weights instead of the file's.
    pub random: Option<u64>,
}

pub type Res<T> = std::result::Result<T, String>;

impl<'a> Convert<'a> {
    pub fn new(found: &'a mut Found, channels_last: bool, keras2: bool) -> Convert<'a> {
        Convert {
            layers: vec![],
            found,
            taken: HashMap::new(),
            names: HashSet::new(),
            channels_last,
            keras2,
            notes: vec![],
            inputs: vec![],
            keras_shapes: HashMap::new(),
            random: None,
        }
    }

    pub fn shape(&self, id: LayerId) -> &[usize] {
        &self.layers[id.0].out_shape
    }

    /// The Keras shape of a tensor (NHWC for `Layout::Nchw`).
    pub fn keras_shape(&self, t: T) -> Vec<usize> {
        let s = self.shape(t.id);
        match t.layout {
            Layout::Nchw => vec![s[0], s[2], s[3], s[1]],
            Layout::Keras => s.to_vec(),
        }
    }

    /// The layout a tensor of this convscope shape gets in this model: every step's output is
    /// labelled by it; only a step that holds a 4-D tensor in Keras's order (the NHWC view
    /// before a Flatten) says otherwise.
    pub fn layout_for(&self, shape: &[usize]) -> Layout {
        if self.channels_last && shape.len() == 4 {
            Layout::Nchw
        } else {
            Layout::Keras
        }
    }

    /// Builds a model, its inputs bound to `given` (a nested model's call) or made as input
    /// layers (the top level). Returns its output tensors.
    pub fn model(
        &mut self,
        m: &KModel,
        given: Option<&[T]>,
        path: &str,
        depth: usize,
    ) -> Result<Vec<T>> {
        let mut tensors: HashMap<TensorRef, T> = HashMap::new();
        let by_name: HashMap<&str, &KLayer> =
            m.layers.iter().map(|l| (l.name.as_str(), l)).collect();
        for (i, r) in m.inputs.iter().enumerate() {
            let l = by_name.get(r.layer.as_str()).ok_or_else(|| {
                Error::graph(
                    &r.layer,
                    format!(
                        "model '{}' names it as an input, but has no such layer",
                        m.name
                    ),
                )
            })?;
            let t = match given {
                Some(g) => *g.get(i).ok_or_else(|| {
                    Error::graph(
                        &m.name,
                        format!(
                            "called with {} inputs; it takes {}",
                            g.len(),
                            m.inputs.len()
                        ),
                    )
                })?,
                None => self.input_layer(l)?,
            };
            tensors.insert(r.clone(), t);
        }
        let paths = object_paths(m);
        // Calls run once their inputs exist; the config lists layers in order, but a pass
        // over what is left until nothing moves also takes any order (and finds cycles).
        let mut pending: Vec<(&KLayer, usize)> = m
            .layers
            .iter()
            .flat_map(|l| (0..l.calls.len()).map(move |k| (l, k)))
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut left = vec![];
            for (l, k) in pending {
                let ins: Option<Vec<T>> =
                    l.calls[k].iter().map(|r| tensors.get(r).copied()).collect();
                let Some(ins) = ins else {
                    left.push((l, k));
                    continue;
                };
                let lpath = format!(
                    "{path}{}",
                    paths.get(l.name.as_str()).map_or("", |p| p.as_str())
                );
                let outs = self.call(l, k, &ins, &lpath, depth)?;
                for (i, t) in outs.into_iter().enumerate() {
                    tensors.insert(
                        TensorRef {
                            layer: l.name.clone(),
                            node: k,
                            tensor: i,
                        },
                        t,
                    );
                }
            }
            if left.len() == before {
                let names: Vec<&str> = left.iter().map(|(l, _)| l.name.as_str()).take(5).collect();
                let missing = left[0].0.calls[left[0].1]
                    .iter()
                    .find(|r| !tensors.contains_key(*r))
                    .map_or(String::new(), |r| {
                        format!(
                            " (it reads '{}' call {}, which nothing makes)",
                            r.layer, r.node
                        )
                    });
                return Err(Error::graph(
                    &m.name,
                    format!(
                        "layers {} wait on each other or on missing layers{missing}: the config is \
                         damaged (a cycle or a dangling reference); save the model again",
                        names.join(", ")
                    ),
                ));
            }
            pending = left;
        }
        m.outputs
            .iter()
            .map(|r| {
                tensors.get(r).copied().ok_or_else(|| {
                    Error::graph(
                        &m.name,
                        format!("its output '{}' is never computed", r.layer),
                    )
                })
            })
            .collect()
    }

    fn input_layer(&mut self, l: &KLayer) -> Result<T> {
        let c = &l.config;
        let shape = c
            .get("batch_shape")
            .or_else(|| c.get("batch_input_shape"))
            .and_then(Value::as_array)
            .ok_or_else(|| Error::graph(&l.name, "the input layer stores no shape"))?;
        let mut dims = vec![1usize];
        for (i, d) in shape.iter().enumerate().skip(1) {
            match d.as_u64() {
                Some(v) if v > 0 && v < 1 << 20 => dims.push(v as usize),
                None if d.is_null()
                    && (shape.len() == 4)
                    && i != channel_index(self.channels_last) =>
                {
                    dims.push(224);
                }
                _ => {
                    return Err(Error::graph(
                        &l.name,
                        format!(
                            "input shape {} has no usable size at dim {i}",
                            Value::Array(shape.clone())
                        ),
                    ))
                }
            }
        }
        if shape.len() == 4 && shape.iter().skip(1).any(Value::is_null) {
            self.notes.push(format!(
                "input '{}' has no fixed size in the file ({}): running it at 224x224",
                l.name,
                Value::Array(shape.clone())
            ));
        }
        let keras = dims.clone();
        if self.channels_last && dims.len() == 4 {
            dims = vec![dims[0], dims[3], dims[1], dims[2]];
        }
        let numel = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if numel.is_none_or(|n| n > shape::MAX_ACTIVATION_ELEMENTS) {
            return Err(Error::graph(
                &l.name,
                format!("input shape {keras:?} is absurdly large"),
            ));
        }
        let id = LayerId(self.layers.len());
        let name = self.unique(&l.name);
        let mut layer = Layer::new(
            name,
            "InputLayer".into(),
            LayerKind::Input,
            vec![],
            dims,
            vec![],
        );
        layer.source = Some(Box::new(SourceLayer {
            class_name: l.class_name.clone(),
            config: l.config.clone(),
            shape: keras,
            weight_shapes: vec![],
        }));
        self.layers.push(layer);
        self.inputs.push(id);
        let layout = self.layout_for(&self.layers[id.0].out_shape.clone());
        Ok(T { id, layout })
    }

    /// One call of a layer: its steps, the last of them the row.
    fn call(
        &mut self,
        l: &KLayer,
        k: usize,
        ins: &[T],
        path: &str,
        depth: usize,
    ) -> Result<Vec<T>> {
        if let Some(sub) = &l.model {
            if depth > 32 {
                return Err(Error::graph(&l.name, "models nested more than 32 deep"));
            }
            return self.model(sub, Some(ins), &format!("{path}/"), depth + 1);
        }
        if l.class_name == "InputLayer" {
            // A nested model's input layer, called on the outer tensor: nothing to run.
            return Ok(ins.to_vec());
        }
        let first = self.layers.len();
        let vars = self.vars(l, path, k)?;
        let t = super::layers::convert(self, l, ins, vars)
            .map_err(|detail| Error::graph(&l.name, detail))?;
        // Name the row and fold the steps before it.
        let row = LayerId(self.layers.len() - 1);
        if row.0 < first {
            // The layer made no step (Identity-like on a given tensor): nothing to name.
            return Ok(vec![t]);
        }
        let name = if k == 0 {
            l.name.clone()
        } else {
            format!("{}@{k}", l.name)
        };
        let name = self.unique(&name);
        for i in first..row.0 {
            let what = std::mem::take(&mut self.layers[i].name);
            self.layers[i].name = self.unique(&format!("{name}/{what}"));
            self.layers[i].source_name = self.layers[i].name.clone();
            self.layers[i].folded_into = Some(row);
        }
        let keras_shape = self.keras_shape(t);
        let weight_shapes = (first..=row.0)
            .flat_map(|i| self.layers[i].weights.iter())
            .filter_map(|w| Some((w.name.clone(), self.keras_shapes.get(&w.name)?.clone())))
            .collect();
        let r = &mut self.layers[row.0];
        r.name = name.clone();
        r.source_name = l.name.clone();
        r.source_op = l.class_name.clone();
        r.source = Some(Box::new(SourceLayer {
            class_name: l.class_name.clone(),
            config: l.config.clone(),
            shape: keras_shape,
            weight_shapes,
        }));
        Ok(vec![t])
    }

    /// A layer's variables as weights-to-be (converted by the layer), once; a second call of a
    /// shared layer gets the same values, not counted again.
    fn vars(&mut self, l: &KLayer, path: &str, call: usize) -> Result<Vars> {
        if call > 0 {
            if let Some(w) = self.taken.get(&l.name) {
                return Ok(Vars::Shared(w.clone()));
            }
        }
        if let Some(seed) = self.random {
            return Ok(Vars::Random(seed));
        }
        let found = self
            .found
            .take(&l.name, path.trim_start_matches('/'))
            .unwrap_or_default();
        Ok(Vars::Fresh(found))
    }

    /// Layers of the file whose variables no layer of the config took.
    pub fn left_over(&self) -> Vec<String> {
        self.found.left_over()
    }

    /// Records the weights a layer made from its variables, for its later calls.
    pub fn remember(&mut self, layer: &str, weights: &[Weight]) {
        self.taken.insert(layer.to_string(), weights.to_vec());
    }

    /// Adds a step; its name is `what` until the call names its row.
    pub fn step(&mut self, s: Step) -> Res<T> {
        let shapes: Vec<&[usize]> = s
            .inputs
            .iter()
            .map(|i| self.layers[i.0].out_shape.as_slice())
            .collect();
        let out = match s.shape {
            Some(out) => out,
            None => {
                shape::infer(s.what, &s.kind, &shapes, &s.weights).map_err(|e| e.to_string())?
            }
        };
        let layout = self.layout_for(&out);
        let layer = Layer::new(
            s.what.to_string(),
            s.kind.type_name().into(),
            s.kind,
            s.inputs,
            out,
            s.weights,
        );
        self.layers.push(layer);
        Ok(T {
            id: LayerId(self.layers.len() - 1),
            layout,
        })
    }

    /// A step reading one tensor (most layers' steps).
    pub fn unary(
        &mut self,
        what: &'static str,
        kind: LayerKind,
        x: T,
        weights: Vec<Weight>,
    ) -> Res<T> {
        self.step(Step {
            what,
            kind,
            inputs: vec![x.id],
            weights,
            shape: None,
        })
    }

    /// A unique layer name: `name`, else `name_2`, `name_3`, …
    fn unique(&mut self, name: &str) -> String {
        let mut n = name.to_string();
        let mut i = 2;
        while self.names.contains(&n) {
            n = format!("{name}_{i}");
            i += 1;
        }
        self.names.insert(n.clone());
        n
    }
}

/// A layer's variables: from the file (first call), or the weights its first call made.
pub enum Vars {
    Fresh(Vec<Var>),
    Shared(Vec<Weight>),
    /// No file: seeded random values (an architecture built to look at its structure).
    Random(u64),
}

fn channel_index(channels_last: bool) -> usize {
    if channels_last {
        3
    } else {
        1
    }
}
