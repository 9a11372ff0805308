//! Gaussian blur of a prepared input (integrated gradients' `blur` baseline), per channel, in
//! either layout, with edges clamped.

use candle_core::Tensor;

use crate::error::Result;
use crate::input::preprocess::{InputSpec, Layout};
use crate::model::Graph;

pub fn gaussian_blur(x: &Tensor, sigma: f32, graph: &Graph) -> Result<Tensor> {
    let spec = InputSpec::from_input_shape(&graph.layer(graph.inputs[0]).out_shape)?;
    let data: Vec<f32> = x.flatten_all()?.to_vec1()?;
    let (c, h, w) = (spec.channels, spec.height, spec.width);
    let index = |ch: usize, y: usize, xx: usize| match spec.layout {
        Layout::Nchw => (ch * h + y) * w + xx,
        Layout::Nhwc => (y * w + xx) * c + ch,
    };
    let kernel = kernel(sigma);
    let r = kernel.len() / 2;
    let mut tmp = vec![0f32; data.len()];
    let mut out = vec![0f32; data.len()];
    for ch in 0..c {
        for y in 0..h {
            for xx in 0..w {
                tmp[index(ch, y, xx)] = (0..kernel.len())
                    .map(|k| kernel[k] * data[index(ch, y, (xx + k).saturating_sub(r).min(w - 1))])
                    .sum();
            }
        }
        for y in 0..h {
            for xx in 0..w {
                out[index(ch, y, xx)] = (0..kernel.len())
                    .map(|k| kernel[k] * tmp[index(ch, (y + k).saturating_sub(r).min(h - 1), xx)])
                    .sum();
            }
        }
    }
    Ok(Tensor::from_vec(out, x.dims(), x.device())?)
}

/// A normalized 1-D Gaussian of radius 3σ.
fn kernel(sigma: f32) -> Vec<f32> {
    let sigma = sigma.max(1e-3);
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}
