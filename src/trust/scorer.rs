//! The target's softmax probability for many perturbed inputs, in batched forward passes that
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
        mut fill: impl FnMut(usize, &mut [f32]),
    ) -> Result<Vec<f32>> {
        let one: usize = self.spec.shape(1).iter().product();
        let exec = self
            .session
            .executor()
            .with_cancel(self.control.cancel.clone());
        let scores_layer = self.session.graph.logits_layer();
        let mut probs = Vec::with_capacity(n);
        let mut buf = Vec::new();
        while probs.len() < n {
            let b = self.batch.max(1).min(n - probs.len());
            buf.resize(b * one, 0.0);
            for (k, out) in buf.chunks_exact_mut(one).enumerate() {
                fill(probs.len() + k, out);
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
                probs.push(softmax(row)[self.target]);
            }
            self.control.step(probs.len(), n, unit)?;
        }
        Ok(probs)
    }
}
