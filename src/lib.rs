//! convscope: a terminal explorer for convolutional networks.
//!
//! The rooms (see DESIGN.md), each importing only the rooms listed before it (`tests/it/rooms.rs`
//! checks it): `model` is what a network is; `imaging` pixels and arrays; `import` how a network
//! is read (the embedded demo included) and `exec` how it runs; `input` what goes in (images,
//! arrays, preprocessing); `methods` what we compute from it; `engine` the one pipeline from a
//! request to an artifact, its picture and its report; `trust` how faithful a map is; `dataset` the
//! same over a whole folder of images; `jobs` the interface's background work
//! and `term` terminal graphics; `tui` the interface; `cli` the headless commands. Only `cli`,
//! `jobs`, `term` and `tui` touch the edges (terminal, threads, tokio). Below every room:
//! `error`, `files` (reading untrusted paths), `text` (escaping text for a terminal) and
//! `alloc` (what a failed allocation does).

pub mod alloc;
pub mod cli;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod exec;
pub mod files;
pub mod imaging;
pub mod import;
pub mod input;
pub mod jobs;
pub mod methods;
pub mod model;
pub mod term;
pub mod text;
pub mod trust;
pub mod tui;

pub use error::{Error, Result};
