//! What activation maximization maximizes: a class's raw score (softmax swapped for linear, as
//! keras-vis does), a channel's mean activation (lucid's `channel`), or one unit of a dense
//! layer — with its gradient with respect to the model input from one reverse pass.

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::exec::{one_hot_seed, Executor, NoHook, ReluRule};
use crate::methods::Cx;
use crate::model::{Graph, LayerId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// The raw score of a class at the logits layer.
    Class { scores: LayerId, class: usize },
    /// The mean over positions of channel `channel` of an NCHW layer output.
    Channel { layer: LayerId, channel: usize },
    /// Unit `unit` of a `[N, units]` layer output.
    Neuron { layer: LayerId, unit: usize },
}

impl Objective {
    /// `--channel K` or `--neuron K` of `--layer L`, else the target class.
    pub fn from_cx(cx: &Cx<'_>) -> Result<Objective> {
        let (channel, neuron) = (cx.knobs.channel, cx.knobs.neuron);
        match (channel, neuron) {
            (Some(_), Some(_)) => Err(Error::Usage("give --channel or --neuron, not both".into())),
            (Some(k), None) => {
                let layer = unit_layer(
                    cx,
                    "channel",
                    k,
                    4,
                    "not a feature map; use --neuron K for dense layers",
                )?;
                Ok(Objective::Channel { layer, channel: k })
            }
            (None, Some(k)) => {
                let layer = unit_layer(
                    cx,
                    "neuron",
                    k,
                    2,
                    "not [batch, units]; use --channel K for feature maps",
                )?;
                Ok(Objective::Neuron { layer, unit: k })
            }
            (None, None) => Ok(Objective::Class {
                scores: cx.scores,
                class: cx.target,
            }),
        }
    }

    /// `class 3`, `channel 5 of block2_conv1`, …
    pub fn describe(&self, graph: &Graph) -> String {
        match *self {
            Objective::Class { class, .. } => format!("class {class}"),
            Objective::Channel { layer, channel } => {
                format!("channel {channel} of {}", graph.layer(layer).name)
            }
            Objective::Neuron { layer, unit } => {
                format!("neuron {unit} of {}", graph.layer(layer).name)
            }
        }
    }

    fn layer(&self) -> LayerId {
        match *self {
            Objective::Class { scores, .. } => scores,
            Objective::Channel { layer, .. } | Objective::Neuron { layer, .. } => layer,
        }
    }

    /// The objective for a batch-1 input, and its gradient with respect to that input.
    pub fn value_and_grad(&self, exec: &Executor<'_>, x: &Tensor) -> Result<(f32, Tensor)> {
        let acts = exec.forward(x, &mut NoHook)?;
        let out = acts.get(self.layer());
        let value = self.value_of(out)?;
        let seed = self.seed(out)?;
        let input = exec.graph.inputs[0];
        let grads = exec.backward_to(&acts, self.layer(), seed, ReluRule::Normal, &[input])?;
        let g = grads
            .get(input)
            .cloned()
            .ok_or_else(|| Error::graph(&exec.graph.name, "no gradient reaches the input"))?;
        Ok((value, g))
    }

    /// The objective for a batch-1 input.
    pub fn value(&self, exec: &Executor<'_>, x: &Tensor) -> Result<f32> {
        self.value_of(&exec.output(x, self.layer())?)
    }

    fn value_of(&self, out: &Tensor) -> Result<f32> {
        let v = match *self {
            Objective::Class { class: k, .. } | Objective::Neuron { unit: k, .. } => {
                out.narrow(1, k, 1)?.flatten_all()?.to_vec1::<f32>()?[0]
            }
            Objective::Channel { channel, .. } => {
                out.narrow(1, channel, 1)?.mean_all()?.to_scalar::<f32>()?
            }
        };
        Ok(v)
    }

    /// d(objective)/d(layer output).
    fn seed(&self, out: &Tensor) -> Result<Tensor> {
        match *self {
            Objective::Class { class: k, .. } | Objective::Neuron { unit: k, .. } => {
                one_hot_seed(out.dims(), k, out.device())
            }
            Objective::Channel { channel, .. } => {
                let (n, c, h, w) = out.dims4()?;
                let plane = h * w;
                let mut data = vec![0f32; n * c * plane];
                for b in 0..n {
                    let at = (b * c + channel) * plane;
                    data[at..at + plane].fill(1.0 / plane as f32);
                }
                Ok(Tensor::from_vec(data, out.dims(), out.device())?)
            }
        }
    }
}

/// `--layer` for `--FLAG K`: its output must have `rank` dims, and dim 1 must hold index `k`.
fn unit_layer(cx: &Cx<'_>, flag: &str, k: usize, rank: usize, otherwise: &str) -> Result<LayerId> {
    let layer = cx
        .layer
        .ok_or_else(|| Error::Usage(format!("--{flag} needs --layer NAME")))?;
    let (shape, name) = (
        &cx.graph.layer(layer).out_shape,
        &cx.graph.layer(layer).name,
    );
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
    Ok(layer)
}
