//! Several inputs explained together: one forward pass over the stacked inputs is every
//! input's clean pass (its scores, its target, what its method reads), and one reverse pass of
//! the whole batch per rule and kept layers serves every input's gradients. Only for the
//! methods that read nothing else ([`MethodInfo::stackable`]).
//!
//! Each input's results are its row of the batch's: the same computation as a pass of that
//! input alone, except that a batch changes how matrix products are blocked, so float sums
//! may round differently (measured in `tests/it/stacked.rs`). The rows do not interact: every
//! layer convscope runs treats the inputs of a batch independently (batch norm at inference).
//!
//! Memory: the batch's clean pass (rows × [`Subject::clean_bytes`], or less for subjects that
//! read only some layers) and one reverse pass's kept gradients per rule.
//!
//! [`MethodInfo::stackable`]: crate::methods::MethodInfo::stackable

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::Tensor;

use super::explain::explain_in;
use super::subject::Keeps;
use super::{Explained, Request, Session, Subject};
use crate::error::{Error, Result};
use crate::exec::{Activations, CancelToken, Executor, Gradients, ReluRule};
use crate::methods::{Control, Objective, Shared, SharedGradients};
use crate::model::LayerId;

/// Inputs whose clean pass was one forward pass over all of them.
pub struct Together<'a> {
    session: &'a Session,
    subjects: &'a [Subject],
    acts: Activations,
}

impl<'a> Together<'a> {
    /// One forward pass over `subjects` (inputs of one shape); each subject's clean pass is
    /// then its row of it.
    pub fn forward(
        session: &'a Session,
        subjects: &'a [Subject],
        cancel: &CancelToken,
    ) -> Result<Together<'a>> {
        let rows: Vec<&Tensor> = subjects.iter().map(|s| &s.tensor).collect();
        if rows.iter().any(|t| t.dims() != rows[0].dims()) {
            return Err(Error::Input(
                "inputs explained together must have one shape".into(),
            ));
        }
        let stacked = Tensor::cat(&rows, 0)?;
        let exec = session.executor().with_cancel(cancel.clone());
        // Subjects that read only some layers, all the same ones (`Subject::for_map`,
        // `Subject::scores_only`), share a pass that keeps only what they read.
        let keeps = match subjects.first().map(Subject::keeps) {
            Some(k) if subjects.iter().all(|s| s.keeps() == k) => k.clone(),
            _ => Keeps::All,
        };
        let acts = keeps.forward(&exec, &stacked)?;
        for (i, subject) in subjects.iter().enumerate() {
            subject.set_clean(Arc::new(acts.row(i)?));
        }
        Ok(Together {
            session,
            subjects,
            acts,
        })
    }

    /// Each subject explained with its request (one each, in order; one method). When the
    /// method is stackable and the objectives read one layer, the reverse passes are the
    /// batch's; otherwise each input runs its own from its row of the clean pass.
    /// A row whose request is an error gets that error back.
    pub fn explain(
        &self,
        requests: Vec<Result<Request>>,
        control: &Control,
    ) -> Vec<Result<Explained>> {
        assert_eq!(requests.len(), self.subjects.len(), "one request per input");
        let asked: Vec<&Request> = requests.iter().flatten().collect();
        let shares = asked.first().is_some_and(|r| {
            r.method.info().stackable
                && asked.iter().all(|q| {
                    q.method.info().id == r.method.info().id
                        && q.objective.layer() == r.objective.layer()
                })
        });
        let objectives = requests
            .iter()
            .map(|r| r.as_ref().ok().map(|r| r.objective.clone()))
            .collect();
        let pass = BatchGradients {
            acts: &self.acts,
            objectives,
            done: Mutex::default(),
        };
        let rows = self.subjects.len();
        requests
            .into_iter()
            .zip(self.subjects)
            .enumerate()
            .map(|(row, (request, subject))| {
                let request = request?;
                let shared = (shares && rows > 1).then_some(Shared {
                    pass: &pass as &dyn SharedGradients,
                    row,
                });
                let control = Control {
                    cancel: control.cancel.clone(),
                    progress: None,
                };
                explain_in(self.session, subject, request, control, shared)
            })
            .collect()
    }
}

/// A reverse pass: its rule for ReLU-family layers and the layers whose gradients it keeps.
type PassKey = (ReluRule, Vec<LayerId>);

/// The batch's reverse passes, one per rule and kept layers, each run when a row first asks.
struct BatchGradients<'a> {
    acts: &'a Activations,
    /// Each row's objective (all reading one layer; none for a row not explained).
    objectives: Vec<Option<Objective>>,
    done: Mutex<HashMap<PassKey, Gradients>>,
}

impl SharedGradients for BatchGradients<'_> {
    fn row_gradients(
        &self,
        exec: &Executor<'_>,
        rule: ReluRule,
        keep: &[LayerId],
        row: usize,
    ) -> Result<Gradients> {
        let key = (rule, keep.to_vec());
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(grads) = done.get(&key) {
            return grads.row(row);
        }
        // Each row seeded with its own objective: the batch's objective is their sum, and a
        // row's gradient is its own objective's (rows do not interact).
        let layer = self.objectives[row]
            .as_ref()
            .expect("a row explained has its objective")
            .layer();
        let out = self.acts.get(layer);
        let seeds: Vec<Tensor> = self
            .objectives
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let out = out.narrow(0, i, 1)?;
                match o {
                    Some(o) => o.seed(&out),
                    None => Ok(out.zeros_like()?),
                }
            })
            .collect::<Result<_>>()?;
        let seed = Tensor::cat(&seeds, 0)?;
        let grads = exec.backward_to(self.acts, layer, seed, rule, keep)?;
        let mine = grads.row(row);
        done.insert(key, grads);
        mine
    }
}
