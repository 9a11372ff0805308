//! Background computation for the TUI: hashable job specs, the work a job does (a view's map,
//! or a part of the Trust view's scores), a runner with progress, cancel and supersede, and a
//! cache of finished results (DESIGN.md §5).

pub mod cache;
pub mod compute;
pub mod runner;
pub mod spec;
pub mod trust;

pub use crate::engine::Session;
pub use cache::{Cache, Lru};
pub use compute::{compute, Computed};
pub use runner::{run, Done, JobEvent, JobResult, Runner, Work};
pub use spec::{JobSpec, Key, ViewKnobs};
pub use trust::{judge, Part, TrustKnobs, TrustSpec};
