//! Which layers a partial pass (one that keeps only some outputs: `Executor::forward_to`) runs
//! together as one pass, skipping the outputs in between, and that pass. Each fused pass gives
//! the same values as the layers one after the other, to the bit (`tests/it/executor_partial.rs`);
//! they save the passes over memory of the memory-bound layers (batch norms, activations,
//! residual sums), forward only. The full passes, which keep every output, never fuse.

use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::Tensor;

use super::{ops, Params};
use crate::error::Result;
use crate::model::{BinaryOp, Graph, LayerId, LayerKind};

pub(super) struct Fusions {
    /// For each batch norm whose output only an activation reads (one that reads nothing
    /// else), that activation: the partial passes run the two as one pass when the batch
    /// norm's own output is not asked for (and the reverse passes their backward rules).
    fused: Vec<Option<LayerId>>,
    /// For each sum of two layers (a residual join) whose output only an activation reads,
    /// that activation.
    summed: Vec<Option<LayerId>>,
    /// For each convolution whose output only a batch norm reads (one that reads nothing else),
    /// that batch norm: the two, and the activation after them, as one pass that finishes each
    /// part of the output while it is in cache.
    convs: Vec<Option<LayerId>>,
    /// For each batch norm whose output only a residual sum reads, that sum: run with the
    /// convolution before the batch norm where the sum's other operand is already computed
    /// (the third convolution of each of ResNet's identity blocks; the shortcut convolution of
    /// the others).
    sums: Vec<Option<LayerId>>,
    /// How many layer outputs the fused passes have skipped so far.
    skips: AtomicUsize,
}

/// A pass that ran a layer with the layers after it: the last of them, its output, and the
/// layers in between whose outputs it skipped.
pub(super) struct Fused {
    pub last: LayerId,
    pub y: Tensor,
    pub skipped: Vec<LayerId>,
}

impl Fusions {
    pub fn new(graph: &Graph) -> Self {
        Fusions {
            fused: fusable_pairs(graph, is_batch_norm, is_activation),
            summed: fusable_pairs(graph, is_sum, is_activation),
            convs: fusable_pairs(graph, |k| matches!(k, LayerKind::Conv2d(_)), is_batch_norm),
            sums: residual_sums(graph),
            skips: AtomicUsize::new(0),
        }
    }

    /// The activation that alone reads batch norm `bn`'s output, if any.
    pub fn activation_after(&self, bn: LayerId) -> Option<LayerId> {
        self.fused[bn.0]
    }

    /// How many layer outputs the fused passes have skipped so far.
    pub fn skipped(&self) -> usize {
        self.skips.load(Ordering::Relaxed)
    }

    /// Layer `id` (inputs `xs`) run with the layers after it as one pass, where a partial pass
    /// (one that keeps only `keep`) may skip the outputs in between: a convolution, its batch
    /// norm, the residual sum after that where its other operand is among the `values` already
    /// computed, and the activation after those; a batch norm and its activation; a sum and its
    /// activation. `None` where no such pass applies (the layer then runs alone).
    pub fn forward(
        &self,
        g: &Graph,
        p: &Params,
        id: LayerId,
        xs: &[&Tensor],
        values: &[Option<Tensor>],
        keep: Option<&[LayerId]>,
    ) -> Option<Result<Fused>> {
        // Only partial passes fuse: they alone may skip a layer's output.
        let skippable = |l: LayerId| keep.is_some_and(|k| !k.contains(&l));
        if !skippable(id) {
            return None;
        }
        // What a pass that ran gives, counted (see `skips`).
        let fused = |last: LayerId, skipped: Vec<LayerId>| {
            move |y| {
                self.skips.fetch_add(skipped.len(), Ordering::Relaxed);
                Fused { last, y, skipped }
            }
        };
        if let Some(bn) = self.convs[id.0].filter(|&bn| skippable(bn)) {
            let conv = |residual: Option<&Tensor>, act: Option<LayerId>| {
                let (conv, act) = (g.layer(id), act.map(|a| g.layer(a)));
                ops::forward_convolution_batch_norm(conv, p.of(id), &p.of(bn), residual, act, xs[0])
            };
            let sum = self.sums[bn.0].filter(|&sum| skippable(sum));
            if let Some((sum, other)) =
                sum.and_then(|sum| Some((sum, other_operand(g, sum, bn, values)?)))
            {
                if let Some(act) = self.summed[sum.0] {
                    if let Some(y) = conv(Some(other), Some(act)) {
                        return Some(y.map(fused(act, vec![bn, sum])));
                    }
                }
                if let Some(y) = conv(Some(other), None) {
                    return Some(y.map(fused(sum, vec![bn])));
                }
            }
            if let Some(act) = self.fused[bn.0] {
                if let Some(y) = conv(None, Some(act)) {
                    return Some(y.map(fused(act, vec![bn])));
                }
            }
            if let Some(y) = conv(None, None) {
                return Some(y.map(fused(bn, vec![])));
            }
        }
        if let Some(act) = self.fused[id.0] {
            let y = ops::forward_batch_norm_activation(&p.of(id), g.layer(act), xs[0])?;
            return Some(y.map(fused(act, vec![])));
        }
        if let Some(act) = self.summed[id.0] {
            let y = ops::forward_sum_activation(g.layer(act), xs[0], xs[1])?;
            return Some(y.map(fused(act, vec![])));
        }
        None
    }
}

/// The operand of the residual sum `sum` other than `bn`'s output, where it is already among
/// the computed `values`.
fn other_operand<'v>(
    g: &Graph,
    sum: LayerId,
    bn: LayerId,
    values: &'v [Option<Tensor>],
) -> Option<&'v Tensor> {
    let other = *g.layer(sum).inputs.iter().find(|&&i| i != bn)?;
    values.get(other.0)?.as_ref()
}

fn is_batch_norm(k: &LayerKind) -> bool {
    matches!(k, LayerKind::BatchNorm(_))
}

fn is_activation(k: &LayerKind) -> bool {
    matches!(k, LayerKind::Activation(_))
}

/// A sum of two layers' outputs (a residual join), not of a layer and a constant.
fn is_sum(k: &LayerKind) -> bool {
    matches!(k, LayerKind::Binary(b) if b.op == BinaryOp::Add && b.constant.is_none())
}

/// The layers that read each layer's output.
fn readers(g: &Graph) -> Vec<Vec<LayerId>> {
    let mut readers: Vec<Vec<LayerId>> = vec![Vec::new(); g.layers.len()];
    for id in g.ids() {
        for i in &g.layer(id).inputs {
            readers[i.0].push(id);
        }
    }
    readers
}

/// For each batch norm whose output only a sum of two layers reads, as one of the two operands
/// (the other a different layer), that sum (see [`Fusions::sums`]).
fn residual_sums(g: &Graph) -> Vec<Option<LayerId>> {
    let readers = readers(g);
    g.ids()
        .map(|id| match readers[id.0][..] {
            [sum] if is_batch_norm(&g.layer(id).kind) && is_sum(&g.layer(sum).kind) => {
                let inputs = &g.layer(sum).inputs;
                (inputs.len() == 2 && inputs.iter().filter(|&&i| i == id).count() == 1)
                    .then_some(sum)
            }
            _ => None,
        })
        .collect()
}

/// For each layer of a kind `fuses` accepts whose output is read by one layer only, of a kind
/// `then` accepts, which reads nothing else: that layer.
fn fusable_pairs(
    g: &Graph,
    fuses: impl Fn(&LayerKind) -> bool,
    then: impl Fn(&LayerKind) -> bool,
) -> Vec<Option<LayerId>> {
    let readers = readers(g);
    g.ids()
        .map(|id| match readers[id.0][..] {
            [act]
                if fuses(&g.layer(id).kind)
                    && then(&g.layer(act).kind)
                    && g.layer(act).inputs == [id] =>
            {
                Some(act)
            }
            _ => None,
        })
        .collect()
}
