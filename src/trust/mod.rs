//! Trust: how faithful a map is to the model it explains. Above `engine` (it asks the engine
//! for maps and runs the model on perturbed inputs), below `cli`, `jobs` and `tui`.
//!
//! - [`Ranking`]: a map as the metrics read it, one value per pixel;
//! - [`causal`]: deletion and insertion (RISE's `CausalMetric`);
//! - [`road`]: ROAD's MoRF, LeRF and combined scores (pytorch-grad-cam's), on noisy linear
//!   imputation;
//! - [`randomize`]: the sanity check by model-parameter randomization (Adebayo et al.);
//! - [`infidelity`] and [`sensitivity`]: Yeh et al.'s two measures, as captum computes them;
//! - [`Evaluator`]: one input and target, its clean probability from the subject's clean pass,
//!   scoring any number of rankings with the metrics asked for.

pub mod causal;
pub mod figures;
mod impute;
pub mod infidelity;
mod planes;
pub mod randomize;
mod ranking;
pub mod report;
pub mod rise;
pub mod road;
mod scorer;
pub mod sensitivity;
mod similarity;

use std::time::Instant;

pub use causal::{Curve, Game};
pub use planes::Planes;
pub use randomize::{Check, Order};
pub use ranking::{elements, Ranking, Sign};
pub use road::Road;
use scorer::Scorer;

use std::sync::Arc;

use crate::engine::{Request, Session, Subject};
use crate::error::{choose, Result};
use crate::input::preprocess::InputSpec;
use crate::input::Input;
use crate::methods::target::softmax;
use crate::methods::Artifact;
use crate::methods::Control;

/// The methods whose maps can be scored: those that attribute the input's pixels (gradients
/// and CAMs). Occlusion's map is a probability per window (low is important) and the others
/// show weights, activations or a made picture.
pub fn scorable() -> Vec<&'static str> {
    crate::methods::all()
        .into_iter()
        .map(|m| m.info())
        .filter(|&i| can_score(i))
        .map(|i| i.id)
        .collect()
}

/// Whether maps of the method `info` describes can be scored.
pub fn can_score(info: crate::methods::MethodInfo) -> bool {
    use crate::methods::Family;
    info.needs_input && matches!(info.family, Family::Gradient | Family::Cam)
}

/// A faithfulness metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Deletion,
    Insertion,
    Road,
    Randomization,
    Infidelity,
    Sensitivity,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::Deletion,
        Metric::Insertion,
        Metric::Road,
        Metric::Randomization,
        Metric::Infidelity,
        Metric::Sensitivity,
    ];

    /// The metrics computed when none are named: the perturbation metrics and the sanity check
    /// (infidelity and sensitivity are asked for by name).
    pub const DEFAULT: [Metric; 4] = [
        Metric::Deletion,
        Metric::Insertion,
        Metric::Road,
        Metric::Randomization,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Deletion => "deletion",
            Metric::Insertion => "insertion",
            Metric::Road => "road",
            Metric::Randomization => "randomization",
            Metric::Infidelity => "infidelity",
            Metric::Sensitivity => "sensitivity",
        }
    }

    /// The numbers it reports.
    pub fn figures(self) -> &'static [Figure] {
        match self {
            Metric::Deletion => &[Figure::DeletionAuc],
            Metric::Insertion => &[Figure::InsertionAuc],
            Metric::Road => &[Figure::RoadMorf, Figure::RoadLerf, Figure::RoadCombined],
            Metric::Randomization => &[Figure::RandomizedSpearman],
            Metric::Infidelity => &[Figure::Infidelity],
            Metric::Sensitivity => &[Figure::SensitivityMax],
        }
    }

    /// `deletion,insertion,road`, any order; repeats are dropped; an unknown name lists them all.
    pub fn parse_list(given: &[String]) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        for g in given {
            let m = choose(g, &Metric::ALL, |m| m.as_str(), "metric")?;
            if !out.contains(&m) {
                out.push(m);
            }
        }
        Ok(out)
    }
}

/// One number a metric reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    DeletionAuc,
    InsertionAuc,
    RoadMorf,
    RoadLerf,
    RoadCombined,
    /// Spearman's ρ of |map| with every randomized layer randomized (the last cascading
    /// step), else the mean over the independent steps.
    RandomizedSpearman,
    /// captum's infidelity with `normalize=True`.
    Infidelity,
    /// captum's sensitivity-max.
    SensitivityMax,
}

impl Figure {
    /// Its key in the JSON report.
    pub fn key(self) -> &'static str {
        match self {
            Figure::DeletionAuc => "deletion_auc",
            Figure::InsertionAuc => "insertion_auc",
            Figure::RoadMorf => "road_morf",
            Figure::RoadLerf => "road_lerf",
            Figure::RoadCombined => "road_combined",
            Figure::RandomizedSpearman => "randomization_spearman",
            Figure::Infidelity => "infidelity",
            Figure::SensitivityMax => "sensitivity_max",
        }
    }

    /// Its column title in the table.
    pub fn title(self) -> &'static str {
        match self {
            Figure::DeletionAuc => "deletion",
            Figure::InsertionAuc => "insertion",
            Figure::RoadMorf => "ROAD MoRF",
            Figure::RoadLerf => "ROAD LeRF",
            Figure::RoadCombined => "ROAD",
            Figure::RandomizedSpearman => "rand. ρ",
            Figure::Infidelity => "infid.",
            Figure::SensitivityMax => "sens. max",
        }
    }

    /// Whether a faithful map scores lower (deletion, MoRF) or higher (the others).
    pub fn lower_is_better(self) -> bool {
        matches!(
            self,
            Figure::DeletionAuc
                | Figure::RoadMorf
                | Figure::RandomizedSpearman
                | Figure::Infidelity
                | Figure::SensitivityMax
        )
    }
}

/// The metrics' knobs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Deletion and insertion: steps from the whole input to none of it (224 as RISE).
    pub steps: usize,
    /// ROAD: σ of the noise added to the imputed pixels (pytorch-grad-cam's 0.01; 0 makes
    /// ROAD deterministic).
    pub road_noise: f32,
    /// Seed of ROAD's noise and of the randomization's draws.
    pub seed: u64,
    /// The randomization check's orders and how many layers it randomizes, top first
    /// (`None`: all).
    pub orders: &'static [Order],
    pub randomize_top: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            steps: 224,
            road_noise: 0.01,
            seed: 0,
            orders: &[Order::Cascading],
            randomize_top: None,
        }
    }
}

/// One map's scores.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    pub deletion: Option<Curve>,
    pub insertion: Option<Curve>,
    pub road: Option<Road>,
    /// One check per order asked for.
    pub randomization: Vec<Check>,
    pub infidelity: Option<f32>,
    pub sensitivity_max: Option<f32>,
    /// The metrics' own time, in milliseconds.
    pub ms: f64,
}

impl Scores {
    /// `figure`, if its metric was computed and gave a number.
    pub fn get(&self, figure: Figure) -> Option<f32> {
        self.figure(figure).filter(|v| v.is_finite())
    }

    fn figure(&self, figure: Figure) -> Option<f32> {
        match figure {
            Figure::DeletionAuc => self.deletion.as_ref().map(|c| c.auc),
            Figure::InsertionAuc => self.insertion.as_ref().map(|c| c.auc),
            Figure::RoadMorf => self.road.as_ref().map(|r| r.morf_mean),
            Figure::RoadLerf => self.road.as_ref().map(|r| r.lerf_mean),
            Figure::RoadCombined => self.road.as_ref().map(|r| r.combined),
            Figure::Infidelity => self.infidelity,
            Figure::SensitivityMax => self.sensitivity_max,
            Figure::RandomizedSpearman => {
                let cascading = self
                    .randomization
                    .iter()
                    .find(|c| c.order == Order::Cascading);
                match cascading {
                    Some(c) => c.steps.last()?.spearman_abs,
                    None => {
                        let c = self.randomization.first()?;
                        let got: Vec<f32> = c.steps.iter().filter_map(|s| s.spearman_abs).collect();
                        (!got.is_empty()).then(|| got.iter().sum::<f32>() / got.len() as f32)
                    }
                }
            }
        }
    }
}

/// Scores maps of one input for one target.
pub struct Evaluator<'a> {
    session: &'a Session,
    source: Arc<Input>,
    input: Planes,
    target: usize,
    /// The target's probability for the clean input (from the subject's clean pass).
    clean: f32,
    /// The target's raw score for the clean input.
    clean_score: f32,
    batch: usize,
}

impl<'a> Evaluator<'a> {
    /// For `subject` (a real input) and class `target`; the clean pass is the subject's, shared
    /// with every map computed for it.
    pub fn new(
        session: &'a Session,
        subject: &Subject,
        target: usize,
        batch: usize,
    ) -> Result<Evaluator<'a>> {
        let graph = &session.graph;
        let spec = InputSpec::from_input_shape(&graph.layer(graph.inputs[0]).out_shape)?;
        let scores = subject.scores(session)?;
        let source = subject.input.clone().ok_or_else(|| {
            crate::error::Error::Usage("the metrics need an input (--image or --input-npy)".into())
        })?;
        Ok(Evaluator {
            session,
            source,
            input: Planes::of(&subject.tensor, spec)?,
            clean: softmax(&scores)[target],
            clean_score: scores[target],
            target,
            batch,
        })
    }

    pub fn spec(&self) -> InputSpec {
        self.input.spec
    }

    /// The target's probability for the clean input.
    pub fn clean_probability(&self) -> f32 {
        self.clean
    }

    /// Scores `ranking` with `metrics`.
    pub fn score(
        &self,
        ranking: &Ranking,
        metrics: &[Metric],
        settings: &Settings,
        control: &Control,
    ) -> Result<Scores> {
        let start = Instant::now();
        let scorer = self.scorer(control);
        let order = ranking.order();
        let mut scores = Scores::default();
        for &metric in metrics {
            match metric {
                Metric::Deletion | Metric::Insertion => {
                    let game = match metric {
                        Metric::Deletion => Game::Deletion,
                        _ => Game::Insertion,
                    };
                    let curve = causal::play(
                        &scorer,
                        &self.input,
                        self.clean,
                        &order,
                        game,
                        settings.steps,
                    )?;
                    match game {
                        Game::Deletion => scores.deletion = Some(curve),
                        Game::Insertion => scores.insertion = Some(curve),
                    }
                }
                // Need more than the ranking: see [`Evaluator::randomize`],
                // [`Evaluator::sensitivity`] and [`Evaluator::infidelity`].
                Metric::Randomization | Metric::Sensitivity | Metric::Infidelity => {}
                Metric::Road => {
                    scores.road = Some(road::road(
                        &scorer,
                        &self.input,
                        self.clean,
                        &ranking.scaled(),
                        settings.road_noise,
                        settings.seed,
                    )?)
                }
            }
        }
        scores.ms = (start.elapsed().as_secs_f64() * 1e4).round() / 10.0;
        Ok(scores)
    }

    /// Infidelity ([`infidelity`]) of `attribution`: one value per input value, in the model's
    /// layout ([`elements`] makes it from a map).
    pub fn infidelity(
        &self,
        attribution: &[f32],
        settings: &Settings,
        control: &Control,
    ) -> Result<f32> {
        let len = self.source.prepared.data.len();
        let noise =
            infidelity::perturbations(infidelity::SAMPLES, len, infidelity::SIGMA, settings.seed);
        self.infidelity_with(attribution, &noise, control)
    }

    /// Infidelity of `attribution` under the given perturbations of the input (each the
    /// input's size, in the model's layout).
    pub fn infidelity_with(
        &self,
        attribution: &[f32],
        perturbations: &[Vec<f32>],
        control: &Control,
    ) -> Result<f32> {
        let x = &self.source.prepared.data;
        let scorer = self.scorer(control);
        infidelity::infidelity(&scorer, x, self.clean_score, attribution, perturbations)
    }

    /// Runs the model on perturbed inputs of this input, for this target.
    fn scorer<'c>(&'c self, control: &'c Control) -> Scorer<'c> {
        Scorer {
            session: self.session,
            spec: self.input.spec,
            target: self.target,
            batch: self.batch,
            control,
        }
    }

    /// Sensitivity-max ([`sensitivity`]) of the map `request()` asks for, whose artifact for the
    /// input is `original`.
    pub fn sensitivity(
        &self,
        request: &dyn Fn() -> Request,
        original: &Artifact,
        settings: &Settings,
        control: &Control,
    ) -> Result<f32> {
        let len = self.source.prepared.data.len();
        let noise = sensitivity::perturbations(
            sensitivity::SAMPLES,
            len,
            sensitivity::RADIUS,
            settings.seed,
        );
        sensitivity::sensitivity_max(
            self.session,
            &self.source,
            request,
            original,
            &noise,
            control,
        )
    }

    /// The randomization check of the map `request()` asks for, whose artifact for the model
    /// as loaded is `original`, in each order of `settings`; `observer` sees each step.
    pub fn randomize(
        &self,
        request: &dyn Fn() -> Request,
        original: &Artifact,
        settings: &Settings,
        control: &Control,
        observer: &dyn Fn(&Check),
    ) -> Result<Vec<Check>> {
        let run = randomize::Run {
            seed: settings.seed,
            control,
            observer,
        };
        let mut layers = randomize::parameterized(&self.session.graph);
        if let Some(top) = settings.randomize_top {
            layers.truncate(top);
        }
        settings
            .orders
            .iter()
            .map(|&order| {
                randomize::check(
                    self.session,
                    &self.source,
                    request,
                    original,
                    &layers,
                    order,
                    &run,
                )
            })
            .collect()
    }
}
