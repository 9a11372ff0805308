//! A 3x5 bitmap font for the labels drawn into pictures (tile indices, layer names), so no font
//! file is needed. Digits, letters (one case: layer names read fine in capitals at this size)
//! and the punctuation layer names use; anything else leaves a gap.

use image::{Rgb, RgbImage};

/// Pixels per font dot.
pub const DOT: u32 = 2;
/// Height of a line of text in pixels.
pub const TEXT_HEIGHT: u32 = 5 * DOT;
/// Horizontal advance per character in pixels.
pub const ADVANCE: u32 = 4 * DOT;

/// Five rows of three bits (left to right in the low three bits) per glyph.
fn glyph(ch: char) -> Option<[u8; 5]> {
    Some(match ch.to_ascii_uppercase() {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'O' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'P' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'Q' => [0b010, 0b101, 0b101, 0b110, 0b011],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '_' => [0b000, 0b000, 0b000, 0b000, 0b111],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        _ => return None,
    })
}

/// Draws `text` in `ink` with its top-left corner at (x, y), clipped to the image.
pub fn draw_text(img: &mut RgbImage, text: &str, x: u32, y: u32, ink: Rgb<u8>) {
    for (k, ch) in text.chars().enumerate() {
        let Some(rows) = glyph(ch) else { continue };
        let x0 = x + k as u32 * ADVANCE;
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (0b100 >> col) == 0 {
                    continue;
                }
                for dy in 0..DOT {
                    for dx in 0..DOT {
                        let (px, py) = (x0 + col * DOT + dx, y + row as u32 * DOT + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, ink);
                        }
                    }
                }
            }
        }
    }
}

/// Width in pixels of `text` drawn with [`draw_text`].
pub fn text_width(text: &str) -> u32 {
    text.chars().count() as u32 * ADVANCE
}

#[cfg(test)]
mod tests {
    use super::*;

    const INK: Rgb<u8> = Rgb([255, 255, 255]);

    #[test]
    fn glyphs_land_where_asked() {
        let mut img = RgbImage::new(20, 12);
        draw_text(&mut img, "1", 0, 0, INK);
        // "1": top row is .X. -> the dot at column 1 is ink, column 0 is not.
        assert_eq!(*img.get_pixel(DOT, 0), INK);
        assert_eq!(*img.get_pixel(0, 0), Rgb([0, 0, 0]));
        // bottom row of "1" is XXX.
        assert_eq!(*img.get_pixel(0, 4 * DOT), INK);
    }

    #[test]
    fn layer_names_have_glyphs_in_either_case() {
        for ch in "layer1.0.conv_1-features:/".chars() {
            assert!(glyph(ch).is_some(), "{ch:?}");
        }
        assert_eq!(glyph('a'), glyph('A'));
        assert_eq!(text_width("conv1"), 5 * ADVANCE);
    }
}
