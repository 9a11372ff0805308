//! Element-wise activations and their backward rules. The ReLU family's rule is chosen per
//! call: normal, guided (grad · [x active] · [grad > 0]) or deconvnet (relu(grad)).
//!
//! On the CPU each activation and each rule is one pass of a scalar function (`cpu::map`,
//! `cpu::zip_map`); elsewhere, and for tanh, erf and GELU, candle's tensor ops.

use std::f64::consts::{FRAC_2_SQRT_PI, PI};

use candle_core::Tensor;

use crate::error::Result;
use crate::exec::cpu::{self, sigmoid, ConvGeometry};
use crate::exec::ReluRule;
use crate::model::{Activation, SELU_ALPHA, SELU_SCALE};

pub fn forward(x: &Tensor, a: &Activation) -> Result<Tensor> {
    if cpu::takes(x) {
        if let Some(y) = forward_cpu(x, a, Before::Nothing) {
            return y;
        }
    }
    Ok(match a {
        Activation::Relu => x.relu()?,
        Activation::LeakyRelu { alpha } => {
            let neg = (x * *alpha as f64)?;
            x.gt(0f64)?.where_cond(x, &neg)?
        }
        Activation::Clip { min, max } => clip(x, *min, *max)?,
        Activation::Sigmoid => candle_nn::ops::sigmoid(x)?,
        Activation::HardSigmoid { alpha, beta } => {
            x.affine(*alpha as f64, *beta as f64)?.clamp(0f32, 1f32)?
        }
        Activation::HardSwish => (x * x.affine(1.0 / 6.0, 0.5)?.clamp(0f32, 1f32)?)?,
        Activation::Silu => x.silu()?,
        Activation::Tanh => x.tanh()?,
        Activation::Erf => x.erf()?,
        Activation::Gelu {
            tanh_approximation: false,
        } => x.gelu_erf()?,
        Activation::Gelu {
            tanh_approximation: true,
        } => x.gelu()?,
        Activation::Elu { alpha } => elu(x, *alpha as f64, 1.0)?,
        Activation::Selu => elu(x, SELU_ALPHA as f64, SELU_SCALE as f64)?,
        Activation::Softplus => softplus(x)?,
        Activation::Softsign => (x / x.abs()?.affine(1.0, 1.0)?)?,
        Activation::Exp => x.exp()?,
        Activation::Mish => (x * softplus(x)?.tanh()?)?,
    })
}

/// `scale · (x if x > 0 else alpha (e^x - 1))`; the exponential of the negative part only, so
/// that a large x makes no infinity in the branch not taken.
fn elu(x: &Tensor, alpha: f64, scale: f64) -> Result<Tensor> {
    let neg = x
        .minimum(0f64)?
        .exp()?
        .affine(alpha * scale, -alpha * scale)?;
    Ok(x.gt(0f64)?.where_cond(&x.affine(scale, 0.0)?, &neg)?)
}

/// `ln(1 + e^x)` as `max(x, 0) + ln(1 + e^-|x|)`, which neither overflows nor loses small values.
fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?)
}

/// `max(x, 0)`; NaN stays NaN, as in PyTorch.
fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// `x` clamped to `[lo, hi]`; NaN stays NaN, as in PyTorch's `clamp`.
fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// The activation of a batch norm's output, `a(x · scale + shift)`, in one pass over `x` (the
/// batch norm's input); `None` where there is no such pass (off the CPU; tanh, erf, GELU).
/// Each element is computed as the two separate passes compute it, so the result is the same
/// to the bit.
pub fn forward_after_batch_norm(
    x: &Tensor,
    scale: &Tensor,
    shift: &Tensor,
    a: &Activation,
) -> Option<Result<Tensor>> {
    if !(cpu::takes(x) && cpu::takes(scale) && cpu::takes(shift)) {
        return None;
    }
    forward_cpu(x, a, Before::BatchNorm(scale, shift))
}

/// The activation of a sum, `a(x + y)` (a residual join and the ReLU after it), in one pass
/// over the two operands; `None` as for [`forward_after_batch_norm`], and where the operands'
/// shapes differ. Each element is rounded as the two separate passes round it.
pub fn forward_after_sum(x: &Tensor, y: &Tensor, a: &Activation) -> Option<Result<Tensor>> {
    if !(cpu::takes(x) && cpu::takes(y) && x.dims() == y.dims()) {
        return None;
    }
    forward_cpu(x, a, Before::Sum(y))
}

/// A convolution and the batch norm after it, run with the activation after that in one pass
/// (see `ops::conv::forward_batch_norm`).
pub struct ConvolutionBatchNorm<'a> {
    pub w: &'a Tensor,
    pub bias: Option<&'a Tensor>,
    pub geometry: &'a ConvGeometry,
    pub cache: Option<&'a cpu::ConvCache>,
    pub scale: &'a Tensor,
    pub shift: &'a Tensor,
    /// The other operand of the residual sum after the batch norm, where the pass runs that
    /// sum too (the activation then follows the sum).
    pub residual: Option<&'a Tensor>,
}

/// `a(batch_norm(conv(x)))`, or `batch_norm(conv(x))` without an activation, in one pass on
/// the CPU (`x` the convolution's input, already checked to be there); `None` for the
/// activations without a scalar form.
pub fn forward_after_convolution(
    x: &Tensor,
    conv: &ConvolutionBatchNorm<'_>,
    a: Option<&Activation>,
) -> Option<Result<Tensor>> {
    let before = Before::Convolution(conv);
    match a {
        None => Some(before.map(x, "convscope-conv-batch-norm", |v| v)),
        Some(a) => forward_cpu(x, a, before),
    }
}

/// What an activation's one forward pass on the CPU reads: its own input; the input of the
/// batch norm before it, `f(x · scale + shift)`; the two operands of the sum before it,
/// `f(x + y)`; or the input of the convolution before that batch norm, whose images it
/// finishes as the convolution writes them. A batch norm or a sum and the activation after it
/// are memory-bound passes: in MobileNetV2 at batch 5 the batch norms and activations took 28
/// of 102 ms forward, and the residual sums and their ReLUs 8% of ResNet50's
/// deletion/insertion passes.
#[derive(Clone, Copy)]
enum Before<'a> {
    Nothing,
    BatchNorm(&'a Tensor, &'a Tensor),
    Sum(&'a Tensor),
    Convolution(&'a ConvolutionBatchNorm<'a>),
}

impl Before<'_> {
    fn map(
        self,
        x: &Tensor,
        name: &'static str,
        f: impl Fn(f32) -> f32 + Send + Sync + Copy,
    ) -> Result<Tensor> {
        match self {
            Before::Nothing => cpu::map(x, name, f),
            Before::BatchNorm(scale, shift) => cpu::plane_map(x, scale, Some(shift), name, f),
            Before::Sum(y) => cpu::zip_map(x, y, name, move |a, b| f(a + b)),
            Before::Convolution(c) => {
                let (g, bn) = (c.geometry, (c.scale, c.shift));
                cpu::conv2d_batch_norm(x, c.w, c.bias, g, c.cache, bn.0, bn.1, c.residual, f)
            }
        }
    }
}

/// What a backward rule runs with on the CPU: alone, or fused with the backward of the batch
/// norm before the activation, `rule(x, g) · scale` (see [`Before`] for the forward pass).
#[derive(Clone, Copy)]
enum Around<'a> {
    Alone,
    BatchNorm(&'a Tensor),
}

impl Around<'_> {
    /// A backward rule that reads only the output gradient `g`.
    fn map_grad(
        self,
        g: &Tensor,
        name: &'static str,
        f: impl Fn(f32) -> f32 + Send + Sync + Copy,
    ) -> Result<Tensor> {
        match self {
            Around::Alone => cpu::map(g, name, f),
            Around::BatchNorm(scale) => cpu::plane_zip_map(g, g, scale, name, move |_, g| f(g)),
        }
    }

    fn zip_map(
        self,
        a: &Tensor,
        b: &Tensor,
        name: &'static str,
        f: impl Fn(f32, f32) -> f32 + Send + Sync + Copy,
    ) -> Result<Tensor> {
        match self {
            Around::Alone => cpu::zip_map(a, b, name, f),
            Around::BatchNorm(scale) => cpu::plane_zip_map(a, b, scale, name, f),
        }
    }
}

/// One pass on the CPU, for the activations that have a scalar form here.
fn forward_cpu(x: &Tensor, a: &Activation, around: Before<'_>) -> Option<Result<Tensor>> {
    Some(match *a {
        Activation::Relu => around.map(x, "convscope-relu", relu),
        Activation::LeakyRelu { alpha } => around.map(x, "convscope-leaky-relu", move |v| {
            if v > 0.0 {
                v
            } else {
                v * alpha
            }
        }),
        Activation::Clip { min, max } => {
            around.map(x, "convscope-clip", move |v| clamp(v, min, max))
        }
        Activation::Sigmoid => around.map(x, "convscope-sigmoid", sigmoid),
        Activation::HardSigmoid { alpha, beta } => {
            around.map(x, "convscope-hard-sigmoid", move |v| {
                clamp(v * alpha + beta, 0.0, 1.0)
            })
        }
        // PyTorch's form: x · min(max(x + 3, 0), 6) / 6.
        Activation::HardSwish => around.map(x, "convscope-hard-swish", |v| {
            v * clamp(v + 3.0, 0.0, 6.0) / 6.0
        }),
        Activation::Silu => around.map(x, "convscope-silu", |v| v / (1.0 + cpu::exp(-v))),
        _ => return None,
    })
}

/// Whether `a`'s backward rules read its input. The ReLU family's pass a gradient exactly
/// where the output is strictly inside the linear range, which is where the input is (the
/// output equals the input there and sits on a bound or below zero elsewhere, for a leaky
/// slope that is not negative), so their rules read the output in its place: a pass for
/// gradients need not keep the input.
pub fn reads_input(a: &Activation) -> bool {
    match *a {
        Activation::Relu | Activation::Clip { .. } => false,
        Activation::LeakyRelu { alpha } if alpha >= 0.0 => false,
        _ => true,
    }
}

/// Whether a ReLU-family activation passes a gradient at `x` (strictly inside its linear
/// range, as PyTorch's rules are).
fn active(a: &Activation) -> impl Fn(f32) -> bool + Send + Sync + Copy {
    let (lo, hi) = match *a {
        Activation::Clip { min, max } => (min, max),
        _ => (0.0, f32::INFINITY),
    };
    move |x| x > lo && x < hi
}

/// The gradient at a batch norm's input through the batch norm and the activation reading its
/// output, in one pass: `x` and `y` are the activation's input and output, `g` the gradient
/// of its output, `scale` the batch norm's. `None` as for [`forward_after_batch_norm`].
pub fn backward_through_batch_norm(
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
    a: &Activation,
    rule: ReluRule,
    scale: &Tensor,
) -> Option<Result<Tensor>> {
    let x = if reads_input(a) { x } else { y };
    if ![x, y, g, scale].into_iter().all(cpu::takes) {
        return None;
    }
    backward_cpu(x, y, g, a, rule, Around::BatchNorm(scale))
}

/// One pass on the CPU, for the rules that have a scalar form here.
fn backward_cpu(
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
    a: &Activation,
    rule: ReluRule,
    around: Around<'_>,
) -> Option<Result<Tensor>> {
    if a.is_relu_family() && rule != ReluRule::Normal {
        let on = active(a);
        return Some(match rule {
            ReluRule::Deconvnet => around.map_grad(g, "convscope-deconvnet", relu),
            _ => around.zip_map(x, g, "convscope-guided", move |x, g| {
                if on(x) {
                    g.max(0.0)
                } else {
                    0.0
                }
            }),
        });
    }
    Some(match *a {
        Activation::Relu | Activation::Clip { .. } => {
            let on = active(a);
            around.zip_map(
                x,
                g,
                "convscope-relu-backward",
                move |x, g| {
                    if on(x) {
                        g
                    } else {
                        0.0
                    }
                },
            )
        }
        Activation::LeakyRelu { alpha } => {
            around.zip_map(x, g, "convscope-leaky-relu-backward", move |x, g| {
                if x > 0.0 {
                    g
                } else {
                    g * alpha
                }
            })
        }
        Activation::Sigmoid => around.zip_map(y, g, "convscope-sigmoid-backward", |y, g| {
            g * (y * (1.0 - y))
        }),
        Activation::HardSigmoid { alpha, beta } => {
            around.zip_map(x, g, "convscope-hard-sigmoid-backward", move |x, g| {
                let z = x * alpha + beta;
                if z > 0.0 && z < 1.0 {
                    g * alpha
                } else {
                    0.0
                }
            })
        }
        // PyTorch: 0 below -3, x/3 + 1/2 on [-3, 3], 1 above.
        Activation::HardSwish => around.zip_map(x, g, "convscope-hard-swish-backward", |x, g| {
            if x < -3.0 {
                0.0
            } else if x <= 3.0 {
                g * (x / 3.0 + 0.5)
            } else {
                g
            }
        }),
        // s (1 + x (1 - s)), s = sigmoid(x)
        Activation::Silu => around.zip_map(x, g, "convscope-silu-backward", |x, g| {
            let s = sigmoid(x);
            g * (s * (1.0 + x * (1.0 - s)))
        }),
        _ => return None,
    })
}

fn clip(x: &Tensor, min: f32, max: f32) -> Result<Tensor> {
    let mut y = x.clone();
    if min.is_finite() {
        y = y.maximum(min)?;
    }
    if max.is_finite() {
        y = y.minimum(max)?;
    }
    Ok(y)
}

/// Mask of where `x` lies strictly inside (lo, hi), as f32 0/1 (PyTorch's hardtanh rule).
fn inside(x: &Tensor, lo: f32, hi: f32) -> Result<Tensor> {
    let mut m = x.ones_like()?;
    if lo.is_finite() {
        m = (m * x.gt(lo as f64)?.to_dtype(x.dtype())?)?;
    }
    if hi.is_finite() {
        m = (m * x.lt(hi as f64)?.to_dtype(x.dtype())?)?;
    }
    Ok(m)
}

/// d(loss)/d(x) from d(loss)/d(y); `y` is the forward output.
pub fn backward(
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
    a: &Activation,
    rule: ReluRule,
) -> Result<Tensor> {
    let x = if reads_input(a) { x } else { y };
    if cpu::takes(x) && cpu::takes(y) && cpu::takes(g) {
        if let Some(dx) = backward_cpu(x, y, g, a, rule, Around::Alone) {
            return dx;
        }
    }
    if a.is_relu_family() && rule != ReluRule::Normal {
        return match rule {
            ReluRule::Deconvnet => Ok(g.relu()?),
            _ => {
                let active = match a {
                    Activation::Clip { min, max } => inside(x, *min, *max)?,
                    _ => x.gt(0f64)?.to_dtype(x.dtype())?,
                };
                Ok((g.relu()? * active)?)
            }
        };
    }
    let dtype = x.dtype();
    Ok(match a {
        Activation::Relu => (g * x.gt(0f64)?.to_dtype(dtype)?)?,
        Activation::LeakyRelu { alpha } => {
            let slope = x
                .gt(0f64)?
                .where_cond(&x.ones_like()?, &(x.ones_like()? * *alpha as f64)?)?;
            (g * slope)?
        }
        Activation::Clip { min, max } => (g * inside(x, *min, *max)?)?,
        Activation::Sigmoid => (g * (y * y.affine(-1.0, 1.0)?)?)?,
        Activation::HardSigmoid { alpha, beta } => {
            let z = x.affine(*alpha as f64, *beta as f64)?;
            (g * inside(&z, 0.0, 1.0)?.affine(*alpha as f64, 0.0)?)?
        }
        Activation::HardSwish => {
            // PyTorch: 0 below -3, x/3 + 1/2 on [-3, 3], 1 above.
            let mid = x.affine(1.0 / 3.0, 0.5)?;
            let above = x.gt(3f64)?.where_cond(&x.ones_like()?, &mid)?;
            let d = x.lt(-3f64)?.where_cond(&x.zeros_like()?, &above)?;
            (g * d)?
        }
        Activation::Silu => {
            // s + x s (1 - s), s = sigmoid(x)
            let s = candle_nn::ops::sigmoid(x)?;
            let ds = (&s * s.affine(-1.0, 1.0)?)?;
            (g * (&s + (x * ds)?)?)?
        }
        Activation::Tanh => (g * y.sqr()?.affine(-1.0, 1.0)?)?,
        Activation::Erf => (g * x.sqr()?.neg()?.exp()?.affine(FRAC_2_SQRT_PI, 0.0)?)?,
        Activation::Gelu {
            tanh_approximation: false,
        } => {
            // Φ(x) + x φ(x)
            let cdf = (x / 2f64.sqrt())?.erf()?.affine(0.5, 0.5)?;
            let pdf = x
                .sqr()?
                .affine(-0.5, 0.0)?
                .exp()?
                .affine(1.0 / (2.0 * PI).sqrt(), 0.0)?;
            (g * (cdf + (x * pdf)?)?)?
        }
        Activation::Gelu {
            tanh_approximation: true,
        } => {
            let k = (2.0 / PI).sqrt();
            let x2 = x.sqr()?;
            let u = (x * x2.affine(0.044715 * k, k)?)?;
            let t = u.tanh()?;
            let du = x2.affine(3.0 * 0.044715 * k, k)?;
            let left = t.affine(0.5, 0.5)?;
            let right = ((x * t.sqr()?.affine(-0.5, 0.5)?)? * du)?;
            (g * (left + right)?)?
        }
        // 1 above 0; below, the derivative alpha·scale·e^x is y + alpha·scale.
        Activation::Elu { alpha } => elu_backward(x, y, g, *alpha as f64, 1.0)?,
        Activation::Selu => elu_backward(x, y, g, SELU_ALPHA as f64, SELU_SCALE as f64)?,
        Activation::Softplus => (g * candle_nn::ops::sigmoid(x)?)?,
        Activation::Softsign => (g / x.abs()?.affine(1.0, 1.0)?.sqr()?)?,
        Activation::Exp => (g * y)?,
        Activation::Mish => {
            // tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x), sp = softplus(x)
            let t = softplus(x)?.tanh()?;
            let d = (&t + (x * t.sqr()?.affine(-1.0, 1.0)?)?.mul(&candle_nn::ops::sigmoid(x)?)?)?;
            (g * d)?
        }
    })
}

fn elu_backward(x: &Tensor, y: &Tensor, g: &Tensor, alpha: f64, scale: f64) -> Result<Tensor> {
    let below = y.affine(1.0, alpha * scale)?;
    let d = x
        .gt(0f64)?
        .where_cond(&x.ones_like()?.affine(scale, 0.0)?, &below)?;
    Ok((g * d)?)
}
