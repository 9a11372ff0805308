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

/// `138357544` -> `138,357,544`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Size of `n` float32 values, as Keras prints it: `527.79 MB`.
pub fn float_bytes(n: usize) -> String {
    let b = n as f64 * 4.0;
    let (v, unit) = match b {
        b if b >= 1024.0 * 1024.0 * 1024.0 => (b / (1024.0 * 1024.0 * 1024.0), "GB"),
        b if b >= 1024.0 * 1024.0 => (b / (1024.0 * 1024.0), "MB"),
        b if b >= 1024.0 => (b / 1024.0, "KB"),
        b => (b, "B"),
    };
    format!("{v:.2} {unit}")
}

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
