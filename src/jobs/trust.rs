//! The Trust view's work: one map's faithfulness scores (deletion, insertion, ROAD) or its
//! randomization check, computed with `crate::trust` on the map a view already computed, so
//! the view's numbers are those `convscope evaluate` prints for the same map and options (by
//! default its defaults: the signed map summed over channels, 224 steps, ROAD noise 0.01,
//! cascading over every layer with weights).

use std::cell::RefCell;
use std::sync::Arc;

use super::compute::{request, Computed};
use super::spec::JobSpec;
use crate::engine::{Request, Session};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::methods::Control;
use crate::trust::figures::STRIP_CELL;
use crate::trust::randomize::Step;
use crate::trust::{Check, Evaluator, Metric, Ranking, Scores, Settings, Sign};

/// Which of a map's scores a job computes. The two are separate jobs because they differ in
/// cost by orders of magnitude: the table fills with the first for every map before the
/// second (a map recomputed once per layer with weights) starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// Deletion, insertion and ROAD.
    Faithfulness,
    /// The cascading randomization check.
    Randomization,
}

impl Part {
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Part::Faithfulness => &[Metric::Deletion, Metric::Insertion, Metric::Road],
            Part::Randomization => &[Metric::Randomization],
        }
    }
}

/// The Trust view's options (its `p` form): `evaluate`'s knobs, hashable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrustKnobs {
    /// Deletion and insertion steps.
    pub steps: usize,
    /// ROAD's noise σ in units of 1e-4 (a float is not a key).
    pub road_noise_e4: u32,
    /// Randomize only the top N layers with weights (`None`: all).
    pub randomize_top: Option<usize>,
    /// Rank pixels by |map| instead of the signed map.
    pub abs: bool,
    /// Seed of the random map, ROAD's noise and the randomization's draws.
    pub seed: u64,
}

impl Default for TrustKnobs {
    /// `evaluate`'s defaults.
    fn default() -> Self {
        let s = Settings::default();
        TrustKnobs {
            steps: s.steps,
            road_noise_e4: (s.road_noise * 1e4).round() as u32,
            randomize_top: s.randomize_top,
            abs: false,
            seed: s.seed,
        }
    }
}

impl TrustKnobs {
    /// The knobs `part` reads, the others at their defaults: changing the steps does not redo
    /// a randomization check, nor the layers randomized a deletion curve.
    pub fn for_part(self, part: Part) -> TrustKnobs {
        let plain = TrustKnobs::default();
        match part {
            Part::Faithfulness => TrustKnobs {
                randomize_top: plain.randomize_top,
                ..self
            },
            Part::Randomization => TrustKnobs {
                steps: plain.steps,
                road_noise_e4: plain.road_noise_e4,
                abs: plain.abs,
                ..self
            },
        }
    }

    pub fn road_noise(self) -> f32 {
        self.road_noise_e4 as f32 / 1e4
    }

    pub fn settings(self) -> Settings {
        Settings {
            steps: self.steps,
            road_noise: self.road_noise(),
            seed: self.seed,
            randomize_top: self.randomize_top,
            ..Settings::default()
        }
    }

    pub fn sign(self) -> Sign {
        match self.abs {
            true => Sign::Abs,
            false => Sign::Signed,
        }
    }
}

/// One part of one map's scores: the job's order and its result's cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrustSpec {
    /// The map scored: a view's spec with its look at the defaults (colours and opacity do not
    /// change a map), or `None` for the random map (the chance level).
    pub map: Option<JobSpec>,
    pub part: Part,
    pub target: usize,
    /// Which input (the views' counter).
    pub input: u64,
    /// The options this part reads ([`TrustKnobs::for_part`]).
    pub knobs: TrustKnobs,
}

/// Scores `spec`'s part of the map `map` (the view's result for `spec.map`; `None` for the
/// random map) for `input`. The randomization check hands its strip so far to `partial` after
/// each layer, so that the view can draw it as it grows.
pub fn judge(
    session: &Session,
    input: &Arc<Input>,
    spec: &TrustSpec,
    map: Option<&Computed>,
    control: Control,
    partial: &dyn Fn(Arc<Check>),
) -> Result<Scores> {
    let subject = session.subject(input)?;
    let evaluator = Evaluator::new(session, &subject, spec.target, session.batch)?;
    let settings = spec.knobs.settings();
    let (h, w) = (evaluator.spec().height, evaluator.spec().width);
    let ranking = match (&spec.map, map) {
        (None, _) => Ranking::random(h, w, spec.knobs.seed),
        (Some(view), Some(map)) => Ranking::of_artifact(
            &map.artifact,
            &evaluator.spec(),
            spec.knobs.sign(),
            view.method,
        )?,
        (Some(view), None) => {
            return Err(Error::Input(format!(
                "{} has no map to score yet",
                view.method
            )))
        }
    };
    match spec.part {
        Part::Faithfulness => evaluator.score(&ranking, spec.part.metrics(), &settings, &control),
        Part::Randomization => {
            let (Some(view), Some(map)) = (&spec.map, map) else {
                return Err(Error::Usage(
                    "the random map has no model to randomize: it is the chance level".into(),
                ));
            };
            let template = request(session, input, view)?;
            let make = || Request {
                method: template.method,
                layer: template.layer,
                objective: template.objective.clone(),
                options: template.options.clone(),
                batch: template.batch,
            };
            let start = std::time::Instant::now();
            // The strip so far, at the strip's size, handed on after each step: each map is
            // shrunk once, as it comes (the original with the first step).
            let so_far = RefCell::new(None::<Check>);
            let observer = |check: &Check| {
                let Some(last) = check.steps.last() else {
                    return;
                };
                let mut so_far = so_far.borrow_mut();
                let strip = so_far.get_or_insert_with(|| {
                    let (height, width) = check.shrunk_size(STRIP_CELL);
                    Check {
                        order: check.order,
                        height,
                        width,
                        original: check.shrunk_map(&check.original, STRIP_CELL),
                        steps: Vec::new(),
                    }
                });
                strip.steps.push(Step {
                    layer: last.layer,
                    spearman_abs: last.spearman_abs,
                    spearman_signed: last.spearman_signed,
                    ssim: last.ssim,
                    map: check.shrunk_map(&last.map, STRIP_CELL),
                });
                partial(Arc::new(strip.clone()));
            };
            let mut randomization =
                evaluator.randomize(&make, &map.artifact, &settings, &control, &observer)?;
            // The view keeps the maps only for its strip, at the strip's size: the observer's
            // copy is that already (one order: the view's cascading check).
            match (so_far.into_inner(), randomization.as_slice()) {
                (Some(strip), [full]) if strip.steps.len() == full.steps.len() => {
                    randomization = vec![strip]
                }
                _ => randomization
                    .iter_mut()
                    .for_each(|check| check.shrink(STRIP_CELL)),
            }
            Ok(Scores {
                randomization,
                ms: (start.elapsed().as_secs_f64() * 1e4).round() / 10.0,
                ..Scores::default()
            })
        }
    }
}
