//! `convscope summary MODEL [--json]`

use serde_json::json;

use super::table::{float_bytes, thousands, Align, Table};
use crate::error::Result;
use crate::model::describe::{shape_label, summary_rows};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(default_value = "demo", help = super::model_args::MODEL_HELP)]
    pub model: String,
    #[command(flatten)]
    pub model_args: super::model_args::ModelArgs,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let graph = a.model_args.open(&a.model)?;
    let rows = summary_rows(&graph);
    let totals = graph.param_totals();
    if a.json {
        let layers: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "type": r.type_name,
                    "output_shape": r.output_shape,
                    "params": r.params,
                    "trainable_params": r.trainable_params,
                    "connected_to": r.connected_to,
                })
            })
            .collect();
        super::print_json(&json!({
            "name": graph.name,
            // How the graph was made (architecture inferred from a checkpoint, random weights):
            // null for ONNX files and the demo.
            "origin": graph.origin,
            "layers": layers,
            "total_params": totals.total,
            "trainable_params": totals.trainable,
            "non_trainable_params": totals.non_trainable,
        }));
        return Ok(());
    }
    let sequential = graph.is_sequential();
    let mut headers = vec![
        "Layer (type)".to_string(),
        "Output Shape".into(),
        "Param #".into(),
    ];
    let mut align = vec![Align::Left, Align::Left, Align::Right];
    if !sequential {
        headers.push("Connected to".into());
        align.push(Align::Left);
    }
    let table = Table {
        headers,
        align,
        rows: rows
            .iter()
            .map(|r| {
                let mut row = vec![
                    format!("{} ({})", r.name, r.type_name),
                    shape_label(&r.output_shape),
                    thousands(r.params),
                ];
                if !sequential {
                    row.push(if r.connected_to.is_empty() {
                        "-".into()
                    } else {
                        r.connected_to.join(", ")
                    });
                }
                row
            })
            .collect(),
    };
    outln!("Model: \"{}\"", graph.name);
    print!("{}", table.render());
    outln!(
        " Total params: {} ({})",
        thousands(totals.total),
        float_bytes(totals.total)
    );
    outln!(
        " Trainable params: {} ({})",
        thousands(totals.trainable),
        float_bytes(totals.trainable)
    );
    outln!(
        " Non-trainable params: {} ({})",
        thousands(totals.non_trainable),
        float_bytes(totals.non_trainable)
    );
    Ok(())
}
