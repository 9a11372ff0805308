//! `convscope [MODEL] [--image PATH] [--device D] [--graphics G]`: the interface's options.

use std::path::PathBuf;

use super::input::InputArgs;
use crate::error::Result;
use crate::tui::Options;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(default_value = "demo", help = super::model_args::MODEL_HELP)]
    pub model: String,
    #[command(flatten)]
    pub model_args: super::model_args::ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// Class names, one a line (default: ImageNet's for 1000-class models).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Terminal graphics: auto (ask the terminal), kitty, sixel, iterm or halfblocks.
    #[arg(long, default_value = "auto")]
    pub graphics: String,
    /// Where `e` writes the view's PNG and NPY [default: ./convscope-exports, made on the
    /// first export].
    #[arg(long)]
    pub export_dir: Option<PathBuf>,
}

impl Args {
    pub fn options(self) -> Result<Options> {
        Ok(Options {
            model: self.model_args.source(&self.model),
            source: self.input.source(),
            preprocess: self.input.preprocess,
            labels: self.labels,
            device: self.input.device,
            graphics: self.graphics.parse()?,
            export_dir: self.export_dir,
        })
    }
}
