//! Background computation for the TUI: hashable job specs, the work a job does, a runner with
//! progress, cancel and supersede, and a cache of finished views (DESIGN.md §5).

pub mod cache;
pub mod compute;
pub mod runner;
pub mod spec;

pub use crate::engine::Session;
pub use cache::Cache;
pub use compute::{compute, Computed};
pub use runner::{JobEvent, JobResult, Runner};
pub use spec::{JobSpec, ViewKnobs};
