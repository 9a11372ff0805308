//! What `render` explains: the layer (`--layer`, or the method's default) and the objective
//! (`--target`, or `--channel`/`--neuron` of a layer), from the arguments.

use super::Args;
use crate::error::{Error, Result};
use crate::methods::{cam, filters, target, LayerNeed, Method, Objective};
use crate::model::{Graph, LayerId};

/// `--layer`, or the method's default, checked against what the method needs. For a method
/// that takes no layer of its own, `--layer` names the layer of the unit `--channel` or
/// `--neuron` selects (the objective), and is an error without one.
pub(super) fn resolve_layer(
    graph: &Graph,
    method: &dyn Method,
    name: Option<&str>,
    unit: bool,
) -> Result<Option<LayerId>> {
    type Default = fn(&Graph) -> Option<LayerId>;
    type Check = fn(&Graph, LayerId) -> Result<()>;
    let need = method.info().layer;
    let (default, check): (Default, Check) = match need {
        LayerNeed::None if name.is_some() && !unit => {
            return Err(Error::Usage(format!(
                "{} takes no layer of its own; --layer names a unit's layer together with \
                 --channel K or --neuron K",
                method.info().id
            )))
        }
        LayerNeed::None | LayerNeed::Optional => return name.map(|n| graph.find(n)).transpose(),
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

/// What the map explains: `--channel K` or `--neuron K` of the `--layer` unit, else
/// `--target` (a class, a label, or `I,J,…` for the sum of several classes' scores), else the
/// top-1 class of the input.
pub(super) fn objective(
    a: &Args,
    graph: &Graph,
    method: &dyn Method,
    layer: Option<LayerId>,
    scores: Option<&[f32]>,
    classes: usize,
    labels: Option<&[String]>,
) -> Result<Objective> {
    let scores_layer = graph.logits_layer();
    let unit_layer = || -> Result<LayerId> {
        match (method.info().layer, layer) {
            (LayerNeed::None | LayerNeed::Optional, Some(l)) => Ok(l),
            (LayerNeed::None | LayerNeed::Optional, None) => Err(Error::Usage(
                "--channel and --neuron need --layer NAME: the layer whose unit is explained".into(),
            )),
            _ => Err(Error::Usage(format!(
                "--channel and --neuron choose a unit of --layer, which {} uses as its own layer; \
                 use them with an input-gradient method (saliency, guided, ig, …), occlusion or actmax",
                method.info().id
            ))),
        }
    };
    match (a.knobs.channel, a.knobs.neuron, &a.target) {
        (Some(_), Some(_), _) => Err(Error::Usage("give --channel or --neuron, not both".into())),
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(Error::Usage(
            "--target chooses a class; --channel and --neuron a unit: give one of them".into(),
        )),
        (Some(k), None, None) => Objective::channel(graph, unit_layer()?, k),
        (None, Some(k), None) => Objective::neuron(graph, unit_layer()?, k),
        (None, None, Some(t)) => match target::resolve_many(t, classes, labels)? {
            many if many.len() > 1 => Objective::classes(scores_layer, many),
            one => Ok(Objective::Class {
                scores: scores_layer,
                class: one[0],
            }),
        },
        (None, None, None) => match scores {
            Some(scores) => Ok(Objective::Class {
                scores: scores_layer,
                class: target::top1(scores),
            }),
            None => Err(Error::Usage(format!(
                "{} without an input needs --target CLASS (or --layer NAME with --channel K or --neuron K)",
                a.method
            ))),
        },
    }
}
