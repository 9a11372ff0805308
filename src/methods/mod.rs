//! What we compute from a network. For now: input preparation.

pub mod preprocess;
