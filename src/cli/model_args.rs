//! The options that say which network to open, shared by the interface and every command:
//! MODEL (`demo`, an .onnx file, a .safetensors/.pth checkpoint, `hf:ORG/REPO`) with `--arch`,
//! `--weights`, `--num-classes` and `--init-seed`.

use std::path::PathBuf;

use crate::error::Result;
use crate::import::{open, ModelSource};
use crate::model::Graph;

/// What MODEL may be, for the commands' help.
pub const MODEL_HELP: &str = "The model: `demo` (the embedded demo model, the default), an .onnx \
    file, a .safetensors or PyTorch .pth checkpoint (architecture inferred from its keys), or \
    hf:ORG/REPO from the local Hugging Face cache";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Build this architecture (torchvision's names: vgg16, resnet50, efficientnet_b0, …; see
    /// the README for the list), with the weights in --weights or MODEL, or random ones.
    #[arg(long, value_name = "NAME")]
    pub arch: Option<String>,
    /// The checkpoint for --arch: .safetensors, or a PyTorch .pth/.pt in the zip or legacy
    /// format, or a training checkpoint holding a state_dict.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// The classifier's size for --arch, when it was trained for other than ImageNet's 1000.
    #[arg(long, value_name = "N")]
    pub num_classes: Option<usize>,
    /// Seed of the random weights --arch draws when given no checkpoint.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub init_seed: u64,
}

impl ModelArgs {
    pub fn source(&self, model: &str) -> ModelSource {
        ModelSource {
            model: model.to_string(),
            arch: self.arch.clone(),
            weights: self.weights.clone(),
            num_classes: self.num_classes,
            seed: self.init_seed,
        }
    }

    /// Opens the model and says on stderr how it was made (inferred architecture, random
    /// weights), so that scripts reading stdout are not disturbed.
    pub fn open(&self, model: &str) -> Result<Graph> {
        let graph = open(&self.source(model))?;
        if let Some(origin) = &graph.origin {
            errln!("convscope: {origin}");
        }
        Ok(graph)
    }
}
