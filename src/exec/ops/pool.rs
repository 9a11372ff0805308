//! Max and average pooling (any pads, strides, dilations, ceil mode) and the global pools,
//! forward and backward, through the window index tables.

use candle_core::{DType, Tensor};

use super::window::{route_to_argmax, Taps};
use crate::error::Result;
use crate::exec::cpu::{self, ConvGeometry};
use crate::model::PoolConfig;

/// The CPU kernels' description of the pool: a depthwise window, one group per channel.
fn geometry(p: &PoolConfig, x_shape: &[usize], out_shape: &[usize]) -> ConvGeometry {
    let w = &p.window;
    ConvGeometry {
        batch: x_shape[0],
        in_channels: x_shape[1],
        in_hw: [x_shape[2], x_shape[3]],
        out_channels: x_shape[1],
        out_hw: [out_shape[2], out_shape[3]],
        kernel: w.kernel,
        stride: w.strides,
        dilation: w.dilation,
        pad: [w.pads[0] as isize, w.pads[1] as isize],
        groups: x_shape[1],
    }
}

fn taps(p: &PoolConfig, x_shape: &[usize], out_shape: &[usize]) -> Taps {
    Taps::new(
        &p.window,
        (x_shape[2], x_shape[3]),
        (out_shape[2], out_shape[3]),
    )
}

fn out_nchw(y: Tensor, out_shape: &[usize]) -> Result<Tensor> {
    let (n, c, _) = y.dims3()?;
    Ok(y.reshape((n, c, out_shape[2], out_shape[3]))?)
}

/// `out_shape` is the layer's batch-1 output shape; only its spatial dims are used.
pub fn max_forward(x: &Tensor, p: &PoolConfig, out_shape: &[usize]) -> Result<Tensor> {
    if cpu::takes(x) && x.rank() == 4 {
        return cpu::max_pool2d(x, &geometry(p, x.dims(), out_shape));
    }
    if tiles_exactly(p, x.dims(), out_shape) {
        // The common VGG case: candle's kernel, several times faster than gathering taps, and
        // differentiable by candle's autograd at the cost of a nearest upsample (training).
        let w = &p.window;
        return Ok(
            x.max_pool2d_with_stride((w.kernel[0], w.kernel[1]), (w.strides[0], w.strides[1]))?
        );
    }
    let t = taps(p, x.dims(), out_shape);
    out_nchw(t.unfold(x, f32::NEG_INFINITY)?.max(3)?, out_shape)
}

/// Non-overlapping, unpadded, undilated windows that cover the input exactly.
fn tiles_exactly(p: &PoolConfig, x_shape: &[usize], out_shape: &[usize]) -> bool {
    let w = &p.window;
    x_shape.len() == 4
        && w.kernel == w.strides
        && w.dilation == [1, 1]
        && w.pads == [0; 4]
        && (0..2).all(|a| out_shape[2 + a] * w.kernel[a] == x_shape[2 + a])
}

pub fn max_backward(
    x: &Tensor,
    grad: &Tensor,
    p: &PoolConfig,
    out_shape: &[usize],
) -> Result<Tensor> {
    if cpu::takes(x) && cpu::takes(grad) && x.rank() == 4 {
        return cpu::max_pool2d_backward(x, grad, &geometry(p, x.dims(), out_shape));
    }
    let t = taps(p, x.dims(), out_shape);
    // PyTorch routes the gradient to the first maximum of each window; candle's argmax does too.
    let argmax = t.unfold(x, f32::NEG_INFINITY)?.argmax(3)?;
    let (n, c, _, _) = grad.dims4()?;
    route_to_argmax(&t, &argmax, &grad.reshape((n, c, t.positions()))?)
}

pub fn avg_forward(x: &Tensor, p: &PoolConfig, out_shape: &[usize]) -> Result<Tensor> {
    let t = taps(p, x.dims(), out_shape);
    let div = t.divisors(&p.window, p.count_include_pad, x.device())?;
    let sum = t.unfold(x, 0.0)?.sum_keepdim(3)?;
    out_nchw(sum.broadcast_div(&div)?.squeeze(3)?, out_shape)
}

pub fn avg_backward(
    x: &Tensor,
    grad: &Tensor,
    p: &PoolConfig,
    out_shape: &[usize],
) -> Result<Tensor> {
    let t = taps(p, x.dims(), out_shape);
    let div = t.divisors(&p.window, p.count_include_pad, x.device())?;
    let (n, c, _, _) = grad.dims4()?;
    let g = grad
        .reshape((n, c, t.positions(), 1))?
        .broadcast_div(&div)?;
    t.fold_add(&g.broadcast_as((n, c, t.positions(), t.k))?.contiguous()?)
}

pub fn global_avg_forward(x: &Tensor) -> Result<Tensor> {
    let rank = x.rank();
    Ok(x.mean_keepdim((2..rank).collect::<Vec<_>>())?)
}

pub fn global_avg_backward(x: &Tensor, grad: &Tensor) -> Result<Tensor> {
    let spatial: usize = x.dims()[2..].iter().product();
    if cpu::takes(x) && cpu::takes(grad) && spatial > 0 {
        return cpu::plane_fill(grad, x.shape(), 1.0 / spatial as f32);
    }
    Ok((grad.broadcast_as(x.shape())? / spatial as f64)?)
}

fn flat_spatial(x: &Tensor) -> Result<Tensor> {
    let (n, c) = (x.dim(0)?, x.dim(1)?);
    Ok(x.reshape((n, c, x.elem_count() / (n * c)))?)
}

pub fn global_max_forward(x: &Tensor) -> Result<Tensor> {
    let y = flat_spatial(x)?.max_keepdim(2)?;
    let mut shape = x.dims().to_vec();
    shape[2..].iter_mut().for_each(|d| *d = 1);
    Ok(y.reshape(shape)?)
}

pub fn global_max_backward(x: &Tensor, grad: &Tensor) -> Result<Tensor> {
    let flat = flat_spatial(x)?;
    let (n, c, hw) = flat.dims3()?;
    let argmax = flat.argmax_keepdim(2)?.to_dtype(DType::U32)?;
    let g = grad.reshape((n, c, 1))?.contiguous()?;
    let zeros = Tensor::zeros((n, c, hw), grad.dtype(), grad.device())?;
    Ok(zeros.scatter_add(&argmax, &g, 2)?.reshape(x.shape())?)
}
