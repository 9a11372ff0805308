//! What every method receives: the model, the executor, the prepared input, the target class,
//! the layer (for layer methods) and the method's options. Also what most methods share: the clean input's
//! forward pass (computed once) and the gradient of the objective with respect to inputs.

use std::sync::Arc;

use candle_core::Tensor;

use super::control::Control;
use super::objective::{input_of, Objective};
use super::options::{MethodOptions, Options};
use crate::error::{Error, Result};
use crate::exec::{Activations, Executor, Gradients, NoHook, Params, ReluRule};
use crate::model::{Graph, LayerId};

/// A reverse pass shared by the inputs of a batch: several inputs explained in one forward and
/// one reverse pass (the engine's stacked explanations). It returns one input's share.
pub trait SharedGradients: Sync {
    /// The gradients of input `row`'s objective at `keep` under `rule`, from the reverse pass
    /// of the whole batch (run on first use for this rule and these layers, then reused).
    fn row_gradients(
        &self,
        exec: &Executor<'_>,
        rule: ReluRule,
        keep: &[LayerId],
        row: usize,
    ) -> Result<Gradients>;
}

/// This input's place in a batch whose reverse passes are shared.
#[derive(Clone, Copy)]
pub struct Shared<'a> {
    pub pass: &'a dyn SharedGradients,
    pub row: usize,
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
    /// The method's options (its own type, or `Default` for its defaults).
    pub options: Options,
    /// Inputs per batched pass, for the methods that batch.
    pub batch: usize,
    /// Progress reports and cancellation for the long methods.
    pub control: Control,
    /// Every layer's output for `input`: the one forward pass of the clean input, computed on
    /// first use and shared by everything that reads it (the caller may hand one in).
    pub clean: Option<Arc<Activations>>,
    /// Set when this input is one of a batch explained together: its gradients of the clean
    /// input come from the batch's reverse pass (its clean pass is then its row of the batch's).
    pub shared: Option<Shared<'a>>,
}

impl<'a> Cx<'a> {
    /// Explains `objective` for `input` (batch 1) with the method's default options, batches
    /// of 10, no layer; the executor stops when `control`'s token is set.
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
            options: Options::Default,
            batch: 10,
            control,
            clean: None,
            shared: None,
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

    /// The gradients of the objective for the clean input at `keep` under `rule`: the one
    /// reverse pass from its cached forward pass, or its share of its batch's.
    pub fn clean_gradients(&mut self, rule: ReluRule, keep: &[LayerId]) -> Result<Gradients> {
        if let Some(shared) = self.shared {
            return shared
                .pass
                .row_gradients(&self.exec, rule, keep, shared.row);
        }
        let acts = self.clean_pass()?;
        self.objective.gradients(&self.exec, &acts, rule, keep)
    }

    /// d(objective)/d(input) for the clean input, from its cached forward pass.
    pub fn clean_input_gradient(&mut self, rule: ReluRule) -> Result<Tensor> {
        let grads = self.clean_gradients(rule, &[self.graph.inputs[0]])?;
        input_of(&self.exec, &grads)
    }

    /// d(objective summed over the batch)/d(inputs) for a batch of inputs, with the given rule
    /// for ReLU-family layers.
    pub fn input_gradient(&self, inputs: &Tensor, rule: ReluRule) -> Result<Tensor> {
        self.objective.input_gradient_with(&self.exec, inputs, rule)
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

    /// This method's options (`T` is its options type).
    pub fn options<T: MethodOptions>(&self) -> Result<T> {
        self.options.get()
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
