//! convscope: a terminal explorer for convolutional networks.
//!
//! The rooms (see DESIGN.md): `model` is what a network is, `import` how it is read, `exec` how
//! it runs, `methods` what we compute from it, `imaging` pixels and arrays, `cli` the headless
//! commands, `term` terminal graphics. Only `cli` and `term` (and later `tui`, `jobs`) touch the
//! edges.

pub mod cli;
pub mod demo;
pub mod error;
pub mod exec;
pub mod imaging;
pub mod import;
pub mod methods;
pub mod model;
pub mod term;

pub use error::{Error, Result};
