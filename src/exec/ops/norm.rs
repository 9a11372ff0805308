//! Batch normalization (inference form: a per-channel affine map) and layer normalization.

use candle_core::Tensor;

use crate::error::Result;
use crate::exec::cpu;

/// `scale` and `shift` are precomputed at load time as `[1, C, 1, 1]`.
pub fn batch_norm(x: &Tensor, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
    if cpu::takes(x) && cpu::takes(scale) && cpu::takes(shift) {
        return cpu::plane_affine(x, scale, Some(shift));
    }
    Ok(x.broadcast_mul(scale)?.broadcast_add(shift)?)
}

pub fn batch_norm_backward(g: &Tensor, scale: &Tensor) -> Result<Tensor> {
    if cpu::takes(g) && cpu::takes(scale) {
        return cpu::plane_affine(g, scale, None);
    }
    Ok(g.broadcast_mul(scale)?)
}

/// Views `x` as `[M, D]`, D the product of the normalized dims `axis..`.
fn rows(x: &Tensor, axis: usize) -> Result<Tensor> {
    let d: usize = x.dims()[axis..].iter().product();
    Ok(x.reshape((x.elem_count() / d, d))?)
}

/// `(xhat, 1/sigma)` for each row.
fn normalize(x2: &Tensor, eps: f32) -> Result<(Tensor, Tensor)> {
    let mean = x2.mean_keepdim(1)?;
    let centered = x2.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(1)?;
    let inv = (var + eps as f64)?.sqrt()?.recip()?;
    Ok((centered.broadcast_mul(&inv)?, inv))
}

pub fn layer_norm(
    x: &Tensor,
    axis: usize,
    eps: f32,
    gamma: &Tensor,
    beta: Option<&Tensor>,
) -> Result<Tensor> {
    let (xhat, _) = normalize(&rows(x, axis)?, eps)?;
    let mut y = xhat.broadcast_mul(&gamma.flatten_all()?.unsqueeze(0)?)?;
    if let Some(b) = beta {
        y = y.broadcast_add(&b.flatten_all()?.unsqueeze(0)?)?;
    }
    Ok(y.reshape(x.shape())?)
}

/// dx = (1/σ) (ĝ - mean(ĝ) - x̂ · mean(ĝ · x̂)), with ĝ = g · γ, per row.
pub fn layer_norm_backward(
    x: &Tensor,
    g: &Tensor,
    axis: usize,
    eps: f32,
    gamma: &Tensor,
) -> Result<Tensor> {
    let (xhat, inv) = normalize(&rows(x, axis)?, eps)?;
    let gh = rows(g, axis)?.broadcast_mul(&gamma.flatten_all()?.unsqueeze(0)?)?;
    let m1 = gh.mean_keepdim(1)?;
    let m2 = (&gh * &xhat)?.mean_keepdim(1)?;
    let dx = gh
        .broadcast_sub(&m1)?
        .sub(&xhat.broadcast_mul(&m2)?)?
        .broadcast_mul(&inv)?;
    Ok(dx.reshape(x.shape())?)
}
