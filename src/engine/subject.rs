//! What is explained: one prepared input (or, for a method that makes its own picture and was
//! given none, a blank one), with its clean forward pass kept once computed.
//!
//! The clean pass is every layer's output for this input at batch 1: the scores, the choice of
//! target and every method that reads the clean input (the gradient methods, the CAMs,
//! occlusion's unoccluded pass, Score-CAM's and the feature maps' activations) share it. Its
//! memory is the sum of the layers' output sizes × 4 bytes ([`Subject::clean_bytes`]): about
//! 60 MB for VGG16 at 224×224, 2 MB for the demo. It lives as long as the subject: one input at
//! a time in the interface, one for a `render`. A `render` of one gradient or CAM map keeps
//! only what that map reads ([`Subject::reading`]).

use std::sync::{Arc, Mutex};

use candle_core::{DType, Tensor};

use super::Session;
use crate::error::{Error, Result};
use crate::exec::{Activations, CancelToken, NoHook};
use crate::input::preprocess::InputSpec;
use crate::input::Input;
use crate::model::{Graph, LayerId};

pub struct Subject {
    /// The input as loaded (`None` for the blank input of a method that makes its own picture).
    pub input: Option<Arc<Input>>,
    /// The prepared input, batch 1, on the session's device.
    pub tensor: Tensor,
    clean: Mutex<Option<Arc<Activations>>>,
    /// The layers the clean pass keeps when it need not keep them all ([`Subject::reading`]).
    reads: Option<Vec<LayerId>>,
}

impl Subject {
    pub fn new(session: &Session, input: Arc<Input>) -> Result<Subject> {
        Ok(Subject {
            tensor: input.prepared.to_tensor(&session.device)?,
            input: Some(input),
            clean: Mutex::default(),
            reads: None,
        })
    }

    /// Zeros of the model's input shape: the starting point of a method that makes its own
    /// picture (activation maximization) when no input is given.
    pub fn blank(session: &Session) -> Result<Subject> {
        let graph = &session.graph;
        let spec = InputSpec::from_input_shape(&graph.layer(graph.inputs[0]).out_shape)?;
        Ok(Subject {
            input: None,
            tensor: Tensor::zeros(spec.shape(1), DType::F32, &session.device)?,
            clean: Mutex::default(),
            reads: None,
        })
    }

    /// This subject with a clean pass that keeps only `layers` (the scores, a CAM's layer) and
    /// what reverse passes read ([`Executor::forward_for_gradients`]), for a subject that one
    /// gradient or CAM map reads and nothing else: VGG16's saliency map then peaks at 120 MB
    /// above the loaded model instead of 178 (a full pass keeps every convolution's output).
    /// Reading any other layer of that pass is a bug, and panics.
    ///
    /// [`Executor::forward_for_gradients`]: crate::exec::Executor::forward_for_gradients
    pub fn reading(mut self, layers: Vec<LayerId>) -> Subject {
        self.reads = Some(layers);
        self
    }

    /// The layers its clean pass keeps, if not all ([`Subject::reading`]).
    pub(super) fn reads(&self) -> Option<&[LayerId]> {
        self.reads.as_deref()
    }

    /// The clean forward pass: computed on first use (stopping at a layer once `cancel` is
    /// set), then shared.
    pub fn clean(&self, session: &Session, cancel: &CancelToken) -> Result<Arc<Activations>> {
        if let Some(acts) = self.cached() {
            return Ok(acts);
        }
        let exec = session.executor().with_cancel(cancel.clone());
        let acts = Arc::new(match &self.reads {
            Some(layers) => exec.forward_for_gradients(&self.tensor, layers)?,
            None => exec.forward(&self.tensor, &mut NoHook)?,
        });
        *self.clean.lock().unwrap_or_else(|e| e.into_inner()) = Some(acts.clone());
        Ok(acts)
    }

    /// Sets the clean pass (this input's row of a pass over several inputs).
    pub(super) fn set_clean(&self, acts: Arc<Activations>) {
        *self.clean.lock().unwrap_or_else(|e| e.into_inner()) = Some(acts);
    }

    /// The clean pass if it has been computed.
    pub fn cached(&self) -> Option<Arc<Activations>> {
        self.clean.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The raw class scores (the output of the scores layer), from the clean pass.
    pub fn scores(&self, session: &Session) -> Result<Vec<f32>> {
        let acts = self.clean(session, &CancelToken::new())?;
        let scores: Vec<f32> = acts
            .get(session.graph.logits_layer())
            .flatten_all()?
            .to_vec1()?;
        if scores.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input(
                "the model produced NaN or infinite scores for this input".into(),
            ));
        }
        Ok(scores)
    }

    /// The bytes a clean pass of `graph` holds at batch 1.
    pub fn clean_bytes(graph: &Graph) -> usize {
        graph
            .layers
            .iter()
            .map(|l| l.out_shape.iter().skip(1).product::<usize>())
            .sum::<usize>()
            * std::mem::size_of::<f32>()
    }
}
