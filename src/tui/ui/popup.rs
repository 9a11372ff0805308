//! Popups over the screen: help (generated from the keymap), the target picker, the knobs
//! form and the open prompt.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::forms::{KnobsForm, OpenPrompt, TargetPicker};
use crate::tui::keymap::help_lines;
use crate::tui::state::{Mode, State};

pub fn draw(f: &mut Frame, area: Rect, s: &State) {
    match &s.mode {
        Mode::Help { scroll } => help(f, area, *scroll),
        Mode::Targets(p) => targets(f, area, s, p),
        Mode::Knobs(form) => knobs(f, area, s, form),
        Mode::Open(p) => open(f, area, p),
        Mode::Normal | Mode::Search { .. } => {}
    }
}

/// A cleared, bordered box of at most `w`x`h` centred in `area`; returns its inside.
fn frame(f: &mut Frame, area: Rect, w: u16, h: u16, title: &str) -> Rect {
    frame_with_keys(f, area, w, h, title, None)
}

/// [`frame`] with the popup's keys on its bottom border, so the title stays short enough to
/// show whole at 80 columns.
fn frame_with_keys(
    f: &mut Frame,
    area: Rect,
    w: u16,
    h: u16,
    title: &str,
    keys: Option<&str>,
) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    f.render_widget(Clear, r);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(Color::Yellow))
        .title(Span::styled(
            format!(" {title} "),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    let block = match keys {
        Some(k) => block.title_bottom(Span::styled(format!(" {k} "), Style::new().fg(Color::Gray))),
        None => block,
    };
    let inner = block.inner(r);
    f.render_widget(block, r);
    inner
}

fn help(f: &mut Frame, area: Rect, scroll: u16) {
    let lines: Vec<Line> = help_lines()
        .into_iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!("{keys:>18}  "), Style::new().fg(Color::Cyan)),
                Span::raw(what),
            ])
        })
        .collect();
    let h = lines.len() as u16 + 2;
    let inner = frame(f, area, 76, h, "Keys · any key closes · j/k scroll");
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

fn targets(f: &mut Frame, area: Rect, s: &State, p: &TargetPicker) {
    let inner = frame(
        f,
        area,
        60,
        18,
        "Target class · type to filter · Enter picks",
    );
    let [query, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    f.render_widget(
        Line::from(vec![
            Span::styled("> ", Style::new().fg(Color::Yellow)),
            Span::raw(p.query.clone()),
            Span::styled("▏", Style::new().fg(Color::Yellow)),
        ]),
        query,
    );
    let rows = usize::from(list.height).max(1);
    let first = p.cursor.saturating_sub(rows - 1);
    let lines: Vec<Line> = p
        .matches
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, &class)| {
            let style = if i == p.cursor {
                super::selected_style()
            } else {
                Style::new()
            };
            let mark = if class == s.target { "●" } else { " " };
            Line::styled(
                format!(
                    "{mark} {:>4}  {:<32} {:>6.2}%",
                    class,
                    s.label(class),
                    s.prob(class) * 100.0
                ),
                style,
            )
        })
        .collect();
    if lines.is_empty() {
        f.render_widget(
            Line::styled("no class matches", Style::new().fg(Color::Red)),
            list,
        );
    } else {
        f.render_widget(Paragraph::new(lines), list);
    }
}

fn knobs(f: &mut Frame, area: Rect, s: &State, form: &KnobsForm) {
    let h = form.fields.len() as u16 * 2 + 5;
    let title = match s.view.is_trust() {
        true => "Trust options".to_string(),
        false => format!("{} options", s.method()),
    };
    let keys = "↑↓ Tab field · Enter applies · Esc closes";
    let inner = frame_with_keys(f, area, 70, h, &title, Some(keys));
    let mut lines = Vec::new();
    for (i, (field, text)) in form.fields.iter().enumerate() {
        let on = i == form.cursor;
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:>12}  ", field.name()),
                Style::new().fg(if on { Color::Yellow } else { Color::Cyan }),
            ),
            Span::styled(
                text.clone(),
                if on {
                    Style::new().add_modifier(Modifier::REVERSED)
                } else {
                    Style::new()
                },
            ),
            Span::styled(if on { "▏" } else { "" }, Style::new().fg(Color::Yellow)),
        ]));
        lines.push(Line::styled(
            format!("{:>14}{}", "", field.hint()),
            Style::new().fg(Color::DarkGray),
        ));
    }
    if let Some(e) = &form.error {
        lines.push(Line::styled(e.clone(), Style::new().fg(Color::Red)));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn open(f: &mut Frame, area: Rect, p: &OpenPrompt) {
    let inner = frame(
        f,
        area,
        72,
        8,
        "Open an image · Tab completes · Enter opens",
    );
    let mut lines = vec![Line::from(vec![
        Span::styled("path ", Style::new().fg(Color::Cyan)),
        Span::raw(p.path.clone()),
        Span::styled("▏", Style::new().fg(Color::Yellow)),
    ])];
    if !p.candidates.is_empty() {
        let shown: Vec<&str> = p.candidates.iter().take(12).map(String::as_str).collect();
        let more = p.candidates.len().saturating_sub(shown.len());
        let mut text = shown.join("  ");
        if more > 0 {
            text += &format!("  (+{more} more)");
        }
        lines.push(Line::styled(text, Style::new().fg(Color::Gray)));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
