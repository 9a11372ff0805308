//! The one pipeline: a request (method, layer, objective, that method's options) on a subject
//! → the method's output and the facts a report states. `render` and the interface's jobs both
//! call [`explain`]; neither repeats its steps.

use std::time::Instant;

use image::RgbImage;
use serde_json::json;

use super::picture::{made_picture, render, Look};
use super::{Session, Subject};
use crate::error::{Error, Result};
use crate::imaging::heatmap::{check, MapProblem};
use crate::methods::target::softmax;
use crate::methods::{Artifact, Control, Cx, Method, Objective, Options, Output, Picture, Shared};
use crate::model::LayerId;

/// What to explain and how.
pub struct Request {
    pub method: &'static dyn Method,
    /// The layer for layer methods (resolved and checked by the caller).
    pub layer: Option<LayerId>,
    pub objective: Objective,
    /// The method's options (its own type, or `Options::Default`).
    pub options: Options,
    /// Inputs per batched pass, for the methods that batch (`Session::batch` sizes it to the
    /// memory available).
    pub batch: usize,
}

/// A method's output and what a report says of it.
pub struct Explained {
    pub output: Output,
    pub facts: Facts,
}

/// The facts every report states.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The class explained, with its raw score and softmax probability for the input (an
    /// objective of one class, on a real input).
    pub target: Option<TargetFacts>,
    /// The layer the artifact belongs to (CAMs, kernels, feature maps).
    pub layer: Option<LayerId>,
    /// The map's range and what is wrong with it (a constant map), if anything.
    pub min: f32,
    pub max: f32,
    pub problem: Option<MapProblem>,
    /// The method's own time, in milliseconds.
    pub method_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetFacts {
    pub index: usize,
    pub score: f32,
    pub prob: f32,
}

/// Runs `request` on `subject`. The subject's clean pass (computed here if no one has yet)
/// serves the target's facts and every method that reads the clean input. A map with NaN or
/// infinite values is an error, not an artifact.
pub fn explain(
    session: &Session,
    subject: &Subject,
    request: Request,
    control: Control,
) -> Result<Explained> {
    explain_in(session, subject, request, control, None)
}

/// [`explain`] for an input that may be one of a batch explained together (`shared`: its
/// place in the batch's reverse passes; see [`super::Together`]).
pub(super) fn explain_in(
    session: &Session,
    subject: &Subject,
    request: Request,
    control: Control,
    shared: Option<Shared<'_>>,
) -> Result<Explained> {
    let graph = &session.graph;
    let method = request.method;
    request.options.check_for(method.info().id)?;
    let clean = match subject.input {
        Some(_) => Some(subject.clean(session, &control.cancel)?),
        None => None,
    };
    let target = match (&clean, request.objective.class()) {
        (Some(acts), Some(index)) => {
            let scores: Vec<f32> = acts.get(graph.logits_layer()).flatten_all()?.to_vec1()?;
            scores.get(index).map(|&score| TargetFacts {
                index,
                score,
                prob: softmax(&scores)[index],
            })
        }
        _ => None,
    };
    let objective = request.objective.describe(graph);
    let mut cx = Cx {
        graph,
        exec: session.executor().with_cancel(control.cancel.clone()),
        input: subject.tensor.clone(),
        objective: request.objective,
        layer: request.layer,
        options: request.options,
        batch: request.batch,
        control,
        clean,
        shared,
    };
    let start = Instant::now();
    let mut output = method.run(&mut cx)?;
    let method_ms = (start.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    if method.info().batched {
        output.extras.insert("batch".into(), cx.batch.into());
    }
    if cx.shared.is_some() {
        // This input shared its forward and reverse passes with the others of its group.
        output.extras.insert("stacked".into(), json!(true));
    }
    output
        .extras
        .entry("objective")
        .or_insert_with(|| json!(objective));
    let data = output.artifact.data();
    let problem = check(data);
    if problem == Some(MapProblem::NonFinite) {
        return Err(Error::Input(format!(
            "{} produced a map with NaN or infinite values",
            method.info().id
        )));
    }
    let (min, max) = data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let layer = match &output.artifact {
        Artifact::Cam { layer, .. } | Artifact::Grid { layer, .. } => Some(*layer),
        _ => None,
    };
    Ok(Explained {
        output,
        facts: Facts {
            target,
            layer,
            min,
            max,
            problem,
            method_ms,
        },
    })
}

/// The picture of an output, as both the CLI and the interface draw it: a picture the method
/// made itself, else the artifact drawn over (or beside) the subject's input. `None` when
/// there is neither.
pub fn picture(
    method: &dyn Method,
    output: &Output,
    subject: &Subject,
    look: &Look,
) -> Option<RgbImage> {
    if let Some(made) = made_picture(&output.artifact) {
        return Some(made);
    }
    let input = subject.input.as_ref()?;
    let look = Look {
        overlay_attribution: method.info().picture == Picture::Overlay,
        ..look.clone()
    };
    Some(render(&output.artifact, input, &look))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use candle_core::Device;

    use super::*;
    use crate::exec::CancelToken;
    use crate::input::preprocess::Preprocess;
    use crate::input::{Input, Source};
    use crate::methods;

    /// Feature maps read only the clean pass. With the token already set, any new pass stops
    /// at its first layer: so the request succeeds exactly when the scores' pass is reused.
    #[test]
    fn the_scores_pass_serves_the_method() {
        let session = Session::new(crate::import::demo::graph().unwrap(), Device::Cpu).unwrap();
        let input =
            Arc::new(Input::load(&session.graph, &Source::Sample, Preprocess::Imagenet).unwrap());
        let request = || Request {
            method: methods::by_id("features").unwrap(),
            layer: methods::cam::default_layer(&session.graph),
            objective: Objective::Class {
                scores: session.graph.logits_layer(),
                class: 0,
            },
            options: Options::Default,
            batch: 1,
        };
        let cancelled = || {
            let token = CancelToken::new();
            token.cancel();
            Control {
                cancel: token,
                progress: None,
            }
        };
        let fresh = Subject::new(&session, input.clone()).unwrap();
        assert!(matches!(
            explain(&session, &fresh, request(), cancelled()),
            Err(Error::Cancelled)
        ));
        let scores = session.scores(&input).unwrap();
        let subject = session.subject(&input).unwrap();
        let done = explain(&session, &subject, request(), cancelled()).unwrap();
        assert_eq!(done.facts.target.unwrap().score, scores[0]);
        assert!(done.facts.layer.is_some());
    }
}
