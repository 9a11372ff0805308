//! The selected layer: its configuration (the `get_config()` view) and its weights (shape,
//! dtype, min/max/mean/std), with a histogram of the first weight's values as a sparkline.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::pane_block;
use crate::model::describe::{compact, layer_config, shape_label};
use crate::tui::state::{Pane, State};

pub fn draw(f: &mut Frame, area: Rect, s: &State) {
    let layer = s.graph.layer(s.selected_layer());
    let title = format!(" {} ({}) ", layer.name, layer.type_label());
    let block = pane_block(title, s.pane == Pane::Layer);
    let inner = block.inner(area);
    f.render_widget(block, area);

    let key = Style::new().fg(Color::Cyan);
    let mut lines = vec![Line::from(vec![
        Span::styled("output ", key),
        Span::raw(shape_label(layer.shown_shape())),
    ])];
    // The config in two columns when the pane is wide enough, so the weights stay in view.
    let entries = layer_config(layer);
    let config: Vec<(&str, String)> = entries
        .iter()
        .filter(|(k, v)| k != "name" && !(k == "source_name" && compact(v) == layer.name))
        .map(|(k, v)| (k.as_str(), compact(v)))
        .collect();
    let columns = if inner.width >= 50 { 2 } else { 1 };
    let per_column = config.len().div_ceil(columns.max(1)).max(1);
    let chunks: Vec<&[(&str, String)]> = config.chunks(per_column).collect();
    let widest =
        |c: &[(&str, String)], f: fn(&(&str, String)) -> usize| c.iter().map(f).max().unwrap_or(0);
    let key_widths: Vec<usize> = chunks
        .iter()
        .map(|c| widest(c, |(k, _)| k.chars().count()))
        .collect();
    // The first column's values get the width they need, as long as the second keeps its keys
    // and a few characters of value; a longer value is clipped with `…`, so that the second
    // column stays aligned. Padded by hand: format!'s width panics past u16::MAX.
    let first_value = match chunks.len() {
        2 => {
            let needed = widest(chunks[0], |(_, v)| v.chars().count());
            let room =
                usize::from(inner.width).saturating_sub(key_widths[0] + key_widths[1] + 3 + 8);
            needed.min(room).max(1)
        }
        _ => 0,
    };
    let pad = |s: &str, w: usize| " ".repeat(w.saturating_sub(s.chars().count()));
    for row in 0..per_column {
        let mut spans = Vec::new();
        for (col, chunk) in chunks.iter().enumerate() {
            let Some((k, v)) = chunk.get(row) else {
                continue;
            };
            let value = match col {
                0 if chunks.len() == 2 => crate::text::clip(v, first_value),
                _ => v.into(),
            };
            let width = if col == 0 && chunks.len() == 2 {
                first_value
            } else {
                0
            };
            spans.push(Span::styled(
                format!("{k}{} ", pad(k, key_widths[col])),
                key,
            ));
            spans.push(Span::raw(format!("{value}{} ", pad(&value, width))));
        }
        lines.push(Line::from(spans));
    }
    let mut histogram = None;
    match &s.layer_detail {
        Some((id, Ok(detail))) if *id == s.selected_layer() => {
            if detail.weights.is_empty() {
                lines.push(Line::styled("no weights", Style::new().fg(Color::Gray)));
            }
            for w in &detail.weights {
                lines.push(Line::from(vec![
                    Span::styled(
                        w.role.to_string(),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(format!(" {:?} {}", w.shape, w.dtype)),
                    Span::styled(
                        if w.trainable { "" } else { " (non-trainable)" },
                        Style::new().fg(Color::Gray),
                    ),
                ]));
                if let Some(st) = &w.stats {
                    lines.push(Line::styled(
                        format!(
                            "  min {:.4}  max {:.4}  mean {:.4}  std {:.4}",
                            st.min, st.max, st.mean, st.std
                        ),
                        Style::new().fg(Color::Gray),
                    ));
                }
            }
            if let Some(note) = &detail.note {
                lines.push(Line::styled(
                    format!("statistics unavailable: {note}"),
                    Style::new().fg(Color::Yellow),
                ));
            }
            if !detail.histogram.is_empty() {
                histogram = Some(&detail.histogram);
            }
        }
        Some((id, Err(e))) if *id == s.selected_layer() => {
            lines.push(Line::styled(
                format!("cannot read the weights: {e}"),
                Style::new().fg(Color::Red),
            ));
        }
        _ => lines.push(Line::styled(
            "reading the weights…",
            Style::new().fg(Color::Gray),
        )),
    }

    let [text_area, spark_area] = match histogram {
        Some(_) if inner.height >= 8 => {
            Layout::vertical([Constraint::Min(1), Constraint::Length(3)]).areas(inner)
        }
        _ => [inner, Rect::default()],
    };
    f.render_widget(Paragraph::new(lines).scroll((s.layer_scroll, 0)), text_area);
    if let (Some(h), true) = (histogram, spark_area.height > 0) {
        let [label, spark] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(spark_area);
        f.render_widget(
            Line::styled(
                "histogram of the first weight (min → max)",
                Style::new().fg(Color::Gray),
            ),
            label,
        );
        f.render_widget(
            Sparkline::default()
                .data(h.iter().copied())
                .style(Style::new().fg(Color::Magenta)),
            spark,
        );
    }
}
