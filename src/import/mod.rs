//! How a network is READ: file formats into `model::Graph`, and class labels.

pub mod checkpoint;
pub mod demo;
pub mod hub;
pub mod keras;
pub mod labels;
pub mod onnx;
pub mod safetensors;
pub mod torch;
pub mod zoo;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::Graph;

/// How the user named the model: the MODEL argument and the architecture options.
#[derive(Clone, Debug, Default)]
pub struct ModelSource {
    /// `demo`, an .onnx file, a .safetensors/.pth checkpoint, or `hf:ORG/REPO`.
    pub model: String,
    /// `--arch NAME`: the architecture to build.
    pub arch: Option<String>,
    /// `--weights FILE`: the checkpoint for `--arch` (or to infer one from).
    pub weights: Option<PathBuf>,
    /// `--num-classes N`: the classifier's size, when not ImageNet's 1000.
    pub num_classes: Option<usize>,
    /// Seed of the random weights when `--arch` is given without a checkpoint.
    pub seed: u64,
}

impl ModelSource {
    pub fn named(model: &str) -> Self {
        ModelSource {
            model: model.to_string(),
            ..ModelSource::default()
        }
    }
}

/// Opens a model given on the command line: `demo` (the embedded demo model; `./demo` for a
/// file of that name), an ONNX file, or a checkpoint.
pub fn open_model(arg: &str) -> Result<Graph> {
    open(&ModelSource::named(arg))
}

/// Opens the model a `ModelSource` names; `Graph::origin` says what was built and from what.
pub fn open(src: &ModelSource) -> Result<Graph> {
    let model_given = src.model != demo::NAME;
    let weights = match (&src.weights, model_given) {
        (Some(_), true) => {
            return Err(Error::Usage(format!(
                "give the weights either as MODEL ({}) or with --weights, not both",
                src.model
            )))
        }
        (Some(w), false) => Some(w.clone()),
        (None, true) => Some(hub::resolve(&src.model)?),
        (None, false) => None,
    };
    if let Some(name) = &src.arch {
        if let Some(family) = name.strip_prefix("keras:") {
            if let Some(w) = &weights {
                check_file(w)?;
            }
            return keras::open_arch(family, weights.as_deref(), src.num_classes, src.seed);
        }
        let arch = zoo::find(name)?;
        return match weights {
            Some(path) => {
                check_file(&path)?;
                if !checkpoint::sniff(&path) {
                    return Err(Error::Usage(format!(
                        "--arch builds an architecture for a weight file (.safetensors, .pth); \
                         {} is not one: open an ONNX model without --arch",
                        path.display()
                    )));
                }
                from_checkpoint(&path, Some(arch), src)
            }
            None => random(arch, src),
        };
    }
    if src.num_classes.is_some() {
        return Err(Error::Usage(
            "--num-classes goes with --arch (the classifier size of the architecture to build)"
                .into(),
        ));
    }
    match weights {
        None => demo::graph(),
        Some(path) => {
            if let Some(form) = path.is_dir().then(|| keras::sniff_folder(&path)).flatten() {
                return keras::open(&path, form);
            }
            check_file(&path)?;
            if let Some(form) = keras::sniff(&path) {
                keras::open(&path, form)
            } else if checkpoint::sniff(&path) {
                from_checkpoint(&path, None, src)
            } else if let Some(kind) = weight_extension(&path) {
                // Named as weights but not starting like any: say so, not "not valid ONNX".
                Err(Error::Checkpoint {
                    path: path.clone(),
                    detail: format!(
                        "is named like {kind} but does not start like one (nor like a PyTorch \
                         checkpoint); the file is damaged or truncated: download it again"
                    ),
                })
            } else {
                onnx::load(&path)
            }
        }
    }
}

/// What a weight file's extension claims it is.
fn weight_extension(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "safetensors" => Some("a safetensors file"),
        "pth" | "pt" | "bin" | "ckpt" => Some("a PyTorch checkpoint"),
        _ => None,
    }
}

fn check_file(path: &Path) -> Result<()> {
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "{} is a directory; give the path of a model file (.onnx, .keras, .h5, .safetensors, \
             .pth) or of a Keras model saved as a folder (config.json and model.weights.h5)",
            path.display()
        )));
    }
    Ok(())
}

fn random(arch: &zoo::Arch, src: &ModelSource) -> Result<Graph> {
    let mut g = arch.build(src.num_classes.unwrap_or(1000), src.seed)?;
    g.origin = Some(format!(
        "{} with RANDOM weights (seed {}): for exploring the structure; give --weights FILE for trained ones",
        arch.name, src.seed
    ));
    Ok(g)
}

fn from_checkpoint(
    path: &Path,
    arch: Option<&'static zoo::Arch>,
    src: &ModelSource,
) -> Result<Graph> {
    let ckpt = checkpoint::open(path)?;
    let (arch, mut graph, inferred) = match arch {
        Some(a) => (
            a,
            a.build(src.num_classes.unwrap_or(1000), src.seed)?,
            false,
        ),
        None => {
            let (a, g) = zoo::infer(&ckpt, path, src.seed)?;
            (a, g, true)
        }
    };
    let loaded = zoo::load(&mut graph, arch, &ckpt, path)?;
    let mut how = vec![ckpt.format.label().to_string()];
    if let Some(entry) = &ckpt.entry {
        how.push(format!("its '{entry}' entry"));
    }
    if loaded.renamed > 0 {
        how.push(format!(
            "{} keys renamed from timm's or older names",
            loaded.renamed
        ));
    }
    if let Some(prefix) = &ckpt.stripped {
        how.push(format!("keys without '{prefix}'"));
    }
    let file = path.file_name().map_or(path.display().to_string(), |f| {
        f.to_string_lossy().into_owned()
    });
    graph.origin = Some(format!(
        "{}{} with {} tensors from {file} ({})",
        arch.name,
        if inferred {
            " (inferred from the checkpoint's keys)"
        } else {
            ""
        },
        loaded.tensors,
        how.join(", ")
    ));
    Ok(graph)
}
