//! `--print`: draws a picture inline in the terminal, below the command's output.
//!
//! The terminal is asked for its graphics protocol and cell size over `/dev/tty` with a timeout
//! (a terminal that does not answer gets half-blocks, never a hang), the picture is rendered into
//! an off-screen buffer scaled to fit the terminal's width, and the buffer is written out as text
//! and escape sequences. When stdout is not a terminal, only the picture's path is printed.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use image::{DynamicImage, RgbImage};
use ratatui::buffer::Buffer;
use ratatui::layout::{Rect, Size};
use ratatui::style::Color;
use ratatui::widgets::Widget;
use ratatui_image::protocol::Protocol;
use ratatui_image::{FontSize, Image, Resize};

/// Widest picture drawn, in terminal columns.
const MAX_COLUMNS: u16 = 100;

/// What `print` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Printed {
    /// Drawn with this protocol.
    Inline(&'static str),
    /// stdout is not a terminal: the path was printed instead (or nothing, without a path).
    Path,
}

/// Draws `img` inline, or prints `path` when stdout is not a terminal or drawing fails.
pub fn print(img: &RgbImage, path: Option<&Path>) -> io::Result<Printed> {
    let fallback = |why: Option<String>| -> io::Result<Printed> {
        let mut out = io::stdout().lock();
        if let Some(why) = why {
            writeln!(out, "(cannot draw the picture here: {why})")?;
        }
        match path {
            Some(p) => writeln!(out, "{}", p.display())?,
            None => writeln!(
                out,
                "(the picture was not written: give -o FILE to keep it)"
            )?,
        }
        Ok(Printed::Path)
    };
    if !io::stdout().is_terminal() {
        return fallback(None);
    }
    match draw(img) {
        Ok(protocol) => Ok(Printed::Inline(protocol)),
        Err(e) => fallback(Some(e.to_string())),
    }
}

/// Scales `img` (up or down, keeping its aspect) to fill `fit` cells of `font` pixels each:
/// ratatui-image only ever shrinks, and a 224-pixel map would otherwise fill a few cells.
pub fn scale_to_cells(img: &RgbImage, fit: Size, font: FontSize) -> RgbImage {
    let max_w = fit.width as f64 * font.width.max(1) as f64;
    let max_h = fit.height as f64 * font.height.max(1) as f64;
    let scale = (max_w / img.width() as f64).min(max_h / img.height() as f64);
    let w = ((img.width() as f64 * scale).floor() as u32).max(1);
    let h = ((img.height() as f64 * scale).floor() as u32).max(1);
    image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
}

fn draw(img: &RgbImage) -> Result<&'static str, Box<dyn std::error::Error>> {
    let picker = super::detect(super::Graphics::Auto);
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    // Leave room for the lines printed around the picture.
    let fit = Size::new(cols.min(MAX_COLUMNS), rows.saturating_sub(3).max(4));
    let scaled = scale_to_cells(img, fit, picker.font_size());
    let proto = picker.new_protocol(DynamicImage::ImageRgb8(scaled), fit, Resize::Fit(None))?;
    let size = proto.size();
    let area = Rect::new(0, 0, size.width, size.height);
    let mut buf = Buffer::empty(area);
    Image::new(&proto).render(area, &mut buf);
    let mut out = io::stdout().lock();
    match &proto {
        Protocol::Sixel(_) => {
            // A sixel drawn near the bottom scrolls line by line: reserve the rows first.
            write!(
                out,
                "{}\x1b[{}A{}",
                "\n".repeat(area.height as usize),
                area.height,
                buf[(0u16, 0u16)].symbol()
            )?;
            writeln!(out)?;
        }
        _ => {
            for y in 0..area.height {
                for x in 0..area.width {
                    let cell = &buf[(x, y)];
                    if let Color::Rgb(r, g, b) = cell.fg {
                        write!(out, "\x1b[38;2;{r};{g};{b}m")?;
                    }
                    if let Color::Rgb(r, g, b) = cell.bg {
                        write!(out, "\x1b[48;2;{r};{g};{b}m")?;
                    }
                    write!(out, "{}", cell.symbol())?;
                }
                writeln!(out, "\x1b[0m")?;
            }
        }
    }
    out.flush()?;
    Ok(super::protocol_name(picker.protocol_type()))
}
