//! The model summary table (Layer (type), Output Shape, Param #) with the totals under it. The
//! rows scroll to keep the selection in the middle of the pane.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::Frame;

use super::pane_block;
use crate::model::describe::{shape_label, thousands};
use crate::tui::state::{Pane, State};

pub fn draw(f: &mut Frame, area: Rect, s: &State) {
    let title = format!(" Model: {} · {} layers ", s.graph.name, s.rows.len());
    let block = pane_block(title, s.pane == Pane::Summary);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [table_area, totals_area] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(2)]).areas(inner);

    let visible = usize::from(table_area.height.saturating_sub(1)).max(1);
    let first = first_row(s.selected, visible, s.rows.len());
    let rows = s
        .rows
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, r)| {
            let style = if i == s.selected {
                super::selected_style()
            } else {
                Style::new()
            };
            Row::new(vec![
                format!("{} ({})", r.name, r.type_name),
                shape_label(&r.output_shape),
                thousands(r.params),
            ])
            .style(style)
        });
    // Shapes and counts at their natural width; names take the rest (and are cut first).
    let shape_w = s
        .rows
        .iter()
        .map(|r| shape_label(&r.output_shape).len())
        .max()
        .unwrap_or(12);
    let params_w = s
        .rows
        .iter()
        .map(|r| thousands(r.params).len())
        .max()
        .unwrap_or(7)
        .max(7);
    let widths = [
        Constraint::Min(12),
        Constraint::Length(shape_w as u16),
        Constraint::Length(params_w as u16),
    ];
    let header = Row::new(vec!["Layer (type)", "Output Shape", "Param #"])
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        table_area,
    );

    let t = s.totals;
    let dim = Style::new().fg(Color::Gray);
    f.render_widget(
        Paragraph::new(vec![
            Line::styled(format!("Total params: {}", thousands(t.total)), dim),
            Line::styled(
                format!(
                    "Trainable: {} · Non-trainable: {}",
                    thousands(t.trainable),
                    thousands(t.non_trainable)
                ),
                dim,
            ),
        ]),
        totals_area,
    );
}

/// The first row shown: the selection is kept in the middle of the pane (rows stay visible on
/// both sides of it), except near the ends of the table.
pub fn first_row(selected: usize, visible: usize, total: usize) -> usize {
    if total <= visible {
        return 0;
    }
    selected.saturating_sub(visible / 2).min(total - visible)
}
