//! Our own CPU kernels for the operations where candle's CPU backend loses most time, entered
//! as candle custom ops so that tensors stay candle tensors and other devices keep candle's
//! (cuDNN) path. The kernels work on plain slices; `tests.rs` checks each against a naive
//! reference over random geometries.
//!
//! Measured before (VGG16, 224x224, 2 threads): candle's `conv2d` built its im2col tiles one
//! element at a time (12.8 GFLOP/s on 3→64 channels at 224x224) and its input gradient went
//! through a direct transposed convolution.

#[cfg(test)]
mod cache_tests;
mod columns;
mod conv2d;
mod custom_ops;
mod depthwise;
mod elementwise;
#[cfg(test)]
mod elementwise_tests;
mod enabled;
#[cfg(test)]
mod fused_tests;
mod geometry;
mod heap;
mod images;
mod linear;
mod matmul;
mod phases;
mod pool;
mod scratch;
mod simd;
mod strided;
#[cfg(test)]
mod tests;
mod winograd;

use candle_core::{DType, Shape, Tensor, TensorId};

use custom_ops::{Kernel1, Kernel2, Kernel3};

pub use enabled::{kernels_on, with_kernels};
pub use geometry::ConvGeometry;
pub use heap::{give_back_freed_memory, keep_freed_memory};
pub use simd::{exp, sigmoid};

use crate::error::Result;

/// Whether `t` can go to these kernels: an f32 tensor in host memory, with the kernels on.
pub fn takes(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32 && kernels_on()
}

fn nchw(n: usize, c: usize, hw: [usize; 2]) -> Shape {
    Shape::from((n, c, hw[0], hw[1]))
}

/// Kernels derived from one convolution's weight tensor, made by the passes that need them
/// and kept from the second such pass on (see `conv2d::Derived`). Bound to that tensor:
/// offered with any other, it is ignored.
pub struct ConvCache {
    weights: TensorId,
    derived: conv2d::Derived,
}

impl ConvCache {
    /// An empty cache for the weights `w`, which must not change while it is in use (a loaded
    /// model's; not a trainer's variables).
    pub fn new(w: &Tensor) -> Self {
        ConvCache {
            weights: w.id(),
            derived: Default::default(),
        }
    }

    fn for_weights<'a>(cache: Option<&'a Self>, w: &Tensor) -> Option<&'a conv2d::Derived> {
        cache.filter(|c| c.weights == w.id()).map(|c| &c.derived)
    }
}

/// `conv(x, w) + bias` for a CPU f32 `x` of the geometry's input shape; `cache`, where given,
/// keeps kernels derived from `w` between calls.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
    cache: Option<&ConvCache>,
) -> Result<Tensor> {
    conv2d_then(x, w, bias, g, cache, None)
}

/// [`conv2d`], then the batch norm after it (per-channel `scale` and `shift`), the residual
/// sum after that where `residual` is given (a tensor of the output's shape), and the scalar
/// form `f` of the activation last (the identity where there is none): `f(conv · scale +
/// shift [+ residual])`, run on each part of the output as the kernel writes it, while it is
/// in cache. Computed as the separate passes compute it (`elementwise::plane_map`, `zip_map`),
/// so the same to the bit, without their passes over memory.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_batch_norm(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
    cache: Option<&ConvCache>,
    scale: &Tensor,
    shift: &Tensor,
    residual: Option<&Tensor>,
    f: impl Fn(f32) -> f32 + Send + Sync + Copy,
) -> Result<Tensor> {
    let values = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
    let (scale, shift) = (values(scale)?, values(shift)?);
    if scale.len() != g.out_channels || shift.len() != g.out_channels {
        return Err(crate::error::Error::Input(format!(
            "batch norm after a convolution of {} filters has {} scales and {} shifts",
            g.out_channels,
            scale.len(),
            shift.len()
        )));
    }
    let (plane, channels) = (g.out_plane(), g.out_channels);
    let finish = |run: images::Run<'_>, residual: Option<&[f32]>| {
        let (a, b) = (scale[run.channel], shift[run.channel]);
        let residual = residual.map(|r| {
            &r[(run.image * channels + run.channel) * plane + run.at..][..run.values.len()]
        });
        elementwise::affine_in_place(run.values, a, b, residual, f)
    };
    let Some(residual) = residual else {
        return conv2d_then(x, w, bias, g, cache, Some(&|run| finish(run, None)));
    };
    if residual.dims() != nchw(g.batch, g.out_channels, g.out_hw).dims() {
        return Err(crate::error::Error::Input(format!(
            "a residual of shape {:?} cannot be added to a convolution's output of shape {:?}",
            residual.dims(),
            [g.batch, g.out_channels, g.out_hw[0], g.out_hw[1]]
        )));
    }
    let (bias, derived) = conv_operands(bias, g, cache, w)?;
    let op = Kernel3 {
        name: "convscope-conv2d-batch-norm-sum",
        lens: [g.input_len(), g.weight_len(), g.output_len()],
        out: nchw(g.batch, g.out_channels, g.out_hw),
        f: |x: &[f32], w: &[f32], r: &[f32]| {
            let then = |run: images::Run<'_>| finish(run, Some(r));
            conv2d::forward(g, x, w, bias.as_deref(), derived, Some(&then))
        },
    };
    let (x, w, r) = (x.contiguous()?, w.contiguous()?, residual.contiguous()?);
    Ok(x.apply_op3_no_bwd(&w, &r, &op)?)
}

/// A convolution's bias as values (checked against `g`), and the kernels kept for `w`.
fn conv_operands<'a>(
    bias: Option<&Tensor>,
    g: &ConvGeometry,
    cache: Option<&'a ConvCache>,
    w: &Tensor,
) -> Result<(Option<Vec<f32>>, Option<&'a conv2d::Derived>)> {
    g.check()?;
    let bias = match bias {
        Some(b) => Some(b.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?),
        None => None,
    };
    if bias.as_ref().is_some_and(|b| b.len() != g.out_channels) {
        return Err(crate::error::Error::Input(format!(
            "convolution bias has the wrong length for {} filters",
            g.out_channels
        )));
    }
    Ok((bias, ConvCache::for_weights(cache, w)))
}

fn conv2d_then(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: &ConvGeometry,
    cache: Option<&ConvCache>,
    then: Option<images::Then<'_>>,
) -> Result<Tensor> {
    let (bias, derived) = conv_operands(bias, g, cache, w)?;
    let op = Kernel2 {
        name: "convscope-conv2d",
        lens: [g.input_len(), g.weight_len()],
        out: nchw(g.batch, g.out_channels, g.out_hw),
        f: |x: &[f32], w: &[f32]| conv2d::forward(g, x, w, bias.as_deref(), derived, then),
    };
    Ok(x.contiguous()?.apply_op2_no_bwd(&w.contiguous()?, &op)?)
}

/// d(loss)/d(x) for `dy` = d(loss)/d(conv(x, w)); `cache` as in [`conv2d`].
pub fn conv2d_input_grad(
    dy: &Tensor,
    w: &Tensor,
    g: &ConvGeometry,
    cache: Option<&ConvCache>,
) -> Result<Tensor> {
    g.check()?;
    let derived = ConvCache::for_weights(cache, w);
    let op = Kernel2 {
        name: "convscope-conv2d-input-grad",
        lens: [g.output_len(), g.weight_len()],
        out: nchw(g.batch, g.in_channels, g.in_hw),
        f: |dy: &[f32], w: &[f32]| conv2d::input_grad(g, dy, w, derived),
    };
    Ok(dy.contiguous()?.apply_op2_no_bwd(&w.contiguous()?, &op)?)
}

/// `x · w + bias` for `x` `[rows, in]`, `w` `[in, out]` and at most
/// [`LINEAR_SMALL_BATCH`] rows: one streaming pass over the weights.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (rows, ins, outs) = dense_operands(x, w, 0, "input")?;
    let bias = bias.map(values).transpose()?;
    if bias.as_ref().is_some_and(|b| b.len() != outs) {
        return Err(crate::error::Error::Input(format!(
            "dense bias has the wrong length for {outs} units"
        )));
    }
    let op = Kernel2 {
        name: "convscope-linear",
        lens: [rows * ins, ins * outs],
        out: Shape::from((rows, outs)),
        f: |x: &[f32], w: &[f32]| linear::forward(x, w, ins, outs, bias.as_deref()),
    };
    Ok(x.contiguous()?.apply_op2_no_bwd(&w.contiguous()?, &op)?)
}

/// `g · wᵀ` for `g` `[rows, out]` and `w` `[in, out]`: a dense layer's input gradient at a
/// small batch.
pub fn linear_input_grad(g: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (rows, ins, outs) = dense_operands(g, w, 1, "gradient")?;
    let op = Kernel2 {
        name: "convscope-linear-input-grad",
        lens: [rows * outs, ins * outs],
        out: Shape::from((rows, ins)),
        f: |g: &[f32], w: &[f32]| linear::input_grad(g, w, ins, outs),
    };
    Ok(g.contiguous()?.apply_op2_no_bwd(&w.contiguous()?, &op)?)
}

/// Rows up to which [`linear`] and [`linear_input_grad`] beat the GEMM.
pub const LINEAR_SMALL_BATCH: usize = linear::SMALL_BATCH;

/// `(rows, in, out)` for a `[rows, k]` operand `a` (the input, or the output gradient) of a
/// dense layer with weights `w` `[in, out]`, whose `axis` must have `k` elements.
fn dense_operands(
    a: &Tensor,
    w: &Tensor,
    axis: usize,
    what: &str,
) -> Result<(usize, usize, usize)> {
    let (rows, k) = a.dims2()?;
    let (ins, outs) = w.dims2()?;
    if [ins, outs][axis] != k {
        return Err(crate::error::Error::Input(format!(
            "a dense {what} of {k} values per row does not fit weights of shape {:?}",
            w.dims()
        )));
    }
    Ok((rows, ins, outs))
}

/// Max pooling; `g` describes the window as a depthwise convolution (groups = channels).
pub fn max_pool2d(x: &Tensor, g: &ConvGeometry) -> Result<Tensor> {
    g.check()?;
    let op = Kernel1 {
        name: "convscope-max-pool2d",
        len: g.input_len(),
        out: nchw(g.batch, g.out_channels, g.out_hw),
        f: |x: &[f32]| pool::max_forward(g, x),
    };
    Ok(x.contiguous()?.apply_op1_no_bwd(&op)?)
}

/// Max pooling's input gradient, routed to each window's first maximum.
pub fn max_pool2d_backward(x: &Tensor, dy: &Tensor, g: &ConvGeometry) -> Result<Tensor> {
    g.check()?;
    let op = Kernel2 {
        name: "convscope-max-pool2d-backward",
        lens: [g.input_len(), g.output_len()],
        out: nchw(g.batch, g.in_channels, g.in_hw),
        f: |x: &[f32], dy: &[f32]| pool::max_backward(g, x, dy),
    };
    Ok(x.contiguous()?.apply_op2_no_bwd(&dy.contiguous()?, &op)?)
}

/// `f(x)` for each element of `x`, in one pass (an activation, or a gradient rule that needs
/// only one operand).
pub fn map(
    x: &Tensor,
    name: &'static str,
    f: impl Fn(f32) -> f32 + Send + Sync + Copy,
) -> Result<Tensor> {
    let op = Kernel1 {
        name,
        len: x.elem_count(),
        out: x.shape().clone(),
        f: |x: &[f32]| elementwise::map(x, f),
    };
    Ok(x.contiguous()?.apply_op1_no_bwd(&op)?)
}

/// `f(a, b)` for each pair of elements of two tensors of one shape, in one pass (a backward
/// rule from the input and the output gradient).
pub fn zip_map(
    a: &Tensor,
    b: &Tensor,
    name: &'static str,
    f: impl Fn(f32, f32) -> f32 + Send + Sync + Copy,
) -> Result<Tensor> {
    same_shape(name, a, b)?;
    let op = Kernel2 {
        name,
        lens: [a.elem_count(), b.elem_count()],
        out: a.shape().clone(),
        f: |a: &[f32], b: &[f32]| elementwise::zip_map(a, b, f),
    };
    Ok(a.contiguous()?.apply_op2_no_bwd(&b.contiguous()?, &op)?)
}

fn same_shape(name: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(crate::error::Error::Input(format!(
            "{name}: shapes {:?} and {:?} differ",
            a.dims(),
            b.dims()
        )));
    }
    Ok(())
}

/// `a + b` for operands of one shape (a residual connection).
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_shape("add", a, b)?;
    let op = Kernel2 {
        name: "convscope-add",
        lens: [a.elem_count(), b.elem_count()],
        out: a.shape().clone(),
        f: elementwise::add,
    };
    Ok(a.contiguous()?.apply_op2_no_bwd(&b.contiguous()?, &op)?)
}

/// The planes of an `[N, C, …]` tensor, and how many scale values a per-plane map over it may
/// have: `C` (one per channel) or `N·C` (one per image and channel).
fn planes(x: &Tensor, values: usize) -> Result<usize> {
    let dims = x.dims();
    let fits = dims.len() >= 2 && (values == dims[1] || values == dims[0] * dims[1]);
    if !fits || values == 0 {
        return Err(crate::error::Error::Input(format!(
            "a per-channel map of {values} values does not fit an input of shape {dims:?}"
        )));
    }
    Ok(dims[2..].iter().product())
}

fn values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
}

/// `x · scale + shift` over an NCHW `x`, with scale and shift given per channel (`[1, C, 1, 1]`
/// or `[C]`: batch normalization, and without shift its input gradient) or per image and
/// channel (`[N, C, 1, 1]`: a squeeze-excitation product).
pub fn plane_affine(x: &Tensor, scale: &Tensor, shift: Option<&Tensor>) -> Result<Tensor> {
    plane_map(x, scale, shift, "convscope-plane-affine", |v| v)
}

/// `f(x · scale + shift)`, scale and shift as in [`plane_affine`]: a batch norm and the
/// activation after it, in one pass.
pub fn plane_map(
    x: &Tensor,
    scale: &Tensor,
    shift: Option<&Tensor>,
    name: &'static str,
    f: impl Fn(f32) -> f32 + Send + Sync + Copy,
) -> Result<Tensor> {
    let (scale, shift) = (values(scale)?, shift.map(values).transpose()?);
    let plane = planes(x, scale.len())?;
    if shift.as_ref().is_some_and(|s| s.len() != scale.len()) {
        return Err(crate::error::Error::Input(
            "a per-channel map's scale and shift differ in length".into(),
        ));
    }
    let op = Kernel1 {
        name,
        len: x.elem_count(),
        out: x.shape().clone(),
        f: |x: &[f32]| {
            if plane == 0 {
                return Vec::new();
            }
            elementwise::plane_map(x, plane, &scale, shift.as_deref(), f)
        },
    };
    Ok(x.contiguous()?.apply_op1_no_bwd(&op)?)
}

/// `f(a, b) · scale` for two tensors of one shape, scale as in [`plane_affine`]: an
/// activation's backward rule and the batch norm's before it, in one pass.
pub fn plane_zip_map(
    a: &Tensor,
    b: &Tensor,
    scale: &Tensor,
    name: &'static str,
    f: impl Fn(f32, f32) -> f32 + Send + Sync + Copy,
) -> Result<Tensor> {
    same_shape(name, a, b)?;
    let scale = values(scale)?;
    let plane = planes(a, scale.len())?;
    let op = Kernel2 {
        name,
        lens: [a.elem_count(), b.elem_count()],
        out: a.shape().clone(),
        f: |a: &[f32], b: &[f32]| {
            if plane == 0 {
                return Vec::new();
            }
            elementwise::plane_zip_map(a, b, plane, &scale, f)
        },
    };
    Ok(a.contiguous()?.apply_op2_no_bwd(&b.contiguous()?, &op)?)
}

/// `Σ a·b` over each spatial plane of two `[N, C, …]` tensors of one shape, as `[N, C, 1, …]`:
/// the gradient of a per-(image, channel) scale.
pub fn plane_dots(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_shape("plane dots", a, b)?;
    let dims = a.dims();
    let plane = planes(a, *dims.get(1).unwrap_or(&0))?;
    let per_plane = dims[0] * dims[1];
    let mut out = dims.to_vec();
    out[2..].iter_mut().for_each(|d| *d = 1);
    let op = Kernel2 {
        name: "convscope-plane-dots",
        lens: [a.elem_count(), b.elem_count()],
        out: Shape::from(out),
        f: |a: &[f32], b: &[f32]| {
            if plane == 0 {
                return vec![0.0; per_plane];
            }
            elementwise::plane_dots(a, b, plane)
        },
    };
    Ok(a.contiguous()?.apply_op2_no_bwd(&b.contiguous()?, &op)?)
}

/// `g · factor` (one value per plane, shaped `[N, C, 1, …]`) repeated over the planes of
/// `shape`: a global average pool's backward pass.
pub fn plane_fill(g: &Tensor, shape: &Shape, factor: f32) -> Result<Tensor> {
    let dims = shape.dims();
    let plane: usize = dims.get(2..).map_or(0, |d| d.iter().product());
    if dims.len() < 2 || g.elem_count() != dims[0] * dims[1] {
        return Err(crate::error::Error::Input(format!(
            "a per-plane gradient of shape {:?} does not fit {dims:?}",
            g.dims()
        )));
    }
    let op = Kernel1 {
        name: "convscope-plane-fill",
        len: g.elem_count(),
        out: shape.clone(),
        f: |g: &[f32]| elementwise::plane_fill(g, plane, factor),
    };
    Ok(g.contiguous()?.apply_op1_no_bwd(&op)?)
}
