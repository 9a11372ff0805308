//! How a network is READ: file formats into `model::Graph`, and class labels.

pub mod labels;
pub mod onnx;
pub mod safetensors;
pub mod zoo;

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::Graph;

/// Opens a model given on the command line: `demo` (the embedded demo model; `./demo` for a
/// file of that name), or an ONNX file.
pub fn open_model(arg: &str) -> Result<Graph> {
    if arg == crate::demo::NAME {
        return crate::demo::graph();
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "{arg} is a directory; give the path of an .onnx model file"
        )));
    }
    onnx::load(path)
}
