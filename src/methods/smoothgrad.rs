//! SmoothGrad and its variants (Smilkov et al. 2017; captum `NoiseTunnel` over `Saliency`):
//! the input gradient averaged over noisy copies x + ε_i, ε_i ~ N(0, σ²).
//! smoothgrad = mean(g_i); smoothgrad_sq = mean(g_i²); vargrad = mean(g_i²) − mean(g_i)², as
//! captum aggregates them. σ defaults to 0.15 × (max − min) of the prepared input (captum takes
//! σ as given; the 15% rule is the paper's).

use candle_core::Tensor;

use super::context::{attribution, Cx};
use super::options::{NoiseTunnelType, SmoothGradOptions};
use super::{Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab};
use crate::error::{Error, Result};
use crate::exec::ReluRule;
use crate::model::build::Rng;

pub struct SmoothGrad;

impl Method for SmoothGrad {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "smoothgrad",
            title: "SmoothGrad",
            family: Family::Gradient,
            layer: LayerNeed::None,
            batched: true,
            stackable: false,
            needs_input: true,
            options: &[
                Opt::Samples,
                Opt::Stdev,
                Opt::NtType,
                Opt::Seed,
                Opt::Batch,
                Opt::Unit,
            ],
            tab: Tab::Own {
                title: "SmoothGrad",
                short: "SmGr",
            },
            picture: Picture::Attribution,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let o: SmoothGradOptions = cx.options()?;
        let samples = match &o.noise {
            Some(n) => n.dim(0)?,
            None => o.samples,
        };
        if samples == 0 {
            return Err(Error::Usage("--samples must be at least 1".into()));
        }
        super::check_count("samples", samples, super::MAX_SAMPLES)?;
        // The noise is drawn a batch at a time, in sequence, so memory holds one batch of it
        // whatever the count (the values are those of one draw of all samples).
        let mut noise = Noise::new(cx, &o)?;
        let batch = cx.batch.max(1);
        let (mut sum, mut sum_sq): (Option<Tensor>, Option<Tensor>) = (None, None);
        for start in (0..samples).step_by(batch) {
            cx.control.check()?;
            let n = batch.min(samples - start);
            let noisy = noise.next(cx, &o, start, n)?.broadcast_add(&cx.input)?;
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
        let out = match o.nt_type {
            NoiseTunnelType::SmoothGrad => mean,
            NoiseTunnelType::SmoothGradSq => mean_sq,
            NoiseTunnelType::VarGrad => (mean_sq - mean.sqr()?)?,
        };
        let mut output: Output = attribution(&out)?.into();
        output.extras.insert("samples".into(), samples.into());
        Ok(output)
    }
}

/// SmoothGrad's noise: the caller's (`SmoothGradOptions::noise`, for tests against captum's draws), or
/// Gaussian draws of the seeded generator scaled by σ.
enum Noise {
    Given,
    Drawn { rng: Rng, stdev: f32 },
}

impl Noise {
    fn new(cx: &Cx<'_>, o: &SmoothGradOptions) -> Result<Noise> {
        if o.noise.is_some() {
            return Ok(Noise::Given);
        }
        let stdev = match o.stdev {
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
        Ok(Noise::Drawn {
            rng: Rng::new(o.seed),
            stdev,
        })
    }

    /// Samples `start..start + n` as a `[n, ...input dims]` tensor; drawn ones must be asked
    /// for in order.
    fn next(
        &mut self,
        cx: &Cx<'_>,
        o: &SmoothGradOptions,
        start: usize,
        n: usize,
    ) -> Result<Tensor> {
        match self {
            Noise::Given => {
                let given = o.noise.as_ref().expect("Noise::Given has noise");
                // Given in host memory by a test; a no-op where the input is.
                Ok(given.narrow(0, start, n)?.to_device(cx.input.device())?)
            }
            Noise::Drawn { rng, stdev } => {
                let mut dims = cx.input.dims().to_vec();
                dims[0] = n;
                let mut data = rng.normals(dims.iter().product());
                data.iter_mut().for_each(|v| *v *= *stdev);
                Ok(Tensor::from_vec(data, dims, cx.input.device())?)
            }
        }
    }
}
