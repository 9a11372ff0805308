//! `convscope render METHOD MODEL (--image PATH | --input-npy PATH) [options]`: one explanation
//! map, written as PNG (for people) and NPY (raw, for scripts), with a JSON report.

mod knobs;
mod layers;
mod picture;
mod progress;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::input::InputArgs;
use crate::error::{Error, Result};
use crate::exec::{device_label, select_device, Executor, NoHook, Params};
use crate::imaging::atomic::stage;
use crate::imaging::heatmap::{check, MapProblem};
use crate::imaging::npy::npy_bytes_f32;
use crate::imaging::png::encode_png;
use crate::import::{labels, open_model};
use crate::methods::{self, cam, filters, target, Artifact, Cx, LayerNeed, Output};
use crate::model::{Graph, LayerId};

const ABOUT: &str = "The target is the raw class score before softmax: when the graph ends in Softmax or \
LogSoftmax, its input is used (as keras-vis swaps softmax for linear). Methods: saliency, guided, \
deconvnet, inputxgrad, smoothgrad, ig, gradcam, gradcampp, hirescam, xgradcam, layercam, guided-gradcam.";

#[derive(clap::Args, Debug)]
#[command(after_help = ABOUT)]
pub struct Args {
    /// The method: saliency, guided, deconvnet, inputxgrad, smoothgrad, ig, gradcam, gradcampp,
    /// hirescam, xgradcam, layercam, guided-gradcam.
    pub method: String,
    /// The model: a path to an .onnx file.
    pub model: String,
    #[command(flatten)]
    pub input: InputArgs,
    /// Class to explain: an index, or text matched against the labels [default: the top-1 class].
    #[arg(long)]
    pub target: Option<String>,
    /// Layer for CAM methods [default: the last layer whose output has spatial size > 1].
    #[arg(long)]
    pub layer: Option<String>,
    /// features: several layers, one row each in the picture (no --npy with more than one).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Where to write the picture [default: INPUT_STEM.METHOD.png, unless --npy or --print is given].
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Where to write the raw map (float32 .npy).
    #[arg(long)]
    pub npy: Option<PathBuf>,
    /// Class names, one a line (default: ImageNet's for 1000-class models).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
    /// Draw the picture in the terminal (kitty, sixel, iTerm2 or half-blocks); prints the PNG's
    /// path instead when stdout is not a terminal.
    #[arg(long, conflicts_with = "json")]
    pub print: bool,
    #[command(flatten)]
    pub knobs: knobs::KnobArgs,
    #[command(flatten)]
    pub look: picture::LookArgs,
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e4).round() / 10.0
}

pub fn run(a: Args) -> Result<()> {
    let method = methods::by_id(&a.method)?;
    layers::check_args(&a.method, &a.layers, a.layer.as_deref(), a.npy.is_some())?;
    let look = a.look.look()?;
    let t = Instant::now();
    let graph = open_model(&a.model)?;
    let device = select_device(&a.input.device)?;
    let params = Params::load(&graph, &device)?;
    let load_ms = ms(t);

    let t = Instant::now();
    let input = a.input.prepare(&graph)?;
    let x = input.prepared.to_tensor(&device)?;
    let mut knobs = a.knobs.to_knobs(&x, &device)?;
    knobs.layers = layers::resolve(&graph, &a.layers)?;
    let prepare_ms = ms(t);

    let exec = Executor::new(&graph, &params);
    let scores_layer = graph.logits_layer();
    let scores: Vec<f32> = exec
        .forward(&x, &mut NoHook)?
        .get(scores_layer)
        .flatten_all()?
        .to_vec1()?;
    let labels = labels::for_model(scores.len(), a.labels.as_deref())?;
    let target = match &a.target {
        Some(t) => target::resolve(t, scores.len(), labels.as_deref())?,
        None => target::top1(&scores),
    };
    let layer = resolve_layer(&graph, method.info().layer, a.layer.as_deref())?;

    let mut cx = Cx {
        graph: &graph,
        exec,
        input: x,
        target,
        scores: scores_layer,
        layer,
        knobs,
        control: progress::control(&a.method),
    };
    let t = Instant::now();
    let output = method.run(&mut cx)?;
    let method_ms = ms(t);
    let problem = check(output.artifact.data());
    if problem == Some(MapProblem::NonFinite) {
        return Err(Error::Input(format!(
            "{} produced a map with NaN or infinite values; nothing was written",
            a.method
        )));
    }

    let t = Instant::now();
    let png_path = a
        .output
        .clone()
        .or_else(|| (a.npy.is_none() && !a.print).then(|| default_png(&input.path, &a.method)));
    let picture =
        (png_path.is_some() || a.print).then(|| picture::render(&output.artifact, &input, &look));
    let png = match (&png_path, &picture) {
        (Some(_), Some(img)) => {
            Some(encode_png(img).map_err(|e| Error::Input(format!("cannot encode the PNG: {e}")))?)
        }
        _ => None,
    };
    let render_ms = ms(t);

    // Stage every file before committing any, so a failure leaves nothing behind.
    let mut staged = Vec::new();
    if let (Some(path), Some(bytes)) = (&png_path, &png) {
        staged.push(stage(path, bytes)?);
    }
    if let Some(path) = &a.npy {
        staged.push(stage(
            path,
            &npy_bytes_f32(&output.artifact.shape(), output.artifact.data()),
        )?);
    }
    for s in staged {
        s.commit()?;
    }

    let report = Report {
        method: &a.method,
        graph: &graph,
        scores: &scores,
        target,
        label: labels.as_ref().map(|l| l[target].as_str()),
        output: &output,
        problem,
        png: png_path.as_deref(),
        npy: a.npy.as_deref(),
        device: device_label(&device),
        timings: json!({"load_ms": load_ms, "prepare_ms": prepare_ms, "method_ms": method_ms, "render_ms": render_ms}),
    };
    if a.json {
        super::print_json(&report.json());
    } else {
        report.print();
    }
    if let (true, Some(img)) = (a.print, &picture) {
        crate::term::print::print(img, png_path.as_deref())
            .map_err(|e| Error::Input(format!("cannot write to the terminal: {e}")))?;
    }
    Ok(())
}

/// `--layer`, or the method's default, checked against what the method needs.
fn resolve_layer(graph: &Graph, need: LayerNeed, name: Option<&str>) -> Result<Option<LayerId>> {
    type Default = fn(&Graph) -> Option<LayerId>;
    type Check = fn(&Graph, LayerId) -> Result<()>;
    let (default, check): (Default, Check) = match need {
        LayerNeed::None => return Ok(None),
        LayerNeed::SpatialMap => (cam::default_layer, cam::check_spatial),
        LayerNeed::Kernel => (filters::default_layer, filters::check_kernel),
    };
    let id = match name {
        Some(name) => graph.find(name)?,
        None => default(graph).ok_or_else(|| {
            Error::Usage(match need {
                LayerNeed::Kernel => "the model has no convolution".to_string(),
                _ => "the model has no layer with a spatial output".to_string(),
            })
        })?,
    };
    check(graph, id)?;
    Ok(Some(id))
}

fn default_png(input: &Path, method: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    PathBuf::from(format!("{stem}.{method}.png"))
}

struct Report<'a> {
    method: &'a str,
    graph: &'a Graph,
    scores: &'a [f32],
    target: usize,
    label: Option<&'a str>,
    output: &'a Output,
    problem: Option<MapProblem>,
    png: Option<&'a Path>,
    npy: Option<&'a Path>,
    device: String,
    timings: Value,
}

impl Report<'_> {
    fn probability(&self) -> f32 {
        target::softmax(self.scores)[self.target]
    }

    fn layer(&self) -> Option<&str> {
        match &self.output.artifact {
            Artifact::Cam { layer, .. } | Artifact::Grid { layer, .. } => {
                Some(self.graph.layer(*layer).name.as_str())
            }
            Artifact::Attribution { .. }
            | Artifact::Heatmap { .. }
            | Artifact::Mask { .. }
            | Artifact::Rows { .. } => None,
        }
    }

    /// What occlusion's heatmap and mask views add to the text report.
    fn print_occlusion(&self) {
        let e = &self.output.extras;
        let (min, max) = minmax(self.output.artifact.data());
        match &self.output.artifact {
            Artifact::Heatmap { .. } => println!(
                "target probability with a window occluded: {min:.4} to {max:.4} (unoccluded {:.4})",
                self.probability()
            ),
            Artifact::Mask { .. } => {
                println!(
                    "kept {} of {} pixels: probability drop ≥ {} × the largest drop {max:.4}",
                    e["kept_pixels"], e["total_pixels"], e["threshold"]
                );
                if max <= 0.0 {
                    eprintln!("warning: no window lowers the target's probability, so the mask keeps nothing");
                }
            }
            _ => {}
        }
    }

    fn json(&self) -> Value {
        let (min, max) = minmax(self.output.artifact.data());
        let mut v: Map<String, Value> = Map::new();
        v.insert("method".into(), json!(self.method));
        v.insert("target".into(), json!({"index": self.target, "label": self.label, "score": self.scores[self.target], "prob": self.probability()}));
        v.insert("layer".into(), json!(self.layer()));
        match &self.output.artifact {
            Artifact::Rows { rows, .. } => {
                v.insert("shape".into(), Value::Null);
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let channels: Vec<&str> = r.tiles.iter().map(|t| t.label.as_str()).collect();
                        json!({"name": self.graph.layer(r.layer).name, "shape": r.shape, "channels": channels})
                    })
                    .collect();
                v.insert("layers".into(), json!(rows));
            }
            a => {
                v.insert("shape".into(), json!(a.shape()));
            }
        }
        v.insert(
            "map".into(),
            json!({"min": min, "max": max, "problem": self.problem.map(|p| p.describe())}),
        );
        for (k, val) in &self.output.extras {
            v.insert(k.clone(), val.clone());
        }
        v.insert("device".into(), json!(self.device));
        v.insert("timings".into(), self.timings.clone());
        v.insert("files".into(), json!({"png": self.png, "npy": self.npy}));
        Value::Object(v)
    }

    fn print(&self) {
        if let Artifact::Grid { .. } | Artifact::Rows { .. } = self.output.artifact {
            // Kernels and feature maps do not depend on the class.
            match &self.output.artifact {
                Artifact::Rows { rows, .. } => {
                    let names: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
                    println!("{} of layers {}", self.method, names.join(", "));
                }
                _ => println!("{} of layer {}", self.method, self.layer().unwrap_or("?")),
            }
            for path in [self.png, self.npy].into_iter().flatten() {
                println!("wrote {}", path.display());
            }
            return;
        }
        let label = self.label.map(|l| format!(" '{l}'")).unwrap_or_default();
        let layer = self
            .layer()
            .map(|l| format!(" at layer {l}"))
            .unwrap_or_default();
        println!(
            "{} of class {}{label} (score {:.4}, p={:.4}){layer}",
            self.method,
            self.target,
            self.scores[self.target],
            self.probability()
        );
        if let Some(gap) = self.output.extras.get("completeness_gap") {
            println!("completeness gap (Σ attributions − (F(x) − F(baseline))): {gap}");
        }
        self.print_occlusion();
        if let Some(p) = self.problem {
            eprintln!("warning: {}", p.describe());
        }
        for path in [self.png, self.npy].into_iter().flatten() {
            println!("wrote {}", path.display());
        }
    }
}

fn minmax(data: &[f32]) -> (f32, f32) {
    data.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        })
}
