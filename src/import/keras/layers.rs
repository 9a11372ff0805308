//! Each Keras layer class as the steps convscope runs (see `convert.rs` for layouts and rows).
//! Semantics follow Keras 3 (`keras/src/layers/…`); where Keras 2 differed, `cx.keras2` says
//! which to take.

use std::sync::Arc;

use serde_json::Value;

use super::config::KLayer;
use super::conv::{conv, conv_transpose, dense, separable};
use super::convert::{Convert, Layout, Res, Step, Vars, T};
use super::h5::Stored;
use super::layout::{flatten, global_pool, merge, pad, permute, pool, reshape, upsampling};
use super::norm::{batch_norm, layer_norm, normalization, prelu, relu, rescaling};
use super::weights::Var;
use crate::model::weights::Deferred;
use crate::model::{Activation, HostTensor, LayerKind, ParamCount, Weight, WeightData, WeightRole};

/// The classes `convert` takes, for the error naming an unsupported one.
pub const SUPPORTED: &[&str] = &[
    "Activation",
    "ActivityRegularization",
    "Add",
    "AlphaDropout",
    "Average",
    "AveragePooling2D",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Conv2DTranspose",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "ELU",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Identity",
    "InputLayer",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPooling2D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "PReLU",
    "Permute",
    "ReLU",
    "Rescaling",
    "Reshape",
    "SeparableConv2D",
    "Softmax",
    "SpatialDropout2D",
    "Subtract",
    "UpSampling2D",
    "ZeroPadding2D",
];

/// Keras 2 aliases of the same layers.
fn canonical(class: &str) -> &str {
    match class {
        "Convolution2D" => "Conv2D",
        "AvgPool2D" => "AveragePooling2D",
        "MaxPool2D" => "MaxPooling2D",
        "GlobalAvgPool2D" => "GlobalAveragePooling2D",
        "GlobalMaxPool2D" => "GlobalMaxPooling2D",
        "SeparableConvolution2D" => "SeparableConv2D",
        "Deconvolution2D" | "Convolution2DTranspose" => "Conv2DTranspose",
        other => other,
    }
}

pub fn convert(cx: &mut Convert, l: &KLayer, ins: &[T], vars: Vars) -> Res<T> {
    let c = &l.config;
    let x = *ins.first().ok_or("the layer is called on no input")?;
    let mut v = Taker::new(vars, &l.name);
    let t = match canonical(&l.class_name) {
        "Conv2D" => conv(cx, c, x, &mut v, false)?,
        "DepthwiseConv2D" => conv(cx, c, x, &mut v, true)?,
        "SeparableConv2D" => separable(cx, c, x, &mut v)?,
        "Conv2DTranspose" => conv_transpose(cx, c, x, &mut v)?,
        "Dense" => dense(cx, c, x, &mut v)?,
        "BatchNormalization" => batch_norm(cx, c, x, &mut v)?,
        "LayerNormalization" => layer_norm(cx, c, x, &mut v)?,
        "Activation" => {
            let name = c
                .get("activation")
                .and_then(Value::as_str)
                .unwrap_or("linear");
            match activation(cx, name, x)? {
                Some(t) => t,
                None => identity(cx, x)?,
            }
        }
        "ReLU" => relu(cx, c, x)?,
        "LeakyReLU" => {
            let slope = f(c, "negative_slope").or(f(c, "alpha")).unwrap_or(0.3);
            one(
                cx,
                LayerKind::Activation(Activation::LeakyRelu { alpha: slope }),
                x,
            )?
        }
        "PReLU" => prelu(cx, c, x, &mut v)?,
        "ELU" => {
            let alpha = f(c, "alpha").unwrap_or(1.0);
            one(cx, LayerKind::Activation(Activation::Elu { alpha }), x)?
        }
        "Softmax" => {
            let axis = axis_of(cx, x, c.get("axis").unwrap_or(&Value::from(-1)))?;
            one(cx, LayerKind::Softmax { axis, log: false }, x)?
        }
        "MaxPooling2D" | "AveragePooling2D" => pool(cx, c, x, &l.class_name)?,
        "GlobalAveragePooling2D" | "GlobalMaxPooling2D" => global_pool(cx, c, x, &l.class_name)?,
        "ZeroPadding2D" => pad(cx, c, x, "padding", 1)?,
        "Cropping2D" => pad(cx, c, x, "cropping", -1)?,
        "Flatten" => flatten(cx, x)?,
        "Reshape" => reshape(cx, c, x)?,
        "Permute" => permute(cx, c, x)?,
        "Dropout" | "SpatialDropout2D" | "AlphaDropout" | "GaussianDropout" => {
            let rate = f(c, "rate").unwrap_or(0.0);
            one(cx, LayerKind::Dropout { ratio: rate }, x)?
        }
        "GaussianNoise" | "ActivityRegularization" | "Identity" => identity(cx, x)?,
        "UpSampling2D" => upsampling(cx, c, x)?,
        "Add" | "Subtract" | "Multiply" | "Average" | "Maximum" | "Minimum" => {
            merge(cx, ins, &l.class_name)?
        }
        "Concatenate" => {
            let axis = axis_of(cx, x, c.get("axis").unwrap_or(&Value::from(-1)))?;
            check_layouts(ins)?;
            cx.step(Step {
                what: "concat",
                kind: LayerKind::Concat { axis },
                inputs: ins.iter().map(|t| t.id).collect(),
                weights: vec![],
                shape: None,
            })?
        }
        "Rescaling" => rescaling(cx, c, x)?,
        "Normalization" => normalization(cx, c, x, &mut v)?,
        other => {
            return Err(format!(
                "is a {other}, which convscope does not run yet; the Keras layers it runs: {}. \
                 Open an issue naming this layer, or export the model to ONNX",
                SUPPORTED.join(", ")
            ))
        }
    };
    v.finish(cx, &l.name)?;
    Ok(t)
}

/// A layer's variables taken in order, each shape checked.
pub(super) struct Taker {
    vars: std::vec::IntoIter<Var>,
    shared: Option<std::vec::IntoIter<Weight>>,
    layer: String,
    /// Seeded random values instead of the file's.
    random: Option<u64>,
    made: Vec<Weight>,
    /// Each weight's shape as Keras holds it (HWIO kernels), for showing it so.
    shapes: Vec<(String, Vec<usize>)>,
}

impl Taker {
    fn new(vars: Vars, layer: &str) -> Taker {
        let (vars, shared, random) = match vars {
            Vars::Fresh(v) => (v.into_iter(), None, None),
            Vars::Shared(w) => (vec![].into_iter(), Some(w.into_iter()), None),
            Vars::Random(seed) => (vec![].into_iter(), None, Some(seed)),
        };
        Taker {
            vars,
            shared,
            layer: layer.into(),
            random,
            made: vec![],
            shapes: vec![],
        }
    }

    /// The next variable, which must have `keras_shape`; `lay` lays it out for convscope.
    pub(super) fn next(
        &mut self,
        what: &str,
        role: WeightRole,
        keras_shape: &[usize],
        count: ParamCount,
        lay: impl Fn(HostTensor) -> HostTensor + Send + Sync + 'static,
    ) -> Res<Weight> {
        if let Some(shared) = &mut self.shared {
            let mut w = shared
                .next()
                .ok_or_else(|| format!("its shared {what} is missing"))?;
            // Counted at the layer's first call, as Keras counts a shared layer once.
            if w.count != ParamCount::NotCounted {
                w.count = ParamCount::NotCounted;
            }
            return Ok(w);
        }
        if let Some(seed) = self.random {
            return Ok(self.random_weight(seed, what, role, keras_shape, count, lay));
        }
        let var = self.vars.next().ok_or_else(|| {
            format!(
                "its {what} (shape {keras_shape:?}) is not in the weights; the file does not match \
                 the config: save the model again"
            )
        })?;
        // Keras 3 files name variables by position (`…/vars/0`): name them as Keras shows them,
        // `layer/kernel`; legacy files already do.
        let name = if var.name.contains("/vars/") {
            format!("{}/{what}", self.layer)
        } else {
            var.name
        };
        if var.stored.shape != keras_shape {
            return Err(format!(
                "weight '{name}' has shape {:?} in the file, but the config makes it {:?}; \
                 the weights belong to another model",
                var.stored.shape, keras_shape
            ));
        }
        let w = deferred(name.clone(), role, var.stored, count, lay);
        self.made.push(w.clone());
        self.shapes.push((name, keras_shape.to_vec()));
        Ok(w)
    }

    /// A layer's trainable bias of `n` values.
    pub(super) fn bias(&mut self, n: usize) -> Res<Weight> {
        self.next("bias", WeightRole::Bias, &[n], ParamCount::Trainable, |t| t)
    }

    /// A weight drawn when first read, from the layer's name and the variable's: kernels
    /// He-uniform over their fan-in, BatchNorm near the identity, the rest small.
    fn random_weight(
        &mut self,
        seed: u64,
        what: &str,
        role: WeightRole,
        keras_shape: &[usize],
        count: ParamCount,
        lay: impl Fn(HostTensor) -> HostTensor + Send + Sync + 'static,
    ) -> Weight {
        let name = format!("{}/{what}", self.layer);
        let shape = laid_out_shape(keras_shape, lay);
        let fan_in = keras_shape[..keras_shape.len().saturating_sub(1)]
            .iter()
            .product::<usize>()
            .max(1) as f32;
        let (center, bound) = match role {
            WeightRole::Kernel => (0.0, (6.0 / fan_in).sqrt()),
            WeightRole::Gamma | WeightRole::MovingVariance => (1.0, 0.2),
            WeightRole::Constant if what == "variance" => (1.0, 0.2),
            WeightRole::Constant if what == "count" => (1.0, 0.0),
            _ => (0.0, 0.1),
        };
        self.shapes.push((name.clone(), keras_shape.to_vec()));
        Weight {
            data: crate::model::WeightData::Random {
                seed: seed ^ crate::model::build::fnv1a(name.as_bytes()),
                center,
                bound,
            },
            name,
            role,
            shape,
            stored: crate::model::StoredType::F32,
            count,
        }
    }

    fn finish(mut self, cx: &mut Convert, layer: &str) -> Res<()> {
        if let Some(extra) = self.vars.next() {
            return Err(format!(
                "the file has more weights for it than the config uses ('{}'); the weights \
                 belong to another model",
                extra.name
            ));
        }
        if self.shared.is_none() {
            cx.remember(layer, &std::mem::take(&mut self.made));
        }
        cx.keras_shapes.extend(self.shapes);
        Ok(())
    }
}

/// A weight read from its dataset and laid out when loaded; its shape is the laid-out one.
fn deferred(
    name: String,
    role: WeightRole,
    stored: Stored,
    count: ParamCount,
    lay: impl Fn(HostTensor) -> HostTensor + Send + Sync + 'static,
) -> Weight {
    let shape = laid_out_shape(&stored.shape, &lay);
    let dtype = stored.dtype;
    Weight {
        data: WeightData::Deferred(Deferred(Arc::new(move || Ok(lay(stored.read()?))))),
        name,
        role,
        shape,
        stored: dtype,
        count,
    }
}

/// The shape `lay` gives a tensor of `keras_shape` (the layout functions take a tensor with no
/// values for this).
fn laid_out_shape(keras_shape: &[usize], lay: impl Fn(HostTensor) -> HostTensor) -> Vec<usize> {
    lay(HostTensor {
        shape: keras_shape.to_vec(),
        data: vec![],
    })
    .shape
}

// ---- config helpers ----

pub(super) fn f(c: &Value, key: &str) -> Option<f32> {
    c.get(key).and_then(Value::as_f64).map(|v| v as f32)
}

pub(super) fn b(c: &Value, key: &str, default: bool) -> bool {
    c.get(key).and_then(Value::as_bool).unwrap_or(default)
}

pub(super) fn u(c: &Value, key: &str) -> Res<usize> {
    c.get(key)
        .and_then(Value::as_u64)
        .filter(|&v| v > 0 && v < 1 << 24)
        .map(|v| v as usize)
        .ok_or_else(|| format!("config '{key}' is missing or not a positive size"))
}

/// An int or a pair: `3` or `[3, 3]`.
pub(super) fn pair(c: &Value, key: &str, default: Option<[usize; 2]>) -> Res<[usize; 2]> {
    let bad = || format!("config '{key}' is not a size or a pair of sizes");
    let ok = |v: u64| {
        if v > 0 && v < 1 << 16 {
            Some(v as usize)
        } else {
            None
        }
    };
    match c.get(key) {
        None | Some(Value::Null) => default.ok_or_else(bad),
        Some(Value::Number(n)) => n.as_u64().and_then(ok).map(|v| [v, v]).ok_or_else(bad),
        Some(Value::Array(a)) if a.len() == 2 => {
            let v0 = a[0].as_u64().and_then(ok).ok_or_else(bad)?;
            let v1 = a[1].as_u64().and_then(ok).ok_or_else(bad)?;
            Ok([v0, v1])
        }
        _ => Err(bad()),
    }
}

/// The layer's data_format agrees with how its input is held.
pub(super) fn check_format(cx: &Convert, c: &Value, x: T) -> Res<()> {
    let format = c
        .get("data_format")
        .and_then(Value::as_str)
        .unwrap_or("channels_last");
    let want_last = format == "channels_last";
    if want_last != cx.channels_last {
        return Err(format!(
            "is {format} in a model whose other layers are not; convscope runs one layout per model"
        ));
    }
    if x.layout == Layout::Keras && cx.channels_last {
        return Err("needs a 4-D (batch, height, width, channels) input".into());
    }
    Ok(())
}

/// A Keras axis (negative from the end, of the Keras shape) as convscope's axis.
pub(super) fn axis_of(cx: &Convert, x: T, v: &Value) -> Res<usize> {
    let rank = cx.shape(x.id).len() as i64;
    let a = match v {
        Value::Array(a) if a.len() == 1 => a[0].as_i64(),
        other => other.as_i64(),
    }
    .ok_or("axis is not an integer (or a list of one)")?;
    let a = if a < 0 { a + rank } else { a };
    if a <= 0 || a >= rank {
        return Err(format!(
            "axis {a} is out of range for a rank-{rank} input (or is the batch)"
        ));
    }
    Ok(match x.layout {
        Layout::Nchw => [0, 2, 3, 1][a as usize],
        Layout::Keras => a as usize,
    })
}

pub(super) fn check_layouts(ins: &[T]) -> Res<()> {
    if ins.windows(2).any(|w| w[0].layout != w[1].layout) {
        return Err("its inputs have different ranks".into());
    }
    Ok(())
}

// ---- steps ----

pub(super) fn one(cx: &mut Convert, kind: LayerKind, x: T) -> Res<T> {
    cx.unary("op", kind, x, vec![])
}

pub(super) fn identity(cx: &mut Convert, x: T) -> Res<T> {
    one(cx, LayerKind::Identity, x)
}

/// What an activation name computes: None for `linear`.
pub fn activation(cx: &mut Convert, name: &str, x: T) -> Res<Option<T>> {
    let a = match name {
        "linear" | "identity" => return Ok(None),
        "relu" => Activation::Relu,
        "relu6" => Activation::Clip { min: 0.0, max: 6.0 },
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        "swish" | "silu" => Activation::Silu,
        "gelu" => Activation::Gelu {
            tanh_approximation: false,
        },
        // Keras 3: relu6(x + 3) / 6; Keras 2: clip(0.2 x + 0.5, 0, 1).
        "hard_sigmoid" if cx.keras2 => Activation::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        "hard_sigmoid" => Activation::HardSigmoid {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        },
        "hard_silu" | "hard_swish" => Activation::HardSwish,
        "leaky_relu" => Activation::LeakyRelu { alpha: 0.2 },
        "elu" => Activation::Elu { alpha: 1.0 },
        "selu" => Activation::Selu,
        "softplus" => Activation::Softplus,
        "softsign" => Activation::Softsign,
        "exponential" => Activation::Exp,
        "mish" => Activation::Mish,
        "softmax" | "log_softmax" => {
            let axis = if x.layout == Layout::Nchw {
                1
            } else {
                cx.shape(x.id).len() - 1
            };
            let kind = LayerKind::Softmax {
                axis,
                log: name == "log_softmax",
            };
            return one(cx, kind, x).map(Some);
        }
        other => {
            return Err(format!(
                "uses the activation '{other}', which convscope does not run yet; it runs linear, \
                 relu, relu6, sigmoid, tanh, softmax, log_softmax, swish/silu, gelu, hard_sigmoid, \
                 hard_silu/hard_swish, leaky_relu, elu, selu, softplus, softsign, exponential, \
                 mish"
            ))
        }
    };
    one(cx, LayerKind::Activation(a), x).map(Some)
}
