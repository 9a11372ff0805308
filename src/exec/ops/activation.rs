//! Element-wise activations and their backward rules. The ReLU family's rule is chosen per
//! call: normal, guided (grad · [x active] · [grad > 0]) or deconvnet (relu(grad)).

use std::f64::consts::{FRAC_2_SQRT_PI, PI};

use candle_core::Tensor;

use crate::error::Result;
use crate::exec::cpu::{self, ReluGrad};
use crate::exec::ReluRule;
use crate::model::Activation;

pub fn forward(x: &Tensor, a: &Activation) -> Result<Tensor> {
    if *a == Activation::Relu && cpu::takes(x) {
        return cpu::relu(x);
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
    if *a == Activation::Relu && cpu::takes(x) && cpu::takes(g) {
        match rule {
            ReluRule::Normal => return cpu::relu_backward(x, g, ReluGrad::Normal),
            ReluRule::Guided => return cpu::relu_backward(x, g, ReluGrad::Guided),
            ReluRule::Deconvnet => {}
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
    })
}
