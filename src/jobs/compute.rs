//! The work of one job: the engine's pipeline on the session's model and input, drawn as the
//! picture the CLI's `render` would write, with the raw array kept for export.

use std::sync::Arc;

use image::RgbImage;

use super::spec::JobSpec;
use crate::engine::{explain, picture, Request, Session};
use crate::error::{Error, Result};
use crate::imaging::heatmap::MapProblem;
use crate::input::Input;
use crate::methods::{self, Artifact, Control, Objective};

/// A finished view: what to show and what to export.
#[derive(Debug)]
pub struct Computed {
    pub picture: Arc<RgbImage>,
    /// The method's output: its raw array is what `render --npy` writes, and the Trust view
    /// scores it.
    pub artifact: Artifact,
    /// A warning worth showing (a constant map).
    pub problem: Option<MapProblem>,
    /// One line on what was computed (e.g. `integrated gradients, completeness gap 0.002`).
    pub note: Option<String>,
}

/// Runs `spec` on `input`, reporting progress and stopping at a cancel through `control`.
/// The input's clean pass is the session's (start-up's, for the first map).
pub fn compute(
    session: &Session,
    input: &Arc<Input>,
    spec: &JobSpec,
    control: Control,
) -> Result<Computed> {
    let method = methods::by_id(spec.method)?;
    let subject = match method.info().needs_input {
        true => session.subject(input)?,
        false => Arc::new(crate::engine::Subject::blank(session)?),
    };
    let explained = explain(session, &subject, request(session, input, spec)?, control)?;
    let output = &explained.output;
    // Activation maximization draws its own picture; every other method has an input.
    let picture = picture(method, output, &subject, &spec.knobs.look())
        .ok_or_else(|| Error::Input(format!("{} made nothing to draw", spec.method)))?;
    let number = |key: &str| output.extras.get(key).and_then(serde_json::Value::as_f64);
    let note = number("completeness_gap")
        .map(|gap| format!("completeness gap {gap:.4}"))
        .or_else(|| {
            let (start, end) = (number("objective_start")?, number("objective_end")?);
            Some(format!("objective {start:.4} → {end:.4}"))
        });
    Ok(Computed {
        picture: Arc::new(picture),
        artifact: explained.output.artifact,
        problem: explained.facts.problem,
        note,
    })
}

/// The engine's request for `spec`'s map of `input`.
pub fn request(session: &Session, input: &Input, spec: &JobSpec) -> Result<Request> {
    Ok(Request {
        method: methods::by_id(spec.method)?,
        layer: spec.layer,
        objective: Objective::Class {
            scores: session.graph.logits_layer(),
            class: spec.target,
        },
        options: spec.knobs.options(spec.method, input.preprocess),
        batch: session.batch,
    })
}
