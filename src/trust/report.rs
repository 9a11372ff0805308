//! What `evaluate --json` and the interface's Trust export write, built in one place so the two
//! cannot drift: a document per input and target with one entry per map scored (its figures
//! under the keys of [`Figure::key`], its curves, ROAD's percentiles, the randomization steps),
//! and the same table as CSV for a spreadsheet.

use serde_json::{json, Value};

use super::causal::pixels_per_step;
use super::{Curve, Figure, Metric, Scores, Settings, Sign};
use crate::model::{Graph, LayerId};

/// One map scored: a row of the table.
#[derive(Clone, Debug)]
pub struct Scored {
    pub name: String,
    /// The method's own time (0 for a map read from a file or the random map; `None` where
    /// it was not measured).
    pub method_ms: Option<f64>,
    pub layer: Option<LayerId>,
    pub scores: Scores,
    /// Why the map was not scored (it is constant for this input, so it ranks nothing).
    pub problem: Option<String>,
}

/// What the scores were computed for and how.
pub struct Document<'a> {
    pub graph: &'a Graph,
    pub input: &'a str,
    pub class: usize,
    pub label: Option<&'a str>,
    /// The target's probability for the clean input.
    pub clean: f32,
    pub metrics: &'a [Metric],
    pub settings: &'a Settings,
    /// How maps were ranked: signed, or by magnitude.
    pub sign: Sign,
    /// H·W of the input.
    pub pixels: usize,
    pub rows: &'a [Scored],
}

impl Document<'_> {
    /// The numbers of the metrics asked for, in order.
    pub fn figures(&self) -> Vec<Figure> {
        self.metrics
            .iter()
            .flat_map(|m| m.figures().iter().copied())
            .collect()
    }

    /// Pixels changed by each deletion or insertion step.
    pub fn step(&self) -> usize {
        pixels_per_step(self.pixels, self.settings.steps)
    }

    /// The best value of `figure` over the rows.
    pub fn best(&self, figure: Figure) -> Option<f32> {
        let values = self.rows.iter().filter_map(|r| r.scores.get(figure));
        if figure.lower_is_better() {
            values.reduce(f32::min)
        } else {
            values.reduce(f32::max)
        }
    }

    pub fn json(&self) -> Value {
        let maps: Vec<Value> = self.rows.iter().map(|r| self.map_json(r)).collect();
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
                "ranking": match self.sign { Sign::Signed => "signed", Sign::Abs => "abs" },
                "randomization": self.settings.orders.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                "randomize_top": self.settings.randomize_top,
            },
            "maps": maps,
        })
    }

    /// Each map's figures alone, `{map: {figure: value}}` (null where not computed or the
    /// map was not scored): a manifest line per image of `evaluate --images`, whose summary
    /// averages them.
    pub fn figures_json(&self) -> Value {
        let mut maps = serde_json::Map::new();
        for r in self.rows {
            let mut m = serde_json::Map::new();
            for f in self.figures() {
                m.insert(f.key().into(), json!(r.scores.get(f)));
            }
            maps.insert(r.name.clone(), Value::Object(m));
        }
        Value::Object(maps)
    }

    fn map_json(&self, r: &Scored) -> Value {
        let s = &r.scores;
        let curve = |c: &Option<Curve>| c.as_ref().map(|c| json!(c.probs));
        let mut m = json!({
            "name": r.name,
            "layer": r.layer.map(|l| self.graph.layer(l).name.as_str()),
        });
        for f in self.figures() {
            m[f.key()] = json!(s.get(f));
        }
        m["curves"] = json!({"deletion": curve(&s.deletion), "insertion": curve(&s.insertion)});
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
    }

    /// The table as CSV (RFC 4180): a row a map, a column a figure (empty where not computed),
    /// then why a map was not scored.
    pub fn csv(&self) -> String {
        let figures = self.figures();
        let mut header = vec!["map".to_string(), "layer".into()];
        header.extend(figures.iter().map(|f| f.key().to_string()));
        header.push("problem".into());
        let mut out = csv_line(&header);
        for r in self.rows {
            let mut cells = vec![
                r.name.clone(),
                r.layer
                    .map_or(String::new(), |l| self.graph.layer(l).name.clone()),
            ];
            cells.extend(
                figures
                    .iter()
                    .map(|&f| r.scores.get(f).map_or(String::new(), |v| v.to_string())),
            );
            cells.push(r.problem.clone().unwrap_or_default());
            out += &csv_line(&cells);
        }
        out
    }
}

/// Which way a figure is better, as the JSON says it.
fn better(f: Figure) -> &'static str {
    if f.lower_is_better() {
        "lower"
    } else {
        "higher"
    }
}

/// One CSV record: a field with a comma, quote or line break is quoted, its quotes doubled
/// (a layer or file name may hold any of them).
fn csv_line(cells: &[String]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    quoted.join(",") + "\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_where_they_must_be() {
        assert_eq!(
            csv_line(&["a".into(), "b,c".into(), "say \"hi\"".into(), String::new()]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\r\n"
        );
    }
}
