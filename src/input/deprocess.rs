//! Back from a prepared input to a picture: the base that maps are overlaid on.

use image::RgbImage;

use super::preprocess::{
    InputSpec, Layout, PreparedInput, Preprocess, CAFFE_GRAY_MEAN, CAFFE_MEAN_BGR,
    IMAGENET_GRAY_MEAN, IMAGENET_GRAY_STD, IMAGENET_MEAN, IMAGENET_STD,
};
use crate::imaging::npy::shape_string;

/// Turns a prepared batch-1 input back into a displayable RGB image at the model's input size
/// (the base picture of explanation overlays).
///
/// With `pre` given, the preprocessing is inverted exactly as [`Preprocess`] documents it
/// (`Imagenet`: `(x * std + mean) * 255`; `Caffe`: `+ mean`, then BGR back to RGB; `Unit`:
/// `* 255`; `Signed`: `(x + 1) * 127.5`), rounded and clamped to 0–255. With `None` (an `.npy`
/// input whose preprocessing is unknown) the whole array is min-max scaled to 0–255 for display
/// (a constant array shows black). Either layout is read; a one-channel input becomes gray RGB.
/// NaN shows as 0.
///
/// # Panics
///
/// If `spec.channels` is not 1 or 3, or `input` does not hold `spec`'s number of values.
pub fn deprocess(input: &PreparedInput, spec: &InputSpec, pre: Option<Preprocess>) -> RgbImage {
    let (nc, hw) = (spec.channels, spec.height * spec.width);
    assert!(matches!(nc, 1 | 3), "deprocess: {nc} channels");
    assert_eq!(
        input.data.len(),
        nc * hw,
        "deprocess: {} values for shape {}",
        input.data.len(),
        shape_string(&spec.shape(1))
    );
    let gray = nc == 1;
    let (lo, hi) = input
        .data
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    // Model channel `c`'s value back to a 0-255 pixel value.
    let undo = |v: f32, c: usize| -> f32 {
        match pre {
            Some(Preprocess::Imagenet) if gray => {
                (v * IMAGENET_GRAY_STD + IMAGENET_GRAY_MEAN) * 255.0
            }
            Some(Preprocess::Imagenet) => (v * IMAGENET_STD[c] + IMAGENET_MEAN[c]) * 255.0,
            Some(Preprocess::Caffe) if gray => v + CAFFE_GRAY_MEAN,
            Some(Preprocess::Caffe) => v + CAFFE_MEAN_BGR[c],
            Some(Preprocess::Unit) => v * 255.0,
            Some(Preprocess::Signed) => (v + 1.0) * 127.5,
            Some(Preprocess::Raw) => v,
            None if hi > lo => (v - lo) / (hi - lo) * 255.0,
            None => 0.0,
        }
    };
    let mut raw = Vec::with_capacity(hw * 3);
    for p in 0..hw {
        for oc in 0..3 {
            let c = if gray {
                0
            } else if pre == Some(Preprocess::Caffe) {
                2 - oc
            } else {
                oc
            };
            let v = match spec.layout {
                Layout::Nchw => input.data[c * hw + p],
                Layout::Nhwc => input.data[p * nc + c],
            };
            // `as u8` saturates, and sends NaN to 0.
            raw.push(undo(v, c).round() as u8);
        }
    }
    let side = |n: usize| u32::try_from(n).expect("input side over u32::MAX");
    RgbImage::from_raw(side(spec.width), side(spec.height), raw).expect("3 bytes per pixel")
}
