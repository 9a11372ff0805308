//! The work of one job: a method run on the session's model and input, drawn as the picture
//! the CLI's `render` would write, with the raw array kept for export.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;

use super::spec::JobSpec;
use crate::error::{Error, Result};
use crate::exec::{Executor, Params};
use crate::imaging::heatmap::{check, MapProblem};
use crate::imaging::picture::{made_picture, render};
use crate::methods::input::Input;
use crate::methods::preprocess::InputSpec;
use crate::methods::{self, Control, Cx};
use crate::model::Graph;

/// The model as loaded once for a TUI session: shared read-only by every job.
pub struct Session {
    /// Shared with the interface's state, which reads names and configs from it.
    pub graph: Arc<Graph>,
    pub params: Params,
    pub device: Device,
    /// Inputs per batched pass for the multi-evaluation methods (sized to the model).
    pub batch: usize,
}

impl Session {
    pub fn new(graph: Graph, device: Device) -> Result<Session> {
        let params = Params::load(&graph, &device)?;
        let batch = methods::batch_for(&graph, methods::batch_budget());
        Ok(Session {
            graph: Arc::new(graph),
            params,
            device,
            batch,
        })
    }

    /// The raw class scores for an input.
    pub fn scores(&self, input: &Input) -> Result<Vec<f32>> {
        let x = input.prepared.to_tensor(&self.device)?;
        let scores: Vec<f32> = Executor::new(&self.graph, &self.params)
            .output(&x, self.graph.logits_layer())?
            .flatten_all()?
            .to_vec1()?;
        if scores.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input(
                "the model produced NaN or infinite scores for this input".into(),
            ));
        }
        Ok(scores)
    }
}

/// A finished view: what to show and what to export.
#[derive(Debug)]
pub struct Computed {
    pub picture: Arc<RgbImage>,
    /// The raw map, as `render --npy` writes it.
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// A warning worth showing (a constant map).
    pub problem: Option<MapProblem>,
    /// One line on what was computed (e.g. `integrated gradients, completeness gap 0.002`).
    pub note: Option<String>,
}

/// Runs `spec` on `input`, reporting progress and stopping at a cancel through `control`.
pub fn compute(
    session: &Session,
    input: &Arc<Input>,
    spec: &JobSpec,
    control: Control,
) -> Result<Computed> {
    let method = methods::by_id(spec.method)?;
    let graph: &Graph = &session.graph;
    let x = if method.needs_input() {
        input.prepared.to_tensor(&session.device)?
    } else {
        let spec = InputSpec::from_input_shape(&graph.layer(graph.inputs[0]).out_shape)?;
        Tensor::zeros(spec.shape(1), DType::F32, &session.device)?
    };
    let mut knobs = spec.knobs.knobs(session.batch);
    knobs.preprocess = input.preprocess.unwrap_or(knobs.preprocess);
    let mut cx = Cx {
        graph,
        exec: Executor::new(graph, &session.params),
        input: x,
        target: spec.target,
        scores: graph.logits_layer(),
        layer: spec.layer,
        knobs,
        control,
    };
    let output = method.run(&mut cx)?;
    let artifact = &output.artifact;
    let problem = check(artifact.data());
    if problem == Some(MapProblem::NonFinite) {
        return Err(Error::Input(format!(
            "{} produced a map with NaN or infinite values",
            spec.method
        )));
    }
    let picture = match made_picture(artifact) {
        Some(made) => made,
        None => {
            let mut look = spec.knobs.look();
            // Occlusion's map is blocky and, alone, hard to place: drawn over the picture.
            look.overlay_attribution = spec.method == "occlusion";
            render(artifact, input, &look)
        }
    };
    let number = |key: &str| output.extras.get(key).and_then(serde_json::Value::as_f64);
    let note = number("completeness_gap")
        .map(|gap| format!("completeness gap {gap:.4}"))
        .or_else(|| {
            let (start, end) = (number("objective_start")?, number("objective_end")?);
            Some(format!("objective {start:.4} → {end:.4}"))
        });
    Ok(Computed {
        picture: Arc::new(picture),
        shape: artifact.shape(),
        data: artifact.data().to_vec(),
        problem,
        note,
    })
}
