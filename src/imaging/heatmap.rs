//! Explanation maps as 2-D arrays of floats: checking, normalizing, resizing and colouring them
//! the way pytorch-grad-cam (`scale_cam_image`) and the saliency papers do.

use std::fmt;

use image::RgbImage;

use crate::imaging::colormap::{diverging, Colormap};

/// A 2-D map of floats, row-major: `data[y * width + x]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

/// Why a map cannot be shown as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapProblem {
    /// Some value is NaN or infinite.
    NonFinite,
    /// Every value is exactly zero (or there are no values).
    AllZero,
    /// Every value is the same, up to rounding (see [`check`]).
    Constant,
}

impl MapProblem {
    /// One line saying what is wrong.
    pub fn describe(self) -> &'static str {
        match self {
            MapProblem::NonFinite => "the map contains NaN or infinite values",
            MapProblem::AllZero => "the map is zero everywhere, so there is nothing to show",
            MapProblem::Constant => {
                "the map has the same value everywhere, so there is nothing to show"
            }
        }
    }
}

impl fmt::Display for MapProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What, if anything, keeps `data` from being a meaningful map.
///
/// In this order: any NaN or infinity is [`MapProblem::NonFinite`]; all values exactly 0 (or no
/// values at all) is [`MapProblem::AllZero`]; a range `max - min` of at most `1e-6` times the
/// largest magnitude `max(|min|, |max|)` is [`MapProblem::Constant`]. The test is purely
/// relative, about 8 f32 ulps: differences that small are rounding noise of a constant
/// computation, while a map of tiny but genuinely varying values (gradients of 1e-9 are not
/// rare) is kept.
pub fn check(data: &[f32]) -> Option<MapProblem> {
    if data.iter().any(|v| !v.is_finite()) {
        return Some(MapProblem::NonFinite);
    }
    if data.iter().all(|&v| v == 0.0) {
        return Some(MapProblem::AllZero);
    }
    let (min, max) = min_max(data);
    if max - min <= 1e-6 * min.abs().max(max.abs()) {
        return Some(MapProblem::Constant);
    }
    None
}

/// Min-max scaling to [0, 1] as pytorch-grad-cam's `scale_cam_image`:
/// `(x - min) / (1e-7 + max - min)`.
///
/// Because of the `1e-7`, the largest value maps slightly below 1, and a map whose range is not
/// much larger than 1e-7 maps well below 1 (a constant map maps to all 0). NaN and infinite
/// values give meaningless results: [`check`] first.
pub fn normalize(data: &[f32]) -> Vec<f32> {
    let (min, max) = min_max(data);
    let scale = 1e-7 + (max - min);
    data.iter().map(|&v| (v - min) / scale).collect()
}

/// Smallest and largest value, ignoring NaN; `(0, 0)` when there are none.
fn min_max(data: &[f32]) -> (f32, f32) {
    let (min, max) = data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if min > max {
        (0.0, 0.0)
    } else {
        (min, max)
    }
}

/// Per pixel, the largest `|a|` over the channels of a CHW array (C order), as the saliency
/// maps of Simonyan et al. (2014). A NaN in any channel makes the pixel NaN.
///
/// # Panics
///
/// If `attr.len() != channels * height * width`.
pub fn channel_max_abs(attr: &[f32], channels: usize, height: usize, width: usize) -> Heatmap {
    reduce_channels(attr, channels, height, width, |m, a| {
        if m.is_nan() || a.is_nan() {
            f32::NAN
        } else {
            m.max(a.abs())
        }
    })
}

/// Per pixel, the sum over the channels of a CHW array (C order), sign kept.
///
/// # Panics
///
/// If `attr.len() != channels * height * width`.
pub fn channel_sum(attr: &[f32], channels: usize, height: usize, width: usize) -> Heatmap {
    reduce_channels(attr, channels, height, width, |s, a| s + a)
}

fn reduce_channels(
    attr: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    f: impl Fn(f32, f32) -> f32,
) -> Heatmap {
    let hw = height * width;
    assert_eq!(
        attr.len(),
        channels * hw,
        "channel reduction: {} values for {channels}x{height}x{width}",
        attr.len()
    );
    let mut data = vec![0f32; hw];
    for plane in attr.chunks_exact(hw.max(1)) {
        for (d, &a) in data.iter_mut().zip(plane) {
            *d = f(*d, a);
        }
    }
    Heatmap {
        height,
        width,
        data,
    }
}

/// For one axis of a bilinear resize: each output index's two source indices and the weight
/// of the second.
fn axis_taps(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    // In f32, as torch computes it for float maps.
    let scale = src as f32 / dst as f32;
    (0..dst)
        .map(|d| {
            // Half-pixel centres; torch clamps a negative source position to 0.
            let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s as usize).min(src - 1);
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

impl Heatmap {
    /// A map of `height` by `width` values.
    ///
    /// # Panics
    ///
    /// If `data.len() != height * width`.
    pub fn new(height: usize, width: usize, data: Vec<f32>) -> Heatmap {
        assert_eq!(
            data.len(),
            height * width,
            "Heatmap::new: {} values for {height}x{width}",
            data.len()
        );
        Heatmap {
            height,
            width,
            data,
        }
    }

    /// [`check`] on the values.
    pub fn check(&self) -> Option<MapProblem> {
        check(&self.data)
    }

    /// The map scaled to [0, 1] by [`normalize`].
    pub fn normalized(&self) -> Heatmap {
        Heatmap {
            data: normalize(&self.data),
            ..*self
        }
    }

    /// Bilinear resize with half-pixel centres (`align_corners=False`), computed in f32 as
    /// torch does: the numbers of `torch.nn.functional.interpolate(mode="bilinear",
    /// align_corners=False)` (without `antialias`) up to the last bit or so (tested within 1e-6),
    /// and of OpenCV's `cv2.resize(..., interpolation=INTER_LINEAR)` on float32 maps, which is
    /// what pytorch-grad-cam uses to bring a CAM to the image size. When downsampling, torch and
    /// OpenCV (and this) all still sample just the two nearest source pixels per axis, without
    /// antialiasing (torch and cv2 agree within 3e-7 for 5x7 -> 2x3 and 3x4, 8x8 -> 4x4); for
    /// smoothed downsampling use an area or antialiased filter instead.
    ///
    /// # Panics
    ///
    /// If this map is empty and the target is not.
    pub fn resize_bilinear(&self, height: usize, width: usize) -> Heatmap {
        if height == 0 || width == 0 {
            return Heatmap::new(height, width, Vec::new());
        }
        assert!(
            self.height > 0 && self.width > 0,
            "resize_bilinear: cannot resize an empty map to {height}x{width}"
        );
        let rows = axis_taps(self.height, height);
        let cols = axis_taps(self.width, width);
        let mut data = Vec::with_capacity(height * width);
        for &(y0, y1, ly) in &rows {
            let (r0, r1) = (
                &self.data[y0 * self.width..][..self.width],
                &self.data[y1 * self.width..][..self.width],
            );
            for &(x0, x1, lx) in &cols {
                let top = (1.0 - lx) * r0[x0] + lx * r0[x1];
                let bottom = (1.0 - lx) * r1[x0] + lx * r1[x1];
                data.push((1.0 - ly) * top + ly * bottom);
            }
        }
        Heatmap::new(height, width, data)
    }

    /// Colours a map already in [0, 1] (values outside are clamped, NaN gets the colour of 0).
    pub fn colorize(&self, cmap: Colormap) -> RgbImage {
        self.to_image(|v| cmap.rgb(v))
    }

    /// Colours a signed map with [`diverging`] after dividing by the largest magnitude, so that
    /// the strongest value is full blue or red and 0 is white. An all-zero map is all white.
    pub fn colorize_signed(&self) -> RgbImage {
        let m = self
            .data
            .iter()
            .filter(|v| v.is_finite())
            .fold(0f32, |m, v| m.max(v.abs()));
        let scale = if m > 0.0 { 1.0 / m } else { 0.0 };
        self.to_image(|v| diverging(v * scale))
    }

    fn to_image(&self, colour: impl Fn(f32) -> [u8; 3]) -> RgbImage {
        let dim = |n: usize| u32::try_from(n).expect("heatmap side over u32::MAX");
        let raw: Vec<u8> = self.data.iter().flat_map(|&v| colour(v)).collect();
        RgbImage::from_raw(dim(self.width), dim(self.height), raw)
            .expect("three bytes per heatmap value")
    }
}

#[cfg(test)]
#[path = "heatmap_tests.rs"]
mod tests;
