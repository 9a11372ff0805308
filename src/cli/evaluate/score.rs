//! One input scored: its clean pass, the target, every map of the setup and the metrics on
//! each, shared by `evaluate --image` and `evaluate --images`.

use std::sync::Arc;
use std::time::Instant;

use super::{ms, Args, Setup, Source, RANDOM};
use crate::engine::{explain, Request, Subject};
use crate::error::{Error, Result};
use crate::imaging::npy::read_npy_f32_at_most;
use crate::input::Input;
use crate::methods::{target, Control, LayerNeed, Method, Objective, Options};
use crate::model::LayerId;
use crate::trust::report::{Document, Scored};
use crate::trust::{elements, Evaluator, Metric, Ranking, Scores};

/// One input scored: the class explained, its clean probability and a row per map.
pub(super) struct Evaluated {
    pub(super) class: usize,
    pub(super) clean: f32,
    pub(super) pixels: usize,
    pub(super) rows: Vec<Scored>,
    pub(super) forward_ms: f64,
}

/// Scores every map of `s` for `input`; `control` makes the progress reporter of a phase.
pub(super) fn evaluate(
    a: &Args,
    s: &Setup,
    input: &Arc<Input>,
    control: &dyn Fn(&str) -> Control,
) -> Result<Evaluated> {
    let (session, batch, sign) = (&s.session, s.batch, s.sign);
    let (metrics, settings) = (&s.metrics, &s.settings);
    let graph = &session.graph;
    // A map from a file is read and checked before any pass runs.
    let file_ranking = match &a.map {
        Some(path) => {
            let spec = input.spec;
            let limit = spec.channels.max(1) * spec.height * spec.width;
            let arr = read_npy_f32_at_most(path, limit)?;
            let what = format!("--map {}", path.display());
            Some(Ranking::of_array(
                &arr.shape, &arr.data, &spec, sign, &what,
            )?)
        }
        None => None,
    };

    // The one forward pass of the input: the scores, the target and every method's clean pass,
    // keeping only what the methods read when they are all gradient or CAM maps.
    let t = Instant::now();
    let maps: Vec<_> = s
        .sources
        .iter()
        .filter_map(|source| match source {
            Source::Method(method) => Some((*method, layer_of(*method, s))),
            _ => None,
        })
        .collect();
    let subject = Subject::new(session, input.clone())?.for_maps(graph, &maps);
    let scores = subject.scores(session)?;
    let forward_ms = ms(t);
    let class = match &a.target {
        Some(t) => target::resolve(t, scores.len(), s.labels.as_deref())?,
        None => target::top1(&scores),
    };
    let evaluator = Evaluator::new(session, &subject, class, batch)?;

    let mut rows = Vec::new();
    for source in &s.sources {
        // The method's request and map, for the randomization check.
        let mut artifact = None;
        let (name, ranking, method_ms, layer) = match source {
            Source::File(path) => (
                path.display().to_string(),
                file_ranking.clone().expect("read above"),
                0.0,
                None,
            ),
            Source::Random => {
                let spec = evaluator.spec();
                let r = Ranking::random(spec.height, spec.width, a.seed);
                (RANDOM.to_string(), r, 0.0, None)
            }
            Source::Method(method) => {
                let id = method.info().id;
                let layer = layer_of(*method, s);
                let scores_layer = graph.logits_layer();
                let request = move || Request {
                    method: *method,
                    layer,
                    objective: Objective::Class {
                        scores: scores_layer,
                        class,
                    },
                    options: Options::Default,
                    batch,
                };
                let done = explain(session, &subject, request(), control(id))?;
                // A method whose map is constant for this input ranks nothing: its row says
                // so and the other maps are still scored (a `--map` file like that is an error).
                let ranking = match Ranking::of_artifact(
                    &done.output.artifact,
                    &evaluator.spec(),
                    sign,
                    id,
                ) {
                    Ok(r) => r,
                    Err(Error::Input(problem)) => {
                        rows.push(Scored {
                            name: id.to_string(),
                            method_ms: Some(done.facts.method_ms),
                            layer: done.facts.layer,
                            scores: Scores::default(),
                            problem: Some(problem),
                        });
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                artifact = Some((request, done.output.artifact));
                (
                    id.to_string(),
                    ranking,
                    done.facts.method_ms,
                    done.facts.layer,
                )
            }
        };
        let t = Instant::now();
        let mut scores = evaluator.score(
            &ranking,
            metrics,
            settings,
            &control(&format!("{name}: metrics")),
        )?;
        if metrics.contains(&Metric::Infidelity) {
            let spec = evaluator.spec();
            let original = artifact.as_ref().map(|(_, a)| a);
            let attribution = elements(original, &ranking, &spec, sign);
            let control = control(&format!("{name}: infidelity"));
            scores.infidelity = Some(evaluator.infidelity(&attribution, settings, &control)?);
        }
        if let Some((request, original)) = &artifact {
            if metrics.contains(&Metric::Randomization) {
                let control = control(&format!("{name}: randomization"));
                scores.randomization =
                    evaluator.randomize(request, original, settings, &control, &|_| {})?;
            }
            if metrics.contains(&Metric::Sensitivity) {
                let control = control(&format!("{name}: sensitivity"));
                scores.sensitivity_max =
                    Some(evaluator.sensitivity(request, original, settings, &control)?);
            }
        }
        scores.ms = ms(t);
        rows.push(Scored {
            name,
            method_ms: Some(method_ms),
            layer,
            scores,
            problem: None,
        });
    }
    Ok(Evaluated {
        class,
        clean: evaluator.clean_probability(),
        pixels: evaluator.spec().height * evaluator.spec().width,
        rows,
        forward_ms,
    })
}

impl Evaluated {
    /// The document `--json` prints (and a manifest line summarizes).
    pub(super) fn document<'a>(&'a self, s: &'a Setup, input: &'a str) -> Document<'a> {
        Document {
            graph: &s.session.graph,
            input,
            class: self.class,
            label: s
                .labels
                .as_ref()
                .and_then(|l| l.get(self.class))
                .map(String::as_str),
            clean: self.clean,
            metrics: &s.metrics,
            settings: &s.settings,
            sign: s.sign,
            pixels: self.pixels,
            rows: &self.rows,
        }
    }
}

/// The layer `method`'s map is made at: the CAM layer for the methods that take one.
fn layer_of(method: &dyn Method, s: &Setup) -> Option<LayerId> {
    (method.info().layer == LayerNeed::SpatialMap)
        .then_some(s.cam_layer)
        .flatten()
}
