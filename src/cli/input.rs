//! The input options shared by every command that runs the model: `--image` or `--input-npy`,
//! `--preprocess`, `--device`.

use std::path::PathBuf;

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::imaging::npy::read_npy_f32;
use crate::methods::preprocess::{
    load_image, prepare_image, prepare_npy, InputSpec, PreparedInput, Preprocess,
};
use crate::model::Graph;

#[derive(clap::Args, Debug)]
pub struct InputArgs {
    /// An image (PNG or JPEG): converted to RGB, resized to the model's input size (bilinear,
    /// no crop) and preprocessed.
    #[arg(long, conflicts_with = "input_npy")]
    pub image: Option<PathBuf>,
    /// An already prepared float32 .npy array in the model's layout (NCHW with N=1, or CHW);
    /// no preprocessing is applied.
    #[arg(long, value_name = "PATH")]
    pub input_npy: Option<PathBuf>,
    /// Preprocessing of --image: imagenet (torchvision mean/std), caffe (BGR, mean-subtracted,
    /// 0-255), unit ([0,1]) or signed ([-1,1]).
    #[arg(long, default_value = "imagenet", value_parser = parse_preprocess)]
    pub preprocess: Preprocess,
    /// Where to compute: auto, cpu, cuda or cuda:N (CUDA needs the `cuda` build feature).
    #[arg(long, default_value = "auto")]
    pub device: String,
}

fn parse_preprocess(s: &str) -> std::result::Result<Preprocess, String> {
    s.parse::<Preprocess>().map_err(|e| e.to_string())
}

fn decode_png(name: &str, bytes: &[u8]) -> Result<image::RgbImage> {
    image::load_from_memory(bytes)
        .map(|img| img.to_rgb8())
        .map_err(|e| Error::Image {
            path: PathBuf::from(name),
            detail: e.to_string(),
        })
}

/// A prepared input with what is needed to show it again.
pub struct Input {
    pub prepared: PreparedInput,
    pub spec: InputSpec,
    /// The preprocessing applied (`None` for `--input-npy`, whose preprocessing is unknown).
    pub preprocess: Option<Preprocess>,
    /// The file the input came from.
    pub path: PathBuf,
}

impl InputArgs {
    /// Reads and prepares the input for `graph`'s first input.
    pub fn prepare(&self, graph: &Graph) -> Result<Input> {
        let input_shape = &graph.layer(graph.inputs[0]).out_shape;
        let spec = InputSpec::from_input_shape(input_shape)?;
        let (prepared, preprocess, path) = match (&self.image, &self.input_npy) {
            (Some(path), _) => (
                prepare_image(&load_image(path)?, &spec, self.preprocess),
                Some(self.preprocess),
                path.clone(),
            ),
            (None, Some(path)) => (
                prepare_npy(read_npy_f32(path)?, &spec, path)?,
                None,
                path.clone(),
            ),
            (None, None) => match graph.sample_image {
                // The demo ships a picture of its own.
                Some((name, png)) => (
                    prepare_image(&decode_png(name, png)?, &spec, self.preprocess),
                    Some(self.preprocess),
                    PathBuf::from(name),
                ),
                None => return Err(Error::Usage("give --image PATH or --input-npy PATH".into())),
            },
        };
        Ok(Input {
            prepared,
            spec,
            preprocess,
            path,
        })
    }

    /// Whether an input was given at all.
    pub fn given(&self) -> bool {
        self.image.is_some() || self.input_npy.is_some()
    }

    /// The prepared input as a batch-1 tensor on `device`.
    pub fn tensor(&self, graph: &Graph, device: &Device) -> Result<Tensor> {
        self.prepare(graph)?.prepared.to_tensor(device)
    }
}
