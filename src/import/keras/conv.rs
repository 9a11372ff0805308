//! Keras's convolutions and Dense: Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose,
//! Dense, with their fused activation (the row) after the linear step (`NAME/pre_activation`),
//! and the kernel layouts (HWIO → OIHW) done once here.

use serde_json::Value;

use super::convert::{Convert, Layout, Res, T};
use super::layers::{activation, b, check_format, pair, u, Taker};
use crate::model::{
    Conv2dConfig, ConvTranspose2dConfig, HostTensor, LayerKind, LinearConfig, PaddingMode,
    ParamCount, WeightRole, Window,
};

/// The fused `activation` of a Conv2D/Dense, after its linear step.
fn fused(cx: &mut Convert, c: &Value, linear: T) -> Res<T> {
    let name = c
        .get("activation")
        .and_then(Value::as_str)
        .unwrap_or("linear");
    if name != "linear" {
        // The linear step is folded into the row: name it as what it is.
        cx.layers[linear.id.0].name = "pre_activation".into();
    }
    Ok(activation(cx, name, linear)?.unwrap_or(linear))
}

/// Keras's `same`: out = ceil(in / stride), the padding's odd pixel at the end; `valid`: none.
pub(super) fn window(
    c: &Value,
    kernel: [usize; 2],
    strides: [usize; 2],
    dilation: [usize; 2],
    hw: [usize; 2],
) -> Res<Window> {
    let padding = c.get("padding").and_then(Value::as_str).unwrap_or("valid");
    let (pads, mode) = match padding {
        "valid" => ([0; 4], PaddingMode::Valid),
        "same" => {
            let mut p = [0; 4];
            for a in 0..2 {
                let out = hw[a].div_ceil(strides[a]);
                let span = dilation[a] * (kernel[a] - 1) + 1;
                let total = ((out - 1) * strides[a] + span).saturating_sub(hw[a]);
                p[a] = total / 2;
                p[a + 2] = total - total / 2;
            }
            (p, PaddingMode::SameUpper)
        }
        other => return Err(format!("padding '{other}' is not supported (valid, same)")),
    };
    Ok(Window {
        kernel,
        strides,
        dilation,
        pads,
        mode,
    })
}

/// HWIO → OIHW.
fn hwio_to_oihw(t: HostTensor) -> HostTensor {
    let [h, w, i, o] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
    if t.data.is_empty() {
        // No values (a random build): the shape alone.
        return HostTensor {
            shape: vec![o, i, h, w],
            data: vec![],
        };
    }
    let mut out = vec![0f32; t.data.len()];
    for hh in 0..h {
        for ww in 0..w {
            for ii in 0..i {
                let src = ((hh * w + ww) * i + ii) * o;
                for oo in 0..o {
                    out[((oo * i + ii) * h + hh) * w + ww] = t.data[src + oo];
                }
            }
        }
    }
    HostTensor {
        shape: vec![o, i, h, w],
        data: out,
    }
}

/// Depthwise `[kh, kw, C, M]` → `[C·M, 1, kh, kw]` (output channel c·M + m, as Keras orders them).
fn depthwise_to_oihw(t: HostTensor) -> HostTensor {
    let [h, w, c, m] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
    let mut r = hwio_to_oihw(HostTensor {
        shape: vec![h, w, 1, c * m],
        data: t.data,
    });
    r.shape = vec![c * m, 1, h, w];
    r
}

/// What every Keras convolution's config and input give: input channels and size, kernel,
/// strides and dilation.
struct Geometry {
    cin: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilation: [usize; 2],
}

fn geometry(cx: &Convert, c: &Value, x: T) -> Res<Geometry> {
    check_format(cx, c, x)?;
    let s = cx.shape(x.id);
    Ok(Geometry {
        cin: s[1],
        hw: [s[2], s[3]],
        kernel: pair(c, "kernel_size", None)?,
        strides: pair(c, "strides", Some([1, 1]))?,
        dilation: pair(c, "dilation_rate", Some([1, 1]))?,
    })
}

pub(super) fn conv(cx: &mut Convert, c: &Value, x: T, v: &mut Taker, depthwise: bool) -> Res<T> {
    let Geometry {
        cin,
        hw,
        kernel,
        strides,
        dilation,
    } = geometry(cx, c, x)?;
    let use_bias = b(c, "use_bias", true);
    let (filters, groups, keras_kernel) = if depthwise {
        let m = c
            .get("depth_multiplier")
            .and_then(Value::as_u64)
            .unwrap_or(1) as usize;
        (cin * m, cin, vec![kernel[0], kernel[1], cin, m])
    } else {
        let filters = u(c, "filters")?;
        let groups = c.get("groups").and_then(Value::as_u64).unwrap_or(1) as usize;
        if groups == 0 || cin % groups != 0 || filters % groups != 0 {
            return Err(format!(
                "groups {groups} does not divide {cin} input channels and {filters} filters"
            ));
        }
        (
            filters,
            groups,
            vec![kernel[0], kernel[1], cin / groups, filters],
        )
    };
    let lay = if depthwise {
        depthwise_to_oihw
    } else {
        hwio_to_oihw
    };
    // Keras 3 names a DepthwiseConv2D's kernel `kernel` (SeparableConv2D's is
    // `depthwise_kernel`).
    let role_name = "kernel";
    let mut weights = vec![v.next(
        role_name,
        WeightRole::Kernel,
        &keras_kernel,
        ParamCount::Trainable,
        lay,
    )?];
    if use_bias {
        weights.push(v.bias(filters)?);
    }
    let kind = LayerKind::Conv2d(Conv2dConfig {
        filters,
        in_channels: cin,
        window: window(c, kernel, strides, dilation, hw)?,
        groups,
        use_bias,
    });
    let linear = cx.unary("conv", kind, x, weights)?;
    fused(cx, c, linear)
}

/// Conv2DTranspose, placed as TensorFlow (and JAX) place it: the output length is Keras's
/// (`(in−1)·s + k` and `max(k, s) − k` more for `valid`, `in·s` for `same`, or the given
/// `output_padding`), and what the full transposed output has beyond it is dropped as
/// TensorFlow's `same` does, the odd pixel at the end. (Keras's torch backend drops it at the
/// start for an odd kernel with an even stride: `backend_utils.py` says it cannot match there.)
pub(super) fn conv_transpose(cx: &mut Convert, c: &Value, x: T, v: &mut Taker) -> Res<T> {
    let Geometry {
        cin,
        hw,
        kernel,
        strides,
        dilation,
    } = geometry(cx, c, x)?;
    let filters = u(c, "filters")?;
    let use_bias = b(c, "use_bias", true);
    let same = match c.get("padding").and_then(Value::as_str).unwrap_or("valid") {
        "valid" => false,
        "same" => true,
        other => return Err(format!("padding '{other}' is not supported (valid, same)")),
    };
    let given = output_padding(c)?;
    let (mut pads, mut extra) = ([0; 4], [0; 2]);
    for a in 0..2 {
        let span = dilation[a] * (kernel[a] - 1) + 1;
        let full = (hw[a] - 1) * strides[a] + span;
        let out = match (same, given) {
            (false, None) => full + span.max(strides[a]) - span,
            (false, Some(p)) => full + p[a],
            (true, None) => hw[a] * strides[a],
            (true, Some(p)) => (hw[a] - 1) * strides[a] + span % 2 + p[a],
        };
        if out >= full {
            extra[a] = out - full;
            if extra[a] >= strides[a] {
                return Err(format!(
                    "output_padding {:?} is not smaller than the strides {strides:?}",
                    given.unwrap_or_default()
                ));
            }
        } else {
            let total = full - out;
            pads[a] = total / 2;
            pads[a + 2] = total - total / 2;
        }
    }
    let kind = LayerKind::ConvTranspose2d(ConvTranspose2dConfig {
        filters,
        in_channels: cin,
        window: Window {
            kernel,
            strides,
            dilation,
            pads,
            mode: if same {
                PaddingMode::SameUpper
            } else {
                PaddingMode::Valid
            },
        },
        output_padding: extra,
        use_bias,
    });
    // Keras's kernel is (kh, kw, filters, in): laid out as OIHW of the convolution this one
    // transposes, it is [in, filters, kh, kw].
    let mut weights = vec![v.next(
        "kernel",
        WeightRole::Kernel,
        &[kernel[0], kernel[1], filters, cin],
        ParamCount::Trainable,
        hwio_to_oihw,
    )?];
    if use_bias {
        weights.push(v.bias(filters)?);
    }
    let linear = cx.unary("conv_transpose", kind, x, weights)?;
    fused(cx, c, linear)
}

/// `output_padding`: absent or null, a size, or a pair (0 allowed).
fn output_padding(c: &Value) -> Res<Option<[usize; 2]>> {
    let bad = || "config 'output_padding' is not a size or a pair of sizes".to_string();
    let n = |v: &Value| v.as_u64().filter(|&v| v < 1 << 16).map(|v| v as usize);
    match c.get("output_padding") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() == 2 => match (n(&a[0]), n(&a[1])) {
            (Some(h), Some(w)) => Ok(Some([h, w])),
            _ => Err(bad()),
        },
        Some(v) => n(v).map(|p| Some([p, p])).ok_or_else(bad),
    }
}

pub(super) fn separable(cx: &mut Convert, c: &Value, x: T, v: &mut Taker) -> Res<T> {
    let Geometry {
        cin,
        hw,
        kernel,
        strides,
        dilation,
    } = geometry(cx, c, x)?;
    let m = c
        .get("depth_multiplier")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let filters = u(c, "filters")?;
    let use_bias = b(c, "use_bias", true);
    let dw = v.next(
        "depthwise_kernel",
        WeightRole::Kernel,
        &[kernel[0], kernel[1], cin, m],
        ParamCount::Trainable,
        depthwise_to_oihw,
    )?;
    let pw = v.next(
        "pointwise_kernel",
        WeightRole::Kernel,
        &[1, 1, cin * m, filters],
        ParamCount::Trainable,
        hwio_to_oihw,
    )?;
    let depth = cx.unary(
        "depthwise",
        LayerKind::Conv2d(Conv2dConfig {
            filters: cin * m,
            in_channels: cin,
            window: window(c, kernel, strides, dilation, hw)?,
            groups: cin,
            use_bias: false,
        }),
        x,
        vec![dw],
    )?;
    let mut weights = vec![pw];
    if use_bias {
        weights.push(v.bias(filters)?);
    }
    let one_by_one = Window {
        kernel: [1, 1],
        strides: [1, 1],
        dilation: [1, 1],
        pads: [0; 4],
        mode: PaddingMode::Valid,
    };
    let point = cx.unary(
        "pointwise",
        LayerKind::Conv2d(Conv2dConfig {
            filters,
            in_channels: cin * m,
            window: one_by_one,
            groups: 1,
            use_bias,
        }),
        depth,
        weights,
    )?;
    fused(cx, c, point)
}

pub(super) fn dense(cx: &mut Convert, c: &Value, x: T, v: &mut Taker) -> Res<T> {
    let s = cx.shape(x.id).to_vec();
    if x.layout == Layout::Nchw || s.len() != 2 {
        return Err(format!(
            "is applied to a rank-{} input; convscope runs Dense on (batch, features): add a \
             Flatten or a global pooling before it",
            s.len()
        ));
    }
    let units = u(c, "units")?;
    let use_bias = b(c, "use_bias", true);
    let mut weights = vec![v.next(
        "kernel",
        WeightRole::Kernel,
        &[s[1], units],
        ParamCount::Trainable,
        |t| t,
    )?];
    if use_bias {
        weights.push(v.bias(units)?);
    }
    let kind = LayerKind::Linear(LinearConfig {
        units,
        in_features: s[1],
        use_bias,
        weight_out_in: false,
        alpha: 1.0,
        beta: 1.0,
    });
    let linear = cx.unary("dense", kind, x, weights)?;
    fused(cx, c, linear)
}
