//! Grad-CAM++ (Chattopadhay et al. 2018), as pytorch-grad-cam's `GradCAMPlusPlus` computes it:
//! α = G² / (2G² + Σ_hw A · G³ + ε) where G ≠ 0 (else 0), channel weight = Σ_hw α · relu(G),
//! ε = 1e-6 (pytorch-grad-cam 1.5.7).

use candle_core::Tensor;

use super::cam::{self, spatial_sum, CamWeights};
use super::context::Cx;
use super::{Family, LayerNeed, Method, MethodInfo, Output, Picture, Tab};
use crate::error::Result;

pub struct GradCamPlusPlus;

impl CamWeights for GradCamPlusPlus {
    fn weights(&self, a: &Tensor, g: &Tensor) -> Result<Tensor> {
        let g2 = g.sqr()?;
        let g3 = (&g2 * g)?;
        let sum_a = spatial_sum(a)?;
        let denom = ((&g2 * 2.0)? + g3.broadcast_mul(&sum_a)?)?.affine(1.0, 1e-6)?;
        let alpha = (&g2 / denom)?;
        let alpha = g.ne(0f32)?.where_cond(&alpha, &alpha.zeros_like()?)?;
        spatial_sum(&(alpha * g.relu()?)?)
    }
}

impl Method for GradCamPlusPlus {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "gradcampp",
            title: "Grad-CAM++",
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
