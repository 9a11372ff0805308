//! HiResCAM (Draelos & Carin 2020; pytorch-grad-cam `HiResCAM`): the gradient multiplies the
//! activations element-wise instead of being averaged first.

use candle_core::Tensor;

use super::cam::{self, CamWeights};
use super::context::Cx;
use super::{Family, LayerNeed, Method, MethodInfo, Output, Picture, Tab};
use crate::error::Result;

pub struct HiResCam;

impl CamWeights for HiResCam {
    fn weights(&self, _a: &Tensor, g: &Tensor) -> Result<Tensor> {
        Ok(g.clone())
    }
}

impl Method for HiResCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "hirescam",
            title: "HiResCAM",
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
