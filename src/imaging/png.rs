//! Finished pictures: blending a coloured map over its image, resizing, writing PNG files.

use std::io;
use std::path::Path;

use image::codecs::png::PngEncoder;
use image::imageops::{self, FilterType};
use image::{ExtendedColorType, ImageEncoder, RgbImage};

use crate::error::{Error, Result};
use crate::imaging::atomic::write_atomic;

/// Largest width or height [`parse_size`] accepts (the image decoder's limit too).
pub const MAX_SIDE: u32 = 16384;

/// Blends `heat` over `base`: `alpha * heat + (1 - alpha) * base` per channel, rounded to the
/// nearest level (halves to even, as `np.round`); `alpha` is clamped to [0, 1] (0 shows only the
/// image, 1 only the map).
///
/// If the sizes differ, `base` is first resized to `heat`'s size with [`resize_rgb`] (the
/// heatmap is the picture being explained; callers normally make both the same size).
///
/// pytorch-grad-cam's `show_cam_on_image(img, mask, image_weight)` computes
/// `(1 - image_weight) * heatmap + image_weight * img` on 0–1 floats, then divides by the
/// result's maximum (brightening the whole picture whenever nothing reaches 1) and truncates to
/// 8 bits. We do the plain convex blend without that rescaling, so colours keep their meaning
/// across pictures; with `alpha = 1 - image_weight` the two agree wherever the blend's maximum
/// is 1, up to rounding.
///
/// # Panics
///
/// If `alpha` is NaN.
pub fn overlay(base: &RgbImage, heat: &RgbImage, alpha: f32) -> RgbImage {
    assert!(!alpha.is_nan(), "overlay: alpha is NaN");
    let a = alpha.clamp(0.0, 1.0);
    let (w, h) = heat.dimensions();
    let resized;
    let base = if base.dimensions() == (w, h) {
        base
    } else {
        resized = resize_rgb(base, w, h);
        &resized
    };
    let raw: Vec<u8> = base
        .as_raw()
        .iter()
        .zip(heat.as_raw())
        .map(|(&b, &m)| {
            (a * f32::from(m) + (1.0 - a) * f32::from(b))
                .round_ties_even()
                .clamp(0.0, 255.0) as u8
        })
        .collect();
    RgbImage::from_raw(w, h, raw).expect("same size as the heatmap")
}

/// Resizes to `width` x `height` with the `Triangle` (bilinear) filter, which widens its support
/// when shrinking (like PIL's bilinear resize, the one models' preprocessing uses). A no-op copy
/// when the size already matches.
pub fn resize_rgb(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    if img.dimensions() == (width, height) {
        img.clone()
    } else {
        imageops::resize(img, width, height, FilterType::Triangle)
    }
}

/// Encodes `img` as PNG in memory.
pub fn encode_png(img: &RgbImage) -> std::result::Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes).write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgb8,
    )?;
    Ok(bytes)
}

/// Encodes `img` as PNG in memory, then writes it with [`write_atomic`], so a failure never
/// leaves a partial file. Any failure is [`Error::Write`].
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let bytes = encode_png(img).map_err(|e| Error::Write {
        path: path.to_path_buf(),
        source: io::Error::other(format!("cannot encode PNG: {e}")),
    })?;
    write_atomic(path, &bytes)
}

/// Parses `--size WIDTHxHEIGHT` (`224x224`; `X` also accepted, spaces around the numbers
/// ignored). Each side must be 1 to [`MAX_SIDE`].
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let bad = |why: &str| Error::Usage(format!("invalid size '{s}': {why}"));
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| bad("expected WIDTHxHEIGHT, such as 224x224"))?;
    let side = |v: &str, name: &str| -> Result<u32> {
        let n: u32 = v.trim().parse().map_err(|_| {
            bad(&format!(
                "the {name} '{}' is not a whole number; expected WIDTHxHEIGHT, such as 224x224",
                v.trim()
            ))
        })?;
        if n == 0 || n > MAX_SIDE {
            return Err(bad(&format!("the {name} must be 1 to {MAX_SIDE} pixels")));
        }
        Ok(n)
    };
    Ok((side(w, "width")?, side(h, "height")?))
}

#[cfg(test)]
#[path = "png_tests.rs"]
mod tests;
