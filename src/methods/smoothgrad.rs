//! SmoothGrad and its variants (Smilkov et al. 2017; captum `NoiseTunnel` over `Saliency`):
//! the input gradient averaged over noisy copies x + ε_i, ε_i ~ N(0, σ²).
//! smoothgrad = mean(g_i); smoothgrad_sq = mean(g_i²); vargrad = mean(g_i²) − mean(g_i)², as
//! captum aggregates them. σ defaults to 0.15 × (max − min) of the prepared input (captum takes
//! σ as given; the 15% rule is the paper's).

use candle_core::Tensor;

use super::context::{attribution, Cx, NoiseTunnelType};
use super::{LayerNeed, Method, MethodInfo, Output};
use crate::error::{Error, Result};
use crate::exec::ReluRule;
use crate::model::build::Rng;

pub struct SmoothGrad;

impl Method for SmoothGrad {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "smoothgrad",
            name: "SmoothGrad",
            layer: LayerNeed::None,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let noise = match &cx.knobs.noise {
            Some(n) => n.clone(),
            None => draw_noise(cx)?,
        };
        let samples = noise.dim(0)?;
        if samples == 0 {
            return Err(Error::Usage("--samples must be at least 1".into()));
        }
        let batch = cx.knobs.batch.max(1);
        let (mut sum, mut sum_sq): (Option<Tensor>, Option<Tensor>) = (None, None);
        for start in (0..samples).step_by(batch) {
            cx.control.check()?;
            let n = batch.min(samples - start);
            let noisy = noise.narrow(0, start, n)?.broadcast_add(&cx.input)?;
            let g = cx.input_gradient(&noisy, ReluRule::Normal)?;
            let (s, sq) = (g.sum_keepdim(0)?, g.sqr()?.sum_keepdim(0)?);
            sum = Some(match sum {
                Some(acc) => (acc + s)?,
                None => s,
            });
            sum_sq = Some(match sum_sq {
                Some(acc) => (acc + sq)?,
                None => sq,
            });
            cx.control.step(start + n, samples, "samples")?;
        }
        let mean = (sum.expect("at least one sample") / samples as f64)?;
        let mean_sq = (sum_sq.expect("at least one sample") / samples as f64)?;
        let out = match cx.knobs.nt_type {
            NoiseTunnelType::SmoothGrad => mean,
            NoiseTunnelType::SmoothGradSq => mean_sq,
            NoiseTunnelType::VarGrad => (mean_sq - mean.sqr()?)?,
        };
        let mut output: Output = attribution(&out)?.into();
        output.extras.insert("samples".into(), samples.into());
        Ok(output)
    }
}

/// `[samples, ...input dims]` Gaussian noise from the seeded generator.
fn draw_noise(cx: &Cx<'_>) -> Result<Tensor> {
    let stdev = match cx.knobs.stdev {
        Some(s) if s < 0.0 || !s.is_finite() => {
            return Err(Error::Usage(format!(
                "--stdev {s} must be a non-negative number"
            )))
        }
        Some(s) => s,
        None => {
            let x = cx.input.flatten_all()?;
            let (max, min) = (x.max(0)?.to_scalar::<f32>()?, x.min(0)?.to_scalar::<f32>()?);
            0.15 * (max - min)
        }
    };
    let mut dims = cx.input.dims().to_vec();
    dims[0] = cx.knobs.samples;
    let n: usize = dims.iter().product();
    let mut rng = Rng::new(cx.knobs.seed);
    let mut data = rng.normals(n);
    data.iter_mut().for_each(|v| *v *= stdev);
    Ok(Tensor::from_vec(data, dims, cx.input.device())?)
}
