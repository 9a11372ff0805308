//! LayerCAM (Jiang et al. 2021; pytorch-grad-cam `LayerCAM`): element-wise weights relu(G).

use candle_core::Tensor;

use super::cam::{self, CamWeights};
use super::context::Cx;
use super::{LayerNeed, Method, MethodInfo, Output};
use crate::error::Result;

pub struct LayerCam;

impl CamWeights for LayerCam {
    fn weights(&self, _a: &Tensor, g: &Tensor) -> Result<Tensor> {
        Ok(g.relu()?)
    }
}

impl Method for LayerCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "layercam",
            name: "LayerCAM",
            layer: LayerNeed::SpatialMap,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        cam::run(self, cx)
    }
}
