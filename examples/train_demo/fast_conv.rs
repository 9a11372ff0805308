//! A convolution with its own forward and backward passes, for training.
//!
//! candle's CPU `conv2d` builds its im2col tiles one element at a time, and its autograd
//! differentiates through `conv_transpose2d` and a convolution by the whole gradient map;
//! together they were most of a training step at 96x96 (`perf`: the tiles' closures and
//! `vec_dot_f32`). Here the columns are built by row copies, and each pass is one batched GEMM:
//! forward `W·cols`, kernel gradient `gy·colsᵀ` summed over the batch, input gradient the
//! forward of the flipped, transposed kernel over the gradient. The result enters candle's
//! graph as a custom op over `(x, w, y)` whose forward returns `y`, so that candle's autograd
//! calls our `bwd`. Only what the demo model needs takes this path (one group, stride 1, no
//! dilation); anything else is candle's own convolution.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use convscope::exec::ops::conv;
use convscope::model::Conv2dConfig;

type R<T> = candle_core::Result<T>;

/// `conv(x, w) + b`, differentiable in `x`, `w` and `b`.
pub fn conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, c: &Conv2dConfig) -> R<Tensor> {
    let y = if fast(c) {
        let cols = columns(&x.detach(), c)?;
        let y = forward(&cols, &w.detach(), c, x.dims())?;
        x.apply_op3(
            w,
            &y,
            TapConv {
                config: c.clone(),
                cols,
            },
        )?
    } else {
        candle_conv(x, w, c)?
    };
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// candle's own (differentiable) convolution after explicit padding. convscope's executor
/// runs its own CPU kernels, which candle's autograd cannot see through, so training must not
/// use it for anything it differentiates.
fn candle_conv(x: &Tensor, w: &Tensor, c: &Conv2dConfig) -> R<Tensor> {
    let (s, d) = (c.window.strides, c.window.dilation);
    if s[0] != s[1] || d[0] != d[1] {
        candle_core::bail!("training: unequal strides or dilations {s:?} {d:?} are not supported")
    }
    let p = c.window.pads;
    let pad = |t: &Tensor, dim: usize, a: usize, b: usize| {
        conv::pad_or_crop(t, dim, a as isize, b as isize).map_err(candle_core::Error::wrap)
    };
    let xp = pad(&pad(x, 2, p[0], p[2])?, 3, p[1], p[3])?;
    xp.conv2d(w, 0, s[0], d[0], c.groups)
}

fn fast(c: &Conv2dConfig) -> bool {
    c.groups == 1 && c.window.strides == [1, 1] && c.window.dilation == [1, 1]
}

/// The output size along both axes.
fn out_hw(c: &Conv2dConfig, h: usize, w: usize) -> (usize, usize) {
    let (k, p) = (c.window.kernel, c.window.pads);
    (h + p[0] + p[2] + 1 - k[0], w + p[1] + p[3] + 1 - k[1])
}

/// im2col: `[N, kh·kw·C, OH·OW]`, rows ordered (tap, channel), zeros where a tap falls in
/// the padding.
fn columns(x: &Tensor, c: &Conv2dConfig) -> R<Tensor> {
    let (n, ch, h, w) = x.dims4()?;
    let (oh, ow) = out_hw(c, h, w);
    let ([kh, kw], p) = (c.window.kernel, c.window.pads);
    let src: Vec<f32> = x.flatten_all()?.to_vec1()?;
    let rows = kh * kw * ch;
    let mut cols = vec![0f32; n * rows * oh * ow];
    for (img, out) in src.chunks(ch * h * w).zip(cols.chunks_mut(rows * oh * ow)) {
        for a in 0..kh {
            for b in 0..kw {
                // Output column ox reads input column ox + b - left; keep the ones inside.
                let x0 = p[1].saturating_sub(b);
                let x1 = ow.min((w + p[1]).saturating_sub(b));
                for ci in 0..ch {
                    let row = ((a * kw + b) * ch + ci) * oh * ow;
                    for oy in 0..oh {
                        let Some(iy) = (oy + a).checked_sub(p[0]).filter(|&iy| iy < h) else {
                            continue;
                        };
                        if x0 >= x1 {
                            continue;
                        }
                        let from = ci * h * w + iy * w + (x0 + b - p[1]);
                        out[row + oy * ow + x0..row + oy * ow + x1]
                            .copy_from_slice(&img[from..from + (x1 - x0)]);
                    }
                }
            }
        }
    }
    Tensor::from_vec(cols, (n, rows, oh * ow), x.device())
}

/// `[O, C, kh, kw]` as the `[O, kh·kw·C]` matrix that multiplies the columns.
fn kernel_matrix(w: &Tensor) -> R<Tensor> {
    let (o, ..) = w.dims4()?;
    w.permute((0, 2, 3, 1))?.contiguous()?.reshape((o, ()))
}

fn forward(cols: &Tensor, w: &Tensor, c: &Conv2dConfig, in_shape: &[usize]) -> R<Tensor> {
    let (oh, ow) = out_hw(c, in_shape[2], in_shape[3]);
    let y = kernel_matrix(w)?.broadcast_matmul(cols)?; // [N, O, OH·OW]
    y.reshape((in_shape[0], c.filters, oh, ow))
}

struct TapConv {
    config: Conv2dConfig,
    /// The forward pass's columns, which the kernel gradient reuses.
    cols: Tensor,
}

impl CustomOp3 for TapConv {
    fn name(&self) -> &'static str {
        "convscope-tap-conv"
    }

    /// Returns the precomputed output (the third argument).
    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        y: &CpuStorage,
        layout: &Layout,
    ) -> R<(CpuStorage, Shape)> {
        let (CpuStorage::F32(data), Some((from, to))) = (y, layout.contiguous_offsets()) else {
            candle_core::bail!("tap conv: the output must be a contiguous f32 tensor")
        };
        Ok((
            CpuStorage::F32(data[from..to].to_vec()),
            layout.shape().clone(),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> R<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let c = &self.config;
        let (n, o, oh, ow) = grad.dims4()?;
        let (_, ch, kh, kw) = w.dims4()?;
        let gy = grad.contiguous()?.reshape((n, o, oh * ow))?;
        // Σ_n gy[n]·cols[n]ᵀ, back from (tap, channel) order to [O, C, kh, kw].
        let dw = gy
            .matmul(&self.cols.transpose(1, 2)?)?
            .sum(0)?
            .reshape((o, kh, kw, ch))?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        // The adjoint of a stride-1 convolution: the flipped, transposed kernel over the
        // gradient, padded by k − 1 − p on each side.
        let mut adjoint = c.clone();
        adjoint.filters = ch;
        adjoint.in_channels = o;
        let (k, p) = (c.window.kernel, c.window.pads);
        adjoint.window.pads = [
            k[0] - 1 - p[0],
            k[1] - 1 - p[1],
            k[0] - 1 - p[2],
            k[1] - 1 - p[3],
        ];
        let wt = w.transpose(0, 1)?.contiguous()?.flip(&[2, 3])?;
        let dx = forward(&columns(grad, &adjoint)?, &wt, &adjoint, grad.dims())?;
        if dx.dims() != x.dims() {
            candle_core::bail!(
                "tap conv: input gradient {:?} for input {:?}",
                dx.dims(),
                x.dims()
            )
        }
        Ok((Some(dx), Some(dw), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use convscope::model::{PaddingMode, Window};

    /// The custom backward gives the same gradients as candle's own autograd of `conv2d`, for
    /// padded and unpadded kernels of several sizes (the demo's are 3x3, padded by 1), and for
    /// a strided one, which takes candle's own path.
    #[test]
    fn gradients_match_candles_autograd() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        for (kernel, stride, dilation, pad) in [
            (3, 1, 1, 1),
            (3, 2, 1, 1),
            (3, 1, 2, 2),
            (1, 1, 1, 0),
            (3, 2, 1, 1),
        ] {
            let c = Conv2dConfig {
                filters: 5,
                in_channels: 4,
                window: Window {
                    kernel: [kernel; 2],
                    strides: [stride; 2],
                    dilation: [dilation; 2],
                    pads: [pad; 4],
                    mode: PaddingMode::Explicit,
                },
                groups: 1,
                use_bias: true,
            };
            let x = Var::randn(0f32, 1., (2, 4, 9, 9), &dev)?;
            let w = Var::randn(0f32, 1., (5, 4, kernel, kernel), &dev)?;
            let b = Var::randn(0f32, 1., (1, 5, 1, 1), &dev)?;
            let ours = conv2d(&x, &w, Some(&b), &c)?;
            let theirs = x
                .pad_with_zeros(2, pad, pad)?
                .pad_with_zeros(3, pad, pad)?
                .conv2d(&w, 0, stride, dilation, 1)?
                .broadcast_add(&b)?;
            let weights = Tensor::randn(0f32, 1., ours.shape(), &dev)?;
            let (go, gt) = (
                (&ours * &weights)?.sum_all()?.backward()?,
                (&theirs * &weights)?.sum_all()?.backward()?,
            );
            for v in [&x, &w, &b] {
                let (a, e) = (go.get(v).expect("ours"), gt.get(v).expect("candle's"));
                let err: f32 = (a - e)?.abs()?.max_all()?.to_scalar()?;
                let scale: f32 = e.abs()?.max_all()?.to_scalar()?;
                assert!(
                    err <= 1e-4 * scale,
                    "{kernel}/{stride}/{dilation}: {err} vs {scale}"
                );
            }
        }
        Ok(())
    }
}
