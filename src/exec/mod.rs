//! How a network RUNS: a forward pass in topological order with per-call hooks, and a reverse
//! pass of our own in which every layer kind has a backward rule for its inputs only. One
//! reverse pass gives d(objective)/d(input) and d(objective)/d(any layer output); it skips the
//! kernel gradients candle's autograd would compute (see DESIGN.md §3 for the measurements).

mod cancel;
pub mod cpu;
mod device;
mod fusion;
pub mod hook;
pub mod incremental;
pub mod memory;
pub mod ops;
mod params;
mod values;

use candle_core::{DType, Device, Tensor};

pub use cancel::CancelToken;
pub use device::{device_label, select_device};
pub use hook::{Capture, Hook, NoHook};
pub use params::{to_graph_layout, LayerWeights, Params};
pub use values::{Activations, Gradients};

use crate::error::{Error, Result};
use crate::model::{Graph, LayerId, LayerKind};
use fusion::Fusions;

/// The backward rule for ReLU-family layers (ReLU, LeakyReLU, Clip/ReLU6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReluRule {
    /// The true gradient.
    #[default]
    Normal,
    /// Guided backpropagation: grad · [x active] · [grad > 0].
    Guided,
    /// Deconvnet: relu(grad), ignoring the forward activation.
    Deconvnet,
}

impl ReluRule {
    /// Whether this rule can make the gradient at `at`'s output differ from the true gradient
    /// in a reverse pass from `from`. Only ReLU-family layers read the rule, and `at`'s own
    /// acts below its output, so it can only where one of them lies on a path from `at` up to
    /// `from`. Where none does, one reverse pass under this rule also gives the true gradient
    /// at `at`, bit for bit (the same operations in the same order).
    pub fn reaches(self, graph: &Graph, at: LayerId, from: LayerId) -> bool {
        if self == ReluRule::Normal || from.0 <= at.0 {
            return false;
        }
        // Layers are in topological order: first those `at` feeds, then, walking down from
        // `from`, those of them that feed `from`.
        let mut fed = vec![false; from.0 + 1];
        fed[at.0] = true;
        for i in at.0 + 1..=from.0 {
            fed[i] = inputs_of(graph, i).any(|j| j.0 >= at.0 && fed[j.0]);
        }
        let mut feeds = vec![false; from.0 + 1];
        feeds[from.0] = true;
        for i in (at.0 + 1..=from.0).rev() {
            if !(feeds[i] && fed[i]) {
                continue;
            }
            if matches!(&graph.layer(LayerId(i)).kind, LayerKind::Activation(a) if a.is_relu_family())
            {
                return true;
            }
            for j in inputs_of(graph, i) {
                feeds[j.0] = true;
            }
        }
        false
    }
}

fn inputs_of(graph: &Graph, i: usize) -> impl Iterator<Item = LayerId> + '_ {
    graph.layer(LayerId(i)).inputs.iter().copied()
}

/// What [`Executor::run`] gives: each layer's output where the pass kept it, and each one's
/// shape.
struct Pass {
    values: Vec<Option<Tensor>>,
    shapes: Vec<Vec<usize>>,
}

pub struct Executor<'a> {
    pub graph: &'a Graph,
    pub params: &'a Params,
    /// Which layers partial passes run together.
    fusions: Fusions,
    /// Checked before each layer of every pass, forward and reverse: a pass that is no longer
    /// wanted stops within one layer instead of running to its end.
    cancel: CancelToken,
}

impl<'a> Executor<'a> {
    pub fn new(graph: &'a Graph, params: &'a Params) -> Self {
        Executor {
            graph,
            params,
            fusions: Fusions::new(graph),
            cancel: CancelToken::default(),
        }
    }

    /// The executor, its passes failing with [`Error::Cancelled`] at the next layer once
    /// `cancel` is set.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Runs the graph on `input` (the first graph input; any batch size).
    pub fn forward(&self, input: &Tensor, hook: &mut dyn Hook) -> Result<Activations> {
        let values = self.run(input, hook, None)?.values;
        Ok(Activations {
            kept: vec![true; values.len()],
            values: values.into_iter().map(|v| v.expect("all kept")).collect(),
        })
    }

    /// A forward pass for reverse passes ([`Self::backward_to`]) that read `keep`'s outputs
    /// (the objective's layer, a CAM's layer): it keeps those and the values backward rules
    /// read ([`ops::backward_reads`]), and drops the rest as [`Self::forward_to`] does, running
    /// fused where that allows. Most convolution and batch-norm outputs go: a VGG16 pass holds
    /// half the maps of a full one, a ResNet50 pass about a third.
    pub fn forward_for_gradients(&self, input: &Tensor, keep: &[LayerId]) -> Result<Activations> {
        let g = self.graph;
        let mut wanted = keep.to_vec();
        for id in g.ids() {
            let layer = g.layer(id);
            let reads = ops::backward_reads(layer);
            if reads.output {
                wanted.push(id);
            }
            if reads.inputs {
                wanted.extend(&layer.inputs);
            }
        }
        self.forward_keeping(input, &wanted)
    }

    /// A forward pass that keeps the outputs of `keep` only, as [`Self::forward_to`] does, as
    /// [`Activations`]: each dropped output is a stand-in of its shape (reading one is a bug).
    /// For a caller that reads those layers and nothing else (the scores of `predict`).
    pub fn forward_keeping(&self, input: &Tensor, keep: &[LayerId]) -> Result<Activations> {
        let mut keep = keep.to_vec();
        keep.sort_unstable_by_key(|l| l.0);
        keep.dedup();
        let pass = self.run(input, &mut NoHook, Some(&keep))?;
        let kept: Vec<bool> = pass.values.iter().map(Option::is_some).collect();
        let values = pass
            .values
            .into_iter()
            .zip(pass.shapes)
            .map(|(v, shape)| match v {
                Some(v) => Ok(v),
                None => values::stand_in(&shape, input.device()),
            })
            .collect::<Result<_>>()?;
        Ok(Activations { values, kept })
    }

    /// How many layer outputs this executor's partial passes have skipped so far, running a
    /// layer with the ones after it (see [`Self::forward_to`]): what shows that they did.
    pub fn skipped_outputs(&self) -> usize {
        self.fusions.skipped()
    }

    /// The outputs of the layers in `keep` only, in that order: every other layer's output is
    /// freed after its last reader, so a pass holds a few maps at a time instead of all of
    /// them, and the next layer reuses their memory while it is still in cache (MobileNetV2 at
    /// batch 16: about 15% faster).
    pub fn forward_to(&self, input: &Tensor, keep: &[LayerId]) -> Result<Vec<Tensor>> {
        let values = self.run(input, &mut NoHook, Some(keep))?.values;
        Ok(keep
            .iter()
            .map(|id| values[id.0].clone().expect("kept layers stay"))
            .collect())
    }

    /// One layer's output (the class scores, say), through [`Self::forward_to`].
    pub fn output(&self, input: &Tensor, layer: LayerId) -> Result<Tensor> {
        Ok(self.forward_to(input, &[layer])?.remove(0))
    }

    fn run(&self, input: &Tensor, hook: &mut dyn Hook, keep: Option<&[LayerId]>) -> Result<Pass> {
        let g = self.graph;
        let expected = &g.layer(g.inputs[0]).out_shape;
        if input.rank() != expected.len() || input.dims()[1..] != expected[1..] {
            return Err(Error::Input(format!(
                "input has shape {:?} but the model expects {:?} (any batch size)",
                input.dims(),
                expected
            )));
        }
        let input = input.to_dtype(DType::F32)?;
        // The last layer that reads each output (its own index when nothing does).
        let last_reader = keep.map(|_| {
            let mut last: Vec<usize> = (0..g.layers.len()).collect();
            for id in g.ids() {
                for i in &g.layer(id).inputs {
                    last[i.0] = last[i.0].max(id.0);
                }
            }
            last
        });
        let mut values: Vec<Option<Tensor>> = Vec::with_capacity(g.layers.len());
        let mut shapes: Vec<Vec<usize>> = Vec::with_capacity(g.layers.len());
        // Outputs computed ahead, by a pass that ran their layer with the one before it; and
        // the layers such a pass ran without keeping their output.
        let mut ahead: Vec<Option<Tensor>> = vec![None; g.layers.len()];
        let mut skipped = vec![false; g.layers.len()];
        for id in g.ids() {
            self.cancel.check()?;
            let layer = g.layer(id);
            let out = if let Some(y) = ahead[id.0].take() {
                Some(y)
            } else if skipped[id.0] {
                None
            } else if g.inputs.contains(&id) {
                Some(input.clone())
            } else {
                let xs: Vec<&Tensor> = layer
                    .inputs
                    .iter()
                    .map(|i| values[i.0].as_ref().expect("read before its last reader"))
                    .collect();
                match self.fusions.forward(g, self.params, id, &xs, &values, keep) {
                    Some(done) => {
                        let fused = done.map_err(|e| context(&layer.name, e))?;
                        ahead[fused.last.0] = Some(fused.y);
                        for between in fused.skipped {
                            skipped[between.0] = true;
                        }
                        None
                    }
                    None => Some(
                        ops::forward(layer, self.params.of(id), &xs)
                            .map_err(|e| context(&layer.name, e))?,
                    ),
                }
            };
            let out = match out {
                Some(out) => Some(hook.after(id, &out)?.unwrap_or(out)),
                None => None,
            };
            // A layer run with the next ones and never kept has its planned shape.
            shapes.push(match &out {
                Some(out) => out.dims().to_vec(),
                None => [&[input.dim(0)?][..], &layer.out_shape[1..]].concat(),
            });
            values.push(out);
            if let (Some(keep), Some(last)) = (keep, &last_reader) {
                for i in layer.inputs.iter().chain([&id]) {
                    if last[i.0] == id.0 && !keep.contains(i) {
                        values[i.0] = None;
                    }
                }
            }
        }
        Ok(Pass { values, shapes })
    }

    /// Propagates `seed` (the gradient of the objective with respect to `from`'s output) back
    /// through the graph, keeping the gradient at every layer it reaches.
    pub fn backward(
        &self,
        acts: &Activations,
        from: LayerId,
        seed: Tensor,
        rule: ReluRule,
    ) -> Result<Gradients> {
        self.propagate(Held::Shared(acts), from, seed, rule, None)
    }

    /// [`Self::backward`], keeping only the gradients at `keep`: each other gradient is freed
    /// as soon as it has been passed on, so the pass holds a few maps instead of all of them
    /// (and reuses their memory while it is still in cache), and the pass stops once the
    /// earliest of them is complete (Grad-CAM at VGG16's last block skips most of the network).
    pub fn backward_to(
        &self,
        acts: &Activations,
        from: LayerId,
        seed: Tensor,
        rule: ReluRule,
        keep: &[LayerId],
    ) -> Result<Gradients> {
        self.propagate(Held::Shared(acts), from, seed, rule, Some(keep))
    }

    /// [`Self::backward_to`] from a pass it takes over, freeing each layer's output once the
    /// rules that read it have run (a rule reads its own layer's values and its inputs', which
    /// come earlier): the pass shrinks as the gradient moves down instead of staying whole to
    /// the end (VGG16, a batch of 16 input gradients: the peak falls by a fifth).
    pub fn backward_to_releasing(
        &self,
        acts: Activations,
        from: LayerId,
        seed: Tensor,
        rule: ReluRule,
        keep: &[LayerId],
    ) -> Result<Gradients> {
        self.propagate(Held::Owned(acts), from, seed, rule, Some(keep))
    }

    fn propagate(
        &self,
        mut held: Held<'_>,
        from: LayerId,
        seed: Tensor,
        rule: ReluRule,
        keep: Option<&[LayerId]>,
    ) -> Result<Gradients> {
        let g = self.graph;
        let mut grads: Vec<Option<Tensor>> = vec![None; g.layers.len()];
        grads[from.0] = Some(seed);
        // A layer's gradient is complete once every later layer (its consumers, in
        // topological order) has passed its share back.
        let earliest = keep.map_or(0, |k| k.iter().map(|l| l.0 + 1).min().unwrap_or(0));
        // Outputs at or above this index have been read by every rule that reads them.
        let mut unread = g.layers.len();
        for i in (earliest..=from.0).rev() {
            self.cancel.check()?;
            held.release(i + 1..unread)?;
            unread = i + 1;
            let acts = held.get();
            let id = LayerId(i);
            let layer = g.layer(id);
            let kept = keep.is_none_or(|k| k.contains(&id));
            let grad = match &grads[i] {
                None => continue,
                Some(_) if layer.inputs.is_empty() => continue,
                Some(grad) if kept => grad.clone(),
                Some(_) => grads[i].take().expect("matched Some"),
            };
            let xs: Vec<&Tensor> = layer.inputs.iter().map(|j| acts.for_rules(*j)).collect();
            // An activation after a batch norm whose gradient is not kept: both backward rules
            // in one pass, straight to the batch norm's input (which then has nothing to do).
            let through = keep
                .zip(layer.inputs.first())
                .filter(|(k, &bn)| {
                    self.fusions.activation_after(bn) == Some(id)
                        && !k.contains(&bn)
                        && bn.0 >= earliest
                })
                .and_then(|(_, &bn)| {
                    let x = ops::backward_activation_batch_norm(
                        &self.params.of(bn),
                        layer,
                        acts.for_rules(bn),
                        acts.for_rules(id),
                        &grad,
                        rule,
                    )?;
                    Some((bn, x))
                });
            let (inputs, input_grads) = match through {
                Some((bn, dx)) => (
                    &g.layer(bn).inputs,
                    vec![Some(dx.map_err(|e| context(&layer.name, e))?)],
                ),
                None => (
                    &layer.inputs,
                    ops::backward(
                        layer,
                        self.params.of(id),
                        &xs,
                        acts.for_rules(id),
                        &grad,
                        rule,
                    )
                    .map_err(|e| context(&layer.name, e))?,
                ),
            };
            drop(grad);
            for (input, ig) in inputs.iter().zip(input_grads) {
                let Some(ig) = ig else { continue };
                grads[input.0] = Some(match grads[input.0].take() {
                    Some(acc) => ops::accumulate(&acc, &ig)?,
                    None => ig,
                });
            }
        }
        Ok(Gradients { values: grads })
    }
}

/// The forward pass a reverse pass reads: the caller's, or handed over to be freed as it goes.
enum Held<'a> {
    Shared(&'a Activations),
    Owned(Activations),
}

impl Held<'_> {
    fn get(&self) -> &Activations {
        match self {
            Held::Shared(acts) => acts,
            Held::Owned(acts) => acts,
        }
    }

    fn release(&mut self, ids: std::ops::Range<usize>) -> Result<()> {
        match self {
            Held::Shared(_) => Ok(()),
            Held::Owned(acts) => acts.release(ids),
        }
    }
}

/// The seed for "sum over the batch of output[:, class]": a one-hot gradient.
pub fn one_hot_seed(shape: &[usize], class: usize, device: &Device) -> Result<Tensor> {
    let classes = *shape.last().unwrap_or(&0);
    if class >= classes || shape.len() != 2 {
        return Err(Error::Usage(format!(
            "class {class} is out of range for an output of shape {shape:?}"
        )));
    }
    let mut data = vec![0f32; shape.iter().product()];
    for row in 0..shape[0] {
        data[row * classes + class] = 1.0;
    }
    Ok(Tensor::from_vec(data, shape, device)?)
}

fn context(layer: &str, e: Error) -> Error {
    match e {
        Error::Tensor(t) => Error::graph(
            layer,
            format!("tensor computation failed: {}", crate::error::one_line(&t)),
        ),
        other => other,
    }
}
