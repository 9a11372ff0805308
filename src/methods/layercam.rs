//! LayerCAM (Jiang et al. 2021; pytorch-grad-cam `LayerCAM`): element-wise weights relu(G).

use candle_core::Tensor;

use super::cam::{self, CamWeights};
use super::context::Cx;
use super::{Family, LayerNeed, Method, MethodInfo, Output, Picture, Tab};
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
            title: "LayerCAM",
            family: Family::Cam,
            layer: LayerNeed::SpatialMap,
            batched: false,
            stackable: true,
            needs_input: true,
            options: &[],
            tab: Tab::CamCycle,
            picture: Picture::Overlay,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        cam::run(self, cx)
    }
}
