//! `convscope predict MODEL (--image PATH | --input-npy PATH) [--top K] [--json]`

use std::path::PathBuf;

use serde_json::json;

use super::input::InputArgs;
use super::table::{Align, Table};
use crate::error::{Error, Result};
use crate::exec::{select_device, Executor, Params};
use crate::import::labels;
use crate::methods::target::top_k;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(default_value = "demo", help = super::model_args::MODEL_HELP)]
    pub model: String,
    #[command(flatten)]
    pub model_args: super::model_args::ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
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
        let top: Vec<_> = top
            .iter()
            .map(|p| json!({"index": p.index, "label": label(p.index), "prob": p.prob, "logit": p.logit}))
            .collect();
        super::print_json(&json!({ "top": top }));
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
