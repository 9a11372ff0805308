//! The input options shared by every command that runs the model: `--image` or `--input-npy`,
//! `--preprocess`, `--device`.

use std::path::PathBuf;

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::input::preprocess::Preprocess;
pub use crate::input::{Input, Source};
use crate::model::Graph;

#[derive(clap::Args, Debug, Clone)]
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
    /// 0-255), unit ([0,1]), signed ([-1,1]) or raw (0-255) [default: the model's own, for
    /// keras.applications models; else imagenet].
    #[arg(long, value_parser = parse_preprocess)]
    pub preprocess: Option<Preprocess>,
    /// Where to compute: auto, cpu, cuda or cuda:N (CUDA needs the `cuda` build feature).
    #[arg(long, default_value = "auto")]
    pub device: String,
}

fn parse_preprocess(s: &str) -> std::result::Result<Preprocess, String> {
    s.parse::<Preprocess>().map_err(|e| e.to_string())
}

impl InputArgs {
    /// Where the input comes from: `--image`, `--input-npy`, or the model's own picture.
    pub fn source(&self) -> Source {
        match (&self.image, &self.input_npy) {
            (Some(path), _) => Source::Image(path.clone()),
            (None, Some(path)) => Source::Npy(path.clone()),
            (None, None) => Source::Sample,
        }
    }

    /// Reads and prepares the input for `graph`'s first input.
    pub fn prepare(&self, graph: &Graph) -> Result<Input> {
        if self.source() == Source::Sample && graph.sample_image.is_none() {
            return Err(Error::Usage("give --image PATH or --input-npy PATH".into()));
        }
        let preprocess = self.preprocess_for(graph);
        Input::load(graph, &self.source(), preprocess)
    }

    /// `--preprocess`, else the model's own (said on stderr when an image is preprocessed).
    pub fn preprocess_for(&self, graph: &Graph) -> Preprocess {
        let (p, note) = Preprocess::for_model(self.preprocess, graph);
        if let (Some(note), false) = (note, self.input_npy.is_some()) {
            errln!("convscope: {note}");
        }
        p
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
