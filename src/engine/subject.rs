//! What is explained: one prepared input (or, for a method that makes its own picture and was
//! given none, a blank one), with its clean forward pass kept once computed.
//!
//! The clean pass is every layer's output for this input at batch 1: the scores, the choice of
//! target and every method that reads the clean input (the gradient methods, the CAMs,
//! occlusion's unoccluded pass, Score-CAM's and the feature maps' activations) share it. Its
//! memory is the sum of the layers' output sizes × 4 bytes ([`Subject::clean_bytes`]): about
//! 60 MB for VGG16 at 224×224, 2 MB for the demo. It lives as long as the subject: one input at
//! a time in the interface, one for a `render`. A `render` of one gradient or CAM map keeps
//! only what that map reads ([`Subject::for_map`]), `evaluate` of gradient and CAM maps what
//! they read ([`Subject::for_maps`]), and `predict` only the scores ([`Subject::scores_only`]).

use std::sync::{Arc, Mutex};

use candle_core::{DType, Tensor};

use super::Session;
use crate::error::{Error, Result};
use crate::exec::{Activations, CancelToken, Executor, NoHook};
use crate::input::preprocess::InputSpec;
use crate::input::Input;
use crate::methods::{Family, Method};
use crate::model::{Graph, LayerId};

pub struct Subject {
    /// The input as loaded (`None` for the blank input of a method that makes its own picture).
    pub input: Option<Arc<Input>>,
    /// The prepared input, batch 1, on the session's device.
    pub tensor: Tensor,
    clean: Mutex<Option<Arc<Activations>>>,
    /// What the clean pass keeps.
    keeps: Keeps,
}

/// What a subject's clean pass keeps: every layer's output unless the subject's one reader
/// needs fewer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Keeps {
    /// Every layer's output (the interface: any map may follow).
    All,
    /// These layers and what reverse passes read (`Subject::reading`).
    ForGradients(Vec<LayerId>),
    /// These layers only ([`Subject::scores_only`]).
    Only(Vec<LayerId>),
}

impl Keeps {
    /// The forward pass that keeps this.
    pub(super) fn forward(&self, exec: &Executor<'_>, input: &Tensor) -> Result<Activations> {
        match self {
            Keeps::All => exec.forward(input, &mut NoHook),
            Keeps::ForGradients(layers) => exec.forward_for_gradients(input, layers),
            Keeps::Only(layers) => exec.forward_keeping(input, layers),
        }
    }
}

impl Subject {
    pub fn new(session: &Session, input: Arc<Input>) -> Result<Subject> {
        Ok(Subject {
            tensor: input.prepared.to_tensor(&session.device)?,
            input: Some(input),
            clean: Mutex::default(),
            keeps: Keeps::All,
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
            keeps: Keeps::All,
        })
    }

    /// This subject with a clean pass that keeps only `layers` (the scores, a CAM's layer) and
    /// what reverse passes read ([`Executor::forward_for_gradients`]), for a subject that one
    /// gradient or CAM map reads and nothing else: VGG16's saliency map then peaks at 120 MB
    /// above the loaded model instead of 178 (a full pass keeps every convolution's output).
    /// Reading any other layer of that pass is a bug, and panics.
    fn reading(mut self, layers: Vec<LayerId>) -> Subject {
        self.keeps = Keeps::ForGradients(layers);
        self
    }

    /// This subject for one map of `method` at `layer` and nothing else: a gradient or CAM map
    /// reads only the scores (its target, its facts) and its layer (a CAM's, or a unit
    /// objective's) of the clean pass, so that pass keeps those and what reverse passes read
    /// (`reading`). Other maps (feature maps, occlusion's cached pass, Score-CAM's
    /// activations) may read any layer, and keep the full pass.
    pub fn for_map(self, graph: &Graph, method: &dyn Method, layer: Option<LayerId>) -> Subject {
        self.for_maps(graph, &[(method, layer)])
    }

    /// This subject for the maps of `maps` (each method at its layer) and nothing else, as
    /// [`Subject::for_map`]: a lean clean pass when every one is a gradient or CAM map (it
    /// keeps the scores and all their layers), else the full pass.
    pub fn for_maps(self, graph: &Graph, maps: &[(&dyn Method, Option<LayerId>)]) -> Subject {
        let lean = maps
            .iter()
            .all(|(m, _)| matches!(m.info().family, Family::Gradient | Family::Cam));
        if !lean {
            return self;
        }
        let layers = maps.iter().filter_map(|&(_, layer)| layer);
        self.reading(
            std::iter::once(graph.logits_layer())
                .chain(layers)
                .collect(),
        )
    }

    /// This subject with a clean pass that keeps the scores only, freeing every other output
    /// after its last reader: for a caller that reads the scores and nothing else (`predict`).
    /// A ResNet50 pass then holds a few maps at a time instead of all 144 MB of them.
    pub fn scores_only(mut self, graph: &Graph) -> Subject {
        self.keeps = Keeps::Only(vec![graph.logits_layer()]);
        self
    }

    /// What its clean pass keeps.
    pub(super) fn keeps(&self) -> &Keeps {
        &self.keeps
    }

    /// The clean forward pass: computed on first use (stopping at a layer once `cancel` is
    /// set), then shared.
    pub fn clean(&self, session: &Session, cancel: &CancelToken) -> Result<Arc<Activations>> {
        if let Some(acts) = self.cached() {
            return Ok(acts);
        }
        let exec = session.executor().with_cancel(cancel.clone());
        let acts = Arc::new(self.keeps.forward(&exec, &self.tensor)?);
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
