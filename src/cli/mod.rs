//! Headless commands: everything the TUI shows, as text and JSON for scripts.

mod config;
mod input;
mod predict;
mod render;
mod summary;
mod table;

use clap::{Parser, Subcommand};

use crate::error::Result;

#[derive(Parser, Debug)]
#[command(
    name = "convscope",
    version,
    propagate_version = true,
    about = "A terminal explorer for convolutional networks: summary, layer configs, weights, predictions",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the model summary table (like Keras `model.summary()`).
    Summary(summary::Args),
    /// Print one layer's configuration (like Keras `layer.get_config()`) and its weights.
    Config(config::Args),
    /// Classify an image (or a prepared input array) and print the top classes.
    Predict(predict::Args),
    /// Compute an explanation map (saliency, Grad-CAM, …) and write it as PNG and NPY.
    Render(Box<render::Args>),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Summary(a) => summary::run(a),
        Command::Config(a) => config::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Render(a) => render::run(*a),
    }
}

/// Prints JSON to stdout (pretty, one document).
fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}
