//! Guided Grad-CAM (Selvaraju et al. 2017; captum `GuidedGradCam`): guided backpropagation
//! multiplied by the Grad-CAM map upsampled to the input size with nearest-neighbour
//! interpolation (captum's default `interpolate_mode="nearest"`). One forward pass, and one
//! reverse pass wherever the model's head after the layer has no ReLU (see [`gradients`]);
//! captum runs two of each.

use candle_core::Tensor;

use super::cam;
use super::context::{attribution, Cx};
use super::gradcam::GradCam;
use super::objective::input_of;
use super::{Artifact, Family, LayerNeed, Method, MethodInfo, Output, Picture, Tab};
use crate::error::Result;
use crate::exec::{Gradients, ReluRule};
use crate::input::preprocess::{InputSpec, Layout};
use crate::model::LayerId;

pub struct GuidedGradCam;

impl Method for GuidedGradCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "guided-gradcam",
            title: "Guided Grad-CAM",
            family: Family::Cam,
            layer: LayerNeed::SpatialMap,
            batched: false,
            stackable: true,
            needs_input: true,
            options: &[],
            tab: Tab::CamCycle,
            picture: Picture::Attribution,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let layer = cx.layer()?;
        cam::check_spatial(cx.graph, layer)?;
        let (cam_grads, guided) = gradients(cx, layer)?;
        let Artifact::Cam {
            height,
            width,
            data,
            ..
        } = cam::from_gradients(&GradCam, cx, layer, &cam_grads)?
        else {
            unreachable!("Grad-CAM returns a CAM")
        };
        let spec = InputSpec::from_input_shape(&cx.graph.layer(cx.graph.inputs[0]).out_shape)?;
        let up = nearest(&data, (height, width), (spec.height, spec.width));
        let map_shape = match spec.layout {
            Layout::Nchw => vec![1, 1, spec.height, spec.width],
            Layout::Nhwc => vec![1, spec.height, spec.width, 1],
        };
        let map = Tensor::from_vec(up, map_shape, cx.input.device())?;
        Ok(attribution(&guided.broadcast_mul(&map)?)?.into())
    }
}

/// Grad-CAM's pass (the true gradient at `layer`) and guided backpropagation's gradient at the
/// input. The guided rule changes only ReLU-family layers, so where none lies between the
/// layer and the objective (ResNet, MobileNet and EfficientNet heads: pooling and a linear
/// layer) one guided reverse pass keeping both is exact for both; where one does (VGG's ReLU
/// classifier) Grad-CAM's own pass runs first, from the objective down to the layer only.
fn gradients(cx: &mut Cx<'_>, layer: LayerId) -> Result<(Gradients, Tensor)> {
    if ReluRule::Guided.reaches(cx.graph, layer, cx.objective.layer()) {
        let at_layer = cx.clean_gradients(ReluRule::Normal, &[layer])?;
        return Ok((at_layer, cx.clean_input_gradient(ReluRule::Guided)?));
    }
    let both = cx.clean_gradients(ReluRule::Guided, &[layer, cx.graph.inputs[0]])?;
    let guided = input_of(&cx.exec, &both)?;
    Ok((both, guided))
}

/// Nearest-neighbour resize as `torch.nn.functional.interpolate(mode="nearest")`:
/// source index = floor(dst · in / out).
pub fn nearest(data: &[f32], from: (usize, usize), to: (usize, usize)) -> Vec<f32> {
    let src = |dst: usize, n_in: usize, n_out: usize| {
        ((dst as f64 * n_in as f64 / n_out as f64).floor() as usize).min(n_in - 1)
    };
    let mut out = Vec::with_capacity(to.0 * to.1);
    for y in 0..to.0 {
        let sy = src(y, from.0, to.0);
        for x in 0..to.1 {
            out.push(data[sy * from.1 + src(x, from.1, to.1)]);
        }
    }
    out
}
