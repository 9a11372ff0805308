//! Broadcasting arithmetic (Add, Sub, Mul, Div, Max, Min, PRelu) and the reduction that undoes
//! broadcasting in the backward pass.

use candle_core::Tensor;

use crate::error::Result;
use crate::exec::cpu;
use crate::model::BinaryOp;

pub fn forward(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if cpu::takes(a) && cpu::takes(b) {
        if op == BinaryOp::Add && a.dims() == b.dims() {
            return cpu::add(a, b);
        }
        if op == BinaryOp::Mul {
            if let Some((map, scale)) = map_and_scale(a, b) {
                return cpu::plane_affine(map, scale, None);
            }
        }
    }
    Ok(match op {
        BinaryOp::Add => a.broadcast_add(b)?,
        BinaryOp::Sub => a.broadcast_sub(b)?,
        BinaryOp::Mul => a.broadcast_mul(b)?,
        BinaryOp::Div => a.broadcast_div(b)?,
        BinaryOp::Max => a.broadcast_maximum(b)?,
        BinaryOp::Min => a.broadcast_minimum(b)?,
    })
}

/// A product of a feature map and one value per (image or all images, channel) — `[N, C, H, W]`
/// by `[N or 1, C, 1, 1]` in either order, as squeeze-excitation gates its map — as
/// `(map, scale)`.
fn map_and_scale<'t>(a: &'t Tensor, b: &'t Tensor) -> Option<(&'t Tensor, &'t Tensor)> {
    let per_plane = |map: &Tensor, s: &Tensor| {
        let (m, s) = (map.dims(), s.dims());
        m.len() >= 3
            && s.len() == m.len()
            && (s[0] == m[0] || s[0] == 1)
            && s[1] == m[1]
            && s[2..].iter().all(|&d| d == 1)
            && m[2..].iter().any(|&d| d != 1)
    };
    if per_plane(a, b) {
        Some((a, b))
    } else if per_plane(b, a) {
        Some((b, a))
    } else {
        None
    }
}

/// Gradients with respect to `a` and `b` (each summed back to its own shape).
pub fn backward(op: BinaryOp, a: &Tensor, b: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
    if op == BinaryOp::Mul && [a, b, g].iter().all(|t| cpu::takes(t)) {
        if let Some((map, scale)) = map_and_scale(a, b) {
            // d/d(map) = g · scale; d/d(scale) = Σ over each plane of g · map.
            let g_map = cpu::plane_affine(g, scale, None)?;
            let g_scale = sum_to_shape(&cpu::plane_dots(g, map)?, scale.dims())?;
            let a_is_map = std::ptr::eq(map, a);
            return Ok(if a_is_map {
                (g_map, g_scale)
            } else {
                (g_scale, g_map)
            });
        }
    }
    let (ga, gb) = match op {
        BinaryOp::Add => (g.clone(), g.clone()),
        BinaryOp::Sub => (g.clone(), g.neg()?),
        BinaryOp::Mul => (g.broadcast_mul(b)?, g.broadcast_mul(a)?),
        BinaryOp::Div => {
            let ga = g.broadcast_div(b)?;
            // d(a/b)/db = -a / b^2
            let gb = ga.broadcast_mul(a)?.broadcast_div(b)?.neg()?;
            (ga, gb)
        }
        BinaryOp::Max | BinaryOp::Min => {
            // The gradient goes to the operand chosen, split evenly where both are equal (as
            // PyTorch's maximum/minimum, which Keras's torch backend runs).
            let (a, b) = (&a.broadcast_as(g.shape())?, &b.broadcast_as(g.shape())?);
            let a_wins = if op == BinaryOp::Max {
                a.gt(b)?
            } else {
                a.lt(b)?
            };
            let half = (g * 0.5)?;
            let zero = g.zeros_like()?;
            let tie = a.eq(b)?;
            let ga = a_wins.where_cond(g, &tie.where_cond(&half, &zero)?)?;
            let gb = (g - &ga)?;
            (ga, gb)
        }
    };
    Ok((sum_to_shape(&ga, a.dims())?, sum_to_shape(&gb, b.dims())?))
}

/// Sums `g` over the dims that broadcasting expanded, giving a tensor of `shape`.
pub fn sum_to_shape(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.dims() == shape {
        return Ok(g.clone());
    }
    let extra = g.rank() - shape.len();
    let mut t = g.clone();
    for _ in 0..extra {
        t = t.sum(0)?;
    }
    let dims: Vec<usize> = (0..shape.len())
        .filter(|&i| shape[i] == 1 && t.dim(i).unwrap_or(1) != 1)
        .collect();
    if !dims.is_empty() {
        t = t.sum_keepdim(dims)?;
    }
    Ok(t.reshape(shape)?)
}

pub fn prelu_forward(x: &Tensor, slope: &Tensor) -> Result<Tensor> {
    let neg = x.broadcast_mul(slope)?;
    Ok(x.gt(0f64)?.where_cond(x, &neg)?)
}

pub fn prelu_backward(x: &Tensor, slope: &Tensor, g: &Tensor) -> Result<Tensor> {
    let d = x
        .gt(0f64)?
        .where_cond(&x.ones_like()?, &slope.broadcast_as(x.shape())?)?;
    Ok((g * d)?)
}
