//! Conv and the pools: window geometry, with auto_pad resolved to explicit pads against the
//! statically known input shape.

use super::super::attrs::{node_label, Attrs};
use super::super::builder::{Builder, Value};
use super::super::proto::NodeProto;
use super::super::tensor::Const;
use crate::error::{Error, Result};
use crate::model::{
    Conv2dConfig, LayerKind, PaddingMode, ParamCount, PoolConfig, Weight, WeightRole, Window,
};

pub fn conv(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let w = b.const_input(node, 1)?.clone();
    let bias = b.opt_const_input(node, 2)?.cloned();
    if w.shape.len() != 4 {
        return Err(Error::graph(
            node_label(node),
            format!(
                "only 2-D convolutions are supported; kernel shape is {:?}",
                w.shape
            ),
        ));
    }
    let in_shape = b.shape(x).to_vec();
    let groups = a.int("group", 1)?;
    if groups < 1 || in_shape.len() != 4 || in_shape[1] as i64 % groups != 0 {
        return Err(Error::graph(
            node_label(node),
            format!("group={groups} does not divide the input {in_shape:?}"),
        ));
    }
    let groups = groups as usize;
    let (filters, kernel) = (w.shape[0], [w.shape[2], w.shape[3]]);
    if w.shape[1] * groups != in_shape[1] || filters % groups != 0 {
        return Err(Error::graph(
            node_label(node),
            format!(
                "kernel {:?} with group={groups} does not fit {} input channels",
                w.shape, in_shape[1]
            ),
        ));
    }
    if let Some(ks) = a.ints("kernel_shape")? {
        if ks.iter().map(|&k| k as usize).ne(kernel) {
            return Err(Error::graph(
                node_label(node),
                format!(
                    "kernel_shape {ks:?} disagrees with the weight shape {:?}",
                    w.shape
                ),
            ));
        }
    }
    if let Some(bias) = &bias {
        if bias.numel() != filters {
            return Err(Error::graph(
                node_label(node),
                format!("bias has {} values for {filters} filters", bias.numel()),
            ));
        }
    }
    let window = window(node, &a, kernel, &in_shape)?;
    let weights = kernel_and_bias(&w, bias.as_ref());
    let kind = LayerKind::Conv2d(Conv2dConfig {
        filters,
        in_channels: in_shape[1],
        window,
        groups,
        use_bias: bias.is_some(),
    });
    b.add(node, kind, vec![x], weights)
}

/// A convolution's (or transposed convolution's) trainable kernel and optional bias.
pub(super) fn kernel_and_bias(w: &Const, bias: Option<&Const>) -> Vec<Weight> {
    let mut weights = vec![w.to_weight(WeightRole::Kernel, ParamCount::Trainable)];
    if let Some(bias) = bias {
        weights.push(bias.to_weight(WeightRole::Bias, ParamCount::Trainable));
    }
    weights
}

pub fn pool(b: &mut Builder, node: &NodeProto, max: bool) -> Result<Value> {
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let in_shape = b.shape(x).to_vec();
    let ks = a.usizes("kernel_shape", 2, 0)?;
    if ks.contains(&0) || in_shape.len() != 4 {
        return Err(Error::graph(
            node_label(node),
            format!("needs a 2-D kernel_shape on a 4-D input (input {in_shape:?})"),
        ));
    }
    if max && a.int("storage_order", 0)? != 0 {
        return Err(Error::graph(
            node_label(node),
            "MaxPool storage_order=1 is not supported",
        ));
    }
    let window = window(node, &a, [ks[0], ks[1]], &in_shape)?;
    // onnxruntime's rule: a window that lies wholly in the padding has no input to pool (an
    // average of nothing), so pads must be smaller than the kernel.
    let p = window.pads;
    if p[0] >= ks[0] || p[2] >= ks[0] || p[1] >= ks[1] || p[3] >= ks[1] {
        return Err(Error::graph(
            node_label(node),
            format!(
                "pads {p:?} are not all smaller than kernel_shape {ks:?} (onnxruntime refuses \
                 such a pool too); re-export the model with smaller padding"
            ),
        ));
    }
    let config = PoolConfig {
        window,
        ceil_mode: a.int("ceil_mode", 0)? != 0,
        count_include_pad: a.int("count_include_pad", 0)? != 0,
    };
    let kind = if max {
        LayerKind::MaxPool2d(config)
    } else {
        LayerKind::AvgPool2d(config)
    };
    b.add(node, kind, vec![x], vec![])
}

pub fn global_pool(b: &mut Builder, node: &NodeProto, max: bool) -> Result<Value> {
    let x = b.layer_input(node, 0)?;
    let kind = if max {
        LayerKind::GlobalMaxPool
    } else {
        LayerKind::GlobalAvgPool
    };
    b.add(node, kind, vec![x], vec![])
}

/// Strides, dilations and pads of a Conv/pool node, with `auto_pad` resolved.
fn window(node: &NodeProto, a: &Attrs, kernel: [usize; 2], in_shape: &[usize]) -> Result<Window> {
    let strides = a.usizes("strides", 2, 1)?;
    let dilation = a.usizes("dilations", 2, 1)?;
    if strides.contains(&0) || dilation.contains(&0) {
        return Err(Error::graph(
            node_label(node),
            "strides and dilations must be positive",
        ));
    }
    let auto_pad = a.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    let (mode, pads) = match auto_pad.as_str() {
        "NOTSET" => {
            let p = a.usizes("pads", 4, 0)?;
            (PaddingMode::Explicit, [p[0], p[1], p[2], p[3]])
        }
        "VALID" => (PaddingMode::Valid, [0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let upper = auto_pad == "SAME_UPPER";
            let mut pads = [0; 4];
            for axis in 0..2 {
                let input = in_shape[2 + axis];
                let out = input.div_ceil(strides[axis]);
                let span = (kernel[axis] - 1) * dilation[axis] + 1;
                let total = ((out - 1) * strides[axis] + span).saturating_sub(input);
                let small = total / 2;
                let (begin, end) = if upper {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pads[axis] = begin;
                pads[axis + 2] = end;
            }
            let mode = if upper {
                PaddingMode::SameUpper
            } else {
                PaddingMode::SameLower
            };
            (mode, pads)
        }
        other => {
            return Err(Error::graph(
                node_label(node),
                format!("auto_pad '{other}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER"),
            ))
        }
    };
    Ok(Window {
        kernel,
        strides: [strides[0], strides[1]],
        dilation: [dilation[0], dilation[1]],
        pads,
        mode,
    })
}
