//! Grids of small pictures with an index under each (filters, feature maps): tiles are scaled
//! up with nearest-neighbour (a 3x3 kernel stays nine crisp squares) and labelled with a 3x5
//! bitmap digit font, so no font file is needed.

use image::{imageops, Rgb, RgbImage};

/// 3x5 glyphs for 0-9, one row a byte (3 low bits, left to right).
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Pixels per font dot.
const DOT: u32 = 2;
const GAP: u32 = 4;
const LABEL_HEIGHT: u32 = 5 * DOT + 4;
const BACKGROUND: Rgb<u8> = Rgb([24, 24, 24]);
const INK: Rgb<u8> = Rgb([230, 230, 230]);

/// Draws `text` (digits; other characters leave a gap) with its top-left corner at (x, y).
pub fn draw_digits(img: &mut RgbImage, text: &str, x: u32, y: u32) {
    for (k, ch) in text.chars().enumerate() {
        let Some(d) = ch.to_digit(10) else { continue };
        let x0 = x + k as u32 * 4 * DOT;
        for (row, bits) in DIGITS[d as usize].iter().enumerate() {
            for col in 0..3u32 {
                if bits & (0b100 >> col) != 0 {
                    for dy in 0..DOT {
                        for dx in 0..DOT {
                            let (px, py) = (x0 + col * DOT + dx, y + row as u32 * DOT + dy);
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, INK);
                            }
                        }
                    }
                }
            }
        }
    }
}

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
        draw_digits(&mut out, label, x, y + h + 2);
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
    fn digits_are_drawn_where_asked() {
        let mut img = RgbImage::from_pixel(20, 12, BACKGROUND);
        draw_digits(&mut img, "1", 0, 0);
        // "1": top row is .X. -> the dot at column 1 is ink, column 0 is not.
        assert_eq!(*img.get_pixel(DOT, 0), INK);
        assert_eq!(*img.get_pixel(0, 0), BACKGROUND);
        // bottom row of "1" is XXX.
        assert_eq!(*img.get_pixel(0, 4 * DOT), INK);
    }

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
}
