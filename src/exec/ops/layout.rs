//! Ops that move values around without arithmetic: transpose, concat, pad (constant, reflect,
//! edge) and their adjoints.

use candle_core::{Tensor, D};

use crate::error::Result;
use crate::exec::cpu;
use crate::model::{PadConfig, PadMode};

pub fn transpose(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    Ok(x.permute(perm.to_vec())?.contiguous()?)
}

pub fn transpose_backward(g: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    transpose(g, &inverse)
}

pub fn concat_backward(g: &Tensor, axis: usize, sizes: &[usize]) -> Result<Vec<Tensor>> {
    let mut start = 0;
    sizes
        .iter()
        .map(|&len| {
            let part = g.narrow(axis, start, len)?;
            start += len;
            Ok(part)
        })
        .collect()
}

/// Source index along one dim for each output position of a reflect/edge pad.
fn source_index(len: usize, before: i64, after: i64, reflect: bool) -> Vec<u32> {
    let n = len as i64;
    (-before..n + after)
        .map(|i| {
            let j = if reflect {
                let period = 2 * (n - 1).max(1);
                let m = i.rem_euclid(period);
                if m < n {
                    m
                } else {
                    period - m
                }
            } else {
                i.clamp(0, n - 1)
            };
            j as u32
        })
        .collect()
}

pub fn pad(x: &Tensor, p: &PadConfig) -> Result<Tensor> {
    let mut t = x.clone();
    for (dim, &(before, after)) in p.pads.iter().enumerate() {
        if (before, after) == (0, 0) {
            continue;
        }
        t = match p.mode {
            PadMode::Constant(v) => {
                let t = super::conv::pad_or_crop(
                    &t,
                    dim,
                    before.min(0) as isize,
                    after.min(0) as isize,
                )?;
                let mut parts = Vec::new();
                let mut shape = t.dims().to_vec();
                if before > 0 {
                    shape[dim] = before as usize;
                    parts.push(Tensor::full(v, shape.clone(), t.device())?);
                }
                parts.push(t.clone());
                if after > 0 {
                    shape[dim] = after as usize;
                    parts.push(Tensor::full(v, shape, t.device())?);
                }
                Tensor::cat(&parts, dim)?
            }
            PadMode::Reflect | PadMode::Edge => {
                let idx = source_index(t.dim(dim)?, before, after, p.mode == PadMode::Reflect);
                t.index_select(&Tensor::new(idx, t.device())?, dim)?
            }
        };
    }
    Ok(t)
}

pub fn pad_backward(g: &Tensor, p: &PadConfig, in_shape: &[usize]) -> Result<Tensor> {
    let mut t = g.clone();
    for (dim, &(before, after)) in p.pads.iter().enumerate().rev() {
        if (before, after) == (0, 0) {
            continue;
        }
        t = match p.mode {
            PadMode::Constant(_) => {
                super::conv::pad_or_crop(&t, dim, -before as isize, -after as isize)?
            }
            PadMode::Reflect | PadMode::Edge => {
                let idx = source_index(in_shape[dim], before, after, p.mode == PadMode::Reflect);
                let mut shape = t.dims().to_vec();
                shape[dim] = in_shape[dim];
                let zeros = Tensor::zeros(shape, t.dtype(), t.device())?;
                zeros.index_add(&Tensor::new(idx, t.device())?, &t.contiguous()?, dim)?
            }
        };
    }
    Ok(t)
}

pub fn softmax(x: &Tensor, axis: usize, log: bool) -> Result<Tensor> {
    Ok(if log {
        candle_nn::ops::log_softmax(x, axis)?
    } else {
        candle_nn::ops::softmax(x, axis)?
    })
}

/// Softmax: y·(g − Σ g·y); log-softmax: g − softmax(x)·Σ g.
pub fn softmax_backward(y: &Tensor, g: &Tensor, axis: usize, log: bool) -> Result<Tensor> {
    if log {
        let p = y.exp()?;
        Ok(g.broadcast_sub(&p.broadcast_mul(&g.sum_keepdim(axis)?)?)?)
    } else {
        let dot = (g * y)?.sum_keepdim(axis)?;
        Ok((y * g.broadcast_sub(&dot)?)?)
    }
}

pub fn reduce_mean(
    x: &Tensor,
    axes: &[usize],
    keepdims: bool,
    out_dims: &[usize],
) -> Result<Tensor> {
    let y = x.mean_keepdim(axes.to_vec())?;
    Ok(if keepdims { y } else { y.reshape(out_dims)? })
}

pub fn reduce_mean_backward(x: &Tensor, g: &Tensor, axes: &[usize]) -> Result<Tensor> {
    let mut kept = x.dims().to_vec();
    let mut count = 1;
    for &a in axes {
        count *= kept[a];
        kept[a] = 1;
    }
    Ok((g.reshape(kept)?.broadcast_as(x.shape())? / count as f64)?)
}

/// `x·W (+ b)` on the last dim; `w` is prepared as `[in, out]`.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let rows = x.elem_count() / dims[dims.len() - 1];
    let x2 = x.reshape((rows, dims[dims.len() - 1]))?;
    let y = if streams_weights(&x2, w)? {
        cpu::linear(&x2, w, b)?
    } else {
        let y = x2.matmul(w)?;
        match b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        }
    };
    let mut out = dims;
    *out.last_mut().expect("rank >= 1") = w.dim(1)?;
    Ok(y.reshape(out)?)
}

pub fn linear_backward(g: &Tensor, w: &Tensor, in_dims: &[usize]) -> Result<Tensor> {
    let units = g.dim(D::Minus1)?;
    let rows = g.elem_count() / units;
    let g2 = g.reshape((rows, units))?;
    let dx = if streams_weights(&g2, w)? {
        cpu::linear_input_grad(&g2, w)?
    } else {
        g2.matmul(&w.t()?)?
    };
    Ok(dx.reshape(in_dims)?)
}

/// Whether a dense layer's product with the `[rows, k]` operand `a` goes to the streaming
/// kernels (CPU, a batch of at most [`cpu::LINEAR_SMALL_BATCH`] rows, non-empty), which
/// candle's autograd cannot see through: operands it tracks (a trainer's) keep its matmul.
fn streams_weights(a: &Tensor, w: &Tensor) -> Result<bool> {
    let (rows, k) = a.dims2()?;
    Ok(cpu::takes(a)
        && cpu::takes(w)
        && !a.track_op()
        && !w.track_op()
        && (1..=cpu::LINEAR_SMALL_BATCH).contains(&rows)
        && k > 0
        && w.elem_count() > 0)
}

pub fn matmul_backward(a: &Tensor, b: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
    let ga = g.broadcast_matmul(&b.transpose(D::Minus2, D::Minus1)?)?;
    let gb = a.transpose(D::Minus2, D::Minus1)?.broadcast_matmul(g)?;
    Ok((
        super::arith::sum_to_shape(&ga, a.dims())?,
        super::arith::sum_to_shape(&gb, b.dims())?,
    ))
}
