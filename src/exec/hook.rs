//! Per-call hooks: see (and capture, or replace) each layer's output during one forward pass.
//! Hooks live for one call and are never stored on the model.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::error::Result;
use crate::model::LayerId;

pub trait Hook {
    /// Called after `layer`'s output is computed. Returning `Some` replaces the output that
    /// the rest of the network sees.
    fn after(&mut self, layer: LayerId, output: &Tensor) -> Result<Option<Tensor>>;
}

/// The hook that does nothing.
pub struct NoHook;

impl Hook for NoHook {
    fn after(&mut self, _: LayerId, _: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }
}

impl<F: FnMut(LayerId, &Tensor) -> Result<Option<Tensor>>> Hook for F {
    fn after(&mut self, layer: LayerId, output: &Tensor) -> Result<Option<Tensor>> {
        self(layer, output)
    }
}

/// Captures the outputs of chosen layers.
#[derive(Default)]
pub struct Capture {
    pub wanted: Vec<LayerId>,
    pub captured: HashMap<LayerId, Tensor>,
}

impl Capture {
    pub fn new(wanted: impl IntoIterator<Item = LayerId>) -> Self {
        Capture {
            wanted: wanted.into_iter().collect(),
            captured: HashMap::new(),
        }
    }
}

impl Hook for Capture {
    fn after(&mut self, layer: LayerId, output: &Tensor) -> Result<Option<Tensor>> {
        if self.wanted.contains(&layer) {
            self.captured.insert(layer, output.clone());
        }
        Ok(None)
    }
}
