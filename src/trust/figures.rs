//! Pictures of the metrics, for `evaluate --plot` and `--strip` (and the interface's export):
//! the deletion and insertion curves of every map scored, one panel a game, and the
//! randomization strip, Adebayo's figure: the original |map| beside the map after each step.

use image::{Rgb, RgbImage};

use super::causal::Curve;
use super::randomize::Check;
use crate::imaging::colormap::Colormap;
use crate::imaging::font::{draw_text, text_width, TEXT_HEIGHT};
use crate::imaging::grid;
use crate::imaging::heatmap::Heatmap;
use crate::model::Graph;

const BACKGROUND: Rgb<u8> = Rgb([24, 24, 24]);
const AXIS: Rgb<u8> = Rgb([110, 110, 110]);
const INK: Rgb<u8> = Rgb([230, 230, 230]);
/// Line colours, one a map (Tableau 10, which stays apart on a dark ground).
const PALETTE: [[u8; 3]; 10] = [
    [78, 121, 167],
    [242, 142, 43],
    [225, 87, 89],
    [118, 183, 178],
    [89, 161, 79],
    [237, 201, 72],
    [176, 122, 161],
    [255, 157, 167],
    [156, 117, 95],
    [186, 176, 172],
];
/// The colour of the `k`-th series' line (the interface marks each map with it).
pub fn colour(k: usize) -> [u8; 3] {
    PALETTE[k % PALETTE.len()]
}

const PLOT_W: u32 = 320;
const PLOT_H: u32 = 200;
const MARGIN: u32 = 28;

/// One map's curves: its name and the games it played.
pub struct Series<'a> {
    pub name: &'a str,
    pub deletion: Option<&'a Curve>,
    pub insertion: Option<&'a Curve>,
}

/// The probability curves: a panel for each game any series played (x: the fraction of pixels
/// changed, y: the target's probability, both 0 to 1), a legend with each map's area. `None`
/// when no series has a curve.
pub fn curves(series: &[Series<'_>]) -> Option<RgbImage> {
    type Pick = for<'b> fn(&Series<'b>) -> Option<&'b Curve>;
    let games: Vec<(&str, Pick)> = [
        ("DELETION: LOWER IS BETTER", (|s| s.deletion) as Pick),
        ("INSERTION: HIGHER IS BETTER", (|s| s.insertion) as Pick),
    ]
    .into_iter()
    .filter(|(_, pick)| series.iter().any(|s| pick(s).is_some()))
    .collect();
    if games.is_empty() {
        return None;
    }
    let panel_w = PLOT_W + 2 * MARGIN;
    let legend_h = series.len() as u32 * (TEXT_HEIGHT + 6) + 8;
    let height = PLOT_H + 2 * MARGIN + legend_h;
    let mut img = RgbImage::from_pixel(panel_w * games.len() as u32, height, BACKGROUND);
    for (g, (title, pick)) in games.iter().enumerate() {
        let x0 = g as u32 * panel_w + MARGIN;
        let y0 = MARGIN;
        draw_text(&mut img, title, x0, 8, INK);
        // Axes with their ends labelled: 0 and 1 on both.
        line(
            &mut img,
            (x0, y0 + PLOT_H),
            (x0 + PLOT_W, y0 + PLOT_H),
            AXIS,
        );
        line(&mut img, (x0, y0), (x0, y0 + PLOT_H), AXIS);
        draw_text(&mut img, "1", x0 - 12, y0, INK);
        draw_text(&mut img, "0", x0 - 12, y0 + PLOT_H - TEXT_HEIGHT, INK);
        draw_text(&mut img, "1", x0 + PLOT_W - 4, y0 + PLOT_H + 6, INK);
        for (k, s) in series.iter().enumerate() {
            let Some(curve) = pick(s) else { continue };
            let colour = Rgb(PALETTE[k % PALETTE.len()]);
            let n = curve.probs.len().saturating_sub(1).max(1) as f32;
            let at = |i: usize| {
                let p = curve.probs[i].clamp(0.0, 1.0);
                (
                    x0 + (i as f32 / n * PLOT_W as f32).round() as u32,
                    y0 + ((1.0 - p) * PLOT_H as f32).round() as u32,
                )
            };
            for i in 1..curve.probs.len() {
                line(&mut img, at(i - 1), at(i), colour);
            }
            let y = y0 + PLOT_H + MARGIN + k as u32 * (TEXT_HEIGHT + 6);
            for dy in 0..TEXT_HEIGHT {
                for dx in 0..12 {
                    img.put_pixel(x0 + dx, y + dy, colour);
                }
            }
            draw_text(
                &mut img,
                &format!("{} {:.3}", s.name, curve.auc),
                x0 + 18,
                y,
                INK,
            );
        }
    }
    Some(img)
}

/// A line from `a` to `b`, two pixels thick, clipped to the image.
fn line(img: &mut RgbImage, a: (u32, u32), b: (u32, u32), colour: Rgb<u8>) {
    let (dx, dy) = (b.0 as f32 - a.0 as f32, b.1 as f32 - a.1 as f32);
    let steps = dx.abs().max(dy.abs()).max(1.0) as u32;
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let (x, y) = (
            (a.0 as f32 + t * dx).round() as u32,
            (a.1 as f32 + t * dy).round() as u32,
        );
        for (px, py) in [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)] {
            if px < img.width() && py < img.height() {
                img.put_pixel(px, py, colour);
            }
        }
    }
}

/// The side of a strip's cells at most, in pixels.
pub const STRIP_CELL: usize = 96;

/// The randomization strip of one check: the original |map| and the map after each step,
/// each labelled with the layer randomized (last) and Spearman's ρ of |map| with the original,
/// in rows of at most 8, each map drawn in a square cell of [`STRIP_CELL`] pixels or as wide
/// as the longest label.
pub fn strip(check: &Check, graph: &Graph, cmap: Colormap) -> RgbImage {
    let (height, width) = (check.height, check.width);
    let picture = |values: &[f32]| Heatmap::new(height, width, values.to_vec()).colorize(cmap);
    let mut tiles = vec![("ORIGINAL".to_string(), picture(&check.original))];
    for step in &check.steps {
        let rho = step
            .spearman_abs
            .map_or("CONST".to_string(), |r| format!("{r:.2}"));
        let name = &graph.layer(step.layer).name;
        tiles.push((format!("{} {rho}", clip(name, 12)), picture(&step.map)));
    }
    // Square cells wide enough for the longest label (the tiles are scaled to fit).
    let label = tiles
        .iter()
        .map(|(l, _)| text_width(l) + 4)
        .max()
        .unwrap_or(0);
    let cell = (height.max(width) as u32)
        .clamp(32, STRIP_CELL as u32)
        .max(label);
    grid::compose(&tiles, tiles.len().min(8), cell)
}

/// `text` cut to its last `chars` characters (a label under a tile has little room, and the
/// end of a layer's name tells its neighbours apart: `block4_conv2_bn`).
fn clip(text: &str, chars: usize) -> String {
    let n = text.chars().count();
    if n <= chars {
        return text.to_string();
    }
    let tail: String = text.chars().skip(n - chars + 1).collect();
    format!(".{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::Game;

    fn curve(game: Game, probs: Vec<f32>) -> Curve {
        Curve {
            game,
            step: 1,
            auc: super::super::causal::auc(&probs),
            probs,
        }
    }

    #[test]
    fn a_panel_for_each_game_played_with_each_maps_line() {
        let d = curve(Game::Deletion, vec![1.0, 0.5, 0.0]);
        let i = curve(Game::Insertion, vec![0.0, 1.0, 1.0]);
        let both = curves(&[Series {
            name: "gradcam",
            deletion: Some(&d),
            insertion: Some(&i),
        }])
        .unwrap();
        let one = curves(&[Series {
            name: "gradcam",
            deletion: Some(&d),
            insertion: None,
        }])
        .unwrap();
        assert_eq!(both.width(), 2 * one.width());
        // The deletion line starts at the top left of its plot, in the first colour.
        let first = Rgb(PALETTE[0]);
        assert_eq!(*one.get_pixel(MARGIN, MARGIN), first);
        assert_eq!(*one.get_pixel(MARGIN + PLOT_W, MARGIN + PLOT_H), first);
        assert!(curves(&[Series {
            name: "x",
            deletion: None,
            insertion: None
        }])
        .is_none());
    }

    #[test]
    fn labels_are_clipped() {
        assert_eq!(clip("block4_conv2_bn", 10), "._conv2_bn");
        assert_eq!(clip("fc1", 10), "fc1");
    }
}
