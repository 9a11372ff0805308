//! Terminal graphics: drawing images inline (kitty, sixel, iTerm2 or half-blocks) through
//! ratatui-image, with capability detection that never waits on a silent terminal.

pub mod print;
