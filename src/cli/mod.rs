//! Headless commands: everything the TUI shows, as text and JSON for scripts.

/// `println!` for text that may hold a model's or a file's words: control characters are
/// escaped (see `crate::text`), so a layer name cannot retitle or clear the terminal.
macro_rules! outln {
    ($($t:tt)*) => {
        println!("{}", $crate::text::escape_controls_keep_newlines(&format!($($t)*)))
    };
}

/// `eprintln!` with [`outln!`]'s escaping.
macro_rules! errln {
    ($($t:tt)*) => {
        eprintln!("{}", $crate::text::escape_controls_keep_newlines(&format!($($t)*)))
    };
}

mod config;
mod evaluate;
mod input;
mod many;
mod merge;
mod model_args;
mod predict;
mod progress;
mod render;
mod summary;
mod table;
mod tui_args;

use clap::{Parser, Subcommand};

use crate::error::Result;

#[derive(Parser, Debug)]
#[command(
    name = "convscope",
    version,
    propagate_version = true,
    about = "A terminal explorer for convolutional networks: summary, layer configs, weights, predictions",
    long_about = "A terminal explorer for convolutional networks. Without a command, opens the \
        interface on MODEL (default: the embedded demo model); the commands produce the same \
        views headless, for scripts.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub open: tui_args::Args,
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
    /// Score how faithful maps are to the model (deletion, insertion), as a table or JSON.
    Evaluate(Box<evaluate::Args>),
    /// Join the manifest parts of a sharded run (`--shard I/N`) into OUTDIR/manifest.jsonl and
    /// OUTDIR/summary.json.
    Merge(merge::Args),
}

/// Parses the command line. Help and version print as clap prints them; every usage error
/// (a value that does not parse, an unknown or missing argument) becomes one `error: …` line
/// with clap's tips kept, exit code 2, like convscope's own errors: scripts and the tests read
/// one line, not clap's multi-line usage block.
pub fn parse() -> Cli {
    use clap::error::ErrorKind;
    Cli::try_parse().unwrap_or_else(|e| {
        if matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            e.exit()
        }
        errln!("{}", one_line(&e.render().to_string()));
        std::process::exit(2)
    })
}

/// clap's `error: MSG\n\n  tip: …\n\nUsage: …\n\nFor more information, try '--help'.` as
/// `error: MSG; tip: … (see --help)`.
fn one_line(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    format!("{out} (see --help)")
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => crate::tui::run(cli.open.options()?),
        Some(Command::Summary(a)) => summary::run(a),
        Some(Command::Config(a)) => config::run(a),
        Some(Command::Predict(a)) => predict::run(a),
        Some(Command::Render(a)) => render::run(*a),
        Some(Command::Evaluate(a)) => evaluate::run(*a),
        Some(Command::Merge(a)) => merge::run(a),
    }
}

/// Prints JSON to stdout (pretty, one document).
fn print_json(value: &serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_errors_become_one_line() {
        let clap = "error: unexpected argument '--layer' found\n\n  tip: a similar argument exists: '--layers'\n\nUsage: convscope render <METHOD> <MODEL>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            super::one_line(clap),
            "error: unexpected argument '--layer' found; tip: a similar argument exists: '--layers' (see --help)"
        );
        let missing =
            "error: the following required arguments were not provided:\n  <MODEL>\n\nUsage: x\n";
        assert_eq!(
            super::one_line(missing),
            "error: the following required arguments were not provided: <MODEL> (see --help)"
        );
    }
}
