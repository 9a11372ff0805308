//! The class-activation-map pipeline shared by Grad-CAM and its family, as pytorch-grad-cam's
//! `BaseCAM`: take the layer's activations A `[K,h,w]` and the gradient G of the target score
//! with respect to them, let the method weigh them, and return relu(Σ_k W_k · A_k) at the
//! layer's resolution. Methods differ only in `weights`.

use candle_core::Tensor;

use super::context::Cx;
use super::{Artifact, Output};
use crate::error::{Error, Result};
use crate::exec::{Gradients, ReluRule};
use crate::model::{Graph, LayerId};

/// A CAM method: per-channel weights `[K,1,1]`, or per-element weights `[K,h,w]`.
pub trait CamWeights {
    fn weights(&self, a: &Tensor, g: &Tensor) -> Result<Tensor>;
}

pub fn run(method: &dyn CamWeights, cx: &mut Cx<'_>) -> Result<Output> {
    let layer = cx.layer()?;
    check_spatial(cx.graph, layer)?;
    let grads = cx.clean_gradients(ReluRule::Normal, &[layer])?;
    Ok(from_gradients(method, cx, layer, &grads)?.into())
}

/// The CAM at `layer` from a reverse pass that kept the true gradient there (Guided Grad-CAM
/// hands in the one pass it shares with guided backpropagation).
pub fn from_gradients(
    method: &dyn CamWeights,
    cx: &mut Cx<'_>,
    layer: LayerId,
    grads: &Gradients,
) -> Result<Artifact> {
    let g = grads.get(layer).ok_or_else(|| {
        Error::Usage(format!(
            "the target score does not depend on layer '{}'; pick a layer before the classifier",
            cx.graph.layer(layer).name
        ))
    })?;
    let (a, g) = (cx.clean_pass()?.get(layer).squeeze(0)?, g.squeeze(0)?);
    let w = method.weights(&a, &g)?;
    let cam = a.broadcast_mul(&w)?.sum(0)?.relu()?;
    let (height, width) = cam.dims2()?;
    Ok(Artifact::Cam {
        layer,
        height,
        width,
        data: cam.flatten_all()?.to_vec1()?,
    })
}

/// CAMs need an NCHW feature map with more than one position.
pub fn check_spatial(graph: &Graph, layer: LayerId) -> Result<()> {
    let shape = &graph.layer(layer).out_shape;
    if shape.len() == 4 && shape[2] * shape[3] > 1 {
        return Ok(());
    }
    let candidates: Vec<String> = spatial_layers(graph)
        .iter()
        .rev()
        .take(5)
        .map(|&id| graph.layer(id).name.clone())
        .collect();
    Err(Error::Usage(format!(
        "layer '{}' has output shape {shape:?}, not a spatial feature map; CAMs and feature maps need a layer with \
         [N,C,H,W] output and H×W > 1, e.g. {}",
        graph.layer(layer).name,
        candidates.join(", ")
    )))
}

/// Layers with a spatial NCHW output (excluding the input), among the rows the summary shows
/// (a folded step such as the transpose before a channels_last Flatten is not a feature map).
pub fn spatial_layers(graph: &Graph) -> Vec<LayerId> {
    graph
        .rows()
        .filter(|&id| !graph.inputs.contains(&id))
        .filter(|&id| {
            let s = &graph.layer(id).out_shape;
            s.len() == 4 && s[2] * s[3] > 1
        })
        .collect()
}

/// torch-cam's rule: the last layer whose output still has spatial size > 1.
pub fn default_layer(graph: &Graph) -> Option<LayerId> {
    spatial_layers(graph).last().copied()
}

/// Σ over the spatial dims, keeping them as size 1: `[K,h,w]` -> `[K,1,1]`.
pub fn spatial_sum(t: &Tensor) -> Result<Tensor> {
    Ok(t.sum_keepdim(1)?.sum_keepdim(2)?)
}
