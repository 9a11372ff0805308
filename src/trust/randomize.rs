//! Sanity checks by model-parameter randomization (Adebayo et al., "Sanity Checks for
//! Saliency Maps", NeurIPS 2018): a map that explains the model must change when the model's
//! weights are destroyed. Each parameterized layer (one with trainable weights), top layer
//! first, is re-initialized with a seeded draw and the map recomputed for the same input and
//! class; it is compared with the original map by Spearman's ρ of |map| and of the signed map
//! (summed over channels at the input's size) and by SSIM of |map| scaled to [0, 1].
//!
//! - **Cascading**: step k has the top k layers randomized (Adebayo's main figure; Quantus's
//!   `MPRT` in its default top-down order).
//! - **Independent**: step k has only the k-th layer from the top randomized.
//!
//! The draw is each layer's PyTorch default initialization: kernels and biases uniform in
//! ±1/√fan_in (Conv2d, ConvTranspose2d and Linear's `kaiming_uniform_(a=√5)`), normalization
//! scales 1 and shifts 0, running means 0 and variances 1, PReLU slopes 0.25; a learned
//! element-wise operand (a layer scale), which has no default, uniform in ±1. The generator is
//! seeded by the seed and the layer's name, so a layer gets the same draw in every step and
//! every run. The weights are never changed in place: each step runs on a copy that shares
//! every layer it does not randomize ([`crate::exec::Params::with_layers`]).

use std::sync::Arc;

use super::ranking::{pixel_values, Sign};
use super::similarity::{spearman, ssim};
use crate::engine::{explain, Request, Session, Subject};
use crate::error::{Error, Result};
use crate::exec::Params;
use crate::imaging::heatmap::{normalize, Heatmap};
use crate::input::preprocess::InputSpec;
use crate::input::Input;
use crate::methods::{Artifact, Control};
use crate::model::build::{fnv1a, Rng};
use crate::model::{Graph, Layer, LayerId, LayerKind, ParamCount, Weight, WeightRole};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Cascading,
    Independent,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Cascading => "cascading",
            Order::Independent => "independent",
        }
    }
}

/// One step: which layer was (last) randomized, and how alike the new map is to the original.
#[derive(Clone, Debug)]
pub struct Step {
    pub layer: LayerId,
    /// Spearman's ρ of |map| and of the signed map (`None` where the new map is constant).
    pub spearman_abs: Option<f32>,
    pub spearman_signed: Option<f32>,
    /// SSIM of |map| scaled to [0, 1] (`None` for a map smaller than 7×7).
    pub ssim: Option<f32>,
    /// |map| scaled to [0, 1], at the input's size: the picture of this step.
    pub map: Vec<f32>,
}

#[derive(Clone, Debug)]
pub struct Check {
    pub order: Order,
    /// The size of the maps (the input's, unless [`Check::shrink`] made them smaller).
    pub height: usize,
    pub width: usize,
    /// The original |map| scaled to [0, 1].
    pub original: Vec<f32>,
    pub steps: Vec<Step>,
}

/// The layers with trainable weights, top (nearest the output) first.
pub fn parameterized(graph: &Graph) -> Vec<LayerId> {
    (0..graph.layers.len())
        .rev()
        .map(LayerId)
        .filter(|&id| {
            graph
                .layer(id)
                .weights
                .iter()
                .any(|w| w.count == ParamCount::Trainable && w.role != WeightRole::Constant)
        })
        .collect()
}

/// How a check runs: the seed of its draws, its progress and cancel, and who sees each step.
pub struct Run<'a> {
    pub seed: u64,
    pub control: &'a Control,
    /// Called after each step with the check so far (the interface draws its strip live).
    pub observer: &'a dyn Fn(&Check),
}

/// Runs the check: `request()` makes the request of the map checked (the same method, layer
/// and class every time), `original` is its artifact for the model as loaded, `layers` the
/// layers to randomize in order (top first).
pub fn check(
    session: &Session,
    input: &Arc<Input>,
    request: &dyn Fn() -> Request,
    original: &Artifact,
    layers: &[LayerId],
    order: Order,
    run: &Run,
) -> Result<Check> {
    let (seed, control) = (run.seed, run.control);
    if layers.is_empty() {
        return Err(Error::Usage(
            "the model has no layer with trainable weights, so there is nothing to randomize"
                .into(),
        ));
    }
    let graph = &session.graph;
    let spec = InputSpec::from_input_shape(&graph.layer(graph.inputs[0]).out_shape)?;
    let (h, w) = (spec.height, spec.width);
    let values = |a: &Artifact, sign| pixel_values(a, &spec, sign, "the map");
    let (orig_abs, orig_signed) = (
        values(original, Sign::Abs)?,
        values(original, Sign::Signed)?,
    );
    let mut result = Check {
        order,
        height: h,
        width: w,
        original: normalize(&orig_abs),
        steps: Vec::with_capacity(layers.len()),
    };
    let mut cascade: Option<Params> = None;
    for (k, &layer) in layers.iter().enumerate() {
        control.step(k, layers.len(), "layers randomized")?;
        let from = match (order, &cascade) {
            (Order::Cascading, Some(p)) => p,
            _ => &session.params,
        };
        let weights = redraw(graph.layer(layer), seed)?;
        let params = from.with_layers(graph, vec![(layer, weights)], &session.device)?;
        let randomized = session.with_params(params);
        // One map is all this subject serves: its clean pass keeps only what that map reads.
        let asked = request();
        let subject = Subject::new(&randomized, input.clone())?.for_map(
            &randomized.graph,
            asked.method,
            asked.layer,
        );
        let inner = Control {
            cancel: control.cancel.clone(),
            progress: None,
        };
        let map = explain(&randomized, &subject, asked, inner)?
            .output
            .artifact;
        let (abs, signed) = (values(&map, Sign::Abs)?, values(&map, Sign::Signed)?);
        let scaled = normalize(&abs);
        result.steps.push(Step {
            layer,
            spearman_abs: spearman(&orig_abs, &abs),
            spearman_signed: spearman(&orig_signed, &signed),
            ssim: ssim(&result.original, &scaled, h, w),
            map: scaled,
        });
        (run.observer)(&result);
        if order == Order::Cascading {
            cascade = Some(randomized.params);
        }
    }
    control.step(layers.len(), layers.len(), "layers randomized")?;
    Ok(result)
}

impl Check {
    /// Brings the maps down to at most `side` pixels a side (bilinear), keeping the figures:
    /// what a strip of `side`-pixel tiles needs, at a fraction of the memory (107 maps of
    /// 224² are 21 MB; of 96², 4 MB).
    pub fn shrink(&mut self, side: usize) {
        let original = self.shrunk_map(&self.original, side);
        let maps: Vec<Vec<f32>> = self
            .steps
            .iter()
            .map(|step| self.shrunk_map(&step.map, side))
            .collect();
        for (step, map) in self.steps.iter_mut().zip(maps) {
            step.map = map;
        }
        self.original = original;
        (self.height, self.width) = self.shrunk_size(side);
    }

    /// The maps' size brought to at most `side` pixels a side, the aspect kept (unchanged if
    /// it fits).
    pub fn shrunk_size(&self, side: usize) -> (usize, usize) {
        let (h, w) = (self.height, self.width);
        let longest = h.max(w);
        if longest <= side || side == 0 {
            return (h, w);
        }
        let scale = |n: usize| (n * side).div_ceil(longest).max(1);
        (scale(h), scale(w))
    }

    /// One of this check's maps (the original or a step's) at [`Check::shrunk_size`]
    /// (bilinear).
    pub fn shrunk_map(&self, map: &[f32], side: usize) -> Vec<f32> {
        let (h, w) = (self.height, self.width);
        let (th, tw) = self.shrunk_size(side);
        if (th, tw) == (h, w) {
            return map.to_vec();
        }
        Heatmap::new(h, w, map.to_vec())
            .resize_bilinear(th, tw)
            .data
    }
}

/// A layer's weights drawn afresh as the module's comment says, in the graph's layout.
pub fn redraw(layer: &Layer, seed: u64) -> Result<Vec<Weight>> {
    let mut rng = Rng::new(seed ^ fnv1a(layer.name.as_bytes()));
    let bound = 1.0 / (fan_in(layer) as f32).sqrt();
    layer
        .weights
        .iter()
        .map(|w| {
            let n: usize = w.shape.iter().product();
            let fill = |v: f32| vec![v; n];
            let data = match w.role {
                WeightRole::Kernel | WeightRole::Bias => {
                    (0..n).map(|_| rng.uniform(-bound, bound)).collect()
                }
                WeightRole::Gamma | WeightRole::MovingVariance => fill(1.0),
                WeightRole::Beta | WeightRole::MovingMean => fill(0.0),
                WeightRole::Slope => fill(0.25),
                WeightRole::Operand => (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect(),
                WeightRole::Constant => w.load()?.data.clone(),
            };
            Ok(Weight::loaded(
                w.name.clone(),
                w.role,
                &w.shape,
                data,
                w.count,
            ))
        })
        .collect()
}

/// What PyTorch's default initialization divides by: the inputs each output sums.
fn fan_in(layer: &Layer) -> usize {
    let fan = match &layer.kind {
        LayerKind::Conv2d(c) => {
            c.in_channels / c.groups.max(1) * c.window.kernel.iter().product::<usize>()
        }
        LayerKind::ConvTranspose2d(c) => c.filters * c.window.kernel.iter().product::<usize>(),
        LayerKind::Linear(l) => l.in_features,
        _ => layer
            .weights
            .iter()
            .find(|w| w.role == WeightRole::Kernel)
            .map_or(1, |w| w.shape.iter().skip(1).product()),
    };
    fan.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_keeps_the_figures_and_the_aspect() {
        let step = Step {
            layer: LayerId(3),
            spearman_abs: Some(0.5),
            spearman_signed: Some(0.25),
            ssim: Some(0.1),
            map: vec![1.0; 8 * 4],
        };
        let mut check = Check {
            order: Order::Cascading,
            height: 8,
            width: 4,
            original: (0..32).map(|i| i as f32).collect(),
            steps: vec![step],
        };
        check.shrink(16);
        assert_eq!(
            (check.height, check.width, check.original.len()),
            (8, 4, 32)
        );
        check.shrink(4);
        assert_eq!((check.height, check.width), (4, 2));
        assert_eq!((check.original.len(), check.steps[0].map.len()), (8, 8));
        assert!(check.steps[0].map.iter().all(|&v| (v - 1.0).abs() < 1e-6));
        assert_eq!(check.steps[0].spearman_abs, Some(0.5));
        // Rows stay ordered as they were: the first row's values are below the last's.
        assert!(check.original[0] < check.original[7]);
    }
}
