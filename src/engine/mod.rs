//! The explanation engine: one pipeline from a loaded model, a prepared input and a request to
//! an artifact, its picture and the facts a report states. `render`, the interface's jobs and
//! every later command call it. Above `methods` and `input`, below `jobs`, `cli` and `tui`.
//!
//! - [`Session`]: the model loaded once (graph, weights on the device, batch size) and the
//!   subject of its latest input;
//! - [`Subject`]: one prepared input with its clean forward pass, computed once and shared by
//!   the scores, the choice of target and every method that reads the clean input;
//! - [`explain`]: a [`Request`] on a subject → [`Explained`] (the output and its [`Facts`]);
//!   [`picture`] draws it as both the CLI and the interface show it;
//! - [`Together`]: several inputs explained in one forward and one reverse pass.

mod explain;
pub mod picture;
mod session;
mod subject;
mod together;

pub use explain::{explain, picture, Explained, Facts, Request, TargetFacts};
pub use session::Session;
pub use subject::Subject;
pub use together::Together;
