//! What we COMPUTE: one file per method behind one trait, a shared CAM pipeline, target
//! resolution, and input preparation.

pub mod actmax;
pub mod artifact;
mod blur;
pub mod cam;
pub mod context;
pub mod control;
mod deconvnet;
mod deprocess;
mod features;
pub mod filters;
mod gradcam;
mod gradcampp;
mod guided;
mod guided_gradcam;
mod hirescam;
mod ig;
pub mod input;
mod inputxgrad;
mod layercam;
mod occlusion;
pub mod preprocess;
mod saliency;
mod scorecam;
mod smoothgrad;
pub mod target;
mod xgradcam;

pub use artifact::{Artifact, Output, Row, Tile};
pub use context::{Baseline, Cx, IgMethod, Knobs, NoiseTunnelType};
pub use control::{CancelToken, Control, Progress};
pub use ig::{gauss_legendre, quadrature};
pub use occlusion::OcclusionView;

use crate::error::{Error, Result};

/// What a method is and what it needs.
#[derive(Clone, Copy, Debug)]
pub struct MethodInfo {
    /// The `render` METHOD id.
    pub id: &'static str,
    pub name: &'static str,
    /// What kind of layer (`--layer`) it works on, if any.
    pub layer: LayerNeed,
}

/// The layer a method works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerNeed {
    None,
    /// A layer with an NCHW output of spatial size > 1 (CAMs, feature maps); default: the last.
    SpatialMap,
    /// A convolution, for its kernels; default: the first.
    Kernel,
    /// Any layer, only when `--layer` is given (activation maximization of a channel/neuron).
    Optional,
}

pub trait Method: Sync {
    fn info(&self) -> MethodInfo;
    fn run(&self, cx: &mut Cx<'_>) -> Result<Output>;
    /// Whether the method explains an input (all but activation maximization, which makes one).
    fn needs_input(&self) -> bool {
        true
    }
}

/// Every method, in the order `--help` lists them.
pub fn all() -> Vec<&'static dyn Method> {
    vec![
        &saliency::Saliency,
        &guided::Guided,
        &deconvnet::Deconvnet,
        &inputxgrad::InputXGradient,
        &smoothgrad::SmoothGrad,
        &ig::IntegratedGradients,
        &gradcam::GradCam,
        &gradcampp::GradCamPlusPlus,
        &hirescam::HiResCam,
        &xgradcam::XGradCam,
        &layercam::LayerCam,
        &guided_gradcam::GuidedGradCam,
        &scorecam::ScoreCam,
        &occlusion::Occlusion,
        &filters::Filters,
        &features::Features,
        &actmax::ActMax,
    ]
}

/// A batch size for the multi-evaluation methods that keeps a batched pass's activations and
/// gradients (every layer's output is kept for the reverse pass: about twice the sum of the
/// output sizes per input) within `budget` bytes; at least 1, at most 64 (larger batches stop
/// paying on CPUs).
pub fn batch_for(graph: &crate::model::Graph, budget: usize) -> usize {
    let per_input: usize = graph
        .layers
        .iter()
        .map(|l| l.out_shape.iter().skip(1).product::<usize>())
        .sum::<usize>()
        * std::mem::size_of::<f32>()
        * 2;
    (budget / per_input.max(1)).clamp(1, 64)
}

/// The memory `render` sizes batches to.
pub const BATCH_BUDGET: usize = 2 << 30;

pub fn ids() -> Vec<&'static str> {
    all().iter().map(|m| m.info().id).collect()
}

pub fn by_id(id: &str) -> Result<&'static dyn Method> {
    all()
        .into_iter()
        .find(|m| m.info().id == id)
        .ok_or_else(|| {
            Error::Usage(format!(
                "unknown method '{id}'; methods: {}",
                ids().join(", ")
            ))
        })
}
