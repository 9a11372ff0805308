//! A model loaded for a session of work (one `render`, one interface session): the graph, its
//! weights on the device, the batch size for the multi-evaluation methods, and the subject of
//! the latest input, so that the interface's first map reuses start-up's forward pass and
//! every later map of the same input reuses it too.

use std::sync::{Arc, Mutex};

use candle_core::Device;

use super::Subject;
use crate::error::Result;
use crate::exec::{Executor, Params};
use crate::input::Input;
use crate::methods;
use crate::model::Graph;

pub struct Session {
    /// Shared with the interface's state, which reads names and configs from it.
    pub graph: Arc<Graph>,
    pub params: Params,
    pub device: Device,
    /// Inputs per batched pass for the multi-evaluation methods (sized to the model and the
    /// memory available).
    pub batch: usize,
    /// The subject of the latest input: one at a time, so the cached clean passes stay one.
    latest: Mutex<Option<Arc<Subject>>>,
}

impl Session {
    pub fn new(graph: Graph, device: Device) -> Result<Session> {
        let params = Params::load(&graph, &device)?;
        let batch = methods::batch_for(&graph, methods::batch_budget());
        Ok(Session {
            graph: Arc::new(graph),
            params,
            device,
            batch,
            latest: Mutex::default(),
        })
    }

    /// The same model with other weights (a randomization check's), sharing the graph; its
    /// subjects are its own.
    pub fn with_params(&self, params: Params) -> Session {
        Session {
            graph: self.graph.clone(),
            params,
            device: self.device.clone(),
            batch: self.batch,
            latest: Mutex::default(),
        }
    }

    pub fn executor(&self) -> Executor<'_> {
        Executor::new(&self.graph, &self.params)
    }

    /// The subject of `input`: the latest one when it is the same input (the same `Arc`),
    /// else a new one that replaces it.
    pub fn subject(&self, input: &Arc<Input>) -> Result<Arc<Subject>> {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = latest
            .as_ref()
            .filter(|s| s.input.as_ref().is_some_and(|i| Arc::ptr_eq(i, input)))
        {
            return Ok(s.clone());
        }
        let subject = Arc::new(Subject::new(self, input.clone())?);
        *latest = Some(subject.clone());
        Ok(subject)
    }

    /// The raw class scores for an input (its clean pass, kept for the maps that follow).
    pub fn scores(&self, input: &Arc<Input>) -> Result<Vec<f32>> {
        self.subject(input)?.scores(self)
    }
}
