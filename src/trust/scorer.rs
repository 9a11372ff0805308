//! The target's softmax probability (or raw score) for many perturbed inputs, in batched forward passes that
//! keep only the class scores (`Executor::forward_to`), so a pass of B inputs holds a few maps
//! at a time, not the whole network's.

use candle_core::Tensor;

use crate::engine::Session;
use crate::error::{Error, Result};
use crate::input::preprocess::InputSpec;
use crate::methods::target::softmax;
use crate::methods::Control;

pub struct Scorer<'a> {
    pub session: &'a Session,
    pub spec: InputSpec,
    /// The class whose probability is read.
    pub target: usize,
    /// Inputs per pass.
    pub batch: usize,
    pub control: &'a Control,
}

impl Scorer<'_> {
    /// The target's probability for `n` inputs, made in order by `fill(i, out)` (`out` holds
    /// one input in the model's layout). Reports progress in `unit` after each pass and stops
    /// at the next layer once cancelled.
    pub fn probabilities(
        &self,
        n: usize,
        unit: &'static str,
        fill: impl FnMut(usize, &mut [f32]),
    ) -> Result<Vec<f32>> {
        let target = self.target;
        self.read(n, unit, fill, |scores| softmax(scores)[target])
    }

    /// The target's raw score (the logit, what the methods explain) for `n` inputs, made as
    /// [`Scorer::probabilities`] makes them.
    pub fn scores(
        &self,
        n: usize,
        unit: &'static str,
        fill: impl FnMut(usize, &mut [f32]),
    ) -> Result<Vec<f32>> {
        let target = self.target;
        self.read(n, unit, fill, |scores| scores[target])
    }

    fn read(
        &self,
        n: usize,
        unit: &'static str,
        mut fill: impl FnMut(usize, &mut [f32]),
        read: impl Fn(&[f32]) -> f32,
    ) -> Result<Vec<f32>> {
        let one: usize = self.spec.shape(1).iter().product();
        let exec = self
            .session
            .executor()
            .with_cancel(self.control.cancel.clone());
        let scores_layer = self.session.graph.logits_layer();
        let mut out = Vec::with_capacity(n);
        let mut buf = Vec::new();
        while out.len() < n {
            let b = self.batch.max(1).min(n - out.len());
            buf.resize(b * one, 0.0);
            for (k, chunk) in buf.chunks_exact_mut(one).enumerate() {
                fill(out.len() + k, chunk);
            }
            let x = Tensor::from_slice(&buf, self.spec.shape(b), &self.session.device)?;
            let scores: Vec<f32> = exec.output(&x, scores_layer)?.flatten_all()?.to_vec1()?;
            let classes = scores.len() / b;
            for row in scores.chunks_exact(classes) {
                if row.iter().any(|v| !v.is_finite()) {
                    return Err(Error::Input(
                        "the model produced NaN or infinite scores for a perturbed input".into(),
                    ));
                }
                out.push(read(row));
            }
            self.control.step(out.len(), n, unit)?;
        }
        Ok(out)
    }
}
