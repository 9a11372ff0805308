//! 2-D convolution forward and its input gradient (never the kernel gradient).
//!
//! On the CPU both go to our own kernels (`exec::cpu`). On other devices: candle's `conv2d` after explicit (possibly asymmetric) zero padding, which needs
//! equal strides and dilations on both axes. For stride 1 the input gradient is itself a
//! convolution of the output gradient with the flipped, in/out-swapped kernel. Other geometries,
//! and every strided input gradient, take the general path: unfold + batched matmul per group,
//! and its adjoint (GEMM + col2im).

use candle_core::Tensor;

use super::activation::{self, ConvolutionBatchNorm};
use super::window::Taps;
use crate::error::{Error, Result};
use crate::exec::cpu::{self, ConvGeometry};
use crate::exec::LayerWeights;
use crate::model::{Activation, Conv2dConfig, ConvTranspose2dConfig};

/// The kernels' description of `c` applied to an input of shape `in_dims` (NCHW).
pub fn geometry(c: &Conv2dConfig, in_dims: &[usize]) -> Result<ConvGeometry> {
    let [n, ch, h, w] = in_dims else {
        return Err(Error::Input(format!(
            "a 2-D convolution needs an NCHW input, got shape {in_dims:?}"
        )));
    };
    let out = |axis: usize, len: usize| {
        c.window.out_len(axis, len, false).ok_or_else(|| {
            Error::Input(format!(
                "input {in_dims:?} is smaller than the {:?} kernel with its padding",
                c.window.kernel
            ))
        })
    };
    let win = &c.window;
    Ok(ConvGeometry {
        batch: *n,
        in_channels: *ch,
        in_hw: [*h, *w],
        out_channels: c.filters,
        out_hw: [out(0, *h)?, out(1, *w)?],
        kernel: win.kernel,
        stride: win.strides,
        dilation: win.dilation,
        pad: [win.pads[0] as isize, win.pads[1] as isize],
        groups: c.groups,
    })
}

/// Pads (positive) or crops (negative) `x` along `dim`.
pub fn pad_or_crop(x: &Tensor, dim: usize, before: isize, after: isize) -> Result<Tensor> {
    let mut t = x.clone();
    if before < 0 || after < 0 {
        let len = t.dim(dim)? as isize;
        let start = (-before).max(0);
        let end = len - (-after).max(0);
        t = t.narrow(dim, start as usize, (end - start).max(0) as usize)?;
    }
    if before > 0 || after > 0 {
        t = t.pad_with_zeros(dim, before.max(0) as usize, after.max(0) as usize)?;
    }
    Ok(t)
}

fn square(c: &Conv2dConfig) -> bool {
    c.window.strides[0] == c.window.strides[1] && c.window.dilation[0] == c.window.dilation[1]
}

/// `conv(x, w) + bias`; `cache` keeps what the CPU kernels derive from `w` (see
/// [`cpu::ConvCache`]).
pub fn forward(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    c: &Conv2dConfig,
    cache: Option<&cpu::ConvCache>,
) -> Result<Tensor> {
    if cpu::takes(x) && cpu::takes(w) {
        return cpu::conv2d(x, w, bias, &geometry(c, x.dims())?, cache);
    }
    let y = if square(c) {
        let p = c.window.pads;
        let xp = pad_or_crop(x, 2, p[0] as isize, p[2] as isize)?;
        let xp = pad_or_crop(&xp, 3, p[1] as isize, p[3] as isize)?;
        xp.conv2d(w, 0, c.window.strides[0], c.window.dilation[0], c.groups)?
    } else {
        general_forward(x, w, c)?
    };
    Ok(match bias {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// The convolution (weights `p`), the batch norm after it (`bn`: scale and shift), the sum
/// with `residual` after that where given, and the activation after those, or none, as one
/// pass on the CPU: the same values as the layers one after the other, to the bit, without the
/// outputs in between. `None` where there is no such pass (off the CPU; an activation without a
/// scalar form).
pub fn forward_batch_norm(
    x: &Tensor,
    p: LayerWeights<'_>,
    c: &Conv2dConfig,
    bn: &[Tensor],
    residual: Option<&Tensor>,
    act: Option<&Activation>,
) -> Option<Result<Tensor>> {
    let operands = [x, &p[0], &bn[0], &bn[1]]
        .into_iter()
        .chain(p.get(1))
        .chain(residual);
    if !operands.into_iter().all(cpu::takes) {
        return None;
    }
    let geometry = match geometry(c, x.dims()) {
        Ok(g) => g,
        Err(e) => return Some(Err(e)),
    };
    let (n, k, [oh, ow]) = (geometry.batch, geometry.out_channels, geometry.out_hw);
    if residual.is_some_and(|r| r.dims() != [n, k, oh, ow]) {
        // A sum that broadcasts: the layers run one after the other.
        return None;
    }
    let conv = ConvolutionBatchNorm {
        w: &p[0],
        bias: p.get(1),
        geometry: &geometry,
        cache: p.conv_cache,
        scale: &bn[0],
        shift: &bn[1],
        residual,
    };
    activation::forward_after_convolution(x, &conv, act)
}

/// d(loss)/d(input) given d(loss)/d(output); `cache` as in [`forward`].
pub fn input_grad(
    grad: &Tensor,
    w: &Tensor,
    c: &Conv2dConfig,
    in_shape: &[usize],
    cache: Option<&cpu::ConvCache>,
) -> Result<Tensor> {
    if cpu::takes(grad) && cpu::takes(w) {
        return cpu::conv2d_input_grad(grad, w, &geometry(c, in_shape)?, cache);
    }
    // Strided convolutions go through GEMM + col2im: the alternative (a stride-1 convolution
    // of the zero-dilated gradient) makes candle unfold a map four times larger, mostly zeros —
    // ~630 MB for ResNet's 7x7 stem.
    if !square(c) || c.window.strides[0] > 1 {
        return general_input_grad(grad, w, c, in_shape);
    }
    let d = c.window.dilation[0];
    let wt = transposed_kernel(w, c.groups)?;
    let mut gp = grad.clone();
    for axis in 0..2 {
        let span = ((c.window.kernel[axis] - 1) * d) as isize;
        let len = gp.dim(2 + axis)? as isize;
        let begin = c.window.pads[axis] as isize;
        let before = span - begin;
        let after = in_shape[2 + axis] as isize + begin - len;
        gp = pad_or_crop(&gp, 2 + axis, before, after)?;
    }
    Ok(gp.conv2d(&wt, 0, 1, d, c.groups)?)
}

/// `[O, I/g, kh, kw]` -> `[I, O/g, kh, kw]`, spatially flipped: the kernel of the adjoint.
fn transposed_kernel(w: &Tensor, groups: usize) -> Result<Tensor> {
    let (o, ig, kh, kw) = w.dims4()?;
    let og = o / groups;
    Ok(w.reshape((groups, og, ig, kh, kw))?
        .transpose(1, 2)?
        .reshape((groups * ig, og, kh, kw))?
        .flip(&[2, 3])?
        .contiguous()?)
}

/// Patches `[N, g, L, I/g*K]` and kernel `[g, I/g*K, O/g]` for the unfold formulation.
fn unfold_operands(
    x: &Tensor,
    w: &Tensor,
    c: &Conv2dConfig,
    taps: &Taps,
) -> Result<(Tensor, Tensor)> {
    let (n, ch, _, _) = x.dims4()?;
    let g = c.groups;
    let (l, k) = (taps.positions(), taps.k);
    let patches = taps
        .unfold(x, 0.0)?
        .reshape((n, g, ch / g, l, k))?
        .permute((0, 1, 3, 2, 4))?
        .reshape((n, g, l, ch / g * k))?;
    let kernel = w
        .reshape((g, c.filters / g, ch / g * k))?
        .transpose(1, 2)?
        .contiguous()?;
    Ok((patches, kernel))
}

fn taps_for(c: &Conv2dConfig, in_hw: (usize, usize)) -> Result<Taps> {
    let out = |a| {
        c.window
            .out_len(a, if a == 0 { in_hw.0 } else { in_hw.1 }, false)
    };
    let out_hw = (out(0).unwrap_or(0), out(1).unwrap_or(0));
    Ok(Taps::new(&c.window, in_hw, out_hw))
}

fn general_forward(x: &Tensor, w: &Tensor, c: &Conv2dConfig) -> Result<Tensor> {
    let (n, _, h, wd) = x.dims4()?;
    let taps = taps_for(c, (h, wd))?;
    let (patches, kernel) = unfold_operands(x, w, c, &taps)?;
    let y = patches.broadcast_matmul(&kernel.unsqueeze(0)?)?; // [N, g, L, O/g]
    let (oh, ow) = taps.out_hw;
    Ok(y.permute((0, 1, 3, 2))?.reshape((n, c.filters, oh, ow))?)
}

fn general_input_grad(
    grad: &Tensor,
    w: &Tensor,
    c: &Conv2dConfig,
    in_shape: &[usize],
) -> Result<Tensor> {
    let n = grad.dim(0)?;
    let (ch, h, wd) = (in_shape[1], in_shape[2], in_shape[3]);
    let g = c.groups;
    let taps = taps_for(c, (h, wd))?;
    let (l, k) = (taps.positions(), taps.k);
    let kernel = w.reshape((g, c.filters / g, ch / g * k))?; // [g, O/g, I/g*K]
    let gy = grad
        .reshape((n, g, c.filters / g, l))?
        .transpose(2, 3)?
        .contiguous()?; // [N, g, L, O/g]
    let dpatches = gy.broadcast_matmul(&kernel.unsqueeze(0)?)?; // [N, g, L, I/g*K]
    let dpatches = dpatches
        .reshape((n, g, l, ch / g, k))?
        .permute((0, 1, 3, 2, 4))?
        .reshape((n, ch, l, k))?;
    taps.fold_add(&dpatches)
}

/// A transposed convolution: the input gradient of the convolution it transposes, taken at
/// `x`, to an output of shape `out_shape`, plus the bias (`[1, C, 1, 1]`).
pub fn transposed_forward(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    c: &ConvTranspose2dConfig,
    out_shape: &[usize],
    cache: Option<&cpu::ConvCache>,
) -> Result<Tensor> {
    let y = input_grad(x, w, &c.transposed(), out_shape, cache)?;
    Ok(match bias {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// The input gradient of a transposed convolution: the convolution it transposes, applied to
/// the output gradient.
pub fn transposed_input_grad(
    g: &Tensor,
    w: &Tensor,
    c: &ConvTranspose2dConfig,
    cache: Option<&cpu::ConvCache>,
) -> Result<Tensor> {
    forward(g, w, None, &c.transposed(), cache)
}
