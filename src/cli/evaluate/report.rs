//! `evaluate`'s report: a table of maps × metrics a person reads (the better direction in
//! each header, the best value starred), or JSON with every curve for a script.

use serde_json::{json, Value};

use crate::cli::table::{Align, Table};
use crate::trust::report::Document;
use crate::trust::Metric;

pub(super) struct Report<'a> {
    pub(super) doc: Document<'a>,
    pub(super) device: String,
    pub(super) batch: usize,
    pub(super) load_ms: f64,
    pub(super) forward_ms: f64,
}

impl Report<'_> {
    pub(super) fn json(&self) -> Value {
        let mut out = self.doc.json();
        out["device"] = json!(self.device);
        out["batch"] = json!(self.batch);
        out["timings"] = json!({"load_ms": self.load_ms, "forward_ms": self.forward_ms});
        out
    }

    pub(super) fn print(&self) {
        let label = self
            .doc
            .label
            .map(|l| format!(" '{l}'"))
            .unwrap_or_default();
        outln!(
            "{} · target {}{label}, probability {:.4} · {} · batch {}",
            self.doc.input,
            self.doc.class,
            self.doc.clean,
            self.device,
            self.batch
        );
        if self
            .doc
            .metrics
            .iter()
            .any(|m| matches!(m, Metric::Deletion | Metric::Insertion))
        {
            let step = self.doc.step();
            outln!(
                "deletion/insertion: {} steps of {step} pixel{} (of {})",
                self.doc.pixels.div_ceil(step),
                if step == 1 { "" } else { "s" },
                self.doc.pixels
            );
        }
        if self.doc.metrics.contains(&Metric::Road) {
            outln!(
                "ROAD: change in probability with the most (MoRF) or least (LeRF) relevant pixels \
                 imputed, mean over 10–90%; noise {}",
                self.doc.settings.road_noise
            );
        }
        let figures = self.doc.figures();
        let mut headers = vec!["map".to_string()];
        let mut align = vec![Align::Left];
        for f in &figures {
            let arrow = if f.lower_is_better() { "↓" } else { "↑" };
            headers.push(format!("{} {arrow}", f.title()));
            align.push(Align::Right);
        }
        headers.extend(["map ms".into(), "metrics ms".into()]);
        align.extend([Align::Right, Align::Right]);
        let best: Vec<Option<f32>> = figures.iter().map(|&f| self.doc.best(f)).collect();
        let rows = self
            .doc
            .rows
            .iter()
            .map(|r| {
                let mut cells = vec![r.name.clone()];
                for (f, best) in figures.iter().zip(&best) {
                    cells.push(match r.scores.get(*f) {
                        Some(v) => {
                            let star = if Some(v) == *best && self.doc.rows.len() > 1 {
                                "*"
                            } else {
                                " "
                            };
                            format!("{}{star}", figure_text(v))
                        }
                        None => "-".into(),
                    });
                }
                cells.push(r.method_ms.map_or("-".into(), |ms| format!("{ms:.1}")));
                cells.push(format!("{:.1}", r.scores.ms));
                cells
            })
            .collect();
        print!(
            "{}",
            Table {
                headers,
                align,
                rows
            }
            .render()
        );
        outln!("↓ lower is better, ↑ higher is better; * the best of the maps scored");
        for r in self.doc.rows {
            if let Some(problem) = &r.problem {
                outln!("{}: not scored: {problem}", r.name);
            }
        }
        for r in self.doc.rows {
            for c in &r.scores.randomization {
                let steps: Vec<String> = c
                    .steps
                    .iter()
                    .map(|st| {
                        let rho = st
                            .spearman_abs
                            .map_or("const".into(), |v| format!("{v:.2}"));
                        format!("{} {rho}", self.doc.graph.layer(st.layer).name)
                    })
                    .collect();
                let arrow = match c.order {
                    crate::trust::Order::Cascading => " → ",
                    crate::trust::Order::Independent => ", ",
                };
                outln!(
                    "{} randomization ({}, top first), ρ(|map|) with the original: {}",
                    r.name,
                    c.order.as_str(),
                    steps.join(arrow)
                );
            }
        }
    }
}

/// A figure in the table: four decimals, or three significant digits in scientific notation
/// for a small one (infidelity is in squared logits: 2e-5 must not read as 0).
fn figure_text(v: f32) -> String {
    match v != 0.0 && v.abs() < 1e-3 {
        true => format!("{v:.2e}"),
        false => format!("{v:.4}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_figures_keep_their_digits() {
        assert_eq!(super::figure_text(0.02734), "0.0273");
        assert_eq!(super::figure_text(2.345e-5), "2.35e-5");
        assert_eq!(super::figure_text(0.0), "0.0000");
    }
}
