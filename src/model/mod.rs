//! What a network IS: the typed graph, layer kinds and their configs, weights, shapes, and the
//! descriptions (config view, summary rows) built from them. No I/O formats, no execution.

pub mod build;
pub mod describe;
pub mod graph;
pub mod kind;
pub mod mapped;
mod rng;
pub mod shape;
pub mod weights;

pub use graph::{Graph, Layer, LayerId, ParamTotals, SourceLayer};
pub use kind::*;
pub use weights::{HostTensor, ParamCount, StoredType, Weight, WeightData, WeightRole};
