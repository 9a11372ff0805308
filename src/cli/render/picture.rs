//! What a person sees: a method's artifact as an RGB image. CAMs are min-max normalized,
//! upsampled bilinearly to the input size and overlaid on the input; attributions are shown as
//! max |·| over channels (or, with `--signed`, the channel sum on a blue-white-red scale).

use image::RgbImage;

use super::super::input::Input;
use crate::error::Result;
use crate::imaging::colormap::Colormap;
use crate::imaging::heatmap::{channel_max_abs, channel_sum, Heatmap};
use crate::imaging::png::{overlay, parse_size, resize_rgb};
use crate::methods::preprocess::{deprocess, Layout};
use crate::methods::Artifact;

#[derive(clap::Args, Debug)]
pub struct LookArgs {
    /// Colormap: jet, turbo, viridis, inferno or gray.
    #[arg(long, default_value = "jet", help_heading = "Picture")]
    pub colormap: String,
    /// Opacity of a CAM over the input image, 0 to 1.
    #[arg(
        long,
        default_value_t = 0.5,
        allow_negative_numbers = true,
        help_heading = "Picture"
    )]
    pub alpha: f32,
    /// Show attributions signed (blue negative, red positive) instead of max |·|.
    #[arg(long, help_heading = "Picture")]
    pub signed: bool,
    /// Draw a CAM alone, not over the input image.
    #[arg(long, help_heading = "Picture")]
    pub no_overlay: bool,
    /// Output size WIDTHxHEIGHT [default: the model's input size].
    #[arg(long, help_heading = "Picture")]
    pub size: Option<String>,
}

pub struct Look {
    pub colormap: Colormap,
    pub alpha: f32,
    pub signed: bool,
    pub overlay: bool,
    pub size: Option<(u32, u32)>,
}

impl LookArgs {
    pub fn look(&self) -> Result<Look> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(crate::Error::Usage(format!(
                "--alpha {} must be between 0 and 1",
                self.alpha
            )));
        }
        Ok(Look {
            colormap: self.colormap.parse()?,
            alpha: self.alpha,
            signed: self.signed,
            overlay: !self.no_overlay,
            size: self.size.as_deref().map(parse_size).transpose()?,
        })
    }
}

pub fn render(artifact: &Artifact, input: &Input, look: &Look) -> RgbImage {
    let spec = &input.spec;
    let (w, h) = look.size.unwrap_or((spec.width as u32, spec.height as u32));
    match artifact {
        Artifact::Cam {
            height,
            width,
            data,
            ..
        } => {
            let map = Heatmap::new(*height, *width, data.clone())
                .normalized()
                .resize_bilinear(h as usize, w as usize);
            let heat = map.colorize(look.colormap);
            if look.overlay {
                let base = deprocess(&input.prepared, spec, input.preprocess);
                overlay(&resize_rgb(&base, w, h), &heat, look.alpha)
            } else {
                heat
            }
        }
        Artifact::Attribution { data, .. } => {
            let chw = to_chw(data, spec.layout, spec.channels, spec.height, spec.width);
            let (c, sh, sw) = (spec.channels, spec.height, spec.width);
            if look.signed {
                channel_sum(&chw, c, sh, sw)
                    .resize_bilinear(h as usize, w as usize)
                    .colorize_signed()
            } else {
                channel_max_abs(&chw, c, sh, sw)
                    .normalized()
                    .resize_bilinear(h as usize, w as usize)
                    .colorize(look.colormap)
            }
        }
    }
}

/// Attributions of NHWC models come in HWC order; the heatmap helpers want CHW.
fn to_chw(data: &[f32], layout: Layout, c: usize, h: usize, w: usize) -> Vec<f32> {
    match layout {
        Layout::Nchw => data.to_vec(),
        Layout::Nhwc => {
            let mut out = vec![0.0; data.len()];
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        out[(ch * h + y) * w + x] = data[(y * w + x) * c + ch];
                    }
                }
            }
            out
        }
    }
}
