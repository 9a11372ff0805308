//! `convscope predict MODEL (--image PATH | --input-npy PATH) [--top K] [--json]`

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::input::InputArgs;
use super::table::{Align, Table};
use crate::dataset::{self, Done, Item, Work};
use crate::engine::{Session, Subject, Together};
use crate::error::{Error, Result};
use crate::exec::{device_label, select_device, CancelToken, Executor, Params};
use crate::import::labels;
use crate::input::Input;
use crate::methods::target::top_k;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[arg(default_value = "demo", help = super::model_args::MODEL_HELP)]
    pub model: String,
    #[command(flatten)]
    pub model_args: super::model_args::ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub many: super::many::ManyArgs,
    /// With --images: the folder the manifest goes to.
    #[arg(short = 'o', long, value_name = "OUTDIR", requires = "images")]
    pub output: Option<PathBuf>,
    /// How many classes to show.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Class names, one a line (default: ImageNet's for 1000-class models).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<()> {
    if let Some(spec) = a.many.images.clone() {
        return many(a, &spec);
    }
    let graph = a.model_args.open(&a.model)?;
    let device = select_device(&a.input.device)?;
    let params = Params::load(&graph, &device)?;
    let input = a.input.tensor(&graph, &device)?;
    // Probabilities are the softmax of the raw class scores, whether or not the graph ends in
    // its own softmax (then this reproduces it).
    let logits = Executor::new(&graph, &params)
        .output(&input, graph.logits_layer())?
        .flatten_all()?
        .to_vec1::<f32>()?;
    if logits.iter().any(|v| !v.is_finite()) {
        return Err(Error::Input(
            "the model produced NaN or infinite scores for this input".into(),
        ));
    }
    let labels = labels::for_model(logits.len(), a.labels.as_deref(), graph.labels.as_deref())?;
    let top = top_k(&logits, a.top.max(1));
    let label = |i: usize| labels.as_ref().map(|l| l[i].clone());
    if a.json {
        super::print_json(&json!({
            "top": top_json(&logits, a.top, labels.as_deref()),
            "device": device_label(&device),
        }));
        return Ok(());
    }
    let table = Table {
        headers: ["#", "class", "label", "prob", "logit"]
            .map(String::from)
            .to_vec(),
        align: vec![
            Align::Right,
            Align::Right,
            Align::Left,
            Align::Right,
            Align::Right,
        ],
        rows: top
            .iter()
            .enumerate()
            .map(|(rank, p)| {
                vec![
                    (rank + 1).to_string(),
                    p.index.to_string(),
                    label(p.index).unwrap_or_else(|| "-".into()),
                    format!("{:.4}", p.prob),
                    format!("{:.4}", p.logit),
                ]
            })
            .collect(),
    };
    print!("{}", table.render());
    Ok(())
}

/// The top `k` classes as JSON: index, label, probability, raw score.
fn top_json(logits: &[f32], k: usize, labels: Option<&[String]>) -> Vec<serde_json::Value> {
    top_k(logits, k.max(1))
        .iter()
        .map(|p| {
            let label = labels.and_then(|l| l.get(p.index));
            json!({"index": p.index, "label": label, "prob": p.prob, "logit": p.logit})
        })
        .collect()
}

/// `predict --images DIR|GLOB|LIST -o OUTDIR`: the top classes of every image, one manifest
/// line each (no other files).
fn many(a: Args, spec: &str) -> Result<()> {
    let many = a.many.start(spec, a.output.as_deref())?;
    let graph = a.model_args.open(&a.model)?;
    let session = Session::new(graph, select_device(&a.input.device)?)?;
    let graph = session.graph.clone();
    let labels = labels::for_model(
        graph.classes(),
        a.labels.as_deref(),
        graph.labels.as_deref(),
    )?;
    let settings = super::many::settings_text!(a);
    let run = super::many::run_info("predict".into(), &a.model, &session, settings)?;
    let preprocess = a.input.preprocess_for(&graph);
    let per_pass = a.many.per_pass(&session, true, "")?;
    let mut work = Predict {
        session: &session,
        top: a.top,
        labels: labels.as_deref(),
        per_pass,
    };
    many.execute("predict", &run, &session, preprocess, &mut work, a.json)
}

struct Predict<'a> {
    session: &'a Session,
    top: usize,
    labels: Option<&'a [String]>,
    per_pass: usize,
}

impl Predict<'_> {
    fn done(&self, logits: &[f32], forward_ms: f64) -> Done {
        let mut fields = dataset::manifest::Record::new();
        fields.insert("top".into(), json!(top_json(logits, self.top, self.labels)));
        fields.insert(
            "timings".into(),
            json!({"forward_ms": (forward_ms * 10.0).round() / 10.0}),
        );
        Done {
            files: Vec::new(),
            fields,
        }
    }
}

impl Work for Predict<'_> {
    fn outputs(&self, _: &Item) -> Vec<String> {
        Vec::new()
    }

    fn per_pass(&self) -> usize {
        self.per_pass
    }

    fn run(&mut self, _: &Item, input: Input) -> Result<Done> {
        let t = std::time::Instant::now();
        let logits = Subject::new(self.session, Arc::new(input))?
            .scores_only(&self.session.graph)
            .scores(self.session)?;
        Ok(self.done(&logits, t.elapsed().as_secs_f64() * 1e3))
    }

    /// One forward pass for the group; each image's scores are its row.
    fn run_many(&mut self, group: Vec<(&Item, Input)>) -> Vec<Result<Done>> {
        let t = std::time::Instant::now();
        let n = group.len();
        let subjects: Result<Vec<Subject>> = group
            .into_iter()
            .map(|(_, input)| {
                Ok(Subject::new(self.session, Arc::new(input))?.scores_only(&self.session.graph))
            })
            .collect();
        let subjects = match subjects {
            Ok(subjects) => subjects,
            Err(e) => return (0..n).map(|_| Err(Error::Input(e.to_string()))).collect(),
        };
        if let Err(e) = Together::forward(self.session, &subjects, &CancelToken::new()) {
            // A model that cannot run several inputs at once: one a pass from now on (each
            // subject then runs its own pass).
            errln!("convscope: warning: {n} images in one pass failed ({e}); one image a pass");
            self.per_pass = 1;
        }
        let forward_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
        subjects
            .iter()
            .map(|s| Ok(self.done(&s.scores(self.session)?, forward_ms)))
            .collect()
    }
}
