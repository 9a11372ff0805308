//! How layers describe themselves: the ordered `get_config()`-style view, weight information,
//! and the rows of the `model.summary()` table. Both the CLI and (later) the TUI draw from here.

use serde_json::{json, Value};

use super::graph::{Graph, Layer, LayerId};
use super::kind::*;
use super::weights::{ParamCount, Weight, WeightStats};
use crate::error::Result;

/// An ordered list of configuration entries, like Keras `layer.get_config()`.
pub type ConfigView = Vec<(&'static str, Value)>;

/// The layer's configuration, most important keys first. Keys follow Keras' names where Keras
/// has the concept (filters, kernel_size, strides, padding, dilation_rate, use_bias, …).
pub fn config_view(layer: &Layer) -> ConfigView {
    let mut c: ConfigView = vec![("name", json!(layer.name))];
    match &layer.kind {
        LayerKind::Input => c.push(("batch_shape", shape_json(&layer.out_shape))),
        LayerKind::Conv2d(conv) => {
            c.push(("filters", json!(conv.filters)));
            c.push(("kernel_size", json!(conv.window.kernel)));
            c.push(("strides", json!(conv.window.strides)));
            c.push(("padding", json!(conv.window.padding_label())));
            c.push(("pads", json!(conv.window.pads)));
            c.push(("dilation_rate", json!(conv.window.dilation)));
            c.push(("groups", json!(conv.groups)));
            c.push(("activation", json!("linear")));
            c.push(("use_bias", json!(conv.use_bias)));
            c.push(("in_channels", json!(conv.in_channels)));
        }
        LayerKind::ConvTranspose2d(t) => {
            c.push(("filters", json!(t.filters)));
            c.push(("kernel_size", json!(t.window.kernel)));
            c.push(("strides", json!(t.window.strides)));
            c.push(("pads", json!(t.window.pads)));
            c.push(("output_padding", json!(t.output_padding)));
            c.push(("dilation_rate", json!(t.window.dilation)));
            c.push(("activation", json!("linear")));
            c.push(("use_bias", json!(t.use_bias)));
            c.push(("in_channels", json!(t.in_channels)));
        }
        LayerKind::Upsample(u) => {
            c.push(("size", json!(u.scale)));
            let how = match u.interpolation {
                Interpolation::Nearest => "nearest",
                Interpolation::Bilinear => "bilinear",
            };
            c.push(("interpolation", json!(how)));
        }
        LayerKind::BatchNorm(b) => {
            c.push(("axis", json!(1)));
            c.push(("epsilon", num(b.epsilon)));
            c.push(("momentum", num(b.momentum)));
            c.push(("center", json!(true)));
            c.push(("scale", json!(true)));
        }
        LayerKind::Activation(a) => {
            c.push(("activation", json!(a.name())));
            match a {
                Activation::LeakyRelu { alpha } => c.push(("alpha", num(*alpha))),
                Activation::Clip { min, max } => {
                    c.push(("min_value", finite(*min)));
                    c.push(("max_value", finite(*max)));
                }
                Activation::HardSigmoid { alpha, beta } => {
                    c.push(("alpha", num(*alpha)));
                    c.push(("beta", num(*beta)));
                }
                Activation::Gelu { tanh_approximation } => c.push((
                    "approximate",
                    json!(if *tanh_approximation { "tanh" } else { "none" }),
                )),
                _ => {}
            }
        }
        LayerKind::PRelu => c.push(("shared_axes", json!(null))),
        LayerKind::Binary(b) => {
            if let Some(side) = b.constant {
                c.push((
                    "constant_operand",
                    json!(if side == Side::Left { "left" } else { "right" }),
                ));
            }
        }
        LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p) => {
            c.push(("pool_size", json!(p.window.kernel)));
            c.push(("strides", json!(p.window.strides)));
            c.push(("padding", json!(p.window.padding_label())));
            c.push(("pads", json!(p.window.pads)));
            c.push(("dilation_rate", json!(p.window.dilation)));
            c.push(("ceil_mode", json!(p.ceil_mode)));
            if matches!(layer.kind, LayerKind::AvgPool2d(_)) {
                c.push(("count_include_pad", json!(p.count_include_pad)));
            }
        }
        LayerKind::GlobalAvgPool | LayerKind::GlobalMaxPool => c.push(("keepdims", json!(true))),
        LayerKind::Reshape(op) => match op {
            ReshapeOp::Flatten { axis } => c.push(("axis", json!(axis))),
            ReshapeOp::Reshape => c.push(("target_shape", json!(&layer.out_shape[1..]))),
            ReshapeOp::Squeeze { axes } | ReshapeOp::Unsqueeze { axes } => {
                c.push(("axes", json!(axes)))
            }
        },
        LayerKind::Linear(l) => {
            c.push(("units", json!(l.units)));
            c.push(("activation", json!("linear")));
            c.push(("use_bias", json!(l.use_bias)));
            c.push(("in_features", json!(l.in_features)));
            if l.alpha != 1.0 || l.beta != 1.0 {
                c.push(("alpha", num(l.alpha)));
                c.push(("beta", num(l.beta)));
            }
        }
        LayerKind::MatMul => {}
        LayerKind::Softmax { axis, .. } => c.push(("axis", json!(axis))),
        LayerKind::Dropout { ratio } => c.push(("rate", num(*ratio))),
        LayerKind::Identity => {}
        LayerKind::Concat { axis } => c.push(("axis", json!(axis))),
        LayerKind::Transpose { perm } => c.push(("dims", json!(perm))),
        LayerKind::Pad(p) => {
            c.push(("pads", json!(p.pads)));
            match p.mode {
                PadMode::Constant(v) => {
                    c.push(("mode", json!("constant")));
                    c.push(("value", num(v)));
                }
                PadMode::Reflect => c.push(("mode", json!("reflect"))),
                PadMode::Edge => c.push(("mode", json!("edge"))),
            }
        }
        LayerKind::ReduceMean { axes, keepdims } => {
            c.push(("axes", json!(axes)));
            c.push(("keepdims", json!(keepdims)));
        }
        LayerKind::LayerNorm(l) => {
            c.push(("axis", json!(l.axis)));
            c.push(("epsilon", num(l.epsilon)));
            c.push(("center", json!(l.use_bias)));
            c.push(("scale", json!(true)));
        }
    }
    c.push(("trainable", json!(layer.trainable_params() > 0)));
    c.push(("dtype", json!("float32")));
    c.push(("source_name", json!(layer.source_name)));
    c.push(("source_op", json!(layer.source_op)));
    c
}

fn finite(v: f32) -> Value {
    if v.is_finite() {
        num(v)
    } else {
        Value::Null
    }
}

/// An f32 as JSON with its shortest decimal form (1e-5, not 9.999999747378752e-6).
pub fn num(v: f32) -> Value {
    format!("{v}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// A config value on one line: strings bare, lists as `[a, b]`.
pub fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(compact).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// Shape as Keras prints it, batch as `None`: `(None, 64, 112, 112)`.
pub fn shape_label(shape: &[usize]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .enumerate()
        .map(|(i, d)| if i == 0 { "None".into() } else { d.to_string() })
        .collect();
    if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    }
}

fn shape_json(shape: &[usize]) -> Value {
    Value::Array(
        shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if i == 0 { Value::Null } else { json!(d) })
            .collect(),
    )
}

/// `138357544` -> `138,357,544`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Size of `n` float32 values, as Keras prints it: `527.79 MB`.
pub fn float_bytes(n: usize) -> String {
    let b = n as f64 * 4.0;
    let (v, unit) = match b {
        b if b >= 1024.0 * 1024.0 * 1024.0 => (b / (1024.0 * 1024.0 * 1024.0), "GB"),
        b if b >= 1024.0 * 1024.0 => (b / (1024.0 * 1024.0), "MB"),
        b if b >= 1024.0 => (b / 1024.0, "KB"),
        b => (b, "B"),
    };
    format!("{v:.2} {unit}")
}

/// One weight tensor as the config view shows it; `stats` is `None` when values were not read.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WeightInfo {
    pub name: String,
    pub role: &'static str,
    pub shape: Vec<usize>,
    pub dtype: &'static str,
    pub trainable: bool,
    pub counted: bool,
    pub stats: Option<WeightStats>,
}

/// The weights a layer shows: for a row, its folded steps' and its own (a Keras convolution's
/// kernel lives on its pre-activation step); for a folded step, its own.
pub fn shown_weights(graph: &Graph, id: LayerId) -> Vec<&Weight> {
    let members = if graph.layer(id).folded_into.is_some() {
        vec![id]
    } else {
        graph.row_members(id)
    };
    members
        .into_iter()
        .flat_map(|m| graph.layer(m).weights.iter())
        .collect()
}

/// Describes the weights a layer shows (`shown_weights`); with `with_stats`, reads their values
/// (which may fail when an external data file is missing).
pub fn weight_infos(graph: &Graph, id: LayerId, with_stats: bool) -> Result<Vec<WeightInfo>> {
    let source = graph.layer(graph.row_of(id)).source.as_deref();
    let shown_shape = |w: &Weight| {
        source
            .and_then(|s| s.weight_shapes.iter().find(|(n, _)| *n == w.name))
            .map_or_else(|| w.shape.clone(), |(_, s)| s.clone())
    };
    shown_weights(graph, id)
        .into_iter()
        .map(|w| {
            let stats = if with_stats {
                WeightStats::of(&w.load()?.data)
            } else {
                None
            };
            Ok(WeightInfo {
                name: w.name.clone(),
                role: w.role.label(),
                shape: shown_shape(w),
                dtype: w.stored.name(),
                trainable: w.count == ParamCount::Trainable,
                counted: w.count != ParamCount::NotCounted,
                stats,
            })
        })
        .collect()
}

/// The configuration a layer shows: the source's stored dict verbatim where it has one (Keras's
/// `get_config()`), else convscope's `config_view`.
pub fn layer_config(layer: &Layer) -> Vec<(String, Value)> {
    match layer.source.as_ref().map(|s| &s.config) {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => config_view(layer)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// One row of the summary table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SummaryRow {
    pub id: usize,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub output_shape: Vec<usize>,
    pub params: usize,
    pub trainable_params: usize,
    pub connected_to: Vec<String>,
}

/// The summary's rows: one per layer the source shows (steps folded into a row count their
/// parameters there), with the source's type names and output shapes.
pub fn summary_rows(graph: &Graph) -> Vec<SummaryRow> {
    graph
        .rows()
        .map(|id: LayerId| {
            let l = graph.layer(id);
            let members = graph.row_members(id);
            let sum = |f: fn(&Layer) -> usize| members.iter().map(|&m| f(graph.layer(m))).sum();
            // The row's inputs are what its members read from outside the row, by row name.
            let mut connected_to: Vec<String> = vec![];
            for &m in &members {
                for &i in &graph.layer(m).inputs {
                    if members.contains(&i) {
                        continue;
                    }
                    let name = graph.layer(graph.row_of(i)).name.clone();
                    if !connected_to.contains(&name) {
                        connected_to.push(name);
                    }
                }
            }
            SummaryRow {
                id: id.0,
                name: l.name.clone(),
                type_name: l.type_label().to_string(),
                output_shape: l.shown_shape().to_vec(),
                params: sum(Layer::total_params),
                trainable_params: sum(Layer::trainable_params),
                connected_to,
            }
        })
        .collect()
}
