//! `convscope render METHOD MODEL (--image PATH | --input-npy PATH) [options]`: one explanation
//! map, written as PNG (for people) and NPY (raw, for scripts), with a JSON report.

mod knobs;
mod layers;
mod many;
mod objective;
mod picture;
mod report;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::input::InputArgs;
use crate::engine::{self, explain, Request, Session, Subject};
use crate::error::{Error, Result};
use crate::exec::{device_label, select_device};
use crate::imaging::atomic::stage;
use crate::imaging::npy::npy_bytes_f32;
use crate::imaging::png::encode_png;
use crate::import::labels;
use crate::input::preprocess::Preprocess;
use crate::methods::{self, LayerNeed, Method, Options};
use crate::model::LayerId;
use picture::Look;

/// The help after the options: what the target is, and every method from the registry.
fn about() -> String {
    format!(
        "The target is the raw class score before softmax: when the graph ends in Softmax or \
LogSoftmax, its input is used (as keras-vis swaps softmax for linear). --target I,J explains the sum \
of several classes' scores; --layer NAME with --channel K (a feature map's mean) or --neuron K (a dense \
unit) explains that unit instead, for the methods that take --channel/--neuron. actmax needs no input: \
without --image it maximizes --target CLASS, else the top class of the model's own picture (the \
demo's, the zoo's cat), or the unit. A method option given to a method that does not take it is an \
error naming the methods that do.\n\n{}",
        methods::registry::help()
    )
}

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = about())]
pub struct Args {
    /// The method (the list follows the options).
    pub method: String,
    #[arg(default_value = "demo", help = crate::cli::model_args::MODEL_HELP)]
    pub model: String,
    #[command(flatten)]
    pub model_args: crate::cli::model_args::ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub many: crate::cli::many::ManyArgs,
    /// Class to explain: an index, or text matched against the labels [default: the top-1 class].
    #[arg(long)]
    pub target: Option<String>,
    /// Layer for CAM methods [default: the last layer whose output has spatial size > 1].
    #[arg(long)]
    pub layer: Option<String>,
    /// features: several layers, one row each in the picture (no --npy with more than one).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Where to write the picture [default: INPUT_STEM.METHOD.png, unless --npy or --print is
    /// given]; with --images, the folder the outputs go to.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Where to write the raw map (float32 .npy); with --images, no PATH: each map goes next
    /// to its picture.
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    pub npy: Option<Option<PathBuf>>,
    /// Class names, one a line (default: ImageNet's for 1000-class models).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
    /// Draw the picture in the terminal (kitty, sixel, iTerm2 or half-blocks); prints the PNG's
    /// path instead when stdout is not a terminal.
    #[arg(long, conflicts_with_all = ["json", "images"])]
    pub print: bool,
    #[command(flatten)]
    pub knobs: knobs::KnobArgs,
    #[command(flatten)]
    pub look: picture::LookArgs,
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e4).round() / 10.0
}

/// What every image of one `render` shares: the model, the method and its options, the look,
/// the labels and the layer.
struct Setup {
    method: &'static dyn Method,
    session: Session,
    look: Look,
    options: Options,
    batch: usize,
    labels: Option<Vec<String>>,
    classes: usize,
    /// `--channel` or `--neuron`: the objective is a unit, not a class.
    unit: bool,
    layer: Option<LayerId>,
    load_ms: f64,
}

impl Setup {
    /// The subject for `input`, whose clean pass keeps only what this map reads.
    fn subject(&self, input: crate::input::Input) -> Result<Subject> {
        let subject = Subject::new(&self.session, Arc::new(input))?;
        Ok(subject.for_map(&self.session.graph, self.method, self.layer))
    }
}

/// Checks the arguments, opens the model and resolves everything that does not depend on the
/// input (the options are built for the model's input shape, which every input has).
fn setup(a: &Args) -> Result<Setup> {
    let method = methods::by_id(&a.method)?;
    check_distinct_outputs(a.output.as_deref(), a.npy_path())?;
    layers::check_args(&a.method, &a.layers, a.layer.as_deref(), a.npy.is_some())?;
    // Every method option a method does not take is refused, naming the methods that take it.
    let mut given = a.knobs.given();
    if !a.layers.is_empty() {
        given.push((methods::Opt::Layers, "--layers"));
    }
    methods::check_options(&method.info(), &given)?;
    // Drawn as the interface draws it (`engine::picture`): occlusion's blocky map over the
    // picture (--no-overlay: alone).
    let look = a.look.look()?;
    let t = Instant::now();
    let graph = a.model_args.open(&a.model)?;
    let device = select_device(&a.input.device)?;
    let session = Session::new(graph, device)?;
    let graph = session.graph.clone();
    let load_ms = ms(t);

    let blank = Subject::blank(&session)?;
    let mut options = a
        .knobs
        .to_options(&a.method, &blank.tensor, &session.device)?;
    let batch = match a.knobs.batch {
        None => session.batch,
        Some(b) => {
            methods::check_batch(&graph, b)?;
            b
        }
    };
    match &mut options {
        Options::ActMax(o) => {
            o.preprocess = Preprocess::for_model(a.input.preprocess, &graph).0;
            o.size = look.size.map(|(w, h)| (h as usize, w as usize));
        }
        Options::Features(o) => o.layers = layers::resolve(&graph, &a.layers)?,
        _ => {}
    }
    let classes = graph.classes();
    let labels = labels::for_model(classes, a.labels.as_deref(), graph.labels.as_deref())?;
    let unit = a.knobs.channel.is_some() || a.knobs.neuron.is_some();
    let layer = objective::resolve_layer(&graph, method, a.layer.as_deref(), unit)?;
    Ok(Setup {
        method,
        session,
        look,
        options,
        batch,
        labels,
        classes,
        unit,
        layer,
        load_ms,
    })
}

/// One subject explained: its scores (the one forward pass, shared with the method), the
/// objective and the engine's output.
struct Explanation {
    explained: engine::Explained,
    scores: Option<Vec<f32>>,
    class: Option<usize>,
    forward_ms: f64,
}

/// What is asked of a subject: its scores (its clean pass, computed now unless it was), and
/// the request with the objective they decide.
struct Asked {
    request: Request,
    scores: Option<Vec<f32>>,
    class: Option<usize>,
}

fn ask(a: &Args, s: &Setup, subject: &Subject) -> Result<Asked> {
    let graph = &s.session.graph;
    let scores: Option<Vec<f32>> = match &subject.input {
        Some(_) => Some(subject.scores(&s.session)?),
        None => None,
    };
    let objective = objective::objective(
        a,
        graph,
        s.method,
        s.layer,
        scores.as_deref(),
        s.classes,
        s.labels.as_deref(),
    )?;
    let class = objective.class();
    let request = Request {
        method: s.method,
        layer: if s.method.info().layer == LayerNeed::None {
            None
        } else {
            s.layer
        },
        objective,
        options: s.options.clone(),
        batch: s.batch,
    };
    Ok(Asked {
        request,
        scores,
        class,
    })
}

fn explain_subject(
    a: &Args,
    s: &Setup,
    subject: &Subject,
    control: methods::Control,
) -> Result<Explanation> {
    let t = Instant::now();
    let asked = ask(a, s, subject)?;
    let forward_ms = ms(t);
    let explained = explain(&s.session, subject, asked.request, control)?;
    Ok(Explanation {
        explained,
        scores: asked.scores,
        class: asked.class,
        forward_ms,
    })
}

pub fn run(a: Args) -> Result<()> {
    if let Some(spec) = a.many.images.clone() {
        return many::run(a, &spec);
    }
    if let Some(None) = a.npy {
        return Err(Error::Usage(
            "--npy needs a PATH for one input (it takes none only with --images)".into(),
        ));
    }
    let s = setup(&a)?;
    let graph = s.session.graph.clone();
    let t = Instant::now();
    // Activation maximization makes its own picture: an input is optional. Without one, and
    // without a class or unit to maximize, the model's own picture (the demo's, the zoo's cat)
    // chooses the class, as it is the input of every other method.
    let sample_picks_target = a.target.is_none() && !s.unit && graph.sample_image.is_some();
    let subject = if a.input.given() || s.method.info().needs_input || sample_picks_target {
        s.subject(a.input.prepare(&graph)?)?
    } else {
        Subject::blank(&s.session)?
    };
    let prepare_ms = ms(t);

    let Explanation {
        explained,
        class,
        forward_ms,
        ..
    } = explain_subject(&a, &s, &subject, super::progress::control(&a.method))?;
    let output = explained.output;
    let method_ms = explained.facts.method_ms;

    let t = Instant::now();
    let stem_source = subject
        .input
        .as_ref()
        .map_or(Path::new(&a.model), |i| i.path.as_path());
    // `--print` to something other than a terminal writes the picture and prints its path.
    let printed_inline = a.print && std::io::stdout().is_terminal();
    let npy_path = a.npy_path();
    let png_path = a.output.clone().or_else(|| {
        (npy_path.is_none() && !printed_inline).then(|| default_png(stem_source, &a.method))
    });
    let picture = (png_path.is_some() || a.print)
        .then(|| engine::picture(s.method, &output, &subject, &s.look))
        .flatten();
    let png = match (&png_path, &picture) {
        (Some(_), Some(img)) => Some(encode(img)?),
        _ => None,
    };
    let render_ms = ms(t);

    // Stage every file before committing any, so a failure leaves nothing behind.
    let mut staged = Vec::new();
    if let (Some(path), Some(bytes)) = (&png_path, &png) {
        staged.push(stage(path, bytes)?);
    }
    if let Some(path) = npy_path {
        staged.push(stage(path, &npy(&output))?);
    }
    for s in staged {
        s.commit()?;
    }

    let report = report::Report {
        method: &a.method,
        graph: &graph,
        facts: &explained.facts,
        class,
        label: class.and_then(|t| Some(s.labels.as_ref()?.get(t)?.as_str())),
        output: &output,
        png: png_path.as_deref(),
        npy: npy_path,
        device: device_label(&s.session.device),
        timings: json!({"load_ms": s.load_ms, "prepare_ms": prepare_ms, "forward_ms": forward_ms, "method_ms": method_ms, "render_ms": render_ms}),
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

fn encode(img: &image::RgbImage) -> Result<Vec<u8>> {
    encode_png(img).map_err(|e| Error::Input(format!("cannot encode the PNG: {e}")))
}

/// The raw map as float32 NPY.
fn npy(output: &methods::Output) -> Vec<u8> {
    npy_bytes_f32(&output.artifact.shape(), output.artifact.data())
}

impl Args {
    /// `--npy PATH` (one input).
    fn npy_path(&self) -> Option<&Path> {
        self.npy.as_ref().and_then(|p| p.as_deref())
    }
}

/// `-o` and `--npy` naming one file would leave one output overwritten by the other.
fn check_distinct_outputs(png: Option<&Path>, npy: Option<&Path>) -> Result<()> {
    let (Some(png), Some(npy)) = (png, npy) else {
        return Ok(());
    };
    let same = match (std::path::absolute(png), std::path::absolute(npy)) {
        (Ok(a), Ok(b)) => a == b,
        _ => png == npy,
    } || same_file(png, npy);
    if same {
        return Err(Error::Usage(format!(
            "-o and --npy both name {}; give the picture and the array different paths",
            png.display()
        )));
    }
    Ok(())
}

/// Whether two existing paths are one file (hard links, `a/../b`).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    let _ = (a, b);
    false
}

fn default_png(input: &Path, method: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    PathBuf::from(format!("{stem}.{method}.png"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_help_lists_every_method() {
        for id in crate::methods::ids() {
            assert!(super::about().contains(id), "--help does not list {id}");
        }
    }
}
