//! Drawing: panes read the state and never change it. Wide terminals show the summary and
//! layer panes beside the view; narrow ones (80x24) show one pane at a time under a pane tab
//! bar. Pictures are hidden while a popup covers the screen, so a kitty or sixel image never
//! shows through it.

mod header;
mod layer;
mod popup;
mod summary;
mod trustpane;
mod viewpane;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::images::Images;
use super::state::{Mode, Pane, State};

/// Below this the layout cannot hold its panes.
pub const MIN_SIZE: (u16, u16) = (60, 16);

/// From this size on, the panes are side by side.
const WIDE: (u16, u16) = (110, 30);

pub fn draw(f: &mut Frame, s: &State, images: &mut Images) {
    let area = f.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = vec![
            Line::raw(format!(
                "Terminal too small: {}x{}",
                area.width, area.height
            )),
            Line::raw(format!("convscope needs {}x{}", MIN_SIZE.0, MIN_SIZE.1)),
            Line::raw("enlarge it, or q quits"),
        ];
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        images.end_frame();
        return;
    }
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(f, head, s);
    let pictures = if s.popup() { None } else { Some(&mut *images) };
    if area.width >= WIDE.0 && area.height >= WIDE.1 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(body);
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(left);
        summary::draw(f, top, s);
        layer::draw(f, bottom, s);
        viewpane::draw(f, right, s, pictures);
    } else {
        let [tabs, pane] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(body);
        pane_tabs(f, tabs, s);
        match s.pane {
            Pane::Summary => summary::draw(f, pane, s),
            Pane::Layer => layer::draw(f, pane, s),
            Pane::View => viewpane::draw(f, pane, s, pictures),
        }
    }
    footer(f, foot, s);
    popup::draw(f, area, s);
    images.end_frame();
}

/// The pane tab bar of narrow terminals.
fn pane_tabs(f: &mut Frame, area: Rect, s: &State) {
    let mut spans = Vec::new();
    for (pane, name) in [
        (Pane::Summary, "Summary"),
        (Pane::Layer, "Layer"),
        (Pane::View, "View"),
    ] {
        let style = if pane == s.pane {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new().fg(Color::Gray)
        };
        spans.push(Span::styled(format!(" {name} "), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(
        "h/l: switch",
        Style::new().fg(Color::DarkGray),
    ));
    f.render_widget(Line::from(spans), area);
}

/// The bottom line: the search being typed, a message, or the main keys.
fn footer(f: &mut Frame, area: Rect, s: &State) {
    let line = match (&s.mode, &s.message) {
        (Mode::Search { query, .. }, _) => Line::from(vec![
            Span::styled("/", Style::new().fg(Color::Yellow)),
            Span::raw(query.clone()),
            Span::styled("▏", Style::new().fg(Color::Yellow)),
            Span::styled(
                "  Enter keep · Esc back · ↑↓ other matches",
                Style::new().fg(Color::DarkGray),
            ),
        ]),
        (_, Some(m)) => Line::styled(
            m.text.clone(),
            if m.error {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                Style::new().fg(Color::Green)
            },
        ),
        _ => Line::styled(
            key_hints(usize::from(area.width)),
            Style::new().fg(Color::DarkGray),
        ),
    };
    f.render_widget(Paragraph::new(line), area);
}

/// The main keys, as many as fit in `width` columns, whole (`?` lists every key).
fn key_hints(width: usize) -> String {
    const HINTS: [&str; 9] = [
        "? help",
        "q quit",
        "/ search",
        "Tab view",
        "t target",
        "p options",
        "o open",
        "e export",
        "i input",
    ];
    let mut line = String::new();
    for hint in HINTS {
        let sep = if line.is_empty() { "" } else { "  " };
        if line.chars().count() + sep.len() + hint.chars().count() > width {
            break;
        }
        line += sep;
        line += hint;
    }
    line
}

/// The selected row of a list or table.
fn selected_style() -> Style {
    Style::new()
        .bg(Color::Blue)
        .fg(Color::White)
        .add_modifier(Modifier::BOLD)
}

/// A bordered block whose title is bold when the pane has the keys.
fn pane_block(title: String, focused: bool) -> ratatui::widgets::Block<'static> {
    use ratatui::widgets::{Block, BorderType, Borders};
    let style = if focused {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Gray)
    };
    Block::new()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(style)
        .title(Span::styled(title, style))
}
