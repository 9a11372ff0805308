//! Ops that only ever produce constants at import: Constant, Shape (of a statically shaped
//! tensor), Gather, Cast, Slice, ConstantOfShape, Range, Equal, Where.

use super::super::attrs::{node_label, Attrs};
use super::super::builder::{axis, Builder, Value};
use super::super::fold::Nd;
use super::super::proto::{data_type as dt, NodeProto};
use super::super::tensor::{decode, Const};
use crate::error::{Error, Result};

fn err(node: &NodeProto, detail: impl Into<String>) -> Error {
    Error::graph(node_label(node), detail)
}

fn out(node: &NodeProto, nd: Nd) -> Value {
    Value::Const(nd.into_const(&node.output[0]))
}

/// A constant input as an `Nd`; a computed tensor here means a dynamic shape we cannot fold.
fn nd_input(b: &Builder, node: &NodeProto, i: usize) -> Result<Nd> {
    match b.input(node, i)? {
        Value::Const(c) => Nd::from_const(c),
        Value::Layer(_) => Err(err(
            node,
            format!(
                "{} on a computed tensor is not supported (only static shape arithmetic is)",
                node.op_type
            ),
        )),
    }
}

pub fn constant(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let a = Attrs::new(node);
    let name = &node.output[0];
    if let Some(t) = a.tensor("value")? {
        let mut c = decode(t, &b.path, &b.file)?;
        c.name = name.clone();
        return Ok(Value::Const(c));
    }
    let nd = if a.has("value_float") {
        Nd {
            shape: vec![],
            data: vec![a.float("value_float", 0.0)? as f64],
            is_int: false,
        }
    } else if let Some(v) = a.floats("value_floats")? {
        Nd {
            shape: vec![v.len()],
            data: v.iter().map(|&x| x as f64).collect(),
            is_int: false,
        }
    } else if a.has("value_int") {
        Nd::ints(vec![], [a.int("value_int", 0)?])
    } else if let Some(v) = a.ints("value_ints")? {
        Nd::ints(vec![v.len()], v)
    } else {
        return Err(err(node, "Constant without a supported value attribute"));
    };
    Ok(out(node, nd))
}

pub fn shape(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let dims: Vec<usize> = match b.input(node, 0)? {
        Value::Layer(id) => b.shape(*id).to_vec(),
        Value::Const(c) => c.shape.clone(),
    };
    let a = Attrs::new(node);
    let rank = dims.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
    let (start, end) = (clamp(a.int("start", 0)?), clamp(a.int("end", rank)?));
    let dims = &dims[start..end.max(start)];
    Ok(out(
        node,
        Nd::ints(vec![dims.len()], dims.iter().map(|&d| d as i64)),
    ))
}

pub fn gather(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let data = nd_input(b, node, 0)?;
    let indices = nd_input(b, node, 1)?;
    let ax = axis(node, Attrs::new(node).int("axis", 0)?, data.shape.len())?;
    Ok(out(
        node,
        data.gather(&indices, ax).map_err(|e| err(node, e))?,
    ))
}

pub fn cast(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let mut nd = nd_input(b, node, 0)?;
    let to = Attrs::new(node).int("to", dt::FLOAT as i64)? as i32;
    nd.is_int = !matches!(to, dt::FLOAT | dt::DOUBLE | dt::FLOAT16 | dt::BFLOAT16);
    if nd.is_int {
        nd.data.iter_mut().for_each(|v| *v = v.trunc());
    }
    Ok(out(node, nd))
}

pub fn slice(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let mut data = nd_input(b, node, 0)?;
    let a = Attrs::new(node);
    let ints = |i: usize| -> Result<Option<Vec<i64>>> {
        b.opt_const_input(node, i)?.map(Const::ints).transpose()
    };
    let (starts, ends, axes, steps) = if b.opset < 10 {
        (
            a.ints("starts")?.unwrap_or_default(),
            a.ints("ends")?.unwrap_or_default(),
            a.ints("axes")?,
            None,
        )
    } else {
        (
            ints(1)?.unwrap_or_default(),
            ints(2)?.unwrap_or_default(),
            ints(3)?,
            ints(4)?,
        )
    };
    let rank = data.shape.len();
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    if starts.len() != ends.len() || axes.len() != starts.len() {
        return Err(err(node, "Slice starts, ends and axes differ in length"));
    }
    for (k, &ax) in axes.iter().enumerate() {
        let ax = axis(node, ax, rank)?;
        let step = match &steps {
            None => 1,
            Some(s) => *s
                .get(k)
                .ok_or_else(|| err(node, "Slice has fewer steps than axes"))?,
        };
        data = data
            .slice(ax, starts[k], ends[k], step)
            .map_err(|e| err(node, e))?;
    }
    Ok(out(node, data))
}

pub fn constant_of_shape(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let dims = nd_input(b, node, 0)?;
    let shape: Vec<usize> = dims.data.iter().map(|&d| d.max(0.0) as usize).collect();
    let n = crate::import::onnx::fold::checked_numel(&shape).unwrap_or(usize::MAX);
    if n > 1 << 24 {
        return Err(err(
            node,
            format!("ConstantOfShape {shape:?} is too large to evaluate at import"),
        ));
    }
    let (value, is_int) = match Attrs::new(node).tensor("value")? {
        Some(t) => {
            let c = decode(t, &b.path, &b.file)?;
            let v = Nd::from_const(&c)?;
            (v.data.first().copied().unwrap_or(0.0), v.is_int)
        }
        None => (0.0, false),
    };
    Ok(out(
        node,
        Nd {
            shape,
            data: vec![value; n],
            is_int,
        },
    ))
}

pub fn range(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let (s, l, d) = (
        nd_input(b, node, 0)?,
        nd_input(b, node, 1)?,
        nd_input(b, node, 2)?,
    );
    let scalar = |v: &Nd, what: &str| {
        v.data
            .first()
            .copied()
            .ok_or_else(|| err(node, format!("Range's {what} is empty")))
    };
    let (start, limit, delta) = (
        scalar(&s, "start")?,
        scalar(&l, "limit")?,
        scalar(&d, "delta")?,
    );
    if delta == 0.0 {
        return Err(err(node, "Range with delta 0"));
    }
    let n = ((limit - start) / delta).ceil().max(0.0) as usize;
    if n > 1 << 24 {
        return Err(err(node, "Range is too long to evaluate at import"));
    }
    let data = (0..n).map(|i| start + i as f64 * delta).collect();
    Ok(out(
        node,
        Nd {
            shape: vec![n],
            data,
            is_int: s.is_int,
        },
    ))
}

pub fn equal(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let (x, y) = (nd_input(b, node, 0)?, nd_input(b, node, 1)?);
    let mut nd = x
        .zip(&y, |p, q| f64::from(u8::from(p == q)))
        .map_err(|e| err(node, e))?;
    nd.is_int = true;
    Ok(out(node, nd))
}

pub fn where_(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let (c, x, y) = (
        nd_input(b, node, 0)?,
        nd_input(b, node, 1)?,
        nd_input(b, node, 2)?,
    );
    // Broadcast the condition against both branches, then pick per element.
    let pick_x = c
        .zip(&x, |c, v| if c != 0.0 { v } else { f64::NAN })
        .map_err(|e| err(node, e))?;
    let mut nd = pick_x
        .zip(&y, |p, v| if p.is_nan() { v } else { p })
        .map_err(|e| err(node, e))?;
    nd.is_int = x.is_int && y.is_int;
    Ok(out(node, nd))
}
