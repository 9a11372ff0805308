//! Between the pictures activation maximization optimizes (planar RGB or gray, pixel values
//! 0–255 at the model's input size) and the model's input: the preprocessing is affine per
//! channel (with Caffe's RGB→BGR swap), so its gradient is a per-channel scale.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::input::preprocess::{InputSpec, Layout, Preprocess};

pub struct PixelMap {
    pub spec: InputSpec,
    /// Per model channel: the picture channel it reads, and `input = scale · pixel + offset`.
    source: Vec<usize>,
    scale: Vec<f32>,
    offset: Vec<f32>,
}

impl PixelMap {
    pub fn new(spec: InputSpec, pre: Preprocess) -> PixelMap {
        let nc = spec.channels;
        let source = (0..nc)
            .map(|c| {
                if pre == Preprocess::Caffe && nc == 3 {
                    2 - c
                } else {
                    c
                }
            })
            .collect();
        let offset: Vec<f32> = (0..nc).map(|c| pre.apply(0.0, c, nc)).collect();
        let scale = (0..nc).map(|c| pre.apply(1.0, c, nc) - offset[c]).collect();
        PixelMap {
            spec,
            source,
            scale,
            offset,
        }
    }

    fn plane(&self) -> usize {
        self.spec.height * self.spec.width
    }

    /// Planar pixels `[C, H, W]` (0–255) to the model input, planar in the model's channel order.
    pub fn planar(&self, pixels: &[f32]) -> Vec<f32> {
        let hw = self.plane();
        let mut out = Vec::with_capacity(pixels.len());
        for c in 0..self.spec.channels {
            let src = &pixels[self.source[c] * hw..(self.source[c] + 1) * hw];
            out.extend(src.iter().map(|&v| self.scale[c] * v + self.offset[c]));
        }
        out
    }

    /// Planar pixels to the model input, flat in the model's layout.
    pub fn to_input(&self, pixels: &[f32]) -> Vec<f32> {
        self.layout(&self.planar(pixels))
    }

    /// The model input as a batch-1 tensor.
    pub fn input_tensor(&self, pixels: &[f32], device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_vec(
            self.to_input(pixels),
            self.spec.shape(1),
            device,
        )?)
    }

    /// A gradient with respect to the model input (flat, model layout) to one with respect to
    /// the planar pixels.
    pub fn grad_to_pixels(&self, g: &[f32]) -> Vec<f32> {
        self.planar_grad_to_pixels(&self.unlayout(g))
    }

    /// A gradient with respect to the planar model input to one with respect to the pixels.
    pub fn planar_grad_to_pixels(&self, g: &[f32]) -> Vec<f32> {
        let hw = self.plane();
        let mut out = vec![0f32; g.len()];
        for c in 0..self.spec.channels {
            let s = self.source[c];
            for p in 0..hw {
                out[s * hw + p] = self.scale[c] * g[c * hw + p];
            }
        }
        out
    }

    /// Planar `[C, H, W]` to the model's layout.
    fn layout(&self, planar: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; planar.len()];
        for c in 0..self.spec.channels {
            for p in 0..self.plane() {
                out[self.index(c, p)] = planar[c * self.plane() + p];
            }
        }
        out
    }

    /// The model's layout to planar `[C, H, W]`.
    pub fn unlayout(&self, flat: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; flat.len()];
        for c in 0..self.spec.channels {
            for p in 0..self.plane() {
                out[c * self.plane() + p] = flat[self.index(c, p)];
            }
        }
        out
    }

    fn index(&self, c: usize, p: usize) -> usize {
        match self.spec.layout {
            Layout::Nchw => c * self.plane() + p,
            Layout::Nhwc => p * self.spec.channels + c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caffe_swaps_to_bgr_and_subtracts_the_means() {
        let spec = InputSpec {
            layout: Layout::Nhwc,
            channels: 3,
            height: 1,
            width: 2,
        };
        let m = PixelMap::new(spec, Preprocess::Caffe);
        // Planar RGB: R = [10, 20], G = [30, 40], B = [50, 60].
        let x = m.to_input(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        let want = [
            50.0 - 103.939,
            30.0 - 116.779,
            10.0 - 123.68,
            60.0 - 103.939,
            40.0 - 116.779,
            20.0 - 123.68,
        ];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-4, "{x:?}");
        }
        // Gradient of Σ input: 1 per pixel (the scale is 1).
        assert_eq!(m.grad_to_pixels(&[1.0; 6]), vec![1.0; 6]);
    }

    #[test]
    fn imagenet_gradient_is_the_per_channel_scale() {
        let spec = InputSpec {
            layout: Layout::Nchw,
            channels: 3,
            height: 1,
            width: 1,
        };
        let g = PixelMap::new(spec, Preprocess::Imagenet).grad_to_pixels(&[1.0, 1.0, 1.0]);
        // (1/255 − mean)/std − (−mean/std) in float32: rounding of values near 2.
        assert!((g[0] - 1.0 / (255.0 * 0.229)).abs() < 1e-6);
    }
}
