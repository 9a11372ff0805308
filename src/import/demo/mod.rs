//! The embedded demo: a world of generated shape pictures (`shapes`) in which a small
//! VGG-style network, trained by `examples/train_demo.rs`, learns to tell ten shapes apart, so
//! that a first run shows real maps offline.

pub mod model;
pub mod shapes;

use crate::error::{Error, Result};
use crate::import::safetensors;
use crate::model::Graph;

/// The MODEL argument that opens the demo.
pub const NAME: &str = "demo";

/// The trained weights (`examples/train_demo.rs` wrote them), with the class names and the
/// training facts in the header's metadata.
const WEIGHTS: &[u8] = include_bytes!("../../../demo/model/demo.safetensors");

/// The picture used when no input is given: a held-out generated star, off centre, on stripes.
const SAMPLE: (&str, &[u8]) = (
    "star.png",
    include_bytes!("../../../demo/images/shapes/star.png"),
);

/// The demo model with its trained weights, class names and sample picture.
pub fn graph() -> Result<Graph> {
    let contents = safetensors::read(WEIGHTS, "the embedded demo weights")?;
    let classes: Vec<String> = contents
        .metadata
        .get("classes")
        .ok_or_else(|| Error::Input("the embedded demo weights name no classes".into()))?
        .split(',')
        .map(str::to_string)
        .collect();
    let mut g = model::untrained(classes.len(), 0)?;
    model::load_weights(&mut g, &contents.tensors)?;
    g.labels = Some(classes);
    g.sample_image = Some(SAMPLE);
    Ok(g)
}
