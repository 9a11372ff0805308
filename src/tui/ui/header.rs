//! The two header lines: model, device, input, target, graphics protocol and the job
//! indicator; then the top-5 predictions, always visible.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::state::{Job, State};

/// A red tag when the weights are random (`--arch` without a checkpoint): every map drawn
/// from them is noise, and the user must not mistake it for an explanation.
fn random_weights_tag(s: &State) -> Vec<Span<'static>> {
    match &s.graph.origin {
        Some(o) if o.contains("RANDOM weights") => vec![Span::styled(
            "RANDOM WEIGHTS",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )],
        _ => vec![],
    }
}

pub fn draw(f: &mut Frame, area: Rect, s: &State) {
    let dim = Style::new().fg(Color::DarkGray);
    let spec = &s.input.spec;
    // (importance, spans): the least important go first when the line does not fit.
    let mut segments: Vec<(u8, Vec<Span>)> = vec![
        (
            0,
            vec![Span::styled(
                "convscope",
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            )],
        ),
        (
            3,
            vec![Span::styled(
                s.graph.name.clone(),
                Style::new().add_modifier(Modifier::BOLD),
            )],
        ),
        (2, vec![Span::raw(s.device.clone())]),
        (3, random_weights_tag(s)),
        (
            3,
            vec![Span::raw(format!(
                "{} {}x{}",
                s.input.name(),
                spec.width,
                spec.height
            ))],
        ),
        (
            3,
            vec![
                Span::raw("target "),
                Span::styled(
                    format!("{} {:.1}%", s.label(s.target), s.prob(s.target) * 100.0),
                    Style::new().fg(Color::Yellow),
                ),
            ],
        ),
        (1, vec![Span::raw(s.graphics)]),
        (3, vec![job_indicator(s)]),
    ];
    segments.retain(|(_, spans)| !spans.is_empty());
    let width = |segs: &[(u8, Vec<Span>)]| -> usize {
        segs.iter()
            .map(|(_, spans)| spans.iter().map(Span::width).sum::<usize>() + 3)
            .sum()
    };
    while width(&segments) > usize::from(area.width) {
        let Some(least) = (0..segments.len())
            .filter(|&i| segments[i].0 < 3)
            .min_by_key(|&i| segments[i].0)
        else {
            break;
        };
        segments.remove(least);
    }
    let mut first = Vec::new();
    for (i, (_, spans)) in segments.into_iter().enumerate() {
        if i > 0 {
            first.push(Span::styled(" │ ", dim));
        }
        first.extend(spans);
    }
    let mut second = vec![Span::styled("top-5 ", dim)];
    for (i, p) in s.top.iter().enumerate() {
        if i > 0 {
            second.push(Span::styled(" · ", dim));
        }
        let style = if p.index == s.target {
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        second.push(Span::styled(
            format!("{} {:.1}%", s.label(p.index), p.prob * 100.0),
            style,
        ));
    }
    f.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}

/// `● idle`, `⟳ gradcam 40%`, `✗ failed`, `■ cancelled`.
fn job_indicator(s: &State) -> Span<'static> {
    match &s.job {
        Job::Idle => Span::styled("● ready", Style::new().fg(Color::Green)),
        Job::Running { key, progress, .. } => {
            let pct = progress
                .filter(|p| p.total > 0)
                .map(|p| format!(" {}%", p.done * 100 / p.total))
                .unwrap_or_default();
            Span::styled(
                format!("⟳ {}{pct}", key.name()),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            )
        }
        Job::Cancelled(_) => Span::styled("■ cancelled", Style::new().fg(Color::Gray)),
        Job::Failed { .. } => Span::styled("✗ failed", Style::new().fg(Color::Red)),
    }
}
