//! The view pane: the method tabs, what the view shows (method, layer, target), its picture —
//! or the job's progress with an estimate of the time left, or why it failed.

use std::sync::Arc;
use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Tabs, Wrap};
use ratatui::Frame;

use super::pane_block;
use crate::methods::Progress;
use crate::tui::images::Images;
use crate::tui::state::{Job, Pane, State};
use crate::tui::view::View;

pub fn draw(f: &mut Frame, area: Rect, s: &State, images: Option<&mut Images>) {
    if s.view.is_trust() {
        return super::trustpane::draw(f, area, s, images);
    }
    let title = match s.view.variants() {
        1 => format!(" {} ", s.view.title()),
        _ => format!(" {} ", s.view.info(s.cam_variant).title),
    };
    let block = pane_block(title, s.pane == Pane::View);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let (spec, note) = s.spec();
    // What the view shows, with the note on why the layer differs (when there is one) on a
    // line of its own, wrapped, rather than cut at the pane's edge.
    let note_lines = note.as_ref().map_or(0, |n| {
        let width = usize::from(inner.width.max(1));
        (n.chars().count() + 2).div_ceil(width).min(3) as u16
    });
    let [tabs, about, note_area, picture, caption] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(note_lines),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    draw_tabs(f, tabs, s);

    let dim = Style::new().fg(Color::Gray);
    let mut what = vec![Span::styled(
        spec.method,
        Style::new().add_modifier(Modifier::BOLD),
    )];
    if let Some(l) = spec.layer {
        what.push(Span::raw(format!(" at {}", s.graph.layer(l).name)));
    }
    if s.view.uses_target() {
        what.push(Span::raw(format!(" for {}", s.label(spec.target))));
    }
    f.render_widget(Paragraph::new(Line::from(what)), about);
    if let Some(note) = note {
        f.render_widget(
            Paragraph::new(Line::styled(
                format!("({note})"),
                Style::new().fg(Color::Yellow),
            ))
            .wrap(Wrap { trim: true }),
            note_area,
        );
    }

    let shown = s.shown.as_ref().filter(|(shown, _)| *shown == spec);
    match (&s.job, shown) {
        (_, Some((_, done))) => {
            draw_pictures(f, picture, s, &done.picture, images);
            let mut text = format!("map {:?}", done.artifact.shape());
            if let Some(n) = &done.note {
                text += &format!(" · {n}");
            }
            if let Some(p) = done.problem {
                text += &format!(" · {}", p.describe());
            }
            // Clipped with `…` where the pane ends, so a cut is visible as one.
            let text = crate::text::clip(&text, usize::from(caption.width)).into_owned();
            f.render_widget(Line::styled(text, dim), caption);
        }
        (
            Job::Running {
                key,
                progress,
                started,
                ..
            },
            None,
        ) if key.is_map(&spec) => {
            let [_, gauge, _] = Layout::vertical([
                Constraint::Fill(1),
                Constraint::Length(1),
                Constraint::Fill(1),
            ])
            .areas(picture);
            f.render_widget(progress_gauge(s, *progress, *started, ""), gauge);
            f.render_widget(Line::styled("Esc cancels", dim), caption);
        }
        (Job::Failed { key, error }, None) if key.is_map(&spec) => {
            f.render_widget(
                Paragraph::new(Line::styled(error.clone(), Style::new().fg(Color::Red)))
                    .wrap(Wrap { trim: true }),
                picture,
            );
            f.render_widget(
                Line::styled("change the layer, target or options to try again", dim),
                caption,
            );
        }
        (Job::Cancelled(c), None) if c.is_map(&spec) => {
            f.render_widget(
                Paragraph::new(
                    "cancelled · choose the tab again, or change the layer, target or options, to compute it",
                )
                .wrap(Wrap { trim: true }),
                picture,
            );
        }
        _ => f.render_widget(Paragraph::new("…"), picture),
    }
}

pub(super) fn draw_tabs(f: &mut Frame, area: Rect, s: &State) {
    // Full titles when they fit, short ones otherwise; when even those do not, the tabs before
    // the selected one scroll off the left (marked `‹`), so the selected tab is always seen.
    let full: usize = View::all().map(|v| v.title().len() + 5).sum();
    let width = usize::from(area.width);
    let titles: Vec<String> = View::all()
        .map(|v| {
            let name = if full <= width { v.title() } else { v.short() };
            format!("{}:{name}", v.hotkey())
        })
        .collect();
    let selected = s.view.index();
    let used = |from: usize| -> usize {
        titles[from..=selected]
            .iter()
            .map(|t| t.chars().count() + 1)
            .sum::<usize>()
            + if from > 0 { 2 } else { 0 }
    };
    let mut first = 0;
    while first < selected && used(first) > width {
        first += 1;
    }
    let mut shown: Vec<String> = titles[first..].to_vec();
    if first > 0 {
        shown[0] = format!("‹ {}", shown[0]);
    }
    f.render_widget(
        Tabs::new(shown)
            .select(selected - first)
            .padding("", "")
            .divider(" ")
            .style(Style::new().fg(Color::Gray))
            .highlight_style(
                Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ),
        area,
    );
}

/// A job's progress bar: what is done of what (`what` before it), the time spent and an
/// estimate of the time left.
pub(super) fn progress_gauge(
    s: &State,
    progress: Option<Progress>,
    started: Instant,
    what: &str,
) -> Gauge<'static> {
    let elapsed = s.elapsed(started).as_secs_f64();
    let (ratio, label) = match progress.filter(|p| p.total > 0) {
        Some(p) => {
            let ratio = p.done as f64 / p.total as f64;
            let left = (p.done > 0).then(|| elapsed / p.done as f64 * (p.total - p.done) as f64);
            let mut label = format!("{what}{}/{} {} · {elapsed:.1} s", p.done, p.total, p.unit);
            if let Some(left) = left {
                label += &format!(" · ~{left:.1} s left");
            }
            (ratio, label)
        }
        None => (0.0, format!("{what}computing · {elapsed:.1} s")),
    };
    Gauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label)
        .gauge_style(Style::new().fg(Color::Cyan).bg(Color::Black))
}

/// The map, and with `i` the prepared input beside it; nothing while a popup is open.
fn draw_pictures(
    f: &mut Frame,
    area: Rect,
    s: &State,
    map: &Arc<image::RgbImage>,
    images: Option<&mut Images>,
) {
    let Some(images) = images else {
        return;
    };
    if s.show_input && s.view.uses_input() {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(area);
        images.draw(f, left, &s.input_picture);
        images.draw(f, right, map);
    } else {
        images.draw(f, area, map);
    }
}
