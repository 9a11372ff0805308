//! `render`'s report: the text lines a person reads, or the JSON a script reads, from the
//! engine's facts and the method's output.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::engine::Facts;
use crate::methods::{self, Artifact, Output};
use crate::model::Graph;

pub(super) struct Report<'a> {
    pub(super) method: &'a str,
    pub(super) graph: &'a Graph,
    /// The engine's facts: the target's score and probability, the layer, the map's range.
    pub(super) facts: &'a Facts,
    /// The class explained or maximized (none for an objective that is not one class).
    pub(super) class: Option<usize>,
    pub(super) label: Option<&'a str>,
    pub(super) output: &'a Output,
    pub(super) png: Option<&'a Path>,
    pub(super) npy: Option<&'a Path>,
    pub(super) device: String,
    pub(super) timings: Value,
}

impl Report<'_> {
    /// The target's raw score and probability for the input, when there is an input.
    fn score(&self) -> Option<(f32, f32)> {
        self.facts.target.map(|t| (t.score, t.prob))
    }

    fn layer(&self) -> Option<&str> {
        Some(self.graph.layer(self.facts.layer?).name.as_str())
    }

    /// What occlusion's heatmap and mask views add to the text report.
    fn print_occlusion(&self) {
        let e = &self.output.extras;
        let (min, max) = (self.facts.min, self.facts.max);
        match &self.output.artifact {
            Artifact::Heatmap { .. } => outln!(
                "target probability with a window occluded: {min:.4} to {max:.4} (unoccluded {:.4})",
                self.score().map_or(f32::NAN, |(_, p)| p)
            ),
            Artifact::Mask { .. } => {
                outln!(
                    "kept {} of {} pixels: probability drop ≥ {} × the largest drop {max:.4}",
                    e["kept_pixels"], e["total_pixels"], e["threshold"]
                );
                if max <= 0.0 {
                    errln!("warning: no window lowers the target's probability, so the mask keeps nothing");
                }
            }
            _ => {}
        }
    }

    pub(super) fn json(&self) -> Value {
        let (min, max) = (self.facts.min, self.facts.max);
        let mut v: Map<String, Value> = Map::new();
        v.insert("method".into(), json!(self.method));
        if let Ok(m) = methods::by_id(self.method) {
            v.insert("family".into(), json!(m.info().family.as_str()));
        }
        let target = self.class.map(|index| {
            let mut t = json!({"index": index, "label": self.label});
            if let Some((score, prob)) = self.score() {
                t["score"] = json!(score);
                t["prob"] = json!(prob);
            }
            t
        });
        v.insert("target".into(), json!(target));
        v.insert("layer".into(), json!(self.layer()));
        match &self.output.artifact {
            Artifact::Rows { rows, .. } => {
                v.insert("shape".into(), Value::Null);
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let channels: Vec<&str> = r.tiles.iter().map(|t| t.label.as_str()).collect();
                        json!({"name": self.graph.layer(r.layer).name, "shape": r.shape, "channels": channels})
                    })
                    .collect();
                v.insert("layers".into(), json!(rows));
            }
            a => {
                v.insert("shape".into(), json!(a.shape()));
            }
        }
        v.insert(
            "map".into(),
            json!({"min": min, "max": max, "problem": self.facts.problem.map(|p| p.describe())}),
        );
        for (k, val) in &self.output.extras {
            v.insert(k.clone(), val.clone());
        }
        v.insert("device".into(), json!(self.device));
        v.insert("timings".into(), self.timings.clone());
        v.insert("files".into(), json!({"png": self.png, "npy": self.npy}));
        Value::Object(v)
    }

    pub(super) fn print(&self) {
        let extra = |k: &str| self.output.extras.get(k);
        let label = self.label.map(|l| format!(" '{l}'")).unwrap_or_default();
        match &self.output.artifact {
            // Kernels and feature maps do not depend on the class.
            Artifact::Rows { rows, .. } => {
                let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
                outln!("{} of layers {}", self.method, names.join(", "));
            }
            Artifact::Grid { .. } => {
                outln!("{} of layer {}", self.method, self.layer().unwrap_or("?"))
            }
            Artifact::Image { .. } => {
                let obj = extra("objective").and_then(Value::as_str).unwrap_or("?");
                let recipe = extra("recipe").and_then(Value::as_str).unwrap_or("?");
                let num = |k: &str| extra(k).cloned().unwrap_or_default();
                outln!(
                    "{} of {obj}{label} ({recipe}, {} steps): objective {} at the start, {} at the end",
                    self.method,
                    num("steps"),
                    num("objective_start"),
                    num("objective_end")
                );
            }
            _ => {
                let layer = self
                    .layer()
                    .map(|l| format!(" at layer {l}"))
                    .unwrap_or_default();
                match (self.class, self.score()) {
                    (Some(index), Some((score, prob))) => outln!(
                        "{} of class {index}{label} (score {score:.4}, p={prob:.4}){layer}",
                        self.method
                    ),
                    _ => {
                        let obj = extra("objective").and_then(Value::as_str).unwrap_or("?");
                        outln!("{} of {obj}{layer}", self.method)
                    }
                }
                if let Some(gap) = extra("completeness_gap") {
                    outln!("completeness gap (Σ attributions − (F(x) − F(baseline))): {gap}");
                }
                self.print_occlusion();
            }
        }
        if let Some(p) = self.facts.problem {
            errln!("warning: {}", p.describe());
        }
        for path in [self.png, self.npy].into_iter().flatten() {
            outln!("wrote {}", path.display());
        }
    }
}
