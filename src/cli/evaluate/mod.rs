//! `convscope evaluate [MODEL] (--image P | --input-npy P) [--target T] (--methods LIST |
//! --map FILE.npy) [--metrics LIST] [--json]`: how faithful each map is to the model, by the
//! metrics of `crate::trust`, as a table (or JSON with the curves).

mod many;
mod pictures;
mod report;
mod score;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::input::InputArgs;
use crate::engine::Session;
use crate::error::{Error, Result};
use crate::exec::{device_label, select_device};
use crate::import::labels;
use crate::methods::{self, cam, LayerNeed, Method};
use crate::model::LayerId;
use crate::trust::randomize::parameterized;
use crate::trust::{Metric, Order, Settings, Sign};
use score::evaluate;

/// The methods scored when `--methods` is not given: one of each kind that is quick at 224²
/// (plain, path and smoothed gradients; two CAMs), and the chance level.
const DEFAULT_METHODS: &[&str] = &[
    "saliency",
    "inputxgrad",
    "ig",
    "gradcam",
    "gradcampp",
    "random",
];

/// The map of seeded uniform noise scored beside the methods: the chance level.
const RANDOM: &str = "random";

fn about() -> String {
    format!(
        "Metrics (the arrow says which way is better):\n  \
deletion ↓  remove the pixels the map ranks highest, a step at a time, replacing them by 0 of the \
model's input space; the area under the target's probability curve (RISE, Petsiuk et al. 2018).\n  \
insertion ↑ restore the pixels the map ranks highest into a blurred copy of the input; the area \
under the probability curve.\n  \
ROAD (Rong et al. 2022, as pytorch-grad-cam): impute the most relevant (MoRF ↓) or least relevant \
(LeRF ↑) 10%–90% of the pixels from their neighbours and take the change in the target's \
probability, averaged; ROAD ↑ = (LeRF − MoRF) / 2.\n  \
randomization ↓ (Adebayo et al. 2018) re-initialize the layers with weights, top first, recompute \
the map; Spearman's ρ of |map| with the original once all are randomized.\n  \
infidelity ↓ (Yeh et al. 2019, captum's with normalize=True; asked for by name) how far Σ map·I \
misses the change f(x) − f(x − I) in the target's logit, I Gaussian noise σ 0.003, 10 draws.\n  \
sensitivity ↓ (captum's sensitivity_max; by name) the largest relative change of the map when \
the input moves by uniform noise in ±0.02, 10 draws.\n\nA map ranks pixels by its values summed over channels (|values| with \
--abs; CAMs brought to the input size, as drawn). `random` is a map of seeded uniform noise: the chance level. \
Methods that can be scored: {}.",
        crate::trust::scorable().join(", ")
    )
}

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = about())]
pub struct Args {
    #[arg(default_value = "demo", help = crate::cli::model_args::MODEL_HELP)]
    pub model: String,
    #[command(flatten)]
    pub model_args: crate::cli::model_args::ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub many: crate::cli::many::ManyArgs,
    /// With --images: the folder the manifest goes to (the figures of every image).
    #[arg(short = 'o', long, value_name = "OUTDIR", requires = "images")]
    pub output: Option<PathBuf>,
    /// Class to explain: an index, or text matched against the labels [default: the top-1 class].
    #[arg(long)]
    pub target: Option<String>,
    /// The methods to score, comma-separated, and `random` for the chance level
    /// [default: saliency,inputxgrad,ig,gradcam,gradcampp,random].
    #[arg(long, value_delimiter = ',', conflicts_with = "map")]
    pub methods: Vec<String>,
    /// Score a map made elsewhere: float32 .npy of [H,W] or [C,H,W] at the input's size.
    #[arg(long, value_name = "FILE.npy")]
    pub map: Option<PathBuf>,
    /// The metrics, comma-separated: deletion, insertion, road, randomization, infidelity,
    /// sensitivity [default: the first four].
    #[arg(long, value_delimiter = ',')]
    pub metrics: Vec<String>,
    /// Deletion and insertion: steps from the whole input to none of it (each step changes
    /// ⌈H·W/STEPS⌉ pixels; RISE's 224 at 224²).
    #[arg(long, default_value_t = 224)]
    pub steps: usize,
    /// Layer of the CAM methods [default: the last layer whose output has spatial size > 1].
    #[arg(long)]
    pub layer: Option<String>,
    /// Rank pixels by |map| (summed over channels) instead of the signed map: for gradients,
    /// whose sign says which way a pixel pushes the score, not how much it matters.
    #[arg(long)]
    pub abs: bool,
    /// ROAD: σ of the noise added to the imputed pixels, in the model's input space
    /// (pytorch-grad-cam's 0.01; 0 makes ROAD deterministic).
    #[arg(long, default_value_t = 0.01)]
    pub road_noise: f32,
    /// Randomization check: cascading (the top k layers randomized at step k, Adebayo's
    /// figure), independent (only the k-th), or both.
    #[arg(long, value_enum, default_value = "cascading")]
    pub randomization: Orders,
    /// Randomization check: randomize only the top N layers with weights [default: all].
    #[arg(long, value_name = "N")]
    pub randomize_top: Option<usize>,
    /// Seed of ROAD's noise, of the randomization's draws and of the `random` map.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Inputs per batched pass [default: sized to the model and the memory available].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Class names, one a line (default: ImageNet's for 1000-class models).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Print JSON (with the curves) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Draw the deletion and insertion curves of every map into this PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Draw the randomization strip (the original |map| and the map after each step, with
    /// Spearman's ρ) of every method into this PNG, one row a method and order.
    #[arg(long, value_name = "FILE.png")]
    pub strip: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Orders {
    Cascading,
    Independent,
    Both,
}

impl Orders {
    fn orders(self) -> &'static [Order] {
        match self {
            Orders::Cascading => &[Order::Cascading],
            Orders::Independent => &[Order::Independent],
            Orders::Both => &[Order::Cascading, Order::Independent],
        }
    }
}

/// The randomization check and sensitivity recompute a method's map (on a randomized model, on
/// perturbed inputs): a map read from a file or the random map cannot be. Asked for explicitly
/// with no method to recompute, they are an error; among the default metrics they are left out.
fn recomputing_applies(a: &Args, metrics: Vec<Metric>, sources: &[Source]) -> Result<Vec<Metric>> {
    let any_method = sources.iter().any(|s| matches!(s, Source::Method(_)));
    let recomputes = |m: &Metric| matches!(m, Metric::Randomization | Metric::Sensitivity);
    if any_method || !metrics.iter().any(recomputes) {
        return Ok(metrics);
    }
    if let Some(m) = metrics
        .iter()
        .find(|m| recomputes(m) && !a.metrics.is_empty())
    {
        return Err(Error::Usage(format!(
            "{} recomputes a method's map, which a map from a file cannot be; give --methods, \
             or other --metrics",
            match m {
                Metric::Randomization => "the randomization check",
                _ => "sensitivity",
            }
        )));
    }
    Ok(metrics.into_iter().filter(|m| !recomputes(m)).collect())
}

/// What a row of the table scores.
enum Source {
    Method(&'static dyn Method),
    Random,
    File(PathBuf),
}

fn sources(a: &Args) -> Result<Vec<Source>> {
    if let Some(path) = &a.map {
        return Ok(vec![Source::File(path.clone())]);
    }
    let given: Vec<&str> = match a.methods.is_empty() {
        true => DEFAULT_METHODS.to_vec(),
        false => a.methods.iter().map(|m| m.trim()).collect(),
    };
    let mut out: Vec<Source> = Vec::new();
    let mut seen = Vec::new();
    for id in given {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if id == RANDOM {
            out.push(Source::Random);
            continue;
        }
        let method = methods::by_id(id)?;
        if !crate::trust::scorable().contains(&method.info().id) {
            return Err(Error::Usage(format!(
                "{id} does not attribute the input's pixels, so it cannot be scored; give some of: \
                 {}, random",
                crate::trust::scorable().join(", ")
            )));
        }
        out.push(Source::Method(method));
    }
    Ok(out)
}

/// What every input of one `evaluate` shares: the metrics and their settings, the maps to
/// score, the model, the batch and the CAM layer.
struct Setup {
    metrics: Vec<Metric>,
    settings: Settings,
    sign: Sign,
    sources: Vec<Source>,
    session: Session,
    batch: usize,
    cam_layer: Option<LayerId>,
    labels: Option<Vec<String>>,
    load_ms: f64,
}

/// Checks the arguments and opens the model: everything that does not depend on the input.
fn setup(a: &Args) -> Result<Setup> {
    let metrics = match a.metrics.is_empty() {
        true => Metric::DEFAULT.to_vec(),
        false => Metric::parse_list(&a.metrics)?,
    };
    if a.steps == 0 {
        return Err(Error::Usage(
            "--steps 0 leaves no step to take; give 1 or more (224 is RISE's)".into(),
        ));
    }
    if !(a.road_noise.is_finite() && a.road_noise >= 0.0) {
        return Err(Error::Usage(format!(
            "--road-noise {} is not a σ; give 0 or more (0.01 is pytorch-grad-cam's)",
            a.road_noise
        )));
    }
    let sources = sources(a)?;
    let metrics = recomputing_applies(a, metrics, &sources)?;
    pictures::check(a, &metrics)?;
    if a.randomize_top == Some(0) {
        return Err(Error::Usage(
            "--randomize-top 0 randomizes nothing; give 1 or more (default: every layer)".into(),
        ));
    }
    let settings = Settings {
        steps: a.steps,
        road_noise: a.road_noise,
        seed: a.seed,
        orders: a.randomization.orders(),
        randomize_top: a.randomize_top,
    };
    let sign = if a.abs { Sign::Abs } else { Sign::Signed };
    let t = Instant::now();
    let graph = a.model_args.open(&a.model)?;
    let device = select_device(&a.input.device)?;
    let session = Session::new(graph, device)?;
    let graph = session.graph.clone();
    let batch = match a.batch {
        None => session.batch,
        Some(b) => {
            methods::check_batch(&graph, b)?;
            b
        }
    };
    if metrics.contains(&Metric::Randomization) && parameterized(&graph).is_empty() {
        return Err(Error::Usage(
            "the model has no layer with trainable weights, so the randomization check has \
             nothing to randomize; leave it out of --metrics"
                .into(),
        ));
    }
    let cam_layer = cam_layer(a, &graph, &sources)?;
    let labels = labels::for_model(
        graph.classes(),
        a.labels.as_deref(),
        graph.labels.as_deref(),
    )?;
    Ok(Setup {
        metrics,
        settings,
        sign,
        sources,
        session,
        batch,
        cam_layer,
        labels,
        load_ms: ms(t),
    })
}

pub fn run(a: Args) -> Result<()> {
    if let Some(spec) = a.many.images.clone() {
        return many::run(a, &spec);
    }
    let s = setup(&a)?;
    let input = Arc::new(a.input.prepare(&s.session.graph)?);
    let e = evaluate(&a, &s, &input, &|what| super::progress::control(what))?;
    let name = input.name();
    let report = report::Report {
        doc: e.document(&s, &name),
        device: device_label(&s.session.device),
        batch: s.batch,
        load_ms: s.load_ms,
        forward_ms: e.forward_ms,
    };
    pictures::write(&a, &s.session.graph, &e.rows)?;
    if a.json {
        super::print_json(&report.json());
    } else {
        report.print();
    }
    Ok(())
}

/// The CAM methods' layer: `--layer`, else the last spatial one; `None` when no method needs
/// one (then `--layer` is refused, as it would do nothing).
fn cam_layer(a: &Args, graph: &crate::model::Graph, sources: &[Source]) -> Result<Option<LayerId>> {
    let needs = sources
        .iter()
        .any(|s| matches!(s, Source::Method(m) if m.info().layer == LayerNeed::SpatialMap));
    match (&a.layer, needs) {
        (Some(_), false) => Err(Error::Usage(
            "--layer is the CAM methods' layer, and none of the methods scored is a CAM".into(),
        )),
        (None, false) => Ok(None),
        (Some(name), true) => {
            let id = graph.find(name)?;
            cam::check_spatial(graph, id)?;
            Ok(Some(id))
        }
        (None, true) => cam::default_layer(graph).map(Some).ok_or_else(|| {
            Error::Usage("the model has no layer with a spatial output for the CAM methods".into())
        }),
    }
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e4).round() / 10.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_methods_can_all_be_scored() {
        let scorable = crate::trust::scorable();
        for id in super::DEFAULT_METHODS {
            assert!(*id == super::RANDOM || scorable.contains(id), "{id}");
        }
        assert!(!scorable.contains(&"filters") && !scorable.contains(&"actmax"));
    }
}
