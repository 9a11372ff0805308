//! What a person sees: a method's artifact as an RGB image. CAMs and other H×W heatmaps are
//! min-max normalized, upsampled bilinearly to the input size and overlaid on the input;
//! attributions are shown as max |·| over channels (or, signed, the channel sum on a
//! blue-white-red scale); masks as the input with the pixels they drop in black. The CLI's
//! `render` and the TUI's views draw through here, so both show the same picture.

use image::RgbImage;

use crate::imaging::colormap::Colormap;
use crate::imaging::grid;
use crate::imaging::heatmap::{channel_max_abs, channel_sum, Heatmap};
use crate::imaging::png::{overlay, resize_rgb};
use crate::input::preprocess::{deprocess, Layout};
use crate::input::Input;
use crate::methods::{Artifact, Tile};

/// How artifacts are drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Look {
    /// Grids: one scale for all tiles instead of one per tile.
    pub shared_scale: bool,
    pub colormap: Colormap,
    pub alpha: f32,
    pub signed: bool,
    pub overlay: bool,
    /// Attributions drawn as a heatmap of their channel sum over the input, as CAMs are
    /// (occlusion in the interface: its windows' probability drops read best on the picture),
    /// instead of on their own.
    pub overlay_attribution: bool,
    pub size: Option<(u32, u32)>,
}

impl Default for Look {
    fn default() -> Self {
        Look {
            shared_scale: false,
            colormap: Colormap::Jet,
            alpha: 0.5,
            signed: false,
            overlay: true,
            overlay_attribution: false,
            size: None,
        }
    }
}

pub fn render(artifact: &Artifact, input: &Input, look: &Look) -> RgbImage {
    let spec = &input.spec;
    let (w, h) = look.size.unwrap_or((spec.width as u32, spec.height as u32));
    match artifact {
        Artifact::Image { .. } => made_picture(artifact).expect("an Image artifact"),
        Artifact::Grid {
            tiles, grayscale, ..
        } => {
            let pictures = tile_pictures(tiles, *grayscale, look);
            let grid = grid::compose(
                &pictures,
                grid::columns_for(tiles.len()),
                cell_for(tiles.iter()),
            );
            natural_or(grid, look.size)
        }
        Artifact::Rows { rows, .. } => {
            let cell = cell_for(rows.iter().flat_map(|r| &r.tiles));
            let lines: Vec<(String, RgbImage)> = rows
                .iter()
                .map(|r| {
                    let pictures = tile_pictures(&r.tiles, false, look);
                    (
                        r.label.clone(),
                        grid::compose(&pictures, r.tiles.len(), cell),
                    )
                })
                .collect();
            natural_or(grid::stack(&lines), look.size)
        }
        Artifact::Cam {
            height,
            width,
            data,
            ..
        }
        | Artifact::Heatmap {
            height,
            width,
            data,
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
        Artifact::Mask { width, keep, .. } => {
            let mut base = deprocess(&input.prepared, spec, input.preprocess);
            for (i, _) in keep.iter().enumerate().filter(|(_, &k)| !k) {
                base.put_pixel(
                    (i % width) as u32,
                    (i / width) as u32,
                    image::Rgb([0, 0, 0]),
                );
            }
            resize_rgb(&base, w, h)
        }
        Artifact::Attribution { data, .. } => {
            let chw = to_chw(data, spec.layout, spec.channels, spec.height, spec.width);
            let (c, sh, sw) = (spec.channels, spec.height, spec.width);
            if look.overlay_attribution && look.overlay {
                let heat = channel_sum(&chw, c, sh, sw)
                    .normalized()
                    .resize_bilinear(h as usize, w as usize)
                    .colorize(look.colormap);
                let base = deprocess(&input.prepared, spec, input.preprocess);
                overlay(&resize_rgb(&base, w, h), &heat, look.alpha)
            } else if look.signed {
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

/// A picture a method made (activation maximization), at its own size; `None` for artifacts
/// that are drawn over an input.
pub fn made_picture(artifact: &Artifact) -> Option<RgbImage> {
    let Artifact::Image {
        channels,
        height,
        width,
        pixels,
        ..
    } = artifact
    else {
        return None;
    };
    let plane = height * width;
    let (w, h) = (*width as u32, *height as u32);
    Some(RgbImage::from_fn(w, h, |x, y| {
        let i = (y * w + x) as usize;
        let c = |k: usize| pixels[if *channels == 3 { k * plane + i } else { i }];
        image::Rgb([c(0), c(1), c(2)])
    }))
}

/// Grids keep their natural size unless `--size` asks for another.
fn natural_or(img: RgbImage, size: Option<(u32, u32)>) -> RgbImage {
    match size {
        Some((w, h)) => resize_rgb(&img, w, h),
        None => img,
    }
}

/// Small tiles (kernels) get small cells; feature maps larger ones. One size for all tiles so
/// rows of different layers line up.
fn cell_for<'a>(mut tiles: impl Iterator<Item = &'a Tile>) -> u32 {
    if tiles.all(|t| t.height.max(t.width) <= 16) {
        48
    } else {
        96
    }
}

/// Tiles min-max normalized one by one (or with one scale shared by the tiles given: a grid, or
/// one layer's row), single-channel ones through the colormap (gray for kernels), three-channel
/// ones as RGB, each with its label.
fn tile_pictures(tiles: &[Tile], grayscale: bool, look: &Look) -> Vec<(String, RgbImage)> {
    let all: Vec<f32> = tiles.iter().flat_map(|t| t.data.iter().copied()).collect();
    let shared = minmax(&all);
    let cmap = if grayscale {
        Colormap::Gray
    } else {
        look.colormap
    };
    tiles
        .iter()
        .map(|t| {
            let (lo, hi) = if look.shared_scale {
                shared
            } else {
                minmax(&t.data)
            };
            let norm = |v: f32| (v - lo) / (hi - lo + 1e-7);
            let (w, h) = (t.width as u32, t.height as u32);
            let plane = t.height * t.width;
            let img = RgbImage::from_fn(w, h, |x, y| {
                let i = (y * w + x) as usize;
                if t.channels == 3 {
                    let c = |k: usize| {
                        (norm(t.data[k * plane + i]).clamp(0.0, 1.0) * 255.0).round() as u8
                    };
                    image::Rgb([c(0), c(1), c(2)])
                } else {
                    image::Rgb(cmap.rgb(norm(t.data[i])))
                }
            });
            (t.label.clone(), img)
        })
        .collect()
}

fn minmax(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
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
