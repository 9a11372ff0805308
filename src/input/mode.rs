//! The preprocessing modes: how pixel values (0–255, RGB) become the numbers a model was
//! trained on (torchvision's ImageNet statistics, Keras's `preprocess_input` modes), and which
//! one a model gets when none is given.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// ImageNet channel means and standard deviations on 0–1 RGB values (torchvision).
pub(super) const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub(super) const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// torchvision's grayscale convention: the average of the three channels' statistics.
pub(super) const IMAGENET_GRAY_MEAN: f32 = 0.449;
pub(super) const IMAGENET_GRAY_STD: f32 = 0.226;
/// Caffe (Keras `mode='caffe'`) channel means on 0–255 values, in BGR order.
pub(super) const CAFFE_MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];
/// For one channel, the average of the three Caffe means.
pub(super) const CAFFE_GRAY_MEAN: f32 = (103.939 + 116.779 + 123.68) / 3.0;

/// How pixel values (0–255, RGB) become the numbers a model was trained on.
///
/// For a one-channel model the image is first converted to 8-bit luma with the ITU-R 601-2
/// weights `0.299 R + 0.587 G + 0.114 B`, rounded as PIL's `convert("L")` does (which both
/// Keras' `load_img(color_mode="grayscale")` and torchvision's `Grayscale` use); then:
/// `Imagenet` uses mean 0.449 and std 0.226 (torchvision's convention for grayscale: the
/// averages of the RGB statistics), `Caffe` subtracts the average of the three Caffe means
/// (114.799), and `Unit` and `Signed` are unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preprocess {
    /// torchvision: `x / 255`, then `(x - mean) / std` per RGB channel with
    /// mean `[0.485, 0.456, 0.406]` and std `[0.229, 0.224, 0.225]`.
    Imagenet,
    /// Keras `preprocess_input(mode='caffe')` (VGG, ResNet50 v1): RGB to BGR, values kept in
    /// 0–255, minus the BGR means `[103.939, 116.779, 123.68]`; no scaling.
    Caffe,
    /// `x / 255`, in [0, 1].
    Unit,
    /// `x / 127.5 - 1`, in [-1, 1] (Keras `mode='tf'`: Inception, MobileNet, EfficientNet v2).
    Signed,
    /// The pixel values as they are, 0–255 (Keras's EfficientNet, which rescales inside the
    /// model: its `preprocess_input` passes the image through).
    Raw,
}

impl Preprocess {
    /// Every mode, in the order they are documented.
    pub const ALL: [Preprocess; 5] = [
        Preprocess::Imagenet,
        Preprocess::Caffe,
        Preprocess::Unit,
        Preprocess::Signed,
        Preprocess::Raw,
    ];

    /// The mode a Keras `preprocess_input` mode names (`caffe`, `tf`, `torch`, `raw`).
    pub fn keras_mode(mode: &str) -> Option<Preprocess> {
        match mode {
            "caffe" => Some(Preprocess::Caffe),
            "tf" => Some(Preprocess::Signed),
            "torch" => Some(Preprocess::Imagenet),
            "raw" => Some(Preprocess::Raw),
            _ => None,
        }
    }

    /// The preprocessing of a model's images: the one given, else the one the model says it
    /// was trained with (keras.applications' `preprocess_input`), else ImageNet's. Returns a
    /// line saying so when the model chose it.
    pub fn for_model(
        given: Option<Preprocess>,
        graph: &crate::model::Graph,
    ) -> (Preprocess, Option<String>) {
        if let Some(p) = given {
            return (p, None);
        }
        match graph.preprocess.and_then(Preprocess::keras_mode) {
            Some(p) => (
                p,
                Some(format!(
                    "images preprocessed as {p}, as keras.applications' preprocess_input does \
                     for this model (--preprocess to change)"
                )),
            ),
            None => (Preprocess::Imagenet, None),
        }
    }

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Preprocess::Imagenet => "imagenet",
            Preprocess::Caffe => "caffe",
            Preprocess::Unit => "unit",
            Preprocess::Signed => "signed",
            Preprocess::Raw => "raw",
        }
    }

    /// Maps a pixel value `v` (0–255) of output channel `channel` (in the model's channel
    /// order) of a `channels`-channel input.
    pub(crate) fn apply(self, v: f32, channel: usize, channels: usize) -> f32 {
        let gray = channels == 1;
        match self {
            Preprocess::Imagenet if gray => (v / 255.0 - IMAGENET_GRAY_MEAN) / IMAGENET_GRAY_STD,
            Preprocess::Imagenet => (v / 255.0 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel],
            Preprocess::Caffe if gray => v - CAFFE_GRAY_MEAN,
            Preprocess::Caffe => v - CAFFE_MEAN_BGR[channel],
            Preprocess::Unit => v / 255.0,
            Preprocess::Signed => v / 127.5 - 1.0,
            Preprocess::Raw => v,
        }
    }
}

impl fmt::Display for Preprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Preprocess {
    type Err = Error;

    /// Parses a mode name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self> {
        crate::error::choose(s, &Preprocess::ALL, |p| p.as_str(), "preprocessing")
    }
}
