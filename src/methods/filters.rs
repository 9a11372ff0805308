//! A convolution's kernels as pictures (the seed article's `get_weights()[0][:, :, 0]`): one
//! RGB tile per filter when the kernels see 3 input channels (the first layer), otherwise one
//! grayscale tile per filter for input channel `--in-channel` (default 0). NPY is the raw kernel
//! tensor `[O, I, kh, kw]`.

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
        let layer = cx.layer()?;
        check_kernel(cx.graph, layer)?;
        let kernel = cx.graph.layer(layer).weights[0].load()?;
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
            layer,
            shape: kernel.shape.clone(),
            data: kernel.data.clone(),
            tiles,
            grayscale: true,
        }
        .into())
    }
}

fn conv_layers(graph: &Graph) -> Vec<LayerId> {
    graph
        .ids()
        .filter(|&id| matches!(graph.layer(id).kind, LayerKind::Conv2d(_)))
        .collect()
}

/// The first convolution, whose kernels look at the image itself.
pub fn default_layer(graph: &Graph) -> Option<LayerId> {
    conv_layers(graph).first().copied()
}

/// Only convolutions have kernels to show. The refusal lists the convolutions nearest the layer
/// (in graph order; all of them when there are few), since the one a user means is usually next
/// to the BatchNorm or activation they named.
pub fn check_kernel(graph: &Graph, layer: LayerId) -> Result<()> {
    if matches!(graph.layer(layer).kind, LayerKind::Conv2d(_)) {
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
        graph.layer(layer).kind.type_name(),
    )))
}
