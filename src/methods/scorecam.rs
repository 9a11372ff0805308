//! Score-CAM (Wang et al. 2020), as pytorch-grad-cam's `ScoreCAM` computes it: each channel of
//! the layer's activation is upsampled to the input size (bilinear with aligned corners, as
//! `nn.UpsamplingBilinear2d`), min-max normalized (ε = 1e-8) and multiplied into the input; the
//! target's raw score for each masked input, softmaxed over the channels, weighs the channels:
//! relu(Σ_k w_k A_k). `--top-channels N` scores only the N most active channels (by mean), the
//! others weighing nothing. Evaluated in batches.

use super::options::ScoreCamOptions;
use candle_core::Tensor;

use super::cam;
use super::context::Cx;
use super::{Artifact, Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab};
use crate::error::Result;
use crate::input::preprocess::{InputSpec, Layout};

pub struct ScoreCam;

impl Method for ScoreCam {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "scorecam",
            title: "Score-CAM",
            family: Family::Cam,
            layer: LayerNeed::SpatialMap,
            batched: true,
            stackable: false,
            needs_input: true,
            options: &[Opt::TopChannels, Opt::Batch],
            tab: Tab::Own {
                title: "Score-CAM",
                short: "Score",
            },
            picture: Picture::Overlay,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let layer = cx.layer()?;
        cam::check_spatial(cx.graph, layer)?;
        let act = cx.clean_pass()?.get(layer).squeeze(0)?;
        let (k, h, w) = act.dims3()?;
        let a: Vec<f32> = act.flatten_all()?.to_vec1()?;
        let spec = InputSpec::from_input_shape(&cx.graph.layer(cx.graph.inputs[0]).out_shape)?;
        let x: Vec<f32> = cx.input.flatten_all()?.to_vec1()?;
        let plane = h * w;
        let mut channels: Vec<usize> = (0..k).collect();
        if let Some(n) = cx.options::<ScoreCamOptions>()?.top_channels {
            let mean = |c: usize| a[c * plane..(c + 1) * plane].iter().sum::<f32>();
            channels.sort_by(|&p, &q| mean(q).total_cmp(&mean(p)));
            channels.truncate(n.max(1));
        }
        let mut scores = Vec::with_capacity(channels.len());
        for chunk in channels.chunks(cx.batch.max(1)) {
            cx.control.check()?;
            let mut batch = Vec::with_capacity(chunk.len() * x.len());
            for &c in chunk {
                let mask = normalized(&upsample_aligned(
                    &a[c * plane..(c + 1) * plane],
                    (h, w),
                    (spec.height, spec.width),
                ));
                batch.extend(masked(&x, &mask, &spec));
            }
            let shape: Vec<usize> = [&[chunk.len()], &cx.input.dims()[1..]].concat();
            scores.extend(cx.target_scores(&Tensor::from_vec(batch, shape, cx.input.device())?)?);
            cx.control.step(scores.len(), channels.len(), "channels")?;
        }
        let weights = super::target::softmax(&scores);
        let mut map = vec![0f32; plane];
        for (&c, wgt) in channels.iter().zip(&weights) {
            for (m, v) in map.iter_mut().zip(&a[c * plane..(c + 1) * plane]) {
                *m += wgt * v;
            }
        }
        map.iter_mut().for_each(|v| *v = v.max(0.0));
        let mut out: Output = Artifact::Cam {
            layer,
            height: h,
            width: w,
            data: map,
        }
        .into();
        out.extras
            .insert("channels_scored".into(), channels.len().into());
        Ok(out)
    }
}

/// Bilinear resize with aligned corners: source coordinate = dst · (in − 1)/(out − 1).
fn upsample_aligned(src: &[f32], from: (usize, usize), to: (usize, usize)) -> Vec<f32> {
    let coord = |d: usize, n_in: usize, n_out: usize| -> (usize, usize, f32) {
        if n_out <= 1 || n_in <= 1 {
            return (0, 0, 0.0);
        }
        let s = d as f32 * (n_in - 1) as f32 / (n_out - 1) as f32;
        let i0 = (s.floor() as usize).min(n_in - 1);
        (i0, (i0 + 1).min(n_in - 1), s - i0 as f32)
    };
    let mut out = Vec::with_capacity(to.0 * to.1);
    for y in 0..to.0 {
        let (y0, y1, fy) = coord(y, from.0, to.0);
        for x in 0..to.1 {
            let (x0, x1, fx) = coord(x, from.1, to.1);
            let at = |yy: usize, xx: usize| src[yy * from.1 + xx];
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    v.iter().map(|x| (x - lo) / (hi - lo + 1e-8)).collect()
}

/// The input times an `H×W` mask, in the model's layout.
fn masked(x: &[f32], mask: &[f32], spec: &InputSpec) -> Vec<f32> {
    let plane = spec.height * spec.width;
    (0..x.len())
        .map(|i| {
            let pixel = match spec.layout {
                Layout::Nchw => i % plane,
                Layout::Nhwc => i / spec.channels,
            };
            x[i] * mask[pixel]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_corners_keep_the_corners() {
        // torch.nn.UpsamplingBilinear2d(size=(3, 3))(torch.tensor([[[[0., 1.], [2., 3.]]]]))
        // = [[0, .5, 1], [1, 1.5, 2], [2, 2.5, 3]]
        let up = upsample_aligned(&[0.0, 1.0, 2.0, 3.0], (2, 2), (3, 3));
        assert_eq!(up, vec![0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0]);
    }
}
