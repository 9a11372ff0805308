//! What we COMPUTE: one file per method behind one trait, a shared CAM pipeline, target
//! resolution, and input preparation.

pub mod actmax;
pub mod artifact;
mod blur;
pub mod cam;
pub mod context;
pub mod control;
mod deconvnet;
mod features;
pub mod filters;
mod gradcam;
mod gradcampp;
mod guided;
mod guided_gradcam;
mod hirescam;
mod ig;
mod inputxgrad;
mod layercam;
pub mod objective;
mod occlusion;
mod saliency;
mod scorecam;
mod smoothgrad;
pub mod target;
mod xgradcam;

pub use artifact::{Artifact, Output, Row, Tile};
pub use context::{Baseline, Cx, IgMethod, Knobs, NoiseTunnelType};
pub use control::{CancelToken, Control, Progress};
pub use ig::{gauss_legendre, quadrature};
pub use objective::Objective;
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
    /// Whether it evaluates the network in batches (of `Knobs::batch` inputs), which its report
    /// states.
    fn batched(&self) -> bool {
        false
    }
    /// Whether its attribution reads best drawn over the input, as CAMs are (occlusion's
    /// blocky windows), rather than on its own.
    fn overlays_attribution(&self) -> bool {
        false
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

/// Bytes one input of a batched pass holds: every layer's output is kept for the reverse pass,
/// and its gradient flows back through the same sizes (about twice the sum of the output
/// sizes).
fn bytes_per_input(graph: &crate::model::Graph) -> usize {
    graph
        .layers
        .iter()
        .map(|l| l.out_shape.iter().skip(1).product::<usize>())
        .sum::<usize>()
        .saturating_mul(std::mem::size_of::<f32>() * 2)
        .max(1)
}

/// A batch size for the multi-evaluation methods that keeps a batched pass's activations and
/// gradients within `budget` bytes; at least 1, at most 64 (larger batches stop paying on
/// CPUs).
pub fn batch_for(graph: &crate::model::Graph, budget: usize) -> usize {
    (budget / bytes_per_input(graph)).clamp(1, 64)
}

/// The memory batches are sized to: at most [`BATCH_BUDGET`], and at most half of what the
/// process can still allocate (`exec::memory::available`: the machine's available memory, the
/// container's limit, `ulimit -v`), leaving the rest for the weights' working copies and the
/// outputs.
pub fn batch_budget() -> usize {
    let available = crate::exec::memory::available().map_or(u64::MAX, |a| a / 2);
    (BATCH_BUDGET as u64).min(available) as usize
}

/// Refuses a batch size given by the user that cannot fit in the memory the process has left,
/// before anything is allocated for it.
pub fn check_batch(graph: &crate::model::Graph, batch: usize) -> Result<()> {
    let Some(available) = crate::exec::memory::available() else {
        return Ok(());
    };
    let need = (bytes_per_input(graph) as u64).saturating_mul(batch as u64);
    if need <= available {
        return Ok(());
    }
    let fits = (available / bytes_per_input(graph) as u64).max(1);
    Err(Error::Usage(format!(
        "--batch {batch} needs about {} MB for this model's activations and gradients, but \
         about {} MB are available; use --batch {fits} or less",
        need >> 20,
        available >> 20
    )))
}

/// The most noisy samples SmoothGrad averages (the paper uses 50): a count is bounded before
/// anything is drawn for it.
pub const MAX_SAMPLES: usize = 100_000;

/// The most steps integrated gradients and activation maximization take. Gauss–Legendre nodes
/// cost O(steps²) to find: 10,000 take about a second.
pub const MAX_STEPS: usize = 10_000;

/// Refuses a count past its bound with the option's name.
pub fn check_count(option: &str, n: usize, max: usize) -> Result<()> {
    if n > max {
        return Err(Error::Usage(format!(
            "--{option} {n} is more than convscope takes ({max}); use a smaller count"
        )));
    }
    Ok(())
}

/// The most memory batches are sized to, however much is free.
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
