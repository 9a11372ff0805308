//! Keras layers that move, pool or join values: pooling, padding and cropping, Flatten,
//! Reshape, Permute, UpSampling2D, and the merges (Add, Subtract, Multiply, Average, Maximum,
//! Minimum). In a channels_last
//! model these translate between Keras's NHWC and the NCHW convscope runs.

use serde_json::Value;

use super::conv::window;
use super::convert::{Convert, Layout, Res, Step, T};
use super::layers::{check_format, check_layouts, one, pair};
use crate::model::{
    BinaryConfig, BinaryOp, Interpolation, LayerKind, PadConfig, PadMode, ParamCount, PoolConfig,
    ReshapeOp, Side, UpsampleConfig, Weight, WeightRole,
};

/// Keras's NHWC order of a convscope NCHW tensor, and back.
pub(super) const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

pub fn pool(cx: &mut Convert, c: &Value, x: T, class: &str) -> Res<T> {
    check_format(cx, c, x)?;
    let s = cx.shape(x.id).to_vec();
    let size = pair(c, "pool_size", Some([2, 2]))?;
    let strides = pair(c, "strides", Some(size))?;
    let config = PoolConfig {
        window: window(c, size, strides, [1, 1], [s[2], s[3]])?,
        ceil_mode: false,
        // Keras averages over the pixels inside the image only.
        count_include_pad: false,
    };
    let kind = if class.starts_with("Max") {
        LayerKind::MaxPool2d(config)
    } else {
        LayerKind::AvgPool2d(config)
    };
    one(cx, kind, x)
}

/// Global pooling; without `keepdims` (Keras's default) the result is (batch, channels).
pub fn global_pool(cx: &mut Convert, c: &Value, x: T, class: &str) -> Res<T> {
    check_format(cx, c, x)?;
    let kind = if class.contains("Max") {
        LayerKind::GlobalMaxPool
    } else {
        LayerKind::GlobalAvgPool
    };
    let pooled = cx.unary("pool", kind, x, vec![])?;
    if c.get("keepdims").and_then(Value::as_bool).unwrap_or(false) {
        return Ok(pooled);
    }
    let flat = one(
        cx,
        LayerKind::Reshape(ReshapeOp::Flatten { axis: 1 }),
        pooled,
    )?;
    Ok(flat)
}

/// ZeroPadding2D (`sign` 1) and Cropping2D (`sign` -1): `p`, `[h, w]` or `[[t, b], [l, r]]`.
pub fn pad(cx: &mut Convert, c: &Value, x: T, key: &str, sign: i64) -> Res<T> {
    check_format(cx, c, x)?;
    let bad = || format!("config '{key}' is not a size, a pair, or two pairs");
    let n = |v: &Value| {
        v.as_u64()
            .filter(|&v| v < 1 << 20)
            .map(|v| v as i64)
            .ok_or_else(bad)
    };
    let (h, w) = match c.get(key).ok_or_else(bad)? {
        Value::Number(_) => {
            let p = n(c.get(key).ok_or_else(bad)?)?;
            ((p, p), (p, p))
        }
        Value::Array(a) if a.len() == 2 => match (&a[0], &a[1]) {
            (Value::Array(ph), Value::Array(pw)) if ph.len() == 2 && pw.len() == 2 => {
                ((n(&ph[0])?, n(&ph[1])?), (n(&pw[0])?, n(&pw[1])?))
            }
            (ph, pw) => {
                let (ph, pw) = (n(ph)?, n(pw)?);
                ((ph, ph), (pw, pw))
            }
        },
        _ => return Err(bad()),
    };
    let pads = vec![
        (0, 0),
        (0, 0),
        (sign * h.0, sign * h.1),
        (sign * w.0, sign * w.1),
    ];
    one(
        cx,
        LayerKind::Pad(PadConfig {
            pads,
            mode: PadMode::Constant(0.0),
        }),
        x,
    )
}

/// The NHWC view of a channels_last tensor (a step folded into the row), else the tensor.
fn as_keras(cx: &mut Convert, x: T) -> Res<T> {
    if x.layout != Layout::Nchw {
        return Ok(x);
    }
    let kind = LayerKind::Transpose {
        perm: TO_NHWC.to_vec(),
    };
    let t = cx.unary("to_channels_last", kind, x, vec![])?;
    Ok(T {
        layout: Layout::Keras,
        ..t
    })
}

/// Flatten in Keras's order: a channels_last map is flattened as (H, W, C), as Keras does, so
/// that the Dense after it reads the weights it was trained with.
pub fn flatten(cx: &mut Convert, x: T) -> Res<T> {
    let x = as_keras(cx, x)?;
    let t = one(cx, LayerKind::Reshape(ReshapeOp::Flatten { axis: 1 }), x)?;
    Ok(t)
}

pub fn reshape(cx: &mut Convert, c: &Value, x: T) -> Res<T> {
    let target = c
        .get("target_shape")
        .and_then(Value::as_array)
        .ok_or("config 'target_shape' is missing")?;
    let x = as_keras(cx, x)?;
    let s = cx.shape(x.id).to_vec();
    let total: usize = s[1..].iter().product();
    let mut dims: Vec<Option<usize>> = vec![];
    for d in target {
        dims.push(match d.as_i64() {
            Some(-1) => None,
            Some(v) if v > 0 && v < 1 << 31 => Some(v as usize),
            _ => {
                return Err(format!(
                    "target_shape {} has a bad dimension",
                    Value::Array(target.clone())
                ))
            }
        });
    }
    let known: usize = dims.iter().flatten().product();
    let free = dims.iter().filter(|d| d.is_none()).count();
    let out: Vec<usize> = match free {
        0 if known == total => dims.into_iter().flatten().collect(),
        1 if known > 0 && total.is_multiple_of(known) => dims
            .into_iter()
            .map(|d| d.unwrap_or(total / known))
            .collect(),
        _ => {
            return Err(format!(
                "cannot reshape {:?} ({total} values) to {}",
                &s[1..],
                Value::Array(target.clone())
            ))
        }
    };
    let mut shape = vec![1];
    shape.extend(&out);
    let kind = LayerKind::Reshape(ReshapeOp::Reshape);
    let r = cx.step(Step {
        what: "reshape",
        kind,
        inputs: vec![x.id],
        weights: vec![],
        shape: Some(shape.clone()),
    })?;
    if cx.channels_last && shape.len() == 4 {
        // Keras's (N, H, W, C) result, held NCHW like every channels_last map.
        let kind = LayerKind::Transpose {
            perm: TO_NCHW.to_vec(),
        };
        return cx.unary("to_channels_first", kind, r, vec![]);
    }
    Ok(r)
}

/// Permute (`dims` 1-based, without the batch), composed with the layout change so that it
/// stays one transpose.
pub fn permute(cx: &mut Convert, c: &Value, x: T) -> Res<T> {
    let dims = c
        .get("dims")
        .and_then(Value::as_array)
        .ok_or("config 'dims' is missing")?;
    let rank = cx.shape(x.id).len();
    let mut q = vec![0usize];
    for d in dims {
        q.push(
            d.as_u64()
                .map(|d| d as usize)
                .filter(|&d| d >= 1 && d < rank)
                .ok_or("a permuted dim is out of range")?,
        );
    }
    if q.len() != rank {
        return Err(format!(
            "permutes {} dims of a rank-{rank} input",
            q.len() - 1
        ));
    }
    let perm: Vec<usize> = match x.layout {
        Layout::Nchw => TO_NCHW.iter().map(|&j| TO_NHWC[q[j]]).collect(),
        Layout::Keras => q,
    };
    one(cx, LayerKind::Transpose { perm }, x)
}

/// UpSampling2D by whole factors, `nearest` or `bilinear` (half-pixel centres, as Keras's
/// `ops.image.resize` does without antialiasing, which only shrinking would use).
pub fn upsampling(cx: &mut Convert, c: &Value, x: T) -> Res<T> {
    check_format(cx, c, x)?;
    let scale = pair(c, "size", Some([2, 2]))?;
    let interpolation = match c
        .get("interpolation")
        .and_then(Value::as_str)
        .unwrap_or("nearest")
    {
        "nearest" => Interpolation::Nearest,
        "bilinear" => Interpolation::Bilinear,
        other => {
            return Err(format!(
                "interpolates by '{other}', which convscope does not run yet (it runs nearest \
                 and bilinear)"
            ))
        }
    };
    let kind = LayerKind::Upsample(UpsampleConfig {
        scale,
        interpolation,
    });
    one(cx, kind, x)
}

/// Add, Subtract, Multiply, Average, Maximum and Minimum of two or more same-shaped inputs.
pub fn merge(cx: &mut Convert, ins: &[T], class: &str) -> Res<T> {
    check_layouts(ins)?;
    if ins.len() < 2 || (class == "Subtract" && ins.len() != 2) {
        return Err(format!("{class} of {} inputs", ins.len()));
    }
    let (op, what) = match class {
        "Subtract" => (BinaryOp::Sub, "difference"),
        "Multiply" => (BinaryOp::Mul, "product"),
        "Maximum" => (BinaryOp::Max, "maximum"),
        "Minimum" => (BinaryOp::Min, "minimum"),
        _ => (BinaryOp::Add, "sum"),
    };
    // Each step's layout follows from its shape (`Convert::layout_for`).
    let mut acc = ins[0];
    for x in &ins[1..] {
        let kind = LayerKind::Binary(BinaryConfig { op, constant: None });
        acc = cx.step(Step {
            what,
            kind,
            inputs: vec![acc.id, x.id],
            weights: vec![],
            shape: None,
        })?;
    }
    if class == "Average" {
        let w = Weight::loaded(
            "1/n",
            WeightRole::Constant,
            &[1],
            vec![1.0 / ins.len() as f32],
            ParamCount::NotCounted,
        );
        let kind = LayerKind::Binary(BinaryConfig {
            op: BinaryOp::Mul,
            constant: Some(Side::Right),
        });
        acc = cx.unary("mean", kind, acc, vec![w])?;
    }
    Ok(acc)
}
