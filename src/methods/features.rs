//! A layer's output for the input (its feature maps) as a grid of channels: `--channels top:N`
//! (the N most active by mean activation, the default top:16), `first:N`, or a list `i,j,k`.
//! NPY is the whole activation `[C, h, w]`. With several layers (`--layers A,B,C`, one forward
//! pass) each layer is a row of its chosen channels, as in the layer-wise figures of the
//! visualization articles; there is then no single array, so no NPY.

use super::cam::check_spatial;
use super::context::Cx;
use super::options::FeaturesOptions;
use super::{
    Artifact, Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Row, Tab, Tile,
};
use crate::error::{Error, Result};

pub struct Features;

impl Method for Features {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "features",
            title: "Feature maps",
            family: Family::Activations,
            layer: LayerNeed::SpatialMap,
            batched: false,
            stackable: true,
            needs_input: true,
            options: &[Opt::Channels, Opt::Layers],
            tab: Tab::Own {
                title: "Feature maps",
                short: "Feat",
            },
            picture: Picture::Grid,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let o: FeaturesOptions = cx.options()?;
        let layers = match o.layers.as_slice() {
            [] => vec![cx.layer()?],
            many => many.to_vec(),
        };
        for &l in &layers {
            check_spatial(cx.graph, l)?;
        }
        let acts = cx.clean_pass()?;
        let mut rows = Vec::with_capacity(layers.len());
        // The last layer's whole activation: the NPY when it is the only one.
        let mut data = Vec::new();
        for &layer in &layers {
            let act = acts.get(layer).squeeze(0)?;
            let (c, h, w) = act.dims3()?;
            data = act.flatten_all()?.to_vec1()?;
            let name = &cx.graph.layer(layer).name;
            rows.push(Row {
                layer,
                label: name.clone(),
                shape: vec![c, h, w],
                tiles: tiles(&data, (c, h, w), &o.channels, name)?,
            });
        }
        if let [row] = rows.as_slice() {
            return Ok(Artifact::Grid {
                layer: row.layer,
                shape: row.shape.clone(),
                data,
                tiles: row.tiles.clone(),
                grayscale: false,
            }
            .into());
        }
        let shown = rows
            .iter()
            .flat_map(|r| r.tiles.iter().flat_map(|t| t.data.iter().copied()))
            .collect();
        Ok(Artifact::Rows { rows, data: shown }.into())
    }
}

/// The chosen channels of one layer's activation `[c, h, w]` as tiles labelled by index.
fn tiles(
    data: &[f32],
    (c, h, w): (usize, usize, usize),
    spec: &str,
    layer: &str,
) -> Result<Vec<Tile>> {
    let plane = h * w;
    let means: Vec<f32> = (0..c)
        .map(|k| data[k * plane..(k + 1) * plane].iter().sum::<f32>() / plane as f32)
        .collect();
    Ok(select(spec, &means, layer)?
        .into_iter()
        .map(|k| Tile {
            label: k.to_string(),
            channels: 1,
            height: h,
            width: w,
            data: data[k * plane..(k + 1) * plane].to_vec(),
        })
        .collect())
}

/// The channels `spec` names, in display order.
fn select(spec: &str, means: &[f32], layer: &str) -> Result<Vec<usize>> {
    let c = means.len();
    let bad = || {
        Error::Usage(format!(
            "--channels {spec}: expected top:N, first:N or a list of channel indices like 0,5,7"
        ))
    };
    let count = |n: &str| n.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad);
    if let Some(n) = spec.strip_prefix("top:") {
        let mut order: Vec<usize> = (0..c).collect();
        order.sort_by(|&a, &b| means[b].total_cmp(&means[a]));
        return Ok(order.into_iter().take(count(n)?).collect());
    }
    if let Some(n) = spec.strip_prefix("first:") {
        return Ok((0..c.min(count(n)?)).collect());
    }
    let list: Vec<usize> = spec
        .split(',')
        .map(|p| p.trim().parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    if let Some(&k) = list.iter().find(|&&k| k >= c) {
        return Err(Error::Usage(format!(
            "--channels: channel {k} is out of range: layer '{layer}' has {c} channels (0..{})",
            c - 1
        )));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_selection() {
        let means = [0.1, 3.0, -1.0, 2.0];
        assert_eq!(select("top:2", &means, "l").unwrap(), vec![1, 3]);
        assert_eq!(select("first:9", &means, "l").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(select("2, 0", &means, "l").unwrap(), vec![2, 0]);
        let e = select("7", &means, "conv1").unwrap_err().to_string();
        assert!(
            e.contains("out of range") && e.contains("'conv1' has 4 channels"),
            "{e}"
        );
        assert!(select("top:0", &means, "l").is_err() && select("best", &means, "l").is_err());
    }
}
