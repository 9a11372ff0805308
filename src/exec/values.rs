//! What the passes hand on: each layer's output from a forward pass, each gradient from a
//! reverse pass, and an input's row of either from a pass over a batch.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::model::LayerId;

/// Every layer's output from one forward pass (kept for the reverse pass), or, from a pass for
/// gradients ([`Executor::forward_for_gradients`]), the outputs that pass kept.
pub struct Activations {
    /// Each layer's output, or a [`stand_in`] for one the pass did not keep.
    pub(super) values: Vec<Tensor>,
    pub(super) kept: Vec<bool>,
}

impl Activations {
    /// `id`'s output. Panics if the pass did not keep it: the caller names what it reads.
    pub fn get(&self, id: LayerId) -> &Tensor {
        assert!(self.kept[id.0], "layer {} was not kept by this pass", id.0);
        &self.values[id.0]
    }

    /// The bytes the kept outputs hold (views of one tensor counted in full).
    pub fn kept_bytes(&self) -> usize {
        let kept = self.values.iter().zip(&self.kept).filter(|(_, &k)| k);
        kept.map(|(v, _)| v.elem_count() * v.dtype().size_in_bytes())
            .sum()
    }

    /// Frees the outputs of `ids`, each replaced by a stand-in of its shape.
    pub(super) fn release(&mut self, ids: std::ops::Range<usize>) -> Result<()> {
        for i in ids {
            if self.kept[i] {
                let v = &self.values[i];
                self.values[i] = stand_in(v.dims(), v.device())?;
                self.kept[i] = false;
            }
        }
        Ok(())
    }

    /// `id`'s output or its stand-in, for backward rules ([`super::ops::backward_reads`]).
    pub(super) fn for_rules(&self, id: LayerId) -> &Tensor {
        &self.values[id.0]
    }

    /// Input `i`'s share of a pass over a batch: every layer's output narrowed to row `i`
    /// (views of the batch's storage, no copy), as a pass of that input alone would hold them.
    pub fn row(&self, i: usize) -> Result<Activations> {
        Ok(Activations {
            values: self
                .values
                .iter()
                .map(|t| row_of(t, i))
                .collect::<Result<_>>()?,
            kept: self.kept.clone(),
        })
    }
}

/// Gradients of one objective with respect to layer outputs; `None` where none flows.
pub struct Gradients {
    pub(super) values: Vec<Option<Tensor>>,
}

impl Gradients {
    pub fn get(&self, id: LayerId) -> Option<&Tensor> {
        self.values[id.0].as_ref()
    }

    /// Input `i`'s share of a reverse pass over a batch (see [`Activations::row`]).
    pub fn row(&self, i: usize) -> Result<Gradients> {
        Ok(Gradients {
            values: self
                .values
                .iter()
                .map(|t| t.as_ref().map(|t| row_of(t, i)).transpose())
                .collect::<Result<_>>()?,
        })
    }
}

/// Row `i` of a batch-first tensor, keeping the batch dim (`[1, …]`).
fn row_of(t: &Tensor, i: usize) -> Result<Tensor> {
    Ok(t.narrow(0, i, 1)?)
}

/// What an output the pass did not keep is replaced by: a tensor of its shape that holds one
/// NaN, broadcast, for the rules that read only shapes. A rule that read its values by mistake
/// would give NaN, not a plausible wrong answer.
pub(super) fn stand_in(dims: &[usize], device: &Device) -> Result<Tensor> {
    Ok(Tensor::new(f32::NAN, device)?.broadcast_as(dims)?)
}
