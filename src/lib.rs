//! convscope: a terminal explorer for convolutional networks.
//!
//! The rooms (see DESIGN.md): `model` is what a network is, `import` how it is read, `exec` how
//! it runs, `methods` what we compute from it, `imaging` pixels and arrays, `cli` the headless
//! commands, `jobs` the interface's background work, `term` terminal graphics, `tui` the
//! interface. Only `cli`, `jobs`, `term` and `tui` touch the edges (terminal, threads, tokio).
//! Below every room: `error`, `files` (reading untrusted paths), `text` (escaping text for a
//! terminal) and `alloc` (what a failed allocation does).

pub mod alloc;
pub mod cli;
pub mod demo;
pub mod error;
pub mod exec;
pub mod files;
pub mod imaging;
pub mod import;
pub mod jobs;
pub mod methods;
pub mod model;
pub mod term;
pub mod text;
pub mod tui;

pub use error::{Error, Result};
