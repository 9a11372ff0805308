//! What a method produces, on the host, with its raw range kept (normalization is for display).

use serde_json::{Map, Value};

use crate::model::LayerId;

#[derive(Clone, Debug)]
pub enum Artifact {
    /// Input-space attribution with the input's shape without the batch (`[C,H,W]`, or
    /// `[H,W,C]` for NHWC models), raw and signed.
    Attribution { shape: Vec<usize>, data: Vec<f32> },
    /// Small pictures shown side by side (a layer's kernels, its feature maps), with the raw
    /// array they come from (`shape`/`data`, written to NPY).
    Grid {
        layer: LayerId,
        shape: Vec<usize>,
        data: Vec<f32>,
        tiles: Vec<Tile>,
        /// Single-channel tiles are drawn in gray whatever the colormap (kernels).
        grayscale: bool,
    },
    /// A picture made by a method (activation maximization): `data` in the model's input space
    /// and layout (`shape`, written to NPY), `pixels` what to show, planar `[channels, h, w]`.
    Image {
        shape: Vec<usize>,
        data: Vec<f32>,
        channels: usize,
        height: usize,
        width: usize,
        pixels: Vec<u8>,
    },
    /// Several layers' grids, one row each (`features --layers`, the layer-wise figure). There
    /// is no single array to write: `data` is every shown tile's values in order (for the range
    /// and the map check), `shape` is its length.
    Rows { rows: Vec<Row>, data: Vec<f32> },
    /// A class activation map at a layer's resolution, after the ReLU, before any scaling.
    Cam {
        layer: LayerId,
        height: usize,
        width: usize,
        data: Vec<f32>,
    },
    /// A map over the input's H×W that belongs to no layer (occlusion's target probability
    /// per window position), raw; drawn like a CAM.
    Heatmap {
        height: usize,
        width: usize,
        data: Vec<f32>,
    },
    /// A per-pixel map at the input's size (raw, written to NPY) and which pixels of the input
    /// it keeps visible (`keep`, row-major): the picture is the input with the rest black.
    Mask {
        height: usize,
        width: usize,
        data: Vec<f32>,
        keep: Vec<bool>,
    },
}

impl Artifact {
    pub fn data(&self) -> &[f32] {
        match self {
            Artifact::Attribution { data, .. }
            | Artifact::Cam { data, .. }
            | Artifact::Heatmap { data, .. }
            | Artifact::Mask { data, .. }
            | Artifact::Rows { data, .. }
            | Artifact::Image { data, .. }
            | Artifact::Grid { data, .. } => data,
        }
    }

    /// The array shape as written to NPY.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Artifact::Attribution { shape, .. }
            | Artifact::Grid { shape, .. }
            | Artifact::Image { shape, .. } => shape.clone(),
            Artifact::Cam { height, width, .. }
            | Artifact::Heatmap { height, width, .. }
            | Artifact::Mask { height, width, .. } => vec![*height, *width],
            Artifact::Rows { data, .. } => vec![data.len()],
        }
    }
}

/// One layer's row of a [`Artifact::Rows`]: its output shape `[C, h, w]` and the tiles shown,
/// under `label` (the layer's name: pictures have no graph to look it up in).
#[derive(Clone, Debug)]
pub struct Row {
    pub layer: LayerId,
    pub label: String,
    pub shape: Vec<usize>,
    pub tiles: Vec<Tile>,
}

/// One picture of a grid: `channels` (1 or 3) planes of `height`x`width`, raw values.
#[derive(Clone, Debug)]
pub struct Tile {
    pub label: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

/// A method's result plus facts worth reporting (e.g. integrated gradients' completeness gap).
#[derive(Clone, Debug)]
pub struct Output {
    pub artifact: Artifact,
    pub extras: Map<String, Value>,
}

impl From<Artifact> for Output {
    fn from(artifact: Artifact) -> Self {
        Output {
            artifact,
            extras: Map::new(),
        }
    }
}
