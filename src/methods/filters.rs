//! A convolution's kernels as pictures (the seed article's `get_weights()[0][:, :, 0]`): one
//! RGB tile per filter when the kernels see 3 input channels (the first layer), otherwise one
//! grayscale tile per filter for input channel `--in-channel` (default 0). NPY is the raw kernel
//! tensor `[O, I, kh, kw]`. A transposed convolution's kernels are shown the same way, by output
//! filter: what each input channel stamps onto that filter's map (`[filters, in, kh, kw]`).

use super::context::Cx;
use super::options::FiltersOptions;
use super::{Artifact, Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab, Tile};
use crate::error::{Error, Result};
use crate::model::{Graph, LayerId, LayerKind};

pub struct Filters;

impl Method for Filters {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "filters",
            title: "Filters",
            family: Family::Weights,
            layer: LayerNeed::Kernel,
            batched: false,
            stackable: false,
            needs_input: true,
            options: &[Opt::InChannel],
            tab: Tab::Own {
                title: "Filters",
                short: "Filt",
            },
            picture: Picture::Grid,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        // The layer asked for (a Keras row) names the picture; its convolution has the kernels.
        let shown = cx.layer()?;
        let layer = kernel_of(cx.graph, shown)?;
        let kernel = by_filter(cx.graph, layer)?;
        let [o, i, kh, kw] = <[usize; 4]>::try_from(kernel.shape.as_slice())
            .map_err(|_| Error::graph(&cx.graph.layer(layer).name, "kernel is not 4-D"))?;
        let plane = kh * kw;
        let in_channel = cx.options::<FiltersOptions>()?.in_channel;
        let rgb = i == 3 && in_channel.is_none();
        let channel = in_channel.unwrap_or(0);
        if !rgb && channel >= i {
            return Err(Error::Usage(format!(
                "--in-channel {channel} is out of range: the kernels of '{}' have {i} input channels",
                cx.graph.layer(layer).name
            )));
        }
        let tiles = (0..o)
            .map(|f| {
                let filter = &kernel.data[f * i * plane..(f + 1) * i * plane];
                let (channels, data) = if rgb {
                    (3, filter.to_vec())
                } else {
                    (1, filter[channel * plane..(channel + 1) * plane].to_vec())
                };
                Tile {
                    label: f.to_string(),
                    channels,
                    height: kh,
                    width: kw,
                    data,
                }
            })
            .collect();
        Ok(Artifact::Grid {
            layer: shown,
            shape: kernel.shape.clone(),
            data: kernel.data.clone(),
            tiles,
            grayscale: true,
        }
        .into())
    }
}

/// A convolution's kernel as `[filters, in, kh, kw]`: as held for a convolution; a transposed
/// one holds `[in, filters, kh, kw]` (the convolution it transposes), swapped here.
fn by_filter(graph: &Graph, layer: LayerId) -> Result<std::sync::Arc<crate::model::HostTensor>> {
    let l = graph.layer(layer);
    let kernel = l.weights[0].load()?;
    if !matches!(l.kind, LayerKind::ConvTranspose2d(_)) {
        return Ok(kernel);
    }
    let [i, o, kh, kw] = <[usize; 4]>::try_from(kernel.shape.as_slice())
        .map_err(|_| Error::graph(&l.name, "kernel is not 4-D"))?;
    let plane = kh * kw;
    let mut data = Vec::with_capacity(kernel.data.len());
    for f in 0..o {
        for c in 0..i {
            let at = (c * o + f) * plane;
            data.extend_from_slice(&kernel.data[at..at + plane]);
        }
    }
    Ok(std::sync::Arc::new(crate::model::HostTensor {
        shape: vec![o, i, kh, kw],
        data,
    }))
}

/// The rows holding a convolution's kernels, as the summary names them.
fn conv_layers(graph: &Graph) -> Vec<LayerId> {
    graph
        .rows()
        .filter(|&id| conv_in_row(graph, id).is_some())
        .collect()
}

/// The convolution of a layer: itself, or for a row with a folded convolution (a Keras
/// convolution with its fused activation) that convolution; the last one where a row has two
/// (SeparableConv2D's pointwise step, the one with `filters` kernels).
fn conv_in_row(graph: &Graph, id: LayerId) -> Option<LayerId> {
    let is_conv = |m: &LayerId| {
        matches!(
            graph.layer(*m).kind,
            LayerKind::Conv2d(_) | LayerKind::ConvTranspose2d(_)
        )
    };
    if is_conv(&id) {
        return Some(id);
    }
    if graph.layer(id).folded_into.is_some() {
        return None;
    }
    graph.row_members(id).into_iter().rev().find(is_conv)
}

/// The first convolution's row, whose kernels look at the image itself.
pub fn default_layer(graph: &Graph) -> Option<LayerId> {
    conv_layers(graph).first().copied()
}

/// The convolution whose kernels a layer shows, or the refusal of `check_kernel`.
pub fn kernel_of(graph: &Graph, layer: LayerId) -> Result<LayerId> {
    check_kernel(graph, layer)?;
    conv_in_row(graph, layer).ok_or_else(|| Error::graph(&graph.layer(layer).name, "no kernel"))
}

/// Only convolutions have kernels to show. The refusal lists the convolutions nearest the layer
/// (in graph order; all of them when there are few), since the one a user means is usually next
/// to the BatchNorm or activation they named.
pub fn check_kernel(graph: &Graph, layer: LayerId) -> Result<()> {
    if conv_in_row(graph, layer).is_some() {
        return Ok(());
    }
    const SHOWN: usize = 6;
    let convs = conv_layers(graph);
    let mut near = convs.clone();
    near.sort_by_key(|id| id.0.abs_diff(layer.0));
    near.truncate(SHOWN);
    near.sort();
    let names: Vec<&str> = near
        .iter()
        .map(|&id| graph.layer(id).name.as_str())
        .collect();
    let list = match convs.len() {
        0 => "none".to_string(),
        n if n <= SHOWN => names.join(", "),
        n => format!(
            "{} (the {SHOWN} nearest of {n}; `convscope summary MODEL` lists them all)",
            names.join(", ")
        ),
    };
    Err(Error::Usage(format!(
        "layer '{}' ({}) has no convolution kernels; layers with kernels: {list}",
        graph.layer(layer).name,
        graph.layer(layer).type_label(),
    )))
}
