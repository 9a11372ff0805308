//! Grad-CAM (Selvaraju et al. 2017; pytorch-grad-cam `GradCAM`, captum `LayerGradCam` with
//! `relu_attributions=True`): channel weights are the spatial mean of the gradient.

use candle_core::Tensor;

use super::cam::{self, CamWeights};
use super::context::Cx;
use super::{Family, LayerNeed, Method, MethodInfo, Output, Picture, Tab};
use crate::error::Result;

pub struct GradCam;

impl CamWeights for GradCam {
    fn weights(&self, _a: &Tensor, g: &Tensor) -> Result<Tensor> {
        Ok(g.mean_keepdim(1)?.mean_keepdim(2)?)
    }
}

impl Method for GradCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "gradcam",
            title: "Grad-CAM",
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
