//! The input a map explains: an image file, a prepared array, or the model's own sample
//! picture, prepared for the model, with what is needed to show it again. Shared by the CLI
//! (`--image`, `--input-npy`) and the TUI (`--image`, the `o` prompt). The `input` room: below
//! `methods` (which take the prepared tensor) and above `imaging` (NPY reading).

use std::path::{Path, PathBuf};

mod deprocess;
mod mode;
pub mod preprocess;

use image::RgbImage;
use preprocess::{
    load_image, prepare_image, prepare_npy, resize_and_center_crop, InputSpec, Layout,
    PreparedInput, Preprocess,
};

use crate::error::{Error, Result};
use crate::imaging::npy::read_npy_f32_at_most;
use crate::model::Graph;

/// Where an input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A PNG or JPEG, preprocessed.
    Image(PathBuf),
    /// An already prepared float32 array in the model's layout; no preprocessing.
    Npy(PathBuf),
    /// The picture the model ships with (the demo's).
    Sample,
}

/// A prepared input with what is needed to show it again.
#[derive(Clone, Debug)]
pub struct Input {
    pub prepared: PreparedInput,
    pub spec: InputSpec,
    /// The preprocessing applied (`None` for a prepared array, whose preprocessing is unknown).
    pub preprocess: Option<Preprocess>,
    /// The file the input came from (the sample's name for the model's own picture).
    pub path: PathBuf,
}

impl Input {
    /// Reads and prepares `source` for `graph`'s first input.
    pub fn load(graph: &Graph, source: &Source, preprocess: Preprocess) -> Result<Input> {
        let input_shape = &graph.layer(graph.inputs[0]).out_shape;
        let spec = InputSpec::from_input_shape(input_shape)?;
        // The model's evaluation transform (zoo architectures: torchvision's resize and
        // centre crop), else a plain resize to the input size.
        let fit = |img: RgbImage| match graph.crop_resize {
            Some(shorter) => resize_and_center_crop(&img, shorter, spec.width, spec.height),
            None => img,
        };
        let (prepared, preprocess, path) = match source {
            Source::Image(path) => (
                prepare_image(&fit(load_image(path)?), &spec, preprocess),
                Some(preprocess),
                path.clone(),
            ),
            Source::Npy(path) => {
                // A channels_last (Keras) model takes its array as Keras does, NHWC, exactly as
                // `preprocess_input` returns it; convscope holds it NCHW.
                let file_spec = match graph.channels_last {
                    true => InputSpec {
                        layout: Layout::Nhwc,
                        ..spec
                    },
                    false => spec,
                };
                let arr = read_npy_f32_at_most(path, spec.shape(1).iter().product())?;
                let mut prepared = prepare_npy(arr, &file_spec, path)?;
                if graph.channels_last {
                    prepared = nhwc_to_nchw(prepared, &spec);
                }
                (prepared, None, path.clone())
            }
            Source::Sample => match graph.sample_image {
                Some((name, png)) => (
                    prepare_image(&fit(decode_png(name, png)?), &spec, preprocess),
                    Some(preprocess),
                    PathBuf::from(name),
                ),
                None => {
                    return Err(Error::Usage(
                        "this model has no picture of its own: give --image PATH".into(),
                    ))
                }
            },
        };
        Ok(Input {
            prepared,
            spec,
            preprocess,
            path,
        })
    }

    /// The file name to show (and to name exports after).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap_or(self.path.as_os_str())
            .to_string_lossy()
            .into_owned()
    }

    pub fn stem(&self) -> String {
        stem(&self.path)
    }
}

/// An NHWC input laid out NCHW.
fn nhwc_to_nchw(p: PreparedInput, spec: &InputSpec) -> PreparedInput {
    let (c, h, w) = (spec.channels, spec.height, spec.width);
    let mut data = vec![0f32; p.data.len()];
    for i in 0..h * w {
        for k in 0..c {
            data[k * h * w + i] = p.data[i * c + k];
        }
    }
    PreparedInput {
        shape: spec.shape(1),
        data,
    }
}

/// A path's file stem, or `input`.
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into())
}

fn decode_png(name: &str, bytes: &[u8]) -> Result<image::RgbImage> {
    image::load_from_memory(bytes)
        .map(|img| img.to_rgb8())
        .map_err(|e| Error::Image {
            path: PathBuf::from(name),
            detail: e.to_string(),
        })
}
