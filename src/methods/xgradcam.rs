//! XGrad-CAM (Fu et al. 2020; pytorch-grad-cam `XGradCAM`): channel weight
//! Σ_hw (G · A) / (Σ_hw A + 1e-7).

use candle_core::Tensor;

use super::cam::{self, spatial_sum, CamWeights};
use super::context::Cx;
use super::{Family, LayerNeed, Method, MethodInfo, Output, Picture, Tab};
use crate::error::Result;

pub struct XGradCam;

impl CamWeights for XGradCam {
    fn weights(&self, a: &Tensor, g: &Tensor) -> Result<Tensor> {
        let num = spatial_sum(&(g * a)?)?;
        let den = spatial_sum(a)?.affine(1.0, 1e-7)?;
        Ok((num / den)?)
    }
}

impl Method for XGradCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "xgradcam",
            title: "XGrad-CAM",
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
