//! What every method receives: the model, the executor, the prepared input, the target class,
//! the layer (for layer methods) and the knobs. Also what most methods share: the clean input's
//! forward pass (computed once) and the gradient of the objective with respect to inputs.

use std::sync::Arc;

use candle_core::Tensor;

use super::actmax::Recipe;
use super::control::Control;
use super::objective::{input_of, Objective};
use super::occlusion::OcclusionView;
use crate::error::{Error, Result};
use crate::exec::{Activations, Executor, NoHook, Params, ReluRule};
use crate::input::preprocess::Preprocess;
use crate::model::{Graph, LayerId};

/// Method options (`render`'s knobs). Defaults follow the reference implementations.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// SmoothGrad samples (captum's `nt_samples`).
    pub samples: usize,
    /// SmoothGrad noise standard deviation in input space; `None` = 0.15 × (max − min) of the
    /// prepared input.
    pub stdev: Option<f32>,
    pub nt_type: NoiseTunnelType,
    /// Integrated-gradients steps (default 50) or activation-maximization steps (default: the
    /// recipe's).
    pub steps: Option<usize>,
    pub ig_method: IgMethod,
    pub baseline: Baseline,
    /// Inputs per batched forward/backward pass for the multi-evaluation methods.
    pub batch: usize,
    pub seed: u64,
    /// Occlusion window and stride over the input dims (without the batch); `[H, W]` forms
    /// cover every channel.
    pub window: Vec<usize>,
    pub stride: Vec<usize>,
    /// occlusion: recompute each layer only over the region a window reaches, from the
    /// unoccluded pass's activations (exact; on by default where possible: CPU, NCHW). Off,
    /// every occluded input runs the whole network: the reference, for tests and benchmarks.
    pub incremental: bool,
    /// occlusion: attribution (captum's map), heatmap (probability per window position) or
    /// mask (the input's pixels whose occlusion lowers the probability most).
    pub view: OcclusionView,
    /// occlusion `mask`: keep pixels whose probability drop is at least this fraction of the
    /// largest drop, in (0, 1].
    pub threshold: f32,
    /// filters: the input channel shown for kernels with other than 3 input channels (or to
    /// force one channel of an RGB kernel).
    pub in_channel: Option<usize>,
    /// scorecam: score only the N most active channels.
    pub top_channels: Option<usize>,
    /// features: `top:N` (by mean activation), `first:N`, or a list `i,j,k`.
    pub channels: String,
    /// features: several layers, one row each (`--layers`); empty: the method's one layer.
    pub layers: Vec<LayerId>,
    /// Noise to use instead of drawing it, `[samples, ...input dims]` (tests inject the
    /// reference's own noise through this).
    pub noise: Option<Tensor>,
    /// actmax: the recipe, the keras-vis jitter and the picture size (rows, columns); what it
    /// maximizes is the objective.
    pub recipe: Recipe,
    pub jitter: Option<f32>,
    pub size: Option<(usize, usize)>,
    /// How pixels become the model's input (actmax optimizes pixels).
    pub preprocess: Preprocess,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            samples: 25,
            stdev: None,
            nt_type: NoiseTunnelType::SmoothGrad,
            steps: None,
            ig_method: IgMethod::GaussLegendre,
            baseline: Baseline::Zero,
            batch: 10,
            seed: 0,
            in_channel: None,
            top_channels: None,
            channels: "top:16".into(),
            layers: Vec::new(),
            window: vec![16, 16],
            stride: vec![8, 8],
            incremental: true,
            view: OcclusionView::Attribution,
            threshold: 0.5,
            noise: None,
            recipe: Recipe::Lucid,
            jitter: None,
            size: None,
            preprocess: Preprocess::Imagenet,
        }
    }
}

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

pub struct Cx<'a> {
    pub graph: &'a Graph,
    pub exec: Executor<'a>,
    /// The prepared input, batch 1, in the model's layout.
    pub input: Tensor,
    /// What is explained (or maximized): a class's raw score by default.
    pub objective: Objective,
    /// The layer for layer methods (CAMs).
    pub layer: Option<LayerId>,
    pub knobs: Knobs,
    /// Progress reports and cancellation for the long methods.
    pub control: Control,
    /// Every layer's output for `input`: the one forward pass of the clean input, computed on
    /// first use and shared by everything that reads it (the caller may hand one in).
    pub clean: Option<Arc<Activations>>,
}

impl<'a> Cx<'a> {
    /// Explains `objective` for `input` (batch 1) with the default knobs, no layer, no progress
    /// reports; the executor stops when `control`'s token is set.
    pub fn new(
        graph: &'a Graph,
        params: &'a Params,
        input: Tensor,
        objective: Objective,
        control: Control,
    ) -> Cx<'a> {
        Cx {
            graph,
            exec: Executor::new(graph, params).with_cancel(control.cancel.clone()),
            input,
            objective,
            layer: None,
            knobs: Knobs::default(),
            control,
            clean: None,
        }
    }

    /// The clean input's forward pass: the one handed in or computed before, else now.
    pub fn clean_pass(&mut self) -> Result<Arc<Activations>> {
        if let Some(acts) = &self.clean {
            return Ok(acts.clone());
        }
        let acts = Arc::new(self.exec.forward(&self.input, &mut NoHook)?);
        self.clean = Some(acts.clone());
        Ok(acts)
    }

    /// d(objective)/d(input) for the clean input, from its cached forward pass.
    pub fn clean_input_gradient(&mut self, rule: ReluRule) -> Result<Tensor> {
        let acts = self.clean_pass()?;
        let input = self.graph.inputs[0];
        let grads = self
            .objective
            .gradients(&self.exec, &acts, rule, &[input])?;
        input_of(&self.exec, &grads)
    }

    /// d(objective summed over the batch)/d(inputs) for a batch of inputs, with the given rule
    /// for ReLU-family layers.
    pub fn input_gradient(&self, inputs: &Tensor, rule: ReluRule) -> Result<Tensor> {
        Ok(self
            .objective
            .input_gradient_with(&self.exec, inputs, rule)?
            .1)
    }

    /// The objective (the target's raw score) for each input of a batch.
    pub fn target_scores(&self, inputs: &Tensor) -> Result<Vec<f32>> {
        self.objective.evaluate(&self.exec, inputs)
    }

    /// The class explained, for methods that report its probability (occlusion's views).
    pub fn target_class(&self, method: &str) -> Result<(LayerId, usize)> {
        match self.objective {
            Objective::Class { scores, class } => Ok((scores, class)),
            _ => Err(Error::Usage(format!(
                "{method} explains one class's probability; its objective cannot be {}",
                self.objective.describe(self.graph)
            ))),
        }
    }

    /// The layer a layer method works on (resolved by the caller).
    pub fn layer(&self) -> Result<LayerId> {
        self.layer
            .ok_or_else(|| Error::Usage("this method needs a layer (--layer NAME)".into()))
    }
}

/// Tensor (batch 1) to a host attribution artifact with the batch dim dropped.
pub fn attribution(t: &Tensor) -> Result<super::Artifact> {
    Ok(super::Artifact::Attribution {
        shape: t.dims()[1..].to_vec(),
        data: t.flatten_all()?.to_vec1()?,
    })
}
