//! Options typed per method, as captum's `attribute` arguments are: each method that takes
//! options has its own struct with the reference implementation's defaults, and a request
//! carries the one for its method ([`Options`]), or none for the defaults. Which flags a method
//! takes is its registry entry's (`MethodInfo::options`); `render` refuses the others.

use candle_core::Tensor;

use super::actmax::Recipe;
use super::occlusion::OcclusionView;
use crate::error::{Error, Result};
use crate::input::preprocess::Preprocess;
use crate::model::LayerId;

/// captum `NoiseTunnel` aggregation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseTunnelType {
    SmoothGrad,
    SmoothGradSq,
    VarGrad,
}

/// captum's integration rules for integrated gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgMethod {
    GaussLegendre,
    RiemannLeft,
    RiemannRight,
    RiemannMiddle,
    RiemannTrapezoid,
}

/// The reference input x' of integrated gradients, and what occlusion fills a window with.
#[derive(Clone, Debug)]
pub enum Baseline {
    Zero,
    /// Every element set to this value.
    Constant(f32),
    /// The input blurred with a Gaussian (sigma in pixels).
    Blur(f32),
    /// Uniform noise over the input's value range (seeded).
    Uniform,
    /// A user-supplied array with the input's shape.
    Tensor(Tensor),
}

/// `smoothgrad` (captum's `NoiseTunnel` around `Saliency`).
#[derive(Clone, Debug)]
pub struct SmoothGradOptions {
    /// Noisy samples (captum's `nt_samples`).
    pub samples: usize,
    /// Noise standard deviation in input space; `None` = 0.15 × (max − min) of the input.
    pub stdev: Option<f32>,
    pub nt_type: NoiseTunnelType,
    pub seed: u64,
    /// Noise to use instead of drawing it, `[samples, ...input dims]` (tests inject the
    /// reference's own noise through this).
    pub noise: Option<Tensor>,
}

impl Default for SmoothGradOptions {
    fn default() -> Self {
        SmoothGradOptions {
            samples: 25,
            stdev: None,
            nt_type: NoiseTunnelType::SmoothGrad,
            seed: 0,
            noise: None,
        }
    }
}

/// `ig` (captum's `IntegratedGradients`).
#[derive(Clone, Debug)]
pub struct IgOptions {
    /// Integration steps (captum's `n_steps`).
    pub steps: usize,
    pub method: IgMethod,
    pub baseline: Baseline,
    /// For the uniform baseline.
    pub seed: u64,
}

impl Default for IgOptions {
    fn default() -> Self {
        IgOptions {
            steps: 50,
            method: IgMethod::GaussLegendre,
            baseline: Baseline::Zero,
            seed: 0,
        }
    }
}

/// `occlusion` (captum's `Occlusion`).
#[derive(Clone, Debug)]
pub struct OcclusionOptions {
    /// Window and stride over the input dims (without the batch); `[H, W]` forms cover every
    /// channel.
    pub window: Vec<usize>,
    pub stride: Vec<usize>,
    pub baseline: Baseline,
    /// For the uniform baseline.
    pub seed: u64,
    /// Recompute each layer only over the region a window reaches, from the unoccluded pass's
    /// activations (exact; on where possible: CPU, NCHW). Off, every occluded input runs the
    /// whole network: the reference, for tests and benchmarks.
    pub incremental: bool,
    /// attribution (captum's map), heatmap (probability per window position) or mask (the
    /// input's pixels whose occlusion lowers the probability most).
    pub view: OcclusionView,
    /// `mask`: keep pixels whose probability drop is at least this fraction of the largest
    /// drop, in (0, 1].
    pub threshold: f32,
}

impl Default for OcclusionOptions {
    fn default() -> Self {
        OcclusionOptions {
            window: vec![16, 16],
            stride: vec![8, 8],
            baseline: Baseline::Zero,
            seed: 0,
            incremental: true,
            view: OcclusionView::Attribution,
            threshold: 0.5,
        }
    }
}

/// `scorecam`.
#[derive(Clone, Debug, Default)]
pub struct ScoreCamOptions {
    /// Score only the N most active channels (all by default).
    pub top_channels: Option<usize>,
}

/// `filters`.
#[derive(Clone, Debug, Default)]
pub struct FiltersOptions {
    /// The input channel shown for kernels with other than 3 input channels (or to force one
    /// channel of an RGB kernel).
    pub in_channel: Option<usize>,
}

/// `features`.
#[derive(Clone, Debug)]
pub struct FeaturesOptions {
    /// `top:N` (by mean activation), `first:N`, or a list `i,j,k`.
    pub channels: String,
    /// Several layers, one row each (`--layers`); empty: the request's one layer.
    pub layers: Vec<LayerId>,
}

impl Default for FeaturesOptions {
    fn default() -> Self {
        FeaturesOptions {
            channels: "top:16".into(),
            layers: Vec::new(),
        }
    }
}

/// `actmax`.
#[derive(Clone, Debug)]
pub struct ActMaxOptions {
    pub recipe: Recipe,
    /// Optimization steps (`None`: the recipe's).
    pub steps: Option<usize>,
    /// keras-vis: roll the picture by up to this fraction of each side every step.
    pub jitter: Option<f32>,
    /// The picture's size (rows, columns); `None`: the model's input size.
    pub size: Option<(usize, usize)>,
    pub seed: u64,
    /// How pixels become the model's input (actmax optimizes pixels).
    pub preprocess: Preprocess,
}

impl Default for ActMaxOptions {
    fn default() -> Self {
        ActMaxOptions {
            recipe: Recipe::Lucid,
            steps: None,
            jitter: None,
            size: None,
            seed: 0,
            preprocess: Preprocess::Imagenet,
        }
    }
}

/// The options of one request: its method's, or `Default` for the method's defaults.
#[derive(Clone, Debug, Default)]
pub enum Options {
    #[default]
    Default,
    SmoothGrad(SmoothGradOptions),
    Ig(IgOptions),
    Occlusion(OcclusionOptions),
    ScoreCam(ScoreCamOptions),
    Filters(FiltersOptions),
    Features(FeaturesOptions),
    ActMax(ActMaxOptions),
}

/// A method's options type, picked out of [`Options`].
pub trait MethodOptions: Default + Clone {
    /// The `render` id of the method these options are for.
    const METHOD: &'static str;
    fn pick(options: &Options) -> Option<&Self>;
}

macro_rules! method_options {
    ($($ty:ty => $variant:ident, $id:literal;)*) => {
        $(impl MethodOptions for $ty {
            const METHOD: &'static str = $id;
            fn pick(options: &Options) -> Option<&Self> {
                match options {
                    Options::$variant(o) => Some(o),
                    _ => None,
                }
            }
        })*

        impl Options {
            /// The method these options are for (`None` for the defaults of any method).
            pub fn method(&self) -> Option<&'static str> {
                match self {
                    Options::Default => None,
                    $(Options::$variant(_) => Some($id),)*
                }
            }
        }
    };
}

method_options! {
    SmoothGradOptions => SmoothGrad, "smoothgrad";
    IgOptions => Ig, "ig";
    OcclusionOptions => Occlusion, "occlusion";
    ScoreCamOptions => ScoreCam, "scorecam";
    FiltersOptions => Filters, "filters";
    FeaturesOptions => Features, "features";
    ActMaxOptions => ActMax, "actmax";
}

impl Options {
    /// The options of type `T`: these, or `T`'s defaults when the request gave none.
    pub fn get<T: MethodOptions>(&self) -> Result<T> {
        match (self, T::pick(self)) {
            (_, Some(o)) => Ok(o.clone()),
            (Options::Default, None) => Ok(T::default()),
            (other, None) => Err(mismatch(other, T::METHOD)),
        }
    }

    /// Refuses options meant for another method than `id`.
    pub fn check_for(&self, id: &str) -> Result<()> {
        match self.method() {
            Some(m) if m != id => Err(mismatch(self, id)),
            _ => Ok(()),
        }
    }
}

fn mismatch(options: &Options, id: &str) -> Error {
    Error::Usage(format!(
        "the options given are {}'s, not {id}'s",
        options.method().unwrap_or("the defaults")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_gets_its_own_options_or_its_defaults() {
        let ig = Options::Ig(IgOptions {
            steps: 8,
            ..IgOptions::default()
        });
        assert_eq!(ig.get::<IgOptions>().unwrap().steps, 8);
        assert_eq!(Options::Default.get::<IgOptions>().unwrap().steps, 50);
        assert!(ig.check_for("ig").is_ok() && Options::Default.check_for("gradcam").is_ok());
        let e = ig.get::<SmoothGradOptions>().unwrap_err().to_string();
        assert_eq!(e, "the options given are ig's, not smoothgrad's");
        assert!(ig.check_for("occlusion").is_err());
    }
}
