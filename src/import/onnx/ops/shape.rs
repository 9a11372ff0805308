//! Shape-changing ops on layers (Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Concat, Pad,
//! Dropout, Identity), each folded instead when its input is a constant.

use super::super::attrs::{node_label, Attrs};
use super::super::builder::{axis, Builder, Value};
use super::super::fold::Nd;
use super::super::proto::NodeProto;
use super::super::tensor::{Const, ConstData};
use crate::error::{Error, Result};
use crate::model::{LayerKind, PadConfig, PadMode, ReshapeOp, WeightData};

fn err(node: &NodeProto, detail: impl Into<String>) -> Error {
    Error::graph(node_label(node), detail)
}

/// The output of a reshape-like op on a constant: same values, new shape.
fn reshaped_const(b: &Builder, node: &NodeProto, shape: Vec<usize>) -> Result<Value> {
    let Value::Const(c) = b.input(node, 0)? else {
        unreachable!("caller checked")
    };
    let mut nd = Nd::from_const(c)?;
    if shape.iter().product::<usize>() != nd.data.len() {
        return Err(err(
            node,
            format!("cannot reshape {:?} to {shape:?}", nd.shape),
        ));
    }
    nd.shape = shape;
    Ok(Value::Const(nd.into_const(&node.output[0])))
}

fn input_shape(b: &Builder, node: &NodeProto) -> Result<(Vec<usize>, bool)> {
    Ok(match b.input(node, 0)? {
        Value::Layer(id) => (b.shape(*id).to_vec(), false),
        Value::Const(c) => (c.shape.clone(), true),
    })
}

pub fn flatten(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let (shape, is_const) = input_shape(b, node)?;
    let ax = if shape.is_empty() {
        0
    } else {
        axis(node, Attrs::new(node).int("axis", 1)?, shape.len() + 1)?
    };
    if is_const {
        let out = vec![shape[..ax].iter().product(), shape[ax..].iter().product()];
        return reshaped_const(b, node, out);
    }
    if ax == 0 {
        return Err(err(
            node,
            "Flatten with axis=0 merges the batch dim; use axis=1",
        ));
    }
    let x = b.layer_input(node, 0)?;
    b.add(
        node,
        LayerKind::Reshape(ReshapeOp::Flatten { axis: ax }),
        vec![x],
        vec![],
    )
}

pub fn reshape(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let (shape, is_const) = input_shape(b, node)?;
    let target = b.const_input(node, 1)?.ints()?;
    let allow_zero = Attrs::new(node).int("allowzero", 0)? != 0;
    let total: usize = shape.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            0 if !allow_zero => out.push(
                *shape
                    .get(i)
                    .ok_or_else(|| err(node, "0 in target copies a dim that does not exist"))?,
            ),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            t if t >= 0 => out.push(t as usize),
            _ => return Err(err(node, format!("invalid reshape target {target:?}"))),
        }
    }
    let known = crate::import::onnx::fold::checked_numel(&out)
        .ok_or_else(|| err(node, format!("reshape target {target:?} is too large")))?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(err(node, format!("cannot reshape {shape:?} to {target:?}")));
        }
        out[i] = total / known;
    }
    if crate::import::onnx::fold::checked_numel(&out) != Some(total) {
        return Err(err(
            node,
            format!("cannot reshape {shape:?} ({total} values) to {target:?}"),
        ));
    }
    if is_const {
        return reshaped_const(b, node, out);
    }
    if out.first() != shape.first() {
        return Err(err(
            node,
            format!("reshape {shape:?} -> {out:?} would merge or drop the batch dim"),
        ));
    }
    let x = b.layer_input(node, 0)?;
    b.add_with_shape(
        node,
        LayerKind::Reshape(ReshapeOp::Reshape),
        vec![x],
        vec![],
        out,
    )
}

/// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13 on.
fn axes_of(b: &Builder, node: &NodeProto) -> Result<Option<Vec<i64>>> {
    if let Some(v) = Attrs::new(node).ints("axes")? {
        return Ok(Some(v));
    }
    b.opt_const_input(node, 1)?.map(|c| c.ints()).transpose()
}

pub fn squeeze(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let (shape, is_const) = input_shape(b, node)?;
    let axes: Vec<usize> = match axes_of(b, node)? {
        Some(v) => v
            .iter()
            .map(|&a| axis(node, a, shape.len()))
            .collect::<Result<_>>()?,
        // No axes: every size-1 dim, except the batch of a computed tensor.
        None => (usize::from(!is_const)..shape.len())
            .filter(|&i| shape[i] == 1)
            .collect(),
    };
    if is_const {
        let out = shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect();
        return reshaped_const(b, node, out);
    }
    let x = b.layer_input(node, 0)?;
    b.add(
        node,
        LayerKind::Reshape(ReshapeOp::Squeeze { axes }),
        vec![x],
        vec![],
    )
}

pub fn unsqueeze(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let (shape, is_const) = input_shape(b, node)?;
    let raw = axes_of(b, node)?.ok_or_else(|| err(node, "Unsqueeze needs axes"))?;
    let rank = shape.len() + raw.len();
    let mut axes = raw
        .iter()
        .map(|&a| axis(node, a, rank))
        .collect::<Result<Vec<_>>>()?;
    axes.sort_unstable();
    if is_const {
        let mut dims = shape.iter();
        let out = (0..rank)
            .map(|i| {
                if axes.contains(&i) {
                    1
                } else {
                    *dims.next().unwrap_or(&1)
                }
            })
            .collect();
        return reshaped_const(b, node, out);
    }
    let x = b.layer_input(node, 0)?;
    b.add(
        node,
        LayerKind::Reshape(ReshapeOp::Unsqueeze { axes }),
        vec![x],
        vec![],
    )
}

pub fn transpose(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let (shape, _) = input_shape(b, node)?;
    let perm: Vec<usize> = match Attrs::new(node).ints("perm")? {
        Some(p) => p
            .iter()
            .map(|&a| axis(node, a, shape.len()))
            .collect::<Result<_>>()?,
        None => (0..shape.len()).rev().collect(),
    };
    if !crate::import::onnx::fold::is_permutation(&perm, shape.len()) {
        return Err(err(
            node,
            format!(
                "perm {perm:?} is not a permutation of the input's {} dims",
                shape.len()
            ),
        ));
    }
    if let Value::Const(c) = b.input(node, 0)? {
        // A 2-D weight still in its file (the model's or an external one) stays unread: summary
        // and config need only shapes.
        if let (
            ConstData::Float {
                stored,
                data: data @ (WeightData::External { .. } | WeightData::Mapped(_)),
            },
            [r, c2],
        ) = (&c.data, c.shape.as_slice())
        {
            let data = WeightData::Transposed {
                inner: Box::new(data.clone()),
                stored_shape: [*r, *c2],
            };
            let transposed = Const {
                shape: vec![*c2, *r],
                data: ConstData::Float {
                    stored: *stored,
                    data,
                },
                ..c.clone()
            };
            return Ok(Value::Const(transposed));
        }
        let nd = Nd::from_const(c)?
            .transpose(&perm)
            .map_err(|e| err(node, e))?;
        return Ok(Value::Const(nd.into_const(&node.output[0])));
    }
    let x = b.layer_input(node, 0)?;
    b.add(node, LayerKind::Transpose { perm }, vec![x], vec![])
}

pub fn concat(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let inputs: Vec<Value> = (0..node.input.len())
        .map(|i| b.input(node, i).cloned())
        .collect::<Result<_>>()?;
    let rank = match &inputs
        .first()
        .ok_or_else(|| err(node, "Concat of nothing"))?
    {
        Value::Layer(id) => b.shape(*id).len(),
        Value::Const(c) => c.shape.len(),
    };
    let ax = axis(node, Attrs::new(node).int("axis", 0)?, rank)?;
    if inputs.iter().all(|v| matches!(v, Value::Const(_))) {
        let parts = inputs
            .iter()
            .map(|v| match v {
                Value::Const(c) => Nd::from_const(c),
                Value::Layer(_) => unreachable!(),
            })
            .collect::<Result<Vec<_>>>()?;
        let nd = Nd::concat(&parts, ax).map_err(|e| err(node, e))?;
        return Ok(Value::Const(nd.into_const(&node.output[0])));
    }
    let ids = (0..inputs.len())
        .map(|i| b.layer_input(node, i))
        .collect::<Result<Vec<_>>>()?;
    b.add(node, LayerKind::Concat { axis: ax }, ids, vec![])
}

pub fn pad(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let rank = b.shape(x).len();
    let (raw, value) = if b.opset < 11 {
        (a.ints("pads")?.unwrap_or_default(), a.float("value", 0.0)?)
    } else {
        let pads = b.const_input(node, 1)?.ints()?;
        let value = match b.opt_const_input(node, 2)? {
            Some(c) if c.numel() == 1 => c.floats()?.data[0],
            Some(_) => return Err(err(node, "Pad constant_value must be a scalar")),
            None => 0.0,
        };
        (pads, value)
    };
    // Opset 18 may restrict the pads to some axes.
    let axes: Vec<usize> = match b.opt_const_input(node, 3)? {
        Some(c) => c
            .ints()?
            .iter()
            .map(|&v| axis(node, v, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).collect(),
    };
    if raw.len() != 2 * axes.len() {
        return Err(err(
            node,
            format!("{} pads for {} axes", raw.len(), axes.len()),
        ));
    }
    let mut pads = vec![(0i64, 0i64); rank];
    for (k, &ax) in axes.iter().enumerate() {
        pads[ax] = (raw[k], raw[k + axes.len()]);
    }
    if pads.first().is_some_and(|&p| p != (0, 0)) {
        return Err(err(node, "padding the batch dim is not supported"));
    }
    let mode = match a.string("mode")?.as_deref().unwrap_or("constant") {
        "constant" => PadMode::Constant(value),
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        other => {
            return Err(err(
                node,
                format!("pad mode '{other}' is not supported (constant, reflect, edge are)"),
            ))
        }
    };
    b.add(
        node,
        LayerKind::Pad(PadConfig { pads, mode }),
        vec![x],
        vec![],
    )
}

/// Dropout and Identity: pass-through layers (kept visible in the summary, like Keras).
pub fn passthrough(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    if let Value::Const(c) = b.input(node, 0)? {
        return Ok(Value::Const(c.clone()));
    }
    let x = b.layer_input(node, 0)?;
    let kind = if node.op_type == "Dropout" {
        let a = Attrs::new(node);
        let ratio = match b.opt_const_input(node, 1)? {
            Some(c) if c.numel() == 1 => c.floats()?.data[0],
            _ => a.float("ratio", 0.5)?,
        };
        LayerKind::Dropout { ratio }
    } else {
        LayerKind::Identity
    };
    b.add(node, kind, vec![x], vec![])
}
