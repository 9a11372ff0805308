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
pub mod options;
pub mod registry;
mod saliency;
mod scorecam;
mod smoothgrad;
pub mod target;
mod xgradcam;

pub use artifact::{Artifact, Output, Row, Tile};
pub use context::{Cx, Shared, SharedGradients};
pub use control::{CancelToken, Control, Progress};
pub use ig::{gauss_legendre, quadrature};
pub use objective::Objective;
pub use occlusion::OcclusionView;
pub use options::{
    ActMaxOptions, Baseline, FeaturesOptions, FiltersOptions, IgMethod, IgOptions, NoiseTunnelType,
    OcclusionOptions, Options, ScoreCamOptions, SmoothGradOptions,
};
pub use registry::{
    all, by_id, check_options, ids, stackable_ids, Family, LayerNeed, MethodInfo, Opt, Picture, Tab,
};

use crate::error::{Error, Result};

pub trait Method: Sync {
    /// Its registry entry.
    fn info(&self) -> MethodInfo;
    fn run(&self, cx: &mut Cx<'_>) -> Result<Output>;
}

/// Bytes one input of a batched pass holds at most: a full pass keeps every layer's output for
/// the reverse pass (a pass for gradients, a third to a half of them), and its gradient flows
/// back through the same sizes (about twice the sum of the output sizes). Kept as the bound,
/// so that batch sizes, and with them the maps' float sums, stay as they were.
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
    check_inputs_fit(graph, batch, "--batch")
}

/// Refuses `flag N` when N inputs' activations and gradients do not fit in the memory
/// available.
pub fn check_inputs_fit(graph: &crate::model::Graph, batch: usize, flag: &str) -> Result<()> {
    let Some(available) = crate::exec::memory::available() else {
        return Ok(());
    };
    let need = (bytes_per_input(graph) as u64).saturating_mul(batch as u64);
    if need <= available {
        return Ok(());
    }
    let fits = (available / bytes_per_input(graph) as u64).max(1);
    Err(Error::Usage(format!(
        "{flag} {batch} needs about {} MB for this model's activations and gradients, but \
         about {} MB are available; use {flag} {fits} or less",
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
