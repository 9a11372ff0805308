//! `evaluate`'s report: a table of maps × metrics a person reads (the better direction in
//! each header, the best value starred), or JSON with every curve for a script.

use serde_json::{json, Value};

use super::Row;
use crate::cli::table::{Align, Table};
use crate::model::Graph;
use crate::trust::causal::pixels_per_step;
use crate::trust::{Figure, Metric, Settings};

pub(super) struct Report<'a> {
    pub(super) graph: &'a Graph,
    pub(super) input: &'a str,
    pub(super) class: usize,
    pub(super) label: Option<&'a str>,
    /// The target's probability for the clean input.
    pub(super) clean: f32,
    pub(super) metrics: &'a [Metric],
    pub(super) settings: &'a Settings,
    /// H·W of the input.
    pub(super) pixels: usize,
    pub(super) rows: &'a [Row],
    pub(super) device: String,
    pub(super) batch: usize,
    pub(super) load_ms: f64,
    pub(super) forward_ms: f64,
}

impl Report<'_> {
    fn step(&self) -> usize {
        pixels_per_step(self.pixels, self.settings.steps)
    }

    pub(super) fn json(&self) -> Value {
        let maps: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let s = &r.scores;
                let curve = |c: &Option<crate::trust::Curve>| c.as_ref().map(|c| json!(c.probs));
                let mut m = json!({
                    "name": r.name,
                    "layer": r.layer.map(|l| self.graph.layer(l).name.as_str()),
                });
                for f in self.figures() {
                    m[f.key()] = json!(s.get(f));
                }
                m["curves"] =
                    json!({"deletion": curve(&s.deletion), "insertion": curve(&s.insertion)});
                m["road"] = json!(s.road.as_ref().map(|r| json!({
                    "percentiles": r.percentiles, "morf": r.morf, "lerf": r.lerf, "noise": r.noise,
                })));
                let checks: Vec<Value> = s
                    .randomization
                    .iter()
                    .map(|c| {
                        let steps: Vec<Value> = c
                            .steps
                            .iter()
                            .map(|st| {
                                json!({
                                    "layer": self.graph.layer(st.layer).name,
                                    "spearman_abs": st.spearman_abs,
                                    "spearman_signed": st.spearman_signed,
                                    "ssim": st.ssim,
                                })
                            })
                            .collect();
                        json!({"order": c.order.as_str(), "init": "pytorch-default", "steps": steps})
                    })
                    .collect();
                m["randomization"] = json!(checks);
                m["problem"] = json!(r.problem);
                m["timings"] = json!({"method_ms": r.method_ms, "metrics_ms": s.ms});
                m
            })
            .collect();
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|m| {
                let figures: Vec<Value> = m
                    .figures()
                    .iter()
                    .map(|f| json!({"key": f.key(), "better": better(*f)}))
                    .collect();
                json!({"name": m.as_str(), "figures": figures})
            })
            .collect();
        json!({
            "input": self.input,
            "target": {"index": self.class, "label": self.label, "prob": self.clean},
            "metrics": metrics,
            "settings": {
                "steps": self.settings.steps, "pixels_per_step": self.step(), "pixels": self.pixels,
                "road_noise": self.settings.road_noise, "seed": self.settings.seed,
            },
            "maps": maps,
            "device": self.device,
            "batch": self.batch,
            "timings": {"load_ms": self.load_ms, "forward_ms": self.forward_ms},
        })
    }

    pub(super) fn print(&self) {
        let label = self.label.map(|l| format!(" '{l}'")).unwrap_or_default();
        outln!(
            "{} · target {}{label}, probability {:.4} · {} · batch {}",
            self.input,
            self.class,
            self.clean,
            self.device,
            self.batch
        );
        if self
            .metrics
            .iter()
            .any(|m| matches!(m, Metric::Deletion | Metric::Insertion))
        {
            let step = self.step();
            outln!(
                "deletion/insertion: {} steps of {step} pixel{} (of {})",
                self.pixels.div_ceil(step),
                if step == 1 { "" } else { "s" },
                self.pixels
            );
        }
        if self.metrics.contains(&Metric::Road) {
            outln!(
                "ROAD: change in probability with the most (MoRF) or least (LeRF) relevant pixels \
                 imputed, mean over 10–90%; noise {}",
                self.settings.road_noise
            );
        }
        let figures = self.figures();
        let mut headers = vec!["map".to_string()];
        let mut align = vec![Align::Left];
        for f in &figures {
            let arrow = if f.lower_is_better() { "↓" } else { "↑" };
            headers.push(format!("{} {arrow}", f.title()));
            align.push(Align::Right);
        }
        headers.extend(["map ms".into(), "metrics ms".into()]);
        align.extend([Align::Right, Align::Right]);
        let best: Vec<Option<f32>> = figures.iter().map(|&f| self.best(f)).collect();
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = vec![r.name.clone()];
                for (f, best) in figures.iter().zip(&best) {
                    cells.push(match r.scores.get(*f) {
                        Some(v) => {
                            let star = if Some(v) == *best && self.rows.len() > 1 {
                                "*"
                            } else {
                                " "
                            };
                            format!("{v:.4}{star}")
                        }
                        None => "-".into(),
                    });
                }
                cells.push(format!("{:.1}", r.method_ms));
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
        for r in self.rows {
            if let Some(problem) = &r.problem {
                outln!("{}: not scored: {problem}", r.name);
            }
        }
        for r in self.rows {
            for c in &r.scores.randomization {
                let steps: Vec<String> = c
                    .steps
                    .iter()
                    .map(|st| {
                        let rho = st
                            .spearman_abs
                            .map_or("const".into(), |v| format!("{v:.2}"));
                        format!("{} {rho}", self.graph.layer(st.layer).name)
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

    /// The numbers of the metrics asked for, in order.
    fn figures(&self) -> Vec<Figure> {
        self.metrics
            .iter()
            .flat_map(|m| m.figures().iter().copied())
            .collect()
    }

    /// The best value of `figure` over the rows.
    fn best(&self, figure: Figure) -> Option<f32> {
        let values = self.rows.iter().filter_map(|r| r.scores.get(figure));
        if figure.lower_is_better() {
            values.reduce(f32::min)
        } else {
            values.reduce(f32::max)
        }
    }
}

fn better(f: Figure) -> &'static str {
    if f.lower_is_better() {
        "lower"
    } else {
        "higher"
    }
}
