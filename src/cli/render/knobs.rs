//! `render`'s method options, validated into `methods::Knobs`.

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::imaging::npy::read_npy_f32_at_most;
use crate::input::preprocess::Preprocess;
use crate::methods::actmax::Recipe;
use crate::methods::{self, Baseline, IgMethod, Knobs, NoiseTunnelType, OcclusionView};

#[derive(clap::Args, Debug)]
pub struct KnobArgs {
    /// smoothgrad: number of noisy samples.
    #[arg(long, default_value_t = 25, help_heading = "Method options")]
    pub samples: usize,
    /// smoothgrad: noise standard deviation in the model's input space
    /// [default: 0.15 × (max − min) of the prepared input].
    #[arg(long, allow_negative_numbers = true, help_heading = "Method options")]
    pub stdev: Option<f32>,
    /// smoothgrad: smoothgrad | smoothgrad_sq | vargrad (captum's NoiseTunnel types).
    #[arg(long, default_value = "smoothgrad", help_heading = "Method options")]
    pub nt_type: String,
    /// Seed for smoothgrad's noise and the uniform IG baseline.
    #[arg(long, default_value_t = 0, help_heading = "Method options")]
    pub seed: u64,
    /// ig, occlusion: zero | VALUE (a constant, in the model's input space) | blur | uniform |
    /// FILE.npy (an array with the input's shape).
    #[arg(
        long,
        default_value = "zero",
        allow_negative_numbers = true,
        help_heading = "Method options"
    )]
    pub baseline: String,
    /// filters: the input channel to show (default: RGB tiles for 3-channel kernels, else 0).
    #[arg(long, help_heading = "Method options")]
    pub in_channel: Option<usize>,
    /// scorecam: score only the N most active channels (faster) [default: all].
    #[arg(long, help_heading = "Method options")]
    pub top_channels: Option<usize>,
    /// features: which channels: top:N (most active), first:N, or a list i,j,k.
    #[arg(long, default_value = "top:16", help_heading = "Method options")]
    pub channels: String,
    /// occlusion: window size H,W (all channels) or C,H,W.
    #[arg(long, default_value = "16,16", help_heading = "Method options")]
    pub window: String,
    /// occlusion: stride H,W or C,H,W.
    #[arg(long, default_value = "8,8", help_heading = "Method options")]
    pub stride: String,
    /// occlusion: attribution (captum's map of raw-score drops, NPY [C,H,W]) | heatmap (the
    /// target probability with each window occluded, NPY [rows, cols] over the window grid;
    /// channel-wise windows averaged) | mask (the input with only the pixels whose occlusion
    /// drops the probability most; NPY the per-pixel probability drop [H,W]).
    #[arg(long, default_value = "attribution", help_heading = "Method options")]
    pub view: String,
    /// occlusion --view mask: keep pixels whose probability drop is at least T × the largest
    /// drop, T in (0, 1]; the rest are drawn black.
    #[arg(
        long,
        default_value_t = 0.5,
        allow_negative_numbers = true,
        help_heading = "Method options"
    )]
    pub threshold: f32,
    /// ig: integration steps [default: 50]; actmax: optimization steps [default: 512 for
    /// lucid, 200 for keras-vis].
    #[arg(long, help_heading = "Method options")]
    pub steps: Option<usize>,
    /// actmax: lucid (Fourier image, decorrelated colour, random transforms, Adam) or keras-vis
    /// (pixels, L6-norm and total-variation penalties, RMSProp).
    #[arg(long, default_value = "lucid", help_heading = "Method options")]
    pub recipe: String,
    /// actmax (keras-vis): roll the picture by up to this fraction of each side every step.
    #[arg(long, allow_negative_numbers = true, help_heading = "Method options")]
    pub jitter: Option<f32>,
    /// Explain (or, actmax: maximize) this channel's mean activation of --layer instead of a
    /// class (input-gradient methods, occlusion, actmax).
    #[arg(long, help_heading = "Method options")]
    pub channel: Option<usize>,
    /// Explain (or, actmax: maximize) this unit of the dense layer --layer instead of a class.
    #[arg(long, help_heading = "Method options")]
    pub neuron: Option<usize>,
    /// ig: gausslegendre | riemann_left | riemann_right | riemann_middle | riemann_trapezoid.
    #[arg(long, default_value = "gausslegendre", help_heading = "Method options")]
    pub ig_method: String,
    /// Inputs per batched pass (smoothgrad, ig, occlusion, scorecam) [default: as many as fit
    /// in 2 GiB of activations and gradients, at most 64].
    #[arg(long, help_heading = "Method options")]
    pub batch: Option<usize>,
}

impl KnobArgs {
    pub fn to_knobs(&self, input: &Tensor, device: &Device) -> Result<Knobs> {
        let usage = |m: String| Err(Error::Usage(m));
        if self.samples == 0 {
            return usage("--samples must be at least 1".into());
        }
        methods::check_count("samples", self.samples, methods::MAX_SAMPLES)?;
        if let Some(steps) = self.steps {
            methods::check_count("steps", steps, methods::MAX_STEPS)?;
        }
        if self.steps == Some(0) {
            return usage(
                "--steps must be at least 1 (integrated gradients and activation maximization take steps)".into(),
            );
        }
        if let Some(j) = self.jitter {
            if !(j.is_finite() && j >= 0.0) {
                return usage(format!(
                    "--jitter {j} must be a non-negative fraction of the side (such as 0.05) or a number of pixels"
                ));
            }
        }
        if self.batch == Some(0) {
            return usage("--batch must be at least 1".into());
        }
        if let Some(s) = self.stdev {
            if !(s.is_finite() && s >= 0.0) {
                return usage(format!("--stdev {s} must be a non-negative number"));
            }
        }
        let nt_type = match self.nt_type.as_str() {
            "smoothgrad" => NoiseTunnelType::SmoothGrad,
            "smoothgrad_sq" => NoiseTunnelType::SmoothGradSq,
            "vargrad" => NoiseTunnelType::VarGrad,
            other => {
                return usage(format!(
                    "--nt-type {other}: expected smoothgrad, smoothgrad_sq or vargrad"
                ))
            }
        };
        let ig_method = match self.ig_method.as_str() {
            "gausslegendre" => IgMethod::GaussLegendre,
            "riemann_left" => IgMethod::RiemannLeft,
            "riemann_right" => IgMethod::RiemannRight,
            "riemann_middle" => IgMethod::RiemannMiddle,
            "riemann_trapezoid" => IgMethod::RiemannTrapezoid,
            other => {
                return usage(format!(
                    "--ig-method {other}: expected gausslegendre, riemann_left, riemann_right, riemann_middle or riemann_trapezoid"
                ))
            }
        };
        let view = match self.view.as_str() {
            "attribution" => OcclusionView::Attribution,
            "heatmap" => OcclusionView::Heatmap,
            "mask" => OcclusionView::Mask,
            other => {
                return usage(format!(
                    "--view {other}: expected attribution, heatmap or mask"
                ))
            }
        };
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return usage(format!(
                "--threshold {} must be in (0, 1]: the fraction of the largest probability drop a pixel needs to be kept",
                self.threshold
            ));
        }
        if ig_method != IgMethod::GaussLegendre && self.steps.is_some_and(|s| s < 2) {
            return usage(format!("--steps must be at least 2 for {}", self.ig_method));
        }
        Ok(Knobs {
            samples: self.samples,
            stdev: self.stdev,
            nt_type,
            steps: self.steps,
            ig_method,
            baseline: self.baseline(input, device)?,
            // Sized to the model by the caller when not given (see `methods::batch_for`).
            batch: self.batch.unwrap_or(Knobs::default().batch),
            seed: self.seed,
            in_channel: self.in_channel,
            top_channels: self.top_channels,
            channels: self.channels.clone(),
            // `--layers` names layers: resolved against the graph by the caller.
            layers: Vec::new(),
            window: sizes(&self.window, "window")?,
            stride: sizes(&self.stride, "stride")?,
            incremental: true,
            view,
            threshold: self.threshold,
            noise: None,
            recipe: Recipe::parse(&self.recipe)?,
            jitter: self.jitter.filter(|&j| j > 0.0),
            size: None,
            preprocess: Preprocess::Imagenet,
        })
    }

    fn baseline(&self, input: &Tensor, device: &Device) -> Result<Baseline> {
        Ok(match self.baseline.as_str() {
            "zero" => Baseline::Zero,
            v if v.parse::<f32>().is_ok_and(f32::is_finite) => {
                Baseline::Constant(v.parse().expect("checked"))
            }
            "uniform" => Baseline::Uniform,
            // σ = 1/16 of the image side: blurs away detail, keeps the layout.
            "blur" => Baseline::Blur(
                input.dims().iter().skip(1).copied().max().unwrap_or(16) as f32 / 16.0,
            ),
            file if file.ends_with(".npy") => {
                let path = Path::new(file);
                let arr = read_npy_f32_at_most(path, input.elem_count())?;
                let want = input.dims();
                let shape = if arr.shape.len() + 1 == want.len() {
                    [&[1], arr.shape.as_slice()].concat()
                } else {
                    arr.shape.clone()
                };
                if shape != want {
                    return Err(Error::Usage(format!(
                        "--baseline {file} has shape {:?} but the prepared input has {want:?}",
                        arr.shape
                    )));
                }
                Baseline::Tensor(Tensor::from_vec(arr.data, shape, device)?)
            }
            other => {
                return Err(Error::Usage(format!(
                    "--baseline {other}: expected zero, a number, blur, uniform or a .npy file"
                )))
            }
        })
    }
}

/// `16,16` or `3,16,16`: positive sizes.
fn sizes(s: &str, what: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|p| p.trim().parse::<usize>().ok().filter(|&v| v > 0))
        .collect::<Option<Vec<_>>>()
        .filter(|v| (2..=3).contains(&v.len()))
        .ok_or_else(|| {
            Error::Usage(format!(
                "--{what} {s}: expected H,W or C,H,W with positive integers"
            ))
        })
}
