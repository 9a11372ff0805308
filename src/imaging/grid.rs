//! Grids of small pictures with an index under each (filters, feature maps): tiles are scaled
//! up with nearest-neighbour (a 3x3 kernel stays nine crisp squares) and labelled with the 3x5
//! bitmap font. Grids can be stacked as labelled rows (one layer each).

use image::{imageops, Rgb, RgbImage};

use super::font::{draw_text, text_width, TEXT_HEIGHT};

const GAP: u32 = 4;
const LABEL_HEIGHT: u32 = TEXT_HEIGHT + 4;
const BACKGROUND: Rgb<u8> = Rgb([24, 24, 24]);
const INK: Rgb<u8> = Rgb([230, 230, 230]);

/// Lays `tiles` out in rows of `columns`, each scaled to fit a `cell`x`cell` square and
/// labelled underneath.
pub fn compose(tiles: &[(String, RgbImage)], columns: usize, cell: u32) -> RgbImage {
    let columns = columns.clamp(1, tiles.len().max(1));
    let rows = tiles.len().div_ceil(columns);
    let (cw, ch) = (cell + GAP, cell + LABEL_HEIGHT + GAP);
    let mut out = RgbImage::from_pixel(
        GAP + columns as u32 * cw,
        GAP + rows as u32 * ch,
        BACKGROUND,
    );
    for (i, (label, tile)) in tiles.iter().enumerate() {
        let (x, y) = (
            GAP + (i % columns) as u32 * cw,
            GAP + (i / columns) as u32 * ch,
        );
        let scale = (cell as f64 / tile.width().max(tile.height()) as f64).max(f64::MIN_POSITIVE);
        let (w, h) = (
            ((tile.width() as f64 * scale) as u32).max(1),
            ((tile.height() as f64 * scale) as u32).max(1),
        );
        let scaled = imageops::resize(tile, w, h, imageops::FilterType::Nearest);
        imageops::replace(&mut out, &scaled, x as i64, y as i64);
        draw_text(&mut out, label, x, y + h + 2, INK);
    }
    out
}

/// Stacks `rows` (pictures such as one-row grids) top to bottom, each under its label, on a
/// canvas as wide as the widest row or label.
pub fn stack(rows: &[(String, RgbImage)]) -> RgbImage {
    let width = rows
        .iter()
        .map(|(label, img)| img.width().max(GAP + text_width(label) + GAP))
        .max()
        .unwrap_or(1);
    let height: u32 = rows
        .iter()
        .map(|(_, img)| GAP + LABEL_HEIGHT + img.height())
        .sum();
    let mut out = RgbImage::from_pixel(width, height.max(1), BACKGROUND);
    let mut y = 0;
    for (label, img) in rows {
        draw_text(&mut out, label, GAP, y + GAP + 2, INK);
        y += GAP + LABEL_HEIGHT;
        imageops::replace(&mut out, img, 0, y as i64);
        y += img.height();
    }
    out
}

/// Columns for a roughly square grid.
pub fn columns_for(n: usize) -> usize {
    (n as f64).sqrt().ceil().max(1.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_tiles_and_labels() {
        let red = RgbImage::from_pixel(3, 3, Rgb([255, 0, 0]));
        let tiles: Vec<(String, RgbImage)> = (0..5).map(|i| (i.to_string(), red.clone())).collect();
        let g = compose(&tiles, columns_for(5), 30);
        assert_eq!(columns_for(5), 3);
        assert_eq!(g.width(), GAP + 3 * (30 + GAP));
        assert_eq!(g.height(), GAP + 2 * (30 + LABEL_HEIGHT + GAP));
        // A tile's interior is red; nearest-neighbour keeps it pure.
        assert_eq!(*g.get_pixel(GAP + 15, GAP + 15), Rgb([255, 0, 0]));
        // The sixth cell (no tile) is background.
        assert_eq!(
            *g.get_pixel(
                GAP + 2 * (30 + GAP) + 15,
                GAP + (30 + LABEL_HEIGHT + GAP) + 15
            ),
            BACKGROUND
        );
    }

    #[test]
    fn rows_stack_under_their_labels() {
        let wide = RgbImage::from_pixel(100, 10, Rgb([255, 0, 0]));
        let narrow = RgbImage::from_pixel(40, 20, Rgb([0, 0, 255]));
        let s = stack(&[("a".into(), wide), ("b".into(), narrow)]);
        assert_eq!(s.width(), 100);
        assert_eq!(s.height(), 2 * (GAP + LABEL_HEIGHT) + 30);
        // The label of the first row is ink somewhere in its strip; the rows follow it.
        let strip = (0..GAP + LABEL_HEIGHT).flat_map(|y| (0..20).map(move |x| (x, y)));
        assert!(strip.clone().any(|(x, y)| *s.get_pixel(x, y) == INK));
        assert_eq!(*s.get_pixel(50, GAP + LABEL_HEIGHT + 5), Rgb([255, 0, 0]));
        let second = 2 * (GAP + LABEL_HEIGHT) + 10;
        assert_eq!(*s.get_pixel(20, second + 10), Rgb([0, 0, 255]));
        assert_eq!(*s.get_pixel(60, second + 10), BACKGROUND);
    }
}
