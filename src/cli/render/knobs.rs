//! `render`'s method options, validated into the method's typed options (`methods::Options`).

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::imaging::npy::read_npy_f32_at_most;
use crate::input::preprocess::Preprocess;
use crate::methods::actmax::Recipe;
use crate::methods::{
    self, ActMaxOptions, Baseline, FeaturesOptions, FiltersOptions, IgMethod, IgOptions,
    NoiseTunnelType, OcclusionOptions, OcclusionView, Opt, Options, ScoreCamOptions,
    SmoothGradOptions,
};

#[derive(clap::Args, Debug, Clone)]
pub struct KnobArgs {
    /// smoothgrad: number of noisy samples. [default: 25]
    #[arg(long, help_heading = "Method options")]
    pub samples: Option<usize>,
    /// smoothgrad: noise standard deviation in the model's input space
    /// [default: 0.15 × (max − min) of the prepared input].
    #[arg(long, allow_negative_numbers = true, help_heading = "Method options")]
    pub stdev: Option<f32>,
    /// smoothgrad: smoothgrad | smoothgrad_sq | vargrad (captum's NoiseTunnel types). [default: smoothgrad]
    #[arg(long, help_heading = "Method options")]
    pub nt_type: Option<String>,
    /// Seed for smoothgrad's noise, actmax's starting picture and transforms, and the uniform
    /// baseline of ig and occlusion. [default: 0]
    #[arg(long, help_heading = "Method options")]
    pub seed: Option<u64>,
    /// ig, occlusion: zero | VALUE (a constant, in the model's input space) | blur | uniform |
    /// FILE.npy (an array with the input's shape). [default: zero]
    #[arg(long, allow_negative_numbers = true, help_heading = "Method options")]
    pub baseline: Option<String>,
    /// filters: the input channel to show (default: RGB tiles for 3-channel kernels, else 0).
    #[arg(long, help_heading = "Method options")]
    pub in_channel: Option<usize>,
    /// scorecam: score only the N most active channels (faster) [default: all].
    #[arg(long, help_heading = "Method options")]
    pub top_channels: Option<usize>,
    /// features: which channels: top:N (most active), first:N, or a list i,j,k. [default: top:16]
    #[arg(long, help_heading = "Method options")]
    pub channels: Option<String>,
    /// occlusion: window size H,W (all channels) or C,H,W. [default: 16,16]
    #[arg(long, help_heading = "Method options")]
    pub window: Option<String>,
    /// occlusion: stride H,W or C,H,W. [default: 8,8]
    #[arg(long, help_heading = "Method options")]
    pub stride: Option<String>,
    /// occlusion: attribution (captum's map of raw-score drops, NPY [C,H,W]) | heatmap (the
    /// target probability with each window occluded, NPY [rows, cols] over the window grid;
    /// channel-wise windows averaged) | mask (the input with only the pixels whose occlusion
    /// drops the probability most; NPY the per-pixel probability drop [H,W]). [default: attribution]
    #[arg(long, help_heading = "Method options")]
    pub view: Option<String>,
    /// occlusion --view mask: keep pixels whose probability drop is at least T × the largest
    /// drop, T in (0, 1]; the rest are drawn black. [default: 0.5]
    #[arg(long, allow_negative_numbers = true, help_heading = "Method options")]
    pub threshold: Option<f32>,
    /// ig: integration steps [default: 50]; actmax: optimization steps [default: 512 for
    /// lucid, 200 for keras-vis].
    #[arg(long, help_heading = "Method options")]
    pub steps: Option<usize>,
    /// actmax: lucid (Fourier image, decorrelated colour, random transforms, Adam) or keras-vis
    /// (pixels, L6-norm and total-variation penalties, RMSProp). [default: lucid]
    #[arg(long, help_heading = "Method options")]
    pub recipe: Option<String>,
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
    /// ig: gausslegendre | riemann_left | riemann_right | riemann_middle | riemann_trapezoid. [default: gausslegendre]
    #[arg(long, help_heading = "Method options")]
    pub ig_method: Option<String>,
    /// Inputs per batched pass (smoothgrad, ig, occlusion, scorecam) [default: as many as fit
    /// in 2 GiB of activations and gradients, at most 64].
    #[arg(long, help_heading = "Method options")]
    pub batch: Option<usize>,
}

impl KnobArgs {
    /// The method options given on the command line, with the flag as typed: checked against
    /// the method's registry entry (`methods::check_options`).
    pub fn given(&self) -> Vec<(Opt, &'static str)> {
        [
            (self.samples.is_some(), Opt::Samples, "--samples"),
            (self.stdev.is_some(), Opt::Stdev, "--stdev"),
            (self.nt_type.is_some(), Opt::NtType, "--nt-type"),
            (self.seed.is_some(), Opt::Seed, "--seed"),
            (self.baseline.is_some(), Opt::Baseline, "--baseline"),
            (self.in_channel.is_some(), Opt::InChannel, "--in-channel"),
            (
                self.top_channels.is_some(),
                Opt::TopChannels,
                "--top-channels",
            ),
            (self.channels.is_some(), Opt::Channels, "--channels"),
            (self.window.is_some(), Opt::Window, "--window"),
            (self.stride.is_some(), Opt::Stride, "--stride"),
            (self.view.is_some(), Opt::View, "--view"),
            (self.threshold.is_some(), Opt::Threshold, "--threshold"),
            (self.steps.is_some(), Opt::Steps, "--steps"),
            (self.recipe.is_some(), Opt::Recipe, "--recipe"),
            (self.jitter.is_some(), Opt::Jitter, "--jitter"),
            (self.channel.is_some(), Opt::Unit, "--channel"),
            (self.neuron.is_some(), Opt::Unit, "--neuron"),
            (self.ig_method.is_some(), Opt::IgMethod, "--ig-method"),
            (self.batch.is_some(), Opt::Batch, "--batch"),
        ]
        .into_iter()
        .filter(|(given, _, _)| *given)
        .map(|(_, opt, flag)| (opt, flag))
        .collect()
    }

    /// `method`'s options from the flags (checked), on its defaults. The flags of other
    /// methods were refused before (`methods::check_options`).
    pub fn to_options(&self, method: &str, input: &Tensor, device: &Device) -> Result<Options> {
        let usage = |m: String| Err(Error::Usage(m));
        let samples = self.samples.unwrap_or(SmoothGradOptions::default().samples);
        if samples == 0 {
            return usage("--samples must be at least 1".into());
        }
        methods::check_count("samples", samples, methods::MAX_SAMPLES)?;
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
        let nt_type = match self.nt_type.as_deref().unwrap_or("smoothgrad") {
            "smoothgrad" => NoiseTunnelType::SmoothGrad,
            "smoothgrad_sq" => NoiseTunnelType::SmoothGradSq,
            "vargrad" => NoiseTunnelType::VarGrad,
            other => {
                return usage(format!(
                    "--nt-type {other}: expected smoothgrad, smoothgrad_sq or vargrad"
                ))
            }
        };
        let ig_method_name = self.ig_method.as_deref().unwrap_or("gausslegendre");
        let ig_method = match ig_method_name {
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
        let view = match self.view.as_deref().unwrap_or("attribution") {
            "attribution" => OcclusionView::Attribution,
            "heatmap" => OcclusionView::Heatmap,
            "mask" => OcclusionView::Mask,
            other => {
                return usage(format!(
                    "--view {other}: expected attribution, heatmap or mask"
                ))
            }
        };
        let threshold = self
            .threshold
            .unwrap_or(OcclusionOptions::default().threshold);
        if !(threshold > 0.0 && threshold <= 1.0) {
            return usage(format!(
                "--threshold {threshold} must be in (0, 1]: the fraction of the largest probability drop a pixel needs to be kept"
            ));
        }
        if ig_method != IgMethod::GaussLegendre && self.steps.is_some_and(|s| s < 2) {
            return usage(format!("--steps must be at least 2 for {ig_method_name}"));
        }
        let baseline = || self.baseline(input, device);
        let seed = self.seed.unwrap_or(0);
        Ok(match method {
            "smoothgrad" => Options::SmoothGrad(SmoothGradOptions {
                samples,
                stdev: self.stdev,
                nt_type,
                seed,
                noise: None,
            }),
            "ig" => Options::Ig(IgOptions {
                steps: self.steps.unwrap_or(IgOptions::default().steps),
                method: ig_method,
                baseline: baseline()?,
                seed,
            }),
            "occlusion" => {
                let d = OcclusionOptions::default();
                Options::Occlusion(OcclusionOptions {
                    window: self
                        .window
                        .as_deref()
                        .map_or(Ok(d.window), |w| sizes(w, "window"))?,
                    stride: self
                        .stride
                        .as_deref()
                        .map_or(Ok(d.stride), |s| sizes(s, "stride"))?,
                    baseline: baseline()?,
                    seed,
                    incremental: true,
                    view,
                    threshold,
                })
            }
            "scorecam" => Options::ScoreCam(ScoreCamOptions {
                top_channels: self.top_channels,
            }),
            "filters" => Options::Filters(FiltersOptions {
                in_channel: self.in_channel,
            }),
            "features" => Options::Features(FeaturesOptions {
                channels: self
                    .channels
                    .clone()
                    .unwrap_or(FeaturesOptions::default().channels),
                // `--layers` names layers: resolved against the graph by the caller.
                layers: Vec::new(),
            }),
            "actmax" => Options::ActMax(ActMaxOptions {
                recipe: self
                    .recipe
                    .as_deref()
                    .map_or(Ok(Recipe::Lucid), Recipe::parse)?,
                steps: self.steps,
                jitter: self.jitter.filter(|&j| j > 0.0),
                // The picture options and the preprocessing: set by the caller.
                size: None,
                seed,
                preprocess: Preprocess::Imagenet,
            }),
            _ => Options::Default,
        })
    }

    fn baseline(&self, input: &Tensor, device: &Device) -> Result<Baseline> {
        Ok(match self.baseline.as_deref().unwrap_or("zero") {
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
