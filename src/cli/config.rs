//! `convscope config [MODEL] LAYER [--json]` (MODEL defaults to the embedded demo)

use serde_json::{json, Map, Value};

use super::table::{Align, Table};
use crate::error::{Error, Result};
use crate::model::describe::{compact, layer_config, shape_label, weight_infos, WeightInfo};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// [MODEL] LAYER: the model (an .onnx file, or `demo`, the default when only LAYER is
    /// given) and the layer's name as `summary` prints it (or its node name in the file).
    #[arg(num_args = 1..=2, value_names = ["MODEL", "LAYER"], required = true)]
    pub args: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model_args: super::model_args::ModelArgs,
}

pub fn run(a: Args) -> Result<()> {
    let (model, name) = match a.args.as_slice() {
        [layer] => (crate::import::demo::NAME, layer),
        [model, layer, ..] => (model.as_str(), layer),
        [] => return Err(Error::Usage("give the layer: config [MODEL] LAYER".into())),
    };
    let graph = a.model_args.open(model)?;
    let id = graph.find(name)?;
    let layer = graph.layer(id);
    // Statistics need the weight values; a model whose external data file is missing still
    // shows its config and weight shapes, and says why the statistics are absent.
    let (weights, note) = match weight_infos(&graph, id, true) {
        Ok(w) => (w, None),
        Err(e @ Error::MissingExternalData { .. }) => {
            (weight_infos(&graph, id, false)?, Some(e.to_string()))
        }
        Err(e) => return Err(e),
    };
    let config: Map<String, Value> = layer_config(layer).into_iter().collect();
    if a.json {
        super::print_json(&json!({
            "name": layer.name,
            "type": layer.type_label(),
            "output_shape": layer.shown_shape(),
            "config": config,
            "weights": weights,
            "note": note,
        }));
        return Ok(());
    }
    outln!(
        "{} ({})  output {}",
        layer.name,
        layer.type_label(),
        shape_label(layer.shown_shape())
    );
    // Keys may come from the model file (ONNX attribute names): padded by hand, as format!'s
    // width panics past u16::MAX.
    let key_width = config.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    for (k, v) in &config {
        let pad = " ".repeat(key_width - k.chars().count());
        outln!("  {k}{pad}  {}", compact(v));
    }
    if weights.is_empty() {
        outln!("no weights");
    } else {
        print!("{}", weights_table(&weights).render());
    }
    if let Some(note) = note {
        outln!("statistics unavailable: {note}");
    }
    Ok(())
}

fn weights_table(weights: &[WeightInfo]) -> Table {
    let stat = |w: &WeightInfo, f: fn(&crate::model::weights::WeightStats) -> f32| {
        w.stats
            .as_ref()
            .map_or("-".to_string(), |s| format!("{:.4}", f(s)))
    };
    Table {
        headers: [
            "weight", "role", "shape", "dtype", "min", "max", "mean", "std",
        ]
        .map(String::from)
        .to_vec(),
        align: vec![
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
        ],
        rows: weights
            .iter()
            .map(|w| {
                let role = if w.trainable {
                    w.role.to_string()
                } else if w.counted {
                    format!("{} (non-trainable)", w.role)
                } else {
                    format!("{} (constant)", w.role)
                };
                vec![
                    w.name.clone(),
                    role,
                    format!("{:?}", w.shape),
                    w.dtype.to_string(),
                    stat(w, |s| s.min),
                    stat(w, |s| s.max),
                    stat(w, |s| s.mean),
                    stat(w, |s| s.std),
                ]
            })
            .collect(),
    }
}
