//! `render features --layers A,B,C`: several layers, one row each. Checked before anything is
//! computed, so a bad name or a refused combination costs nothing and writes nothing.

use crate::error::{Error, Result};
use crate::methods::cam;
use crate::model::{Graph, LayerId};

/// What can be refused before the model is even read: `--layers` on another method, with
/// `--layer`, or with `--npy` for more than one layer (NPY holds one array; the layers' maps
/// differ in shape, so there is no honest single array to write).
pub fn check_args(method: &str, layers: &[String], layer: Option<&str>, npy: bool) -> Result<()> {
    if layers.is_empty() {
        return Ok(());
    }
    if method != "features" {
        return Err(Error::Usage(format!(
            "--layers is for features (one row per layer); {method} takes one --layer NAME"
        )));
    }
    if layer.is_some() {
        return Err(Error::Usage(
            "give either --layer NAME or --layers A,B,C, not both".into(),
        ));
    }
    if let Some(empty) = layers.iter().position(|l| l.trim().is_empty()) {
        return Err(Error::Usage(format!(
            "--layers {}: name {} is empty; expected layer names separated by commas",
            layers.join(","),
            empty + 1
        )));
    }
    if npy && layers.len() > 1 {
        return Err(Error::Usage(format!(
            "--npy writes one layer's activation, but --layers names {} layers; run once per layer with --layer NAME --npy FILE, or drop --npy",
            layers.len()
        )));
    }
    Ok(())
}

/// The named layers, each with a spatial output (unknown names get suggestions).
pub fn resolve(graph: &Graph, layers: &[String]) -> Result<Vec<LayerId>> {
    layers
        .iter()
        .map(|name| {
            let id = graph.find(name.trim())?;
            cam::check_spatial(graph, id)?;
            Ok(id)
        })
        .collect()
}
