//! Text from files on its way to a terminal. A model's layer names, a labels file's classes
//! and a path all come from someone else, and a name holding `ESC ]0;… BEL` retitles the
//! terminal, `ESC [2J` clears it, and worse sequences exist. Everything convscope prints that
//! did not come from its own format strings goes through [`escape_controls`] first; JSON is
//! escaped by its encoder, and [`escape_controls_keep_newlines`] covers what it leaves (DEL
//! and the C1 range, which some terminals read as 8-bit controls).

use std::borrow::Cow;
use std::fmt::Write;

/// Control characters (C0, DEL, C1 and line breaks) written as visible escapes: `ESC` becomes
/// `\x1b`, U+009B `\u{9b}`; everything else, non-ASCII letters included, is kept.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// [`escape_controls`], keeping `\n` (for text made of several lines of convscope's own).
pub fn escape_controls_keep_newlines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Shortens `s` to at most `max` characters, ending in `…` when cut (table cells: a name of
/// 65,000 characters is not a table any more).
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let keep: String = s.chars().take(max.saturating_sub(1)).collect();
            Cow::Owned(keep + "…")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_become_visible_and_text_stays() {
        let hostile = "conv\x1b]0;pwned\x07\x1b[2J\u{9b}31m\x7f";
        let out = escape_controls(hostile);
        assert_eq!(out, "conv\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\x7f");
        assert!(!out.chars().any(char::is_control));
        assert!(matches!(
            escape_controls("block1_conv1 · ü"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape_controls("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(escape_controls_keep_newlines("a\nb\x1b"), "a\nb\\x1b");
    }

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdefg", 6), "abcde…");
        assert_eq!(clip("ééééééé", 3), "éé…");
    }
}
