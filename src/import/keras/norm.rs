//! Keras's normalizing and element-wise layers: BatchNormalization, LayerNormalization,
//! Normalization, Rescaling, ReLU, PReLU.

use serde_json::Value;

use super::convert::{Convert, Layout, Res, T};
use super::layers::{axis_of, b, f, one, Taker};
use super::layout::TO_NHWC;
use crate::model::{
    Activation, BatchNormConfig, BinaryConfig, BinaryOp, HostTensor, LayerKind, LayerNormConfig,
    ParamCount, ReshapeOp, Side, Weight, WeightRole,
};

/// A constant that is part of the computation, not a parameter (BatchNorm's absent gamma).
fn constant(name: &str, shape: &[usize], value: f32) -> Weight {
    Weight::loaded(
        name,
        WeightRole::Constant,
        shape,
        vec![value; shape.iter().product()],
        ParamCount::NotCounted,
    )
}

/// BatchNormalization over the channel axis; on a (batch, features) input the features are
/// the channels (run as `[N, C, 1, 1]` inside the row).
pub fn batch_norm(cx: &mut Convert, c: &Value, x: T, v: &mut Taker) -> Res<T> {
    let axis = axis_of(cx, x, c.get("axis").unwrap_or(&Value::from(-1)))?;
    let rank = cx.shape(x.id).len();
    if axis != 1 || !(rank == 2 || rank == 4) {
        return Err(format!(
            "normalizes axis {axis} of a rank-{rank} input; convscope runs BatchNormalization over \
             the channels of a 4-D input or the features of a 2-D one"
        ));
    }
    let ch = cx.shape(x.id)[1];
    let (scale, center) = (b(c, "scale", true), b(c, "center", true));
    let t = ParamCount::Trainable;
    let gamma = if scale {
        v.next("gamma", WeightRole::Gamma, &[ch], t, |t| t)?
    } else {
        constant("gamma (scale=False)", &[ch], 1.0)
    };
    let beta = if center {
        v.next("beta", WeightRole::Beta, &[ch], t, |t| t)?
    } else {
        constant("beta (center=False)", &[ch], 0.0)
    };
    let nt = ParamCount::NonTrainable;
    let mean = v.next("moving_mean", WeightRole::MovingMean, &[ch], nt, |t| t)?;
    let var = v.next(
        "moving_variance",
        WeightRole::MovingVariance,
        &[ch],
        nt,
        |t| t,
    )?;
    let kind = LayerKind::BatchNorm(BatchNormConfig {
        channels: ch,
        epsilon: f(c, "epsilon").unwrap_or(1e-3),
        momentum: f(c, "momentum").unwrap_or(0.99),
    });
    let input = if rank == 2 {
        one(
            cx,
            LayerKind::Reshape(ReshapeOp::Unsqueeze { axes: vec![2, 3] }),
            x,
        )?
    } else {
        x
    };
    let bn = cx.unary("batch_norm", kind, input, vec![gamma, beta, mean, var])?;
    if rank == 2 {
        let out = one(
            cx,
            LayerKind::Reshape(ReshapeOp::Squeeze { axes: vec![2, 3] }),
            bn,
        )?;
        return Ok(out);
    }
    Ok(bn)
}

/// LayerNormalization over any axes but the batch (`-1`: the channels of a map or the features
/// of a vector; `[1, 2, 3]`: a whole map). The normalized axes are moved last, in Keras's order,
/// so that gamma and beta apply as Keras broadcasts them, and moved back after (steps folded
/// into the row; none where they are last already).
pub fn layer_norm(cx: &mut Convert, c: &Value, x: T, v: &mut Taker) -> Res<T> {
    if b(c, "rms_scaling", false) {
        return Err("uses rms_scaling, which convscope does not run yet".into());
    }
    let keras = cx.keras_shape(x);
    let rank = keras.len();
    let listed: Vec<i64> = match c.get("axis").unwrap_or(&Value::from(-1)) {
        Value::Array(a) => a.iter().map(Value::as_i64).collect::<Option<_>>(),
        other => other.as_i64().map(|a| vec![a]),
    }
    .ok_or("config 'axis' is not an integer or a list of integers")?;
    let mut axes = vec![];
    for &a in &listed {
        let k = if a < 0 { a + rank as i64 } else { a };
        if k < 1 || k >= rank as i64 || axes.contains(&(k as usize)) {
            return Err(format!(
                "normalizes axes {listed:?} of a rank-{rank} input (each once, not the batch)"
            ));
        }
        axes.push(k as usize);
    }
    // Keras shapes gamma as the axes are listed and broadcasts it over them in ascending order.
    let listed_dims: Vec<usize> = axes.iter().map(|&k| keras[k]).collect();
    axes.sort_unstable();
    let dims: Vec<usize> = axes.iter().map(|&k| keras[k]).collect();
    let t = ParamCount::Trainable;
    let (scale, center) = (b(c, "scale", true), b(c, "center", true));
    let lay = |dims: Vec<usize>| {
        move |t: HostTensor| HostTensor {
            shape: dims.clone(),
            ..t
        }
    };
    let mut weights = vec![if scale {
        v.next(
            "gamma",
            WeightRole::Gamma,
            &listed_dims,
            t,
            lay(dims.clone()),
        )?
    } else {
        constant("gamma (scale=False)", &dims, 1.0)
    }];
    if center {
        let beta = v.next("beta", WeightRole::Beta, &listed_dims, t, lay(dims.clone()))?;
        weights.push(beta);
    }
    // Where each Keras axis is held, and the order that puts the normalized ones last.
    let held = |k: usize| match x.layout {
        Layout::Nchw => TO_NHWC[k],
        Layout::Keras => k,
    };
    let normalized: Vec<usize> = axes.iter().map(|&k| held(k)).collect();
    let mut perm: Vec<usize> = (0..rank).filter(|a| !normalized.contains(a)).collect();
    perm.extend(&normalized);
    let kind = LayerKind::LayerNorm(LayerNormConfig {
        axis: rank - axes.len(),
        epsilon: f(c, "epsilon").unwrap_or(1e-3),
        use_bias: center,
    });
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return cx.unary("layer_norm", kind, x, weights);
    }
    let moved = cx.unary(
        "axes_last",
        LayerKind::Transpose { perm: perm.clone() },
        x,
        vec![],
    )?;
    let y = cx.unary("layer_norm", kind, moved, weights)?;
    let mut back = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        back[p] = i;
    }
    cx.unary("axes_back", LayerKind::Transpose { perm: back }, y, vec![])
}

/// ReLU with Keras's options: `max_value` caps it, `negative_slope` leaks it; a non-zero
/// `threshold` is not run.
pub fn relu(cx: &mut Convert, c: &Value, x: T) -> Res<T> {
    let max = f(c, "max_value");
    let slope = f(c, "negative_slope").unwrap_or(0.0);
    let threshold = f(c, "threshold").unwrap_or(0.0);
    if threshold != 0.0 || (slope != 0.0 && max.is_some()) {
        return Err(
            "combines threshold or negative_slope with max_value, which convscope does not run \
             yet (it runs ReLU with max_value, or with negative_slope)"
                .into(),
        );
    }
    let a = match (max, slope) {
        (Some(m), _) => Activation::Clip { min: 0.0, max: m },
        (None, s) if s != 0.0 => Activation::LeakyRelu { alpha: s },
        _ => Activation::Relu,
    };
    one(cx, LayerKind::Activation(a), x)
}

/// PReLU: alpha has the input's shape without the batch (1 on `shared_axes`), NHWC in a
/// channels_last model: laid out as the tensor it multiplies.
pub fn prelu(cx: &mut Convert, c: &Value, x: T, v: &mut Taker) -> Res<T> {
    let keras = cx.keras_shape(x);
    let mut alpha_shape: Vec<usize> = keras[1..].to_vec();
    let shared: Vec<u64> = match c.get("shared_axes") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).collect(),
        Some(Value::Number(n)) => n.as_u64().into_iter().collect(),
        _ => vec![],
    };
    for a in shared {
        match alpha_shape.get_mut((a as usize).wrapping_sub(1)) {
            Some(d) => *d = 1,
            None => {
                return Err(format!(
                    "shared axis {a} is out of range for input {keras:?}"
                ))
            }
        }
    }
    let nchw = x.layout == Layout::Nchw;
    let w = v.next(
        "alpha",
        WeightRole::Slope,
        &alpha_shape,
        ParamCount::Trainable,
        move |t| {
            if nchw {
                hwc_to_chw(t)
            } else {
                t
            }
        },
    )?;
    cx.unary("prelu", LayerKind::PRelu, x, vec![w])
}

/// `[H, W, C]` → `[C, H, W]`.
fn hwc_to_chw(t: HostTensor) -> HostTensor {
    let [h, w, c] = [t.shape[0], t.shape[1], t.shape[2]];
    if t.data.is_empty() {
        return HostTensor {
            shape: vec![c, h, w],
            data: vec![],
        };
    }
    let mut out = vec![0f32; t.data.len()];
    for i in 0..h * w {
        for k in 0..c {
            out[k * h * w + i] = t.data[i * c + k];
        }
    }
    HostTensor {
        shape: vec![c, h, w],
        data: out,
    }
}

/// A per-channel (or scalar) constant operand shaped to broadcast against `x`.
fn channel_constant(cx: &Convert, x: T, name: &str, values: Vec<f32>) -> Res<Weight> {
    let s = cx.shape(x.id);
    let shape = match (values.len(), x.layout) {
        (1, _) => vec![1],
        (n, Layout::Nchw) if n == s[1] => vec![n, 1, 1],
        (n, Layout::Keras) if Some(&n) == s.last() => vec![n],
        (n, _) => {
            return Err(format!(
                "has {n} values for an input of shape {:?}",
                cx.keras_shape(x)
            ))
        }
    };
    Ok(Weight::loaded(
        name,
        WeightRole::Constant,
        &shape,
        values,
        ParamCount::NotCounted,
    ))
}

fn floats(v: Option<&Value>, default: f32) -> Res<Vec<f32>> {
    match v {
        None | Some(Value::Null) => Ok(vec![default]),
        Some(Value::Number(n)) => Ok(vec![n.as_f64().unwrap_or(default as f64) as f32]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_f64()
                    .map(|x| x as f32)
                    .ok_or_else(|| "a value is not a number".to_string())
            })
            .collect(),
        Some(_) => Err("a value is not a number or a list".into()),
    }
}

fn binary_const(cx: &mut Convert, x: T, op: BinaryOp, w: Weight, what: &'static str) -> Res<T> {
    let kind = LayerKind::Binary(BinaryConfig {
        op,
        constant: Some(Side::Right),
    });
    cx.unary(what, kind, x, vec![w])
}

/// Rescaling: `x * scale + offset`.
pub fn rescaling(cx: &mut Convert, c: &Value, x: T) -> Res<T> {
    let scale = floats(c.get("scale"), 1.0)?;
    let offset = floats(c.get("offset"), 0.0)?;
    let w = channel_constant(cx, x, "scale", scale)?;
    let scaled = binary_const(cx, x, BinaryOp::Mul, w, "scale")?;
    let w = channel_constant(cx, scaled, "offset", offset)?;
    binary_const(cx, scaled, BinaryOp::Add, w, "offset")
}

/// Normalization (adapted): `(x - mean) / max(sqrt(variance), 1e-7)`, mean and variance from its
/// variables (`mean`, `variance`, `count`) or, when given at construction, its config.
pub fn normalization(cx: &mut Convert, c: &Value, x: T, v: &mut Taker) -> Res<T> {
    if b(c, "invert", false) {
        return Err("is an inverted Normalization, which convscope does not run yet".into());
    }
    // Adapted statistics are variables Keras counts as non-trainable parameters; they ride on
    // the first step (which computes with the constants made from them).
    let mut stats = vec![];
    let (mean, var) = match (c.get("mean"), c.get("variance")) {
        (Some(m), Some(va)) if !m.is_null() && !va.is_null() => {
            (floats(Some(m), 0.0)?, floats(Some(va), 1.0)?)
        }
        _ => {
            let s = cx.keras_shape(x);
            let ch = *s.last().ok_or("has a scalar input")?;
            let nt = ParamCount::NonTrainable;
            let m = v.next("mean", WeightRole::Constant, &[ch], nt, |t| t)?;
            let va = v.next("variance", WeightRole::Constant, &[ch], nt, |t| t)?;
            let count = v.next("count", WeightRole::Constant, &[], nt, |t| t)?;
            let values = (
                m.load().map_err(|e| e.to_string())?.data.clone(),
                va.load().map_err(|e| e.to_string())?.data.clone(),
            );
            stats = vec![m, va, count];
            values
        }
    };
    let inv: Vec<f32> = var.iter().map(|v| 1.0 / v.sqrt().max(1e-7)).collect();
    let w = channel_constant(cx, x, "mean", mean)?;
    let kind = LayerKind::Binary(BinaryConfig {
        op: BinaryOp::Sub,
        constant: Some(Side::Right),
    });
    let mut weights = vec![w];
    weights.extend(stats);
    let centered = cx.unary("centered", kind, x, weights)?;
    let w = channel_constant(cx, centered, "inverse_std", inv)?;
    binary_const(cx, centered, BinaryOp::Mul, w, "scaled")
}
