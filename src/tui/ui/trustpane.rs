//! The Trust tab: the metric table of the maps computed so far (the better direction in each
//! header, the best value starred, a swatch of each map's colour in the curves), what is being
//! scored, then the deletion and insertion curves and the selected map's randomization strip.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::viewpane::{draw_tabs, progress_gauge};
use super::{pane_block, selected_style};
use crate::jobs::{Key, Part};
use crate::trust::figures::colour;
use crate::trust::Figure;
use crate::tui::images::Images;
use crate::tui::state::{Job, Pane, State};
use crate::tui::trust::{rows, Outcome, Row as TrustRow, PARTS};

/// The table's columns: one figure of each metric.
const COLUMNS: [(Figure, Part); 4] = [
    (Figure::DeletionAuc, Part::Faithfulness),
    (Figure::InsertionAuc, Part::Faithfulness),
    (Figure::RoadCombined, Part::Faithfulness),
    (Figure::RandomizedSpearman, Part::Randomization),
];

pub fn draw(f: &mut Frame, area: Rect, s: &State, images: Option<&mut Images>) {
    let block = pane_block(" Trust ".into(), s.pane == Pane::View);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = rows(s);
    let table_h = (rows.len() as u16 + 1).min(inner.height / 3).max(2);
    let [tabs, about, table, status, pictures, caption] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(table_h),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    draw_tabs(f, tabs, s);
    let k = s.knobs.trust;
    let about_text = format!(
        "{} (p {:.3}) · {} map · {} steps · ROAD noise {} · randomizing {}",
        s.label(s.target),
        s.prob(s.target),
        if k.abs { "|map|" } else { "signed" },
        k.steps,
        k.road_noise(),
        k.randomize_top
            .map_or("every layer".to_string(), |n| format!("the top {n}"))
    );
    f.render_widget(
        Line::from(vec![
            Span::styled("for ", Style::new().fg(Color::Gray)),
            Span::styled(
                crate::text::clip(&about_text, usize::from(about.width.saturating_sub(4)))
                    .into_owned(),
                Style::new().add_modifier(Modifier::BOLD),
            ),
        ]),
        about,
    );
    draw_table(f, table, s, &rows);
    draw_status(f, status, s, &rows);
    if let Some(images) = images {
        let figures = &s.trust.figures;
        match (&figures.curves, &figures.strip) {
            (Some(curves), Some(strip)) => {
                let [top, bottom] =
                    Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                        .areas(pictures);
                images.draw(f, top, curves);
                images.draw(f, bottom, strip);
            }
            (Some(picture), None) | (None, Some(picture)) => images.draw(f, pictures, picture),
            (None, None) => {}
        }
    }
    let hint = "[ ] choose the map · e export CSV, JSON, PNG · Esc stops";
    f.render_widget(
        Line::styled(
            crate::text::clip(hint, usize::from(caption.width)).into_owned(),
            Style::new().fg(Color::Gray),
        ),
        caption,
    );
}

/// A figure as the table shows it: the value (starred when best), or what stands in its place.
fn cell(s: &State, row: &TrustRow, figure: Figure, part: Part, best: Option<f32>) -> String {
    if !row.has(part) {
        return "—".into();
    }
    match row.outcome(s, part) {
        Some(Ok(scores)) => match scores.get(figure) {
            Some(v) => format!("{v:.3}{}", if Some(v) == best { "*" } else { " " }),
            None => "-".into(),
        },
        Some(Err(_)) => "✗".into(),
        None if running(s, row, part) => match &s.job {
            // The randomization check's progress in its cell (the faithfulness part runs three
            // metrics, each with its own count: the gauge names which).
            Job::Running {
                key: Key::Trust(_),
                progress: Some(p),
                ..
            } if p.total > 0 && part == Part::Randomization => {
                format!("⋯{:>3}%", p.done * 100 / p.total)
            }
            _ => "⋯".into(),
        },
        None => "·".into(),
    }
}

fn running(s: &State, row: &TrustRow, part: Part) -> bool {
    match s.job.running() {
        Some(Key::Trust(k)) => **k == row.key(s, part),
        Some(Key::Map(spec)) => Some(spec) == row.spec.as_ref(),
        None => false,
    }
}

fn draw_table(f: &mut Frame, area: Rect, s: &State, rows: &[TrustRow]) {
    let best: Vec<Option<f32>> = COLUMNS
        .iter()
        .map(|&(figure, part)| {
            let values = rows
                .iter()
                .filter_map(|r| r.outcome(s, part)?.as_ref().ok()?.get(figure));
            match figure.lower_is_better() {
                true => values.reduce(f32::min),
                false => values.reduce(f32::max),
            }
        })
        .collect();
    let mut header = vec![Cell::from("map")];
    header.extend(COLUMNS.iter().map(|(figure, _)| {
        let arrow = if figure.lower_is_better() {
            "↓"
        } else {
            "↑"
        };
        Cell::from(format!("{} {arrow}", figure.title()))
    }));
    let lines: Vec<Row> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let scored = matches!(r.outcome(s, Part::Faithfulness), Some(Ok(_)));
            let [red, green, blue] = colour(i);
            let swatch = match scored {
                true => Span::styled("■ ", Style::new().fg(Color::Rgb(red, green, blue))),
                false => Span::raw("  "),
            };
            let mut cells = vec![Cell::from(Line::from(vec![
                swatch,
                Span::raw(r.name.clone()),
            ]))];
            for ((figure, part), best) in COLUMNS.iter().zip(&best) {
                let text = cell(s, r, *figure, *part, *best);
                cells.push(Cell::from(Line::from(text).right_aligned()));
            }
            let row = Row::new(cells);
            match i == s.trust.selected {
                true => row.style(selected_style()),
                false => row,
            }
        })
        .collect();
    let mut widths = vec![Constraint::Min(10)];
    widths.extend([Constraint::Length(11); 4]);
    let header = Row::new(header).style(Style::new().add_modifier(Modifier::BOLD));
    // Keep the selected row in sight when the table is taller than its area.
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    let skip = (s.trust.selected + 1).saturating_sub(visible);
    let lines: Vec<Row> = lines.into_iter().skip(skip).collect();
    f.render_widget(
        Table::new(lines, widths).header(header).column_spacing(1),
        area,
    );
}

/// What is being scored, why the selected map has no scores, or that all is done.
fn draw_status(f: &mut Frame, area: Rect, s: &State, rows: &[TrustRow]) {
    let dim = Style::new().fg(Color::Gray);
    if let Job::Running {
        key,
        progress,
        started,
        ..
    } = &s.job
    {
        let what = format!("{}: ", key.name());
        f.render_widget(progress_gauge(s, *progress, *started, &what), area);
        return;
    }
    let selected = rows.get(s.trust.selected);
    let problem = selected.and_then(|r| {
        PARTS
            .iter()
            .find_map(|&p| match r.outcome(s, p) {
                Some(Outcome::Err(e)) => Some(e.clone()),
                _ => None,
            })
            .map(|e| format!("{}: {e}", r.name))
    });
    let pending = rows
        .iter()
        .any(|r| PARTS.iter().any(|&p| r.has(p) && r.outcome(s, p).is_none()));
    let (text, style) = match (problem, pending, s.trust.paused) {
        (Some(p), ..) => (p, Style::new().fg(Color::Red)),
        (None, true, true) => ("scoring stopped: choose the tab again to go on".into(), dim),
        (None, true, false) => ("…".into(), dim),
        (None, false, _) if rows.len() == 1 => (
            "only the random map so far: open a map tab (Saliency, Grad-CAM, …) to score it here"
                .into(),
            dim,
        ),
        (None, false, _) => (
            "every map scored · ↓ lower is better, ↑ higher, * the best".into(),
            dim,
        ),
    };
    f.render_widget(
        Paragraph::new(Line::styled(text, style)).wrap(Wrap { trim: true }),
        area,
    );
}
