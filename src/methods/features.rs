//! A layer's output for the input (its feature maps) as a grid of channels: `--channels top:N`
//! (the N most active by mean activation, the default top:16), `first:N`, or a list `i,j,k`.
//! NPY is the whole activation `[C, h, w]`.

use super::context::Cx;
use super::{Artifact, LayerNeed, Method, MethodInfo, Output, Tile};
use crate::error::{Error, Result};
use crate::exec::Capture;

pub struct Features;

impl Method for Features {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "features",
            name: "Feature maps",
            layer: LayerNeed::SpatialMap,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let layer = cx.layer()?;
        let mut capture = Capture::new([layer]);
        cx.exec.forward(&cx.input, &mut capture)?;
        let act = capture.captured[&layer].squeeze(0)?;
        let (c, h, w) = act.dims3()?;
        let data: Vec<f32> = act.flatten_all()?.to_vec1()?;
        let plane = h * w;
        let means: Vec<f32> = (0..c)
            .map(|k| data[k * plane..(k + 1) * plane].iter().sum::<f32>() / plane as f32)
            .collect();
        let chosen = select(&cx.knobs.channels, &means)?;
        let tiles = chosen
            .iter()
            .map(|&k| Tile {
                label: k.to_string(),
                channels: 1,
                height: h,
                width: w,
                data: data[k * plane..(k + 1) * plane].to_vec(),
            })
            .collect();
        Ok(Artifact::Grid {
            layer,
            shape: vec![c, h, w],
            data,
            tiles,
            grayscale: false,
        }
        .into())
    }
}

/// The channels `spec` names, in display order.
fn select(spec: &str, means: &[f32]) -> Result<Vec<usize>> {
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
            "--channels: channel {k} is out of range: the layer has {c} channels (0..{})",
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
        assert_eq!(select("top:2", &means).unwrap(), vec![1, 3]);
        assert_eq!(select("first:9", &means).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(select("2, 0", &means).unwrap(), vec![2, 0]);
        assert!(select("7", &means)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        assert!(select("top:0", &means).is_err() && select("best", &means).is_err());
    }
}
