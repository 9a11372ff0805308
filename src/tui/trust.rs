//! The Trust view: how faithful each map computed so far is, for the current input and target.
//!
//! Its rows are the maps the other views have computed — a method with its layer and options,
//! for any input or target — each taken for the current input and target, then the random map
//! (the chance level). What is missing is computed in the background, one job at a time,
//! in the order that fills the table soonest: a row's map (when only another input's or
//! target's is cached), then every row's faithfulness scores, then every row's randomization
//! check (a map recomputed once per layer with weights: by far the slowest). Results are
//! cached by what they depend on, so coming back to the tab, or to an input, costs nothing.
//! The numbers are `convscope evaluate`'s with the same options (`p`; by default its defaults).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use image::RgbImage;

use super::action::{Effect, Payload};
use super::state::{Job, State};
use crate::jobs::{Computed, JobSpec, Key, Lru, Part, TrustSpec, Work};
use crate::methods;
use crate::model::LayerId;
use crate::trust::figures::{self, Series};
use crate::trust::report::{Document, Scored};
use crate::trust::{can_score, Check, Metric, Scores};

/// Scores kept (two a map: its faithfulness and its randomization check).
pub const CACHE_SCORES: usize = 128;

/// The two jobs of a row, in the order they run.
pub const PARTS: [Part; 2] = [Part::Faithfulness, Part::Randomization];

/// The name of the chance-level row.
pub const RANDOM: &str = "random";

/// A row's part: its scores, or why there are none.
pub type Outcome = Result<Arc<Scores>, String>;

pub struct TrustView {
    pub scores: Lru<TrustSpec, Outcome>,
    /// The row whose randomization strip is shown (`[` and `]`).
    pub selected: usize,
    /// Esc stopped the background scoring: nothing new starts until the tab is chosen again.
    pub paused: bool,
    /// The strip of the randomization check running (or stopped), as far as it got.
    pub partial: Option<(TrustSpec, Arc<Check>)>,
    pub figures: Figures,
}

impl Default for TrustView {
    fn default() -> Self {
        TrustView {
            scores: Lru::new(CACHE_SCORES),
            selected: 0,
            paused: false,
            partial: None,
            figures: Figures::default(),
        }
    }
}

/// The pictures of the view, drawn when what they show changes (not every frame: a new
/// picture is a new terminal image to encode).
#[derive(Default)]
pub struct Figures {
    /// Deletion and insertion curves of every row scored.
    pub curves: Option<Arc<RgbImage>>,
    /// The selected row's randomization strip.
    pub strip: Option<Arc<RgbImage>>,
    signature: u64,
}

/// One map of the table.
pub struct Row {
    pub name: String,
    pub layer: Option<LayerId>,
    /// The view's spec of the map, for the current input and target, its look at the
    /// defaults; `None` for the random map.
    pub spec: Option<JobSpec>,
    /// The map, once computed.
    pub map: Option<Arc<Computed>>,
}

impl Row {
    pub fn key(&self, s: &State, part: Part) -> TrustSpec {
        trust_key(s, self.spec.clone(), part)
    }

    /// Whether `part` applies: the random map has no model to randomize.
    pub fn has(&self, part: Part) -> bool {
        part == Part::Faithfulness || self.spec.is_some()
    }

    /// `part`'s outcome, if computed.
    pub fn outcome<'s>(&self, s: &'s State, part: Part) -> Option<&'s Outcome> {
        s.trust.scores.peek(&self.key(s, part))
    }
}

/// `part` of the map `map` (a row's spec; `None`: the random map) for the current input,
/// target and options.
fn trust_key(s: &State, map: Option<JobSpec>, part: Part) -> TrustSpec {
    TrustSpec {
        map,
        part,
        target: s.target,
        input: s.input_gen,
        knobs: s.knobs.trust.for_part(part),
    }
}

/// A view's spec as a row knows it: for the current input and target, without its look.
fn row_spec(s: &State, spec: &JobSpec) -> JobSpec {
    JobSpec {
        target: s.target,
        input: s.input_gen,
        knobs: spec.knobs.without_look(),
        ..spec.clone()
    }
}

/// The table's rows: the scorable maps computed so far in the registry's order (by layer
/// within a method), then the random map.
pub fn rows(s: &State) -> Vec<Row> {
    let position = |id: &str| methods::all().iter().position(|m| m.info().id == id);
    let mut specs: Vec<JobSpec> = s
        .cache
        .iter()
        .map(|(spec, _)| spec)
        .filter(|spec| methods::by_id(spec.method).is_ok_and(|m| can_score(m.info())))
        .map(|spec| row_spec(s, spec))
        .collect();
    specs.sort_by_cached_key(|spec| {
        (
            position(spec.method),
            spec.layer.map(|l| l.0),
            format!("{:?}", spec.knobs),
        )
    });
    specs.dedup();
    let mut rows: Vec<Row> = specs
        .iter()
        .map(|spec| {
            let map = s
                .cache
                .iter()
                .find(|(cached, _)| {
                    (cached.input, cached.target) == (s.input_gen, s.target)
                        && row_spec(s, cached) == *spec
                })
                .map(|(_, map)| map.clone());
            let twins = specs.iter().filter(|o| o.method == spec.method).count();
            let name = match (spec.layer, twins) {
                (Some(l), 2..) => format!("{} @{}", spec.method, s.graph.layer(l).name),
                _ => spec.method.to_string(),
            };
            Row {
                name,
                layer: spec.layer,
                spec: Some(spec.clone()),
                map,
            }
        })
        .collect();
    rows.push(Row {
        name: RANDOM.into(),
        layer: None,
        spec: None,
        map: None,
    });
    rows
}

/// The next job the table needs, if any.
fn next(s: &State, rows: &[Row]) -> Option<Work> {
    let unresolved = |r: &Row| PARTS.iter().any(|&p| r.has(p) && r.outcome(s, p).is_none());
    if let Some(r) = rows
        .iter()
        .find(|r| r.spec.is_some() && r.map.is_none() && unresolved(r))
    {
        return Some(Work::map(r.spec.clone()?, s.input.clone()));
    }
    PARTS.iter().find_map(|&part| {
        let r = rows
            .iter()
            .find(|r| r.has(part) && r.outcome(s, part).is_none())?;
        Some(Work {
            key: Key::Trust(Box::new(r.key(s, part))),
            input: s.input.clone(),
            map: r.map.clone(),
        })
    })
}

/// Brings the view up to date: its figures, and the next missing part started unless the
/// user stopped the scoring (`force`, choosing the tab, starts it again).
pub fn refresh(s: &mut State, fx: &mut Vec<Effect>, force: bool) {
    if force {
        s.trust.paused = false;
    }
    let rows = rows(s);
    s.trust.selected = s.trust.selected.min(rows.len() - 1);
    draw_figures(s, &rows);
    if s.trust.paused {
        return;
    }
    let Some(work) = next(s, &rows) else {
        return;
    };
    if s.job.running() == Some(&work.key) {
        return;
    }
    let ticket = s.next_ticket;
    s.next_ticket += 1;
    s.job = Job::Running {
        ticket,
        key: work.key.clone(),
        progress: None,
        started: s.now,
    };
    fx.push(Effect::Submit { ticket, work });
}

/// A row's map could not be computed: its parts say why, so it is not asked for again.
pub fn map_failed(s: &mut State, spec: &JobSpec, error: &str) {
    let spec = row_spec(s, spec);
    for part in PARTS {
        let key = trust_key(s, Some(spec.clone()), part);
        s.trust.scores.insert(key, Err(error.to_string()));
    }
}

/// `[` and `]`: the row whose strip is shown.
pub fn select(s: &mut State, forward: bool, fx: &mut Vec<Effect>) {
    let n = rows(s).len();
    s.trust.selected = match forward {
        true => (s.trust.selected + 1) % n,
        false => (s.trust.selected + n - 1) % n,
    };
    refresh(s, fx, false);
}

fn draw_figures(s: &mut State, rows: &[Row]) {
    let mut hasher = DefaultHasher::new();
    for r in rows {
        for part in PARTS {
            r.key(s, part).hash(&mut hasher);
            r.outcome(s, part).map(|o| o.is_ok()).hash(&mut hasher);
        }
    }
    (s.trust.selected, s.knobs.colormap).hash(&mut hasher);
    if let Some((spec, check)) = &s.trust.partial {
        (spec, check.steps.len()).hash(&mut hasher);
    }
    let signature = hasher.finish();
    if signature == s.trust.figures.signature {
        return;
    }
    let faithful: Vec<Option<Arc<Scores>>> = rows
        .iter()
        .map(|r| r.outcome(s, Part::Faithfulness)?.as_ref().ok().cloned())
        .collect();
    let series: Vec<Series> = rows
        .iter()
        .zip(&faithful)
        .map(|(r, scores)| Series {
            name: &r.name,
            deletion: scores.as_ref().and_then(|sc| sc.deletion.as_ref()),
            insertion: scores.as_ref().and_then(|sc| sc.insertion.as_ref()),
        })
        .collect();
    let curves = figures::curves(&series).map(Arc::new);
    // The selected map's check, or as far as it has got while it runs.
    let strip = rows.get(s.trust.selected).and_then(|r| {
        let key = r.key(s, Part::Randomization);
        let check = match s.trust.scores.peek(&key) {
            Some(Ok(scores)) => scores.randomization.first()?,
            Some(Err(_)) => return None,
            None => match &s.trust.partial {
                Some((spec, check)) if *spec == key => check,
                _ => return None,
            },
        };
        Some(Arc::new(figures::strip(check, &s.graph, s.knobs.colormap)))
    });
    s.trust.figures = Figures {
        curves,
        strip,
        signature,
    };
}

/// The table as the report writes it: a row for each map with an outcome.
pub fn scored(s: &State, rows: &[Row]) -> Vec<Scored> {
    rows.iter()
        .filter(|r| PARTS.iter().any(|&p| r.outcome(s, p).is_some()))
        .map(|r| {
            let mut scores = Scores::default();
            let mut problem = None;
            for part in PARTS {
                match r.outcome(s, part) {
                    Some(Ok(got)) if part == Part::Faithfulness => {
                        scores = Scores {
                            randomization: scores.randomization,
                            ..(**got).clone()
                        };
                    }
                    Some(Ok(got)) => {
                        scores.randomization = got.randomization.clone();
                        scores.ms += got.ms;
                    }
                    Some(Err(e)) => problem = problem.or(Some(e.clone())),
                    None => {}
                }
            }
            Scored {
                name: r.name.clone(),
                method_ms: None,
                layer: r.layer,
                scores,
                problem,
            }
        })
        .collect()
}

/// `e` on the Trust tab: the table as CSV and JSON (`evaluate --json`'s document), the curves
/// and the selected row's randomization strip as PNG.
pub fn export(s: &mut State, fx: &mut Vec<Effect>) {
    let rows = rows(s);
    let scored = scored(s, &rows);
    if scored.is_empty() {
        super::reducer::say(
            s,
            "nothing to export yet: the scores are still being computed",
            true,
        );
        return;
    }
    let metrics = Metric::DEFAULT;
    let settings = s.knobs.trust.settings();
    let label = s.label(s.target);
    let doc = Document {
        graph: &s.graph,
        input: &s.input.name(),
        class: s.target,
        label: s.labels.as_ref().map(|_| label.as_str()),
        clean: s.prob(s.target),
        metrics: &metrics,
        settings: &settings,
        sign: s.knobs.trust.sign(),
        pixels: s.input.spec.height * s.input.spec.width,
        rows: &scored,
    };
    let json = serde_json::to_string_pretty(&doc.json()).unwrap_or_default() + "\n";
    let stem = super::reducer::file_stem(&[s.input.stem(), "trust".into(), label.clone()]);
    let path = |suffix: &str| s.export_dir.join(format!("{stem}{suffix}"));
    let mut files = vec![
        (path(".csv"), Payload::Bytes(doc.csv().into_bytes())),
        (path(".json"), Payload::Bytes(json.into_bytes())),
    ];
    if let Some(curves) = &s.trust.figures.curves {
        files.push((path(".curves.png"), Payload::Png(curves.clone())));
    }
    if let (Some(strip), Some(row)) = (&s.trust.figures.strip, rows.get(s.trust.selected)) {
        let name = super::reducer::file_stem(std::slice::from_ref(&row.name));
        files.push((
            path(&format!(".{name}.strip.png")),
            Payload::Png(strip.clone()),
        ));
    }
    fx.push(Effect::Export(files));
}
