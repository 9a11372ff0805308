//! What a map explains, or activation maximization maximizes: one abstraction, as
//! pytorch-grad-cam's targets are, used by the gradient methods, the CAMs, occlusion, Score-CAM,
//! integrated gradients and activation maximization alike.
//!
//! - a class's raw score at the scores layer (the default; softmax swapped for linear, as
//!   keras-vis does);
//! - the sum of several classes' raw scores (pytorch-grad-cam's list of `ClassifierOutputTarget`s
//!   summed);
//! - the mean over positions of one channel of an NCHW layer (lucid's `channel`);
//! - one unit of a `[N, units]` layer (a neuron of a dense layer).
//!
//! For a batch, the objective is summed over the batch (each input's gradient is its own).
//! [`Objective::gradients`] is the one place that turns an objective into gradients: seed the
//! reverse pass with d(objective)/d(layer output) and run it.

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::exec::{Activations, Executor, Gradients, ReluRule};
use crate::model::{Graph, LayerId};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Objective {
    /// The raw score of a class at the scores layer.
    Class { scores: LayerId, class: usize },
    /// The sum of the raw scores of several classes (at least one, each once).
    Classes {
        scores: LayerId,
        classes: Vec<usize>,
    },
    /// The mean over positions of channel `channel` of an NCHW layer output.
    Channel { layer: LayerId, channel: usize },
    /// Unit `unit` of a `[N, units]` layer output.
    Neuron { layer: LayerId, unit: usize },
}

impl Objective {
    /// Channel `k` of `layer` (`--channel K`), checked against the layer's output.
    pub fn channel(graph: &Graph, layer: LayerId, k: usize) -> Result<Objective> {
        check_unit(
            graph,
            layer,
            "channel",
            k,
            4,
            "not a feature map; use --neuron K for dense layers",
        )?;
        Ok(Objective::Channel { layer, channel: k })
    }

    /// Unit `k` of the dense `layer` (`--neuron K`), checked against the layer's output.
    pub fn neuron(graph: &Graph, layer: LayerId, k: usize) -> Result<Objective> {
        check_unit(
            graph,
            layer,
            "neuron",
            k,
            2,
            "not [batch, units]; use --channel K for feature maps",
        )?;
        Ok(Objective::Neuron { layer, unit: k })
    }

    /// The sum of `classes`' scores (one class: that class's score).
    pub fn classes(scores: LayerId, mut classes: Vec<usize>) -> Result<Objective> {
        classes.sort_unstable();
        classes.dedup();
        match classes[..] {
            [] => Err(Error::Usage("the objective names no class".into())),
            [class] => Ok(Objective::Class { scores, class }),
            _ => Ok(Objective::Classes { scores, classes }),
        }
    }

    /// The class, when the objective is one class's score (what probabilities are reported
    /// for).
    pub fn class(&self) -> Option<usize> {
        match *self {
            Objective::Class { class, .. } => Some(class),
            _ => None,
        }
    }

    /// `class 3`, `classes 3+5`, `channel 5 of block2_conv1`, …
    pub fn describe(&self, graph: &Graph) -> String {
        match self {
            Objective::Class { class, .. } => format!("class {class}"),
            Objective::Classes { classes, .. } => {
                let list: Vec<String> = classes.iter().map(usize::to_string).collect();
                format!("classes {}", list.join("+"))
            }
            Objective::Channel { layer, channel } => {
                format!("channel {channel} of {}", graph.layer(*layer).name)
            }
            Objective::Neuron { layer, unit } => {
                format!("neuron {unit} of {}", graph.layer(*layer).name)
            }
        }
    }

    /// The layer whose output the objective reads.
    pub fn layer(&self) -> LayerId {
        match *self {
            Objective::Class { scores, .. } | Objective::Classes { scores, .. } => scores,
            Objective::Channel { layer, .. } | Objective::Neuron { layer, .. } => layer,
        }
    }

    /// The objective for each input of a batch, from the output of [`Self::layer`].
    pub fn values(&self, out: &Tensor) -> Result<Vec<f32>> {
        self.check_output(out.dims())?;
        let per_input = match self {
            Objective::Class { class: k, .. } | Objective::Neuron { unit: k, .. } => {
                out.narrow(1, *k, 1)?.flatten_all()?
            }
            Objective::Classes { classes, .. } => {
                let index = Tensor::from_vec(
                    classes.iter().map(|&c| c as u32).collect::<Vec<_>>(),
                    classes.len(),
                    out.device(),
                )?;
                out.index_select(&index, 1)?.sum(1)?
            }
            Objective::Channel { channel, .. } => {
                out.narrow(1, *channel, 1)?.flatten_from(1)?.mean(1)?
            }
        };
        Ok(per_input.to_vec1()?)
    }

    /// The objective for each input of a batch: a forward pass to [`Self::layer`] only.
    pub fn evaluate(&self, exec: &Executor<'_>, inputs: &Tensor) -> Result<Vec<f32>> {
        self.values(&exec.output(inputs, self.layer())?)
    }

    /// d(objective summed over the batch)/d(output of [`Self::layer`]).
    pub fn seed(&self, out: &Tensor) -> Result<Tensor> {
        let dims = out.dims();
        self.check_output(dims)?;
        let (n, c) = (dims[0], dims[1]);
        let plane: usize = dims[2..].iter().product();
        let mut data = vec![0f32; out.elem_count()];
        let (units, weight): (Vec<usize>, f32) = match self {
            Objective::Class { class: k, .. } | Objective::Neuron { unit: k, .. } => {
                (vec![*k], 1.0)
            }
            Objective::Classes { classes, .. } => (classes.clone(), 1.0),
            Objective::Channel { channel, .. } => (vec![*channel], 1.0 / plane as f32),
        };
        for b in 0..n {
            for &u in &units {
                let at = (b * c + u) * plane;
                data[at..at + plane].fill(weight);
            }
        }
        Ok(Tensor::from_vec(data, dims, out.device())?)
    }

    /// The one reverse pass of the objective: from the activations of a forward pass, the
    /// gradients at `keep` (the model input, a CAM's layer, …) under `rule`.
    pub fn gradients(
        &self,
        exec: &Executor<'_>,
        acts: &Activations,
        rule: ReluRule,
        keep: &[LayerId],
    ) -> Result<Gradients> {
        let seed = self.seed(acts.get(self.layer()))?;
        exec.backward_to(acts, self.layer(), seed, rule, keep)
    }

    /// Forward, seed, backward: d(objective summed over the batch)/d(inputs) under `rule`.
    /// The forward pass keeps only what the reverse pass reads and the objective's layer, and
    /// the reverse pass frees it as it goes. The scores stay on the device (no copy to the host
    /// per batch, which SmoothGrad's and IG's many batches would pay on a GPU).
    pub fn input_gradient_with(
        &self,
        exec: &Executor<'_>,
        inputs: &Tensor,
        rule: ReluRule,
    ) -> Result<Tensor> {
        Ok(self.input_pass(exec, inputs, rule, false)?.1)
    }

    /// The pass of [`Self::input_gradient_with`], also reading the objective for each input
    /// (`read_values`) before the reverse pass frees its layer.
    fn input_pass(
        &self,
        exec: &Executor<'_>,
        inputs: &Tensor,
        rule: ReluRule,
        read_values: bool,
    ) -> Result<(Vec<f32>, Tensor)> {
        let acts = exec.forward_for_gradients(inputs, &[self.layer()])?;
        let out = acts.get(self.layer());
        let values = if read_values {
            self.values(out)?
        } else {
            Vec::new()
        };
        let seed = self.seed(out)?;
        let keep = [exec.graph.inputs[0]];
        let grads = exec.backward_to_releasing(acts, self.layer(), seed, rule, &keep)?;
        Ok((values, input_of(exec, &grads)?))
    }

    /// The objective for a batch-1 input.
    pub fn value(&self, exec: &Executor<'_>, x: &Tensor) -> Result<f32> {
        Ok(self.evaluate(exec, x)?[0])
    }

    /// The objective for a batch-1 input, and its gradient with respect to that input.
    pub fn value_and_grad(&self, exec: &Executor<'_>, x: &Tensor) -> Result<(f32, Tensor)> {
        let (values, g) = self.input_pass(exec, x, ReluRule::Normal, true)?;
        Ok((values[0], g))
    }

    /// Checks an output shape against the objective: rank, and the unit's index.
    fn check_output(&self, dims: &[usize]) -> Result<()> {
        let (rank, max) = match self {
            Objective::Class { class, .. } => (2, *class),
            Objective::Classes { classes, .. } => (2, classes.iter().copied().max().unwrap_or(0)),
            Objective::Neuron { unit, .. } => (2, *unit),
            Objective::Channel { channel, .. } => (4, *channel),
        };
        if dims.len() != rank || max >= dims[1] {
            return Err(Error::Usage(format!(
                "the objective ({self:?}) does not fit an output of shape {dims:?}"
            )));
        }
        Ok(())
    }
}

/// The gradient at the model's input, from a pass that kept it.
pub fn input_of(exec: &Executor<'_>, grads: &Gradients) -> Result<Tensor> {
    grads
        .get(exec.graph.inputs[0])
        .cloned()
        .ok_or_else(|| Error::graph(&exec.graph.name, "no gradient reaches the input"))
}

/// A unit flag (`--channel K`, `--neuron K`) of `layer`: its output must have `rank` dims, and
/// dim 1 must hold index `k`.
fn check_unit(
    graph: &Graph,
    layer: LayerId,
    flag: &str,
    k: usize,
    rank: usize,
    otherwise: &str,
) -> Result<()> {
    let (shape, name) = (&graph.layer(layer).out_shape, &graph.layer(layer).name);
    if shape.len() != rank {
        return Err(Error::Usage(format!(
            "--{flag}: layer {name} has output shape {shape:?}, {otherwise}"
        )));
    }
    if k >= shape[1] {
        return Err(Error::Usage(format!(
            "--{flag} {k} is out of range: layer {name} has {} (0..{})",
            shape[1],
            shape[1].saturating_sub(1)
        )));
    }
    Ok(())
}
