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

impl Table {
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let width = |c: usize| {
            self.rows
                .iter()
                .map(|r| r[c].chars().count())
                .chain([self.headers[c].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..cols).map(width).collect();
        let line = |l: &str, m: &str, r: &str, fill: &str| {
            let parts: Vec<String> = widths.iter().map(|w| fill.repeat(w + 2)).collect();
            format!("{l}{}{r}\n", parts.join(m))
        };
        let cells = |row: &[String], sep: &str| {
            let parts: Vec<String> = (0..cols)
                .map(|c| match self.align[c] {
                    Align::Left => format!(" {:<w$} ", row[c], w = widths[c]),
                    Align::Right => format!(" {:>w$} ", row[c], w = widths[c]),
                })
                .collect();
            format!("{sep}{}{sep}\n", parts.join(sep))
        };
        let mut out = line("┏", "┳", "┓", "━");
        out += &cells(&self.headers, "┃");
        out += &line("┡", "╇", "┩", "━");
        for row in &self.rows {
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
    fn formats_numbers_like_keras() {
        assert_eq!(thousands(138357544), "138,357,544");
        assert_eq!(thousands(0), "0");
        assert_eq!(float_bytes(138357544), "527.79 MB");
    }
}
