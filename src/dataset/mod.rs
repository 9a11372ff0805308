//! Whole datasets: one command over every image of a folder, a pattern or a list, on one
//! machine or sharded across a cluster by its own scheduler. Above `engine` and `trust` (what
//! is computed per image), below `cli` (which commands do it).
//!
//! - [`inputs`]: the images, sorted, with the relative paths their outputs mirror;
//! - [`Shard`]: this process's deterministic share (`--shard I/N`, or the index from Slurm
//!   or Kubernetes);
//! - [`manifest`]: one JSON line per image — what makes a run resumable and mergeable;
//! - [`run()`]: the loop (read-ahead, atomic files, clean stop on a signal);
//! - [`merge()`]: the shards' parts joined into the manifest a single run writes.

mod digest;
pub mod inputs;
pub mod manifest;
mod merge;
mod run;
mod shard;
mod walk;

pub use digest::model_digest;
pub use inputs::{list, Item, Listing};
pub use manifest::RunInfo;
pub use merge::{merge, Merged};
pub use run::{run, Done, Outcome, Plan, Progress, Work};
pub use shard::{in_scheduler_array, Shard};
