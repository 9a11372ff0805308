//! Input preparation shared by every command that takes an image: decode, resize, normalize
//! the way the model was trained, and lay the values out as the model expects (NCHW or NHWC,
//! batch of one). An already prepared `.npy` array is checked and passed through instead.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::str::FromStr;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageError, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};
use crate::imaging::npy::{shape_string, NpyArray};

/// Largest image width or height [`load_image`] decodes.
pub const MAX_IMAGE_DIM: u32 = 16384;
/// Most memory [`load_image`] lets a decoder allocate.
pub const MAX_IMAGE_ALLOC: u64 = 1 << 30;

/// ImageNet channel means and standard deviations on 0–1 RGB values (torchvision).
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// torchvision's grayscale convention: the average of the three channels' statistics.
const IMAGENET_GRAY_MEAN: f32 = 0.449;
const IMAGENET_GRAY_STD: f32 = 0.226;
/// Caffe (Keras `mode='caffe'`) channel means on 0–255 values, in BGR order.
const CAFFE_MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];
/// For one channel, the average of the three Caffe means.
const CAFFE_GRAY_MEAN: f32 = (103.939 + 116.779 + 123.68) / 3.0;

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
}

impl Preprocess {
    /// Every mode, in the order they are documented.
    pub const ALL: [Preprocess; 4] = [
        Preprocess::Imagenet,
        Preprocess::Caffe,
        Preprocess::Unit,
        Preprocess::Signed,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Preprocess::Imagenet => "imagenet",
            Preprocess::Caffe => "caffe",
            Preprocess::Unit => "unit",
            Preprocess::Signed => "signed",
        }
    }

    /// Maps a pixel value `v` (0–255) of output channel `channel` (in the model's channel
    /// order) of a `channels`-channel input.
    fn apply(self, v: f32, channel: usize, channels: usize) -> f32 {
        let gray = channels == 1;
        match self {
            Preprocess::Imagenet if gray => (v / 255.0 - IMAGENET_GRAY_MEAN) / IMAGENET_GRAY_STD,
            Preprocess::Imagenet => (v / 255.0 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel],
            Preprocess::Caffe if gray => v - CAFFE_GRAY_MEAN,
            Preprocess::Caffe => v - CAFFE_MEAN_BGR[channel],
            Preprocess::Unit => v / 255.0,
            Preprocess::Signed => v / 127.5 - 1.0,
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
        Preprocess::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Preprocess::ALL.iter().map(|p| p.as_str()).collect();
                Error::Usage(format!(
                    "unknown preprocessing '{s}'; valid: {}",
                    names.join(", ")
                ))
            })
    }
}

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

/// Decodes an image file as 8-bit RGB.
///
/// The format is guessed from the content, not the extension. Any color type converts to
/// 8-bit RGB: gray is replicated, 16-bit values are scaled down, alpha is dropped (transparent
/// pixels keep whatever color they store). EXIF orientation is not applied, as neither PIL's
/// `Image.open` (Keras, torchvision) does. Images over [`MAX_IMAGE_DIM`] pixels a side or needing
/// over [`MAX_IMAGE_ALLOC`] bytes are refused before they are decoded.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let image_err = |detail: String| Error::Image {
        path: path.to_path_buf(),
        detail,
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format().is_none() {
        let empty = std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb, Rgba};
    use std::path::PathBuf;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
        }
    }

    fn spec(layout: Layout, channels: usize, height: usize, width: usize) -> InputSpec {
        InputSpec {
            layout,
            channels,
            height,
            width,
        }
    }

    /// One pixel, (R, G, B) = (255, 0, 51).
    fn pixel() -> RgbImage {
        RgbImage::from_pixel(1, 1, Rgb([255, 0, 51]))
    }

    #[test]
    fn imagenet_values() {
        let out = prepare_image(&pixel(), &spec(Layout::Nchw, 3, 1, 1), Preprocess::Imagenet);
        assert_eq!(out.shape, vec![1, 3, 1, 1]);
        close(
            &out.data,
            &[
                (1.0 - 0.485) / 0.229,
                (0.0 - 0.456) / 0.224,
                (0.2 - 0.406) / 0.225,
            ],
        );
    }

    #[test]
    fn caffe_values_are_bgr_minus_means() {
        let out = prepare_image(&pixel(), &spec(Layout::Nchw, 3, 1, 1), Preprocess::Caffe);
        close(&out.data, &[51.0 - 103.939, 0.0 - 116.779, 255.0 - 123.68]);
    }

    #[test]
    fn unit_and_signed_values() {
        let s = spec(Layout::Nchw, 3, 1, 1);
        close(
            &prepare_image(&pixel(), &s, Preprocess::Unit).data,
            &[1.0, 0.0, 0.2],
        );
        close(
            &prepare_image(&pixel(), &s, Preprocess::Signed).data,
            &[1.0, -1.0, -0.6],
        );
    }

    #[test]
    fn layouts_order_values() {
        // 2 wide, 1 high: pixel 0 = (10, 20, 30), pixel 1 = (40, 50, 60).
        let img = RgbImage::from_raw(2, 1, vec![10, 20, 30, 40, 50, 60]).unwrap();
        let f = |v: &[u8]| v.iter().map(|&x| f32::from(x) / 255.0).collect::<Vec<_>>();
        let nchw = prepare_image(&img, &spec(Layout::Nchw, 3, 1, 2), Preprocess::Unit);
        assert_eq!(nchw.shape, vec![1, 3, 1, 2]);
        close(&nchw.data, &f(&[10, 40, 20, 50, 30, 60]));
        let nhwc = prepare_image(&img, &spec(Layout::Nhwc, 3, 1, 2), Preprocess::Unit);
        assert_eq!(nhwc.shape, vec![1, 1, 2, 3]);
        close(&nhwc.data, &f(&[10, 20, 30, 40, 50, 60]));
        // Caffe in NHWC: BGR per pixel.
        let caffe = prepare_image(&img, &spec(Layout::Nhwc, 3, 1, 2), Preprocess::Caffe);
        close(
            &caffe.data,
            &[
                30.0 - 103.939,
                20.0 - 116.779,
                10.0 - 123.68,
                60.0 - 103.939,
                50.0 - 116.779,
                40.0 - 123.68,
            ],
        );
    }

    #[test]
    fn grayscale_models_get_luma() {
        // 0.299 * 255 + 0.587 * 0 + 0.114 * 51 = 82.06 -> 82.
        let s = spec(Layout::Nhwc, 1, 1, 1);
        close(
            &prepare_image(&pixel(), &s, Preprocess::Unit).data,
            &[82.0 / 255.0],
        );
        close(
            &prepare_image(&pixel(), &s, Preprocess::Imagenet).data,
            &[(82.0 / 255.0 - 0.449) / 0.226],
        );
        close(
            &prepare_image(&pixel(), &s, Preprocess::Caffe).data,
            &[82.0 - (103.939 + 116.779 + 123.68) / 3.0],
        );
        close(
            &prepare_image(&pixel(), &s, Preprocess::Signed).data,
            &[82.0 / 127.5 - 1.0],
        );
        // Pure white and black stay exact.
        let img = RgbImage::from_raw(2, 1, vec![255, 255, 255, 0, 0, 0]).unwrap();
        let out = prepare_image(&img, &spec(Layout::Nchw, 1, 1, 2), Preprocess::Unit);
        assert_eq!(out.shape, vec![1, 1, 1, 2]);
        assert_eq!(out.data, vec![1.0, 0.0]);
    }

    #[test]
    fn resizes_without_cropping() {
        // A uniform image stays uniform at any size.
        let img = RgbImage::from_pixel(7, 5, Rgb([100, 150, 200]));
        let out = prepare_image(&img, &spec(Layout::Nchw, 3, 3, 4), Preprocess::Unit);
        assert_eq!(out.shape, vec![1, 3, 3, 4]);
        for (c, v) in [100.0f32, 150.0, 200.0].iter().enumerate() {
            for x in &out.data[c * 12..(c + 1) * 12] {
                assert!((x - v / 255.0).abs() < 1e-6);
            }
        }
        // Left half black, right half white, squeezed to 2 wide: the halves stay apart.
        let img = RgbImage::from_fn(8, 2, |x, _| {
            if x < 4 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let out = prepare_image(&img, &spec(Layout::Nhwc, 3, 1, 2), Preprocess::Unit);
        assert!(out.data[0] < 0.2 && out.data[3] > 0.8, "{:?}", out.data);
        // Downscaling averages (antialiasing): a 1-pixel checkerboard becomes mid-gray.
        let img = RgbImage::from_fn(16, 16, |x, y| {
            if (x + y) % 2 == 0 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let out = prepare_image(&img, &spec(Layout::Nchw, 3, 4, 4), Preprocess::Unit);
        for x in &out.data {
            assert!((x - 0.5).abs() < 0.1, "{:?}", out.data);
        }
    }

    #[test]
    fn same_size_is_not_resampled() {
        let img = RgbImage::from_fn(3, 2, |x, y| Rgb([(x * 80) as u8, (y * 200) as u8, 7]));
        let out = prepare_image(&img, &spec(Layout::Nhwc, 3, 2, 3), Preprocess::Unit);
        let expect: Vec<f32> = img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        assert_eq!(out.data, expect);
    }

    #[test]
    fn preprocess_names() {
        for p in Preprocess::ALL {
            assert_eq!(p.as_str().parse::<Preprocess>().unwrap(), p);
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(
            "ImageNet".parse::<Preprocess>().unwrap(),
            Preprocess::Imagenet
        );
        let e = "torch".parse::<Preprocess>().unwrap_err().to_string();
        assert!(
            e.contains("'torch'") && e.contains("imagenet, caffe, unit, signed"),
            "{e}"
        );
    }

    #[test]
    fn input_spec_from_shapes() {
        let s = InputSpec::from_input_shape(&[1, 3, 224, 200]).unwrap();
        assert_eq!(s, spec(Layout::Nchw, 3, 224, 200));
        assert_eq!(s.shape(2), vec![2, 3, 224, 200]);
        let s = InputSpec::from_input_shape(&[1, 299, 300, 3]).unwrap();
        assert_eq!(s, spec(Layout::Nhwc, 3, 299, 300));
        assert_eq!(s.shape(1), vec![1, 299, 300, 3]);
        let s = InputSpec::from_input_shape(&[1, 28, 28, 1]).unwrap();
        assert_eq!(s, spec(Layout::Nhwc, 1, 28, 28));
        let s = InputSpec::from_input_shape(&[8, 1, 28, 28]).unwrap();
        assert_eq!(s, spec(Layout::Nchw, 1, 28, 28));
        // Both fit: NCHW.
        let s = InputSpec::from_input_shape(&[1, 3, 3, 3]).unwrap();
        assert_eq!(s.layout, Layout::Nchw);
        for bad in [
            &[1, 3, 224][..],
            &[1, 3, 224, 224, 1],
            &[],
            &[1, 4, 224, 224],
            &[1, 224, 224, 4],
            &[1, 3, 0, 224],
            &[1, 3, 100_000, 224],
        ] {
            let e = InputSpec::from_input_shape(bad).unwrap_err();
            assert!(matches!(e, Error::Input(_)), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(&shape_string(bad)), "{msg}");
        }
        let e = InputSpec::from_input_shape(&[1, 5, 5, 5])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 or 3 channels"), "{e}");
    }

    #[test]
    fn npy_inputs() {
        let s = spec(Layout::Nchw, 3, 2, 2);
        let p = Path::new("in.npy");
        let data: Vec<f32> = (0..12).map(|i| i as f32).collect();
        for shape in [vec![1, 3, 2, 2], vec![3, 2, 2]] {
            let out = prepare_npy(
                NpyArray {
                    shape,
                    data: data.clone(),
                },
                &s,
                p,
            )
            .unwrap();
            assert_eq!(out.shape, vec![1, 3, 2, 2]);
            assert_eq!(out.data, data);
        }
        // Wrong shape: both expected shapes are named, with a transpose hint for NHWC.
        let e = prepare_npy(
            NpyArray {
                shape: vec![1, 2, 2, 3],
                data: data.clone(),
            },
            &s,
            p,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Input(_)));
        let msg = e.to_string();
        for part in [
            "(1, 2, 2, 3)",
            "(1, 3, 2, 2)",
            "(3, 2, 2)",
            "NCHW",
            "(0, 3, 1, 2)",
        ] {
            assert!(msg.contains(part), "{msg}");
        }
        let e = prepare_npy(
            NpyArray {
                shape: vec![12],
                data: data.clone(),
            },
            &s,
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("(12,)") && !e.contains("transpose"), "{e}");
        // HWC given to an NHWC model is fine; CHW is not.
        let nhwc = spec(Layout::Nhwc, 3, 2, 2);
        assert!(prepare_npy(
            NpyArray {
                shape: vec![2, 2, 3],
                data: data.clone(),
            },
            &nhwc,
            p
        )
        .is_ok());
        let e = prepare_npy(
            NpyArray {
                shape: vec![3, 2, 2],
                data: data.clone(),
            },
            &nhwc,
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("(1, 2, 0)"), "{e}");
        // Non-finite values name their index.
        let mut bad = data.clone();
        bad[7] = f32::NAN;
        bad[9] = f32::INFINITY;
        let e = prepare_npy(
            NpyArray {
                shape: vec![1, 3, 2, 2],
                data: bad,
            },
            &s,
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[0, 1, 1, 1]") && e.contains("NaN"), "{e}");
        let mut bad = data;
        bad[11] = f32::NEG_INFINITY;
        let e = prepare_npy(
            NpyArray {
                shape: vec![3, 2, 2],
                data: bad,
            },
            &s,
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[2, 1, 1]") && e.contains("-inf"), "{e}");
    }

    #[test]
    fn to_tensor_keeps_shape_and_values() {
        let img = RgbImage::from_pixel(3, 2, Rgb([255, 0, 51]));
        let out = prepare_image(&img, &spec(Layout::Nhwc, 3, 2, 3), Preprocess::Signed);
        let t = out.to_tensor(&candle_core::Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 2, 3, 3]);
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(v, out.data);
    }

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new() -> Dir {
            Dir(tempfile::tempdir().unwrap())
        }
        fn path(&self, name: &str) -> PathBuf {
            self.0.path().join(name)
        }
    }

    #[test]
    fn loads_any_color_type_as_rgb() {
        let d = Dir::new();
        let rgb = RgbImage::from_fn(4, 3, |x, y| Rgb([x as u8 * 60, y as u8 * 100, 9]));
        rgb.save(d.path("rgb.png")).unwrap();
        assert_eq!(load_image(&d.path("rgb.png")).unwrap(), rgb);

        ImageBuffer::from_pixel(2, 2, Luma([77u8]))
            .save(d.path("gray.png"))
            .unwrap();
        let img = load_image(&d.path("gray.png")).unwrap();
        assert_eq!(img.get_pixel(1, 1), &Rgb([77, 77, 77]));

        ImageBuffer::from_pixel(2, 2, Rgba([10u8, 20, 30, 0]))
            .save(d.path("rgba.png"))
            .unwrap();
        let img = load_image(&d.path("rgba.png")).unwrap();
        assert_eq!(img.get_pixel(0, 0), &Rgb([10, 20, 30]));

        ImageBuffer::from_pixel(2, 2, Rgb([65535u16, 0, 32896]))
            .save(d.path("deep.png"))
            .unwrap();
        let img = load_image(&d.path("deep.png")).unwrap();
        assert_eq!(img.get_pixel(0, 1), &Rgb([255, 0, 128]));

        // The content decides, not the extension: a JPEG named .png loads.
        RgbImage::from_pixel(8, 8, Rgb([200, 100, 50]))
            .save_with_format(d.path("photo.png"), image::ImageFormat::Jpeg)
            .unwrap();
        let img = load_image(&d.path("photo.png")).unwrap();
        assert_eq!(img.dimensions(), (8, 8));
        let p = img.get_pixel(4, 4);
        assert!(p[0].abs_diff(200) < 8 && p[1].abs_diff(100) < 8 && p[2].abs_diff(50) < 8);
    }

    fn image_error(path: &Path) -> String {
        match load_image(path) {
            Err(e @ Error::Image { .. }) => {
                let s = e.to_string();
                assert!(!s.contains('\n'), "{s}");
                s
            }
            other => panic!("expected an Image error, got {other:?}"),
        }
    }

    #[test]
    fn load_errors() {
        let d = Dir::new();
        let e = load_image(&d.path("missing.png")).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");

        std::fs::write(d.path("notes.png"), b"this is not an image at all").unwrap();
        assert!(image_error(&d.path("notes.png")).contains("not a recognized image"));

        std::fs::write(d.path("empty.jpg"), b"").unwrap();
        assert!(image_error(&d.path("empty.jpg")).contains("empty"));

        RgbImage::from_fn(64, 64, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]))
            .save(d.path("full.png"))
            .unwrap();
        let bytes = std::fs::read(d.path("full.png")).unwrap();
        for cut in [bytes.len() / 2, 40, 20] {
            std::fs::write(d.path("cut.png"), &bytes[..cut]).unwrap();
            let e = image_error(&d.path("cut.png"));
            assert!(e.contains("cut.png: cannot decode image: "), "{e}");
        }

        // GIF magic: recognized, but not a format this build decodes.
        std::fs::write(d.path("anim.gif"), b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
        let e = image_error(&d.path("anim.gif"));
        assert!(e.to_lowercase().contains("gif"), "{e}");
    }

    #[test]
    fn huge_images_are_refused() {
        let d = Dir::new();
        // Tiny on disk, but wider than the limit.
        ImageBuffer::from_pixel(MAX_IMAGE_DIM + 1, 1, Luma([0u8]))
            .save(d.path("wide.png"))
            .unwrap();
        let e = image_error(&d.path("wide.png"));
        assert!(e.contains("too large") && e.contains("16384x16384"), "{e}");
    }
}
