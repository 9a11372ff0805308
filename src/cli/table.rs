//! Plain text tables with box-drawing borders, as Keras 3 prints its summary.

/// Column alignment.
#[derive(Clone, Copy)]
pub enum Align {
    Left,
    Right,
}

pub struct Table {
    pub headers: Vec<String>,
    pub align: Vec<Align>,
    pub rows: Vec<Vec<String>>,
}

/// The widest a cell is printed; longer text ends in `…` (the JSON output has it whole).
const MAX_CELL: usize = 120;

impl Table {
    /// The table as text. Cells are escaped (a name from a model file may hold terminal
    /// controls) and clipped to [`MAX_CELL`] characters.
    pub fn render(&self) -> String {
        let safe = |cell: &String| {
            crate::text::clip(&crate::text::escape_controls(cell), MAX_CELL).into_owned()
        };
        let headers: Vec<String> = self.headers.iter().map(safe).collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(safe).collect())
            .collect();
        Self::layout(&headers, &rows, &self.align)
    }

    fn layout(headers: &[String], rows: &[Vec<String>], align: &[Align]) -> String {
        let cols = headers.len();
        let width = |c: usize| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..cols).map(width).collect();
        let line = |l: &str, m: &str, r: &str, fill: &str| {
            let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
            format!("{l}{}{r}\n", parts.join(m))
        };
        let cells = |row: &[String], sep: &str| {
            // Padded by hand: format!'s width is limited to u16 and panics past it.
            let parts: Vec<String> = (0..cols)
                .map(|c| {
                    let pad = " ".repeat(widths[c] - row[c].chars().count());
                    match align[c] {
                        Align::Left => format!(" {}{pad} ", row[c]),
                        Align::Right => format!(" {pad}{} ", row[c]),
                    }
                })
                .collect();
            format!("{sep}{}{sep}\n", parts.join(sep))
        };
        let mut out = line("┏", "┳", "┓", "━");
        out += &cells(headers, "┃");
        out += &line("┡", "╇", "┩", "━");
        for row in rows {
            out += &cells(row, "│");
        }
        out += &line("└", "┴", "┘", "─");
        out
    }
}

pub use crate::model::describe::{float_bytes, thousands};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_hostile_cells_neither_panic_nor_reach_the_terminal() {
        let name = "x".repeat(70_000) + "\x1b[2J";
        let t = Table {
            headers: vec!["Layer".into(), "Param #".into()],
            align: vec![Align::Left, Align::Right],
            rows: vec![
                vec![name, "1".into()],
                vec!["ok\x1b]0;t\x07".into(), "22".into()],
            ],
        };
        let text = t.render();
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
        assert!(text.contains("ok\\x1b]0;t\\x07"));
        let widths: Vec<usize> = text.lines().map(|l| l.chars().count()).collect();
        assert!(
            widths.iter().all(|&w| w == widths[0] && w < 200),
            "{widths:?}"
        );
    }

    #[test]
    fn formats_numbers_like_keras() {
        assert_eq!(thousands(138357544), "138,357,544");
        assert_eq!(thousands(0), "0");
        assert_eq!(float_bytes(138357544), "527.79 MB");
    }
}
