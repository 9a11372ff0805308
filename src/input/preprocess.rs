//! Input preparation shared by every command that takes an image: decode, resize, normalize
//! the way the model was trained, and lay the values out as the model expects (NCHW or NHWC,
//! batch of one). An already prepared `.npy` array is checked and passed through instead.

use std::borrow::Cow;
use std::fmt;
use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageError, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};
use crate::imaging::npy::{shape_string, NpyArray};

/// Largest image width or height [`load_image`] decodes.
pub const MAX_IMAGE_DIM: u32 = 16384;
/// Most memory [`load_image`] lets a decoder allocate.
pub const MAX_IMAGE_ALLOC: u64 = 1 << 30;

pub use super::mode::*;

/// Where the channel axis is in a 4-D image tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Batch, channels, height, width (PyTorch).
    Nchw,
    /// Batch, height, width, channels (TensorFlow / Keras).
    Nhwc,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Nchw => "NCHW",
            Layout::Nhwc => "NHWC",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a model's image input looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InputSpec {
    pub layout: Layout,
    /// 1 (grayscale) or 3 (color).
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl InputSpec {
    /// Reads the layout from a model's input shape (batch first, 4-D): NCHW if `shape[1]` is 1
    /// or 3, else NHWC if `shape[3]` is 1 or 3 (a shape that fits both, such as
    /// `[1, 3, 3, 3]`, is taken as NCHW). The batch dimension is ignored.
    pub fn from_input_shape(shape: &[usize]) -> Result<InputSpec> {
        let found = || shape_string(shape);
        if shape.len() != 4 {
            return Err(Error::Input(format!(
                "the model's input has shape {} ({}-D); convscope expects a 4-D image input, \
                 (N, C, H, W) or (N, H, W, C) with 1 or 3 channels",
                found(),
                shape.len()
            )));
        }
        let (layout, channels, height, width) = if matches!(shape[1], 1 | 3) {
            (Layout::Nchw, shape[1], shape[2], shape[3])
        } else if matches!(shape[3], 1 | 3) {
            (Layout::Nhwc, shape[3], shape[1], shape[2])
        } else {
            return Err(Error::Input(format!(
                "the model's input has shape {}, which is not an image input: convscope expects \
                 (N, C, H, W) or (N, H, W, C) with 1 or 3 channels",
                found()
            )));
        };
        if height == 0 || width == 0 {
            return Err(Error::Input(format!(
                "the model's input has shape {}, with no fixed height and width; convscope \
                 needs an input of fixed size",
                found()
            )));
        }
        if height > MAX_IMAGE_DIM as usize || width > MAX_IMAGE_DIM as usize {
            return Err(Error::Input(format!(
                "the model's input has shape {}; convscope handles images up to \
                 {MAX_IMAGE_DIM}x{MAX_IMAGE_DIM}",
                found()
            )));
        }
        Ok(InputSpec {
            layout,
            channels,
            height,
            width,
        })
    }

    /// The full input shape in this layout, with the given batch size first.
    pub fn shape(&self, batch: usize) -> Vec<usize> {
        match self.layout {
            Layout::Nchw => vec![batch, self.channels, self.height, self.width],
            Layout::Nhwc => vec![batch, self.height, self.width, self.channels],
        }
    }
}

/// A model input ready to run: batch of one, in the model's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedInput {
    /// `InputSpec::shape(1)`.
    pub shape: Vec<usize>,
    /// The values in C order.
    pub data: Vec<f32>,
}

impl PreparedInput {
    pub fn to_tensor(&self, device: &candle_core::Device) -> Result<candle_core::Tensor> {
        Ok(candle_core::Tensor::from_slice(
            &self.data,
            self.shape.as_slice(),
            device,
        )?)
    }
}

/// 256 MiB: a PNG of the largest picture we decode ([`MAX_IMAGE_DIM`] a side) compresses to far
/// less, and a camera's JPEG is a few MB.
const MAX_IMAGE_FILE: u64 = 256 << 20;

/// Whether a JPEG stream lacks the end-of-image marker (`FF D9`) after its last start-of-scan
/// (`FF DA`): what a cut-off download looks like. Data after the marker (thumbnails, vendors'
/// trailers) is allowed.
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let from = last_scan.unwrap_or(0);
    !bytes[from..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Decodes an image file as 8-bit RGB.
///
/// The format is guessed from the content, not the extension. Any color type converts to
/// 8-bit RGB: gray is replicated, 16-bit values are scaled down, alpha is dropped (transparent
/// pixels keep whatever color they store). EXIF orientation is not applied, as neither PIL's
/// `Image.open` (Keras, torchvision) does. Images over [`MAX_IMAGE_DIM`] pixels a side or needing
/// over [`MAX_IMAGE_ALLOC`] bytes are refused before they are decoded.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let bytes = crate::files::read_bounded(
        path,
        "an image (PNG or JPEG)",
        MAX_IMAGE_FILE,
        "convscope reads as an image",
    )?;
    decode_image(&bytes, path)
}

/// Decodes an image file's bytes as [`load_image`] does (`path` names it in messages).
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let image_err = |detail: String| Error::Image {
        path: path.to_path_buf(),
        detail,
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) && jpeg_is_truncated(bytes) {
        // The decoder fills the missing rows with grey and says nothing; PIL (torchvision,
        // Keras) refuses such a file unless told to load truncated images, and so do we: a
        // map of a half-grey picture explains the grey.
        return Err(image_err(
            "the JPEG data ends before its end-of-image marker (the file is truncated); \
             download or copy it again"
                .to_string(),
        ));
    }
    if reader.format().is_none() {
        let empty = bytes.is_empty();
        return Err(image_err(if empty {
            "the file is empty".to_string()
        } else {
            "the content is not a recognized image format".to_string()
        }));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_DIM);
    limits.max_image_height = Some(MAX_IMAGE_DIM);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| image_err(describe(&e)))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(image_err(format!(
            "the image is {}x{} pixels",
            img.width(),
            img.height()
        )));
    }
    Ok(img.into_rgb8())
}

/// One line saying why decoding failed.
fn describe(e: &ImageError) -> String {
    let text = match e {
        ImageError::Limits(_) => format!(
            "the image is too large (convscope decodes images up to \
             {MAX_IMAGE_DIM}x{MAX_IMAGE_DIM} pixels and {} GiB): {e}",
            MAX_IMAGE_ALLOC >> 30
        ),
        _ => e.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Resizes `img` to the model's input size and normalizes it.
///
/// The resize is bilinear without cropping (the aspect ratio is not kept), as Keras'
/// `load_img(target_size=..., interpolation="bilinear")`: PIL's bilinear filter, which widens
/// its support when downscaling (antialiasing); `image`'s `Triangle` filter does the same. The
/// resize is skipped when the size already matches. For a one-channel model the image is
/// converted to luma first, then resized (Keras' order). See [`Preprocess`] for the values.
///
/// # Panics
///
/// If `spec.channels` is not 1 or 3 ([`InputSpec::from_input_shape`] never makes such a spec).
pub fn prepare_image(img: &RgbImage, spec: &InputSpec, pre: Preprocess) -> PreparedInput {
    assert!(
        matches!(spec.channels, 1 | 3),
        "prepare_image: {} channels",
        spec.channels
    );
    let (w, h) = (
        u32::try_from(spec.width).unwrap_or(u32::MAX),
        u32::try_from(spec.height).unwrap_or(u32::MAX),
    );
    let nc = spec.channels;
    let raw: Cow<'_, [u8]> = if nc == 1 {
        let gray = to_luma(img);
        if gray.dimensions() == (w, h) {
            Cow::Owned(gray.into_raw())
        } else {
            Cow::Owned(imageops::resize(&gray, w, h, FilterType::Triangle).into_raw())
        }
    } else if img.dimensions() == (w, h) {
        Cow::Borrowed(img.as_raw().as_slice())
    } else {
        Cow::Owned(imageops::resize(img, w, h, FilterType::Triangle).into_raw())
    };

    let hw = spec.height * spec.width;
    let mut data = vec![0f32; hw * nc];
    for (p, px) in raw.chunks_exact(nc).enumerate() {
        for oc in 0..nc {
            // Caffe models take BGR.
            let sc = if pre == Preprocess::Caffe && nc == 3 {
                2 - oc
            } else {
                oc
            };
            let idx = match spec.layout {
                Layout::Nchw => oc * hw + p,
                Layout::Nhwc => p * nc + oc,
            };
            data[idx] = pre.apply(f32::from(px[sc]), oc, nc);
        }
    }
    PreparedInput {
        shape: spec.shape(1),
        data,
    }
}

/// torchvision's evaluation transform before normalization: `Resize(shorter)` (the shorter
/// side to `shorter`, the longer scaled and truncated as torchvision does) then
/// `CenterCrop((height, width))`, offsets rounded as torchvision rounds them. A crop larger
/// than the resized image is clamped to it (the later resize then stretches it).
pub fn resize_and_center_crop(
    img: &RgbImage,
    shorter: usize,
    width: usize,
    height: usize,
) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = if w <= h {
        (shorter, (shorter as f64 * h as f64 / w as f64) as usize)
    } else {
        ((shorter as f64 * w as f64 / h as f64) as usize, shorter)
    };
    let to_u32 = |v: usize| u32::try_from(v.max(1)).unwrap_or(u32::MAX);
    let resized = if (nw, nh) == (w, h) {
        img.clone()
    } else {
        imageops::resize(img, to_u32(nw), to_u32(nh), FilterType::Triangle)
    };
    let (cw, ch) = (width.min(nw), height.min(nh));
    // Python's round(): half to even.
    let left = ((nw - cw) as f64 / 2.0).round_ties_even() as u32;
    let top = ((nh - ch) as f64 / 2.0).round_ties_even() as u32;
    imageops::crop_imm(&resized, left, top, to_u32(cw), to_u32(ch)).to_image()
}

/// ITU-R 601-2 luma with PIL's fixed-point rounding (`convert("L")`).
fn to_luma(img: &RgbImage) -> GrayImage {
    let (w, h) = img.dimensions();
    let raw: Vec<u8> = img
        .as_raw()
        .chunks_exact(3)
        .map(|c| {
            let l = u32::from(c[0]) * 19595 + u32::from(c[1]) * 38470 + u32::from(c[2]) * 7471;
            ((l + 0x8000) >> 16) as u8
        })
        .collect();
    GrayImage::from_raw(w, h, raw).expect("one luma byte per RGB pixel")
}

/// Takes an already prepared float32 array as the model input. Its shape must be the model's
/// input shape with batch 1, or that shape without the batch dimension (CHW or HWC), in the
/// model's layout; no resizing or normalization is done. NaN and infinite values are refused.
pub fn prepare_npy(arr: NpyArray, spec: &InputSpec, path: &Path) -> Result<PreparedInput> {
    let full = spec.shape(1);
    let count: usize = full.iter().product();
    if (arr.shape != full && arr.shape != full[1..]) || arr.data.len() != count {
        let hint = transpose_hint(&arr.shape, spec)
            .map(|h| format!(" (this looks like {h})"))
            .unwrap_or_default();
        return Err(Error::Input(format!(
            "{}: array has shape {}, but the model takes {} or {}; the array must be in the \
             model's layout ({}){hint}",
            path.display(),
            shape_string(&arr.shape),
            shape_string(&full),
            shape_string(&full[1..]),
            spec.layout,
        )));
    }
    if let Some(i) = arr.data.iter().position(|v| !v.is_finite()) {
        let v = arr.data[i];
        let what = if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        };
        return Err(Error::Npy {
            path: path.to_path_buf(),
            detail: format!(
                "element {} is {what}; an input must hold finite numbers",
                index_string(i, &arr.shape)
            ),
        });
    }
    Ok(PreparedInput {
        shape: full,
        data: arr.data,
    })
}

/// If `shape` is the model's input in the other layout, how to transpose it.
fn transpose_hint(shape: &[usize], spec: &InputSpec) -> Option<String> {
    let other = InputSpec {
        layout: match spec.layout {
            Layout::Nchw => Layout::Nhwc,
            Layout::Nhwc => Layout::Nchw,
        },
        ..*spec
    };
    let other_full = other.shape(1);
    let axes = match (spec.layout, shape.len()) {
        (Layout::Nchw, 4) => "(0, 3, 1, 2)",
        (Layout::Nchw, 3) => "(2, 0, 1)",
        (Layout::Nhwc, 4) => "(0, 2, 3, 1)",
        (Layout::Nhwc, 3) => "(1, 2, 0)",
        _ => return None,
    };
    if shape == other_full || shape == &other_full[1..] {
        Some(format!(
            "{}: use np.transpose(arr, {axes})",
            other.layout.as_str()
        ))
    } else {
        None
    }
}

/// The multi-index of flat position `i` in a C-ordered array of `shape`, as `[0, 1, 2]`.
fn index_string(mut i: usize, shape: &[usize]) -> String {
    let mut idx = vec![0usize; shape.len()];
    for (slot, &d) in idx.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    let parts: Vec<String> = idx.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

pub use super::deprocess::deprocess;

#[cfg(test)]
#[path = "preprocess_tests.rs"]
mod tests;
