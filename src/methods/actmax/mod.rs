//! Activation maximization: the picture the model "expects to see" for a class, a channel or a
//! neuron, found by gradient ascent on the picture. Two recipes (`--recipe`): lucid's (the
//! default; [`lucid`]) and keras-vis's ([`kerasvis`]). The NPY is the optimized picture in the
//! model's input space and layout; the PNG is the picture itself (lucid's sigmoid output, or
//! keras-vis's display normalization).

mod fft;
mod kerasvis;
mod lucid;
mod pixels;
mod warp;

use crate::methods::ActMaxOptions;
use candle_core::Device;
use serde_json::json;

use super::{
    Artifact, Control, Cx, Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab,
};
use crate::error::{Error, Result};
use crate::input::preprocess::InputSpec;
use pixels::PixelMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    Lucid,
    KerasVis,
}

impl Recipe {
    pub fn parse(s: &str) -> Result<Recipe> {
        match s {
            "lucid" => Ok(Recipe::Lucid),
            "keras-vis" => Ok(Recipe::KerasVis),
            other => Err(Error::Usage(format!(
                "--recipe {other}: expected lucid or keras-vis"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Recipe::Lucid => "lucid",
            Recipe::KerasVis => "keras-vis",
        }
    }

    pub fn default_steps(self) -> usize {
        match self {
            Recipe::Lucid => lucid::STEPS,
            Recipe::KerasVis => kerasvis::STEPS,
        }
    }
}

/// What both recipes are given.
pub struct Settings<'a> {
    pub steps: usize,
    pub seed: u64,
    /// The picture's size (rows, columns); lucid resamples it to the model's input size.
    pub size: (usize, usize),
    /// keras-vis: random roll of up to this fraction of each side (or pixels, if ≥ 1).
    pub jitter: Option<f32>,
    pub pixels: &'a PixelMap,
    pub control: &'a Control,
    pub device: &'a Device,
}

/// A recipe's result.
pub struct Optimized {
    /// The objective on the starting picture and on the result (seen plainly, untransformed).
    pub objective_start: f32,
    pub objective_end: f32,
    pub size: (usize, usize),
    /// Planar `[C, h, w]`, 0–255.
    pub pixels: Vec<f32>,
    /// What to show, planar `[C, h, w]` bytes.
    pub display: Vec<u8>,
}

pub struct ActMax;

impl Method for ActMax {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "actmax",
            title: "Activation maximization",
            family: Family::Synthesis,
            layer: LayerNeed::Optional,
            batched: false,
            stackable: false,
            needs_input: false,
            options: &[Opt::Steps, Opt::Recipe, Opt::Jitter, Opt::Seed, Opt::Unit],
            tab: Tab::Own {
                title: "Activation max.",
                short: "AMax",
            },
            picture: Picture::Made,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let objective = cx.objective.clone();
        let spec = InputSpec::from_input_shape(&cx.graph.layer(cx.graph.inputs[0]).out_shape)?;
        let o: ActMaxOptions = cx.options()?;
        let recipe = o.recipe;
        let steps = o.steps.unwrap_or(recipe.default_steps());
        super::check_count("steps", steps, super::MAX_STEPS)?;
        if steps == 0 {
            return Err(Error::Usage(
                "--steps must be at least 1 (activation maximization takes gradient steps)".into(),
            ));
        }
        let model_size = (spec.height, spec.width);
        let size = o.size.unwrap_or(model_size);
        if recipe == Recipe::KerasVis && size != model_size {
            return Err(Error::Usage(format!(
                "keras-vis optimizes the model's input itself ({}x{}); drop --size or use --recipe lucid",
                spec.width, spec.height
            )));
        }
        if size.0 < 8 || size.1 < 8 || size.0 > 2048 || size.1 > 2048 {
            return Err(Error::Usage(format!(
                "--size {}x{}: activation maximization needs 8 to 2048 pixels a side",
                size.1, size.0
            )));
        }
        if recipe == Recipe::Lucid && o.jitter.is_some() {
            return Err(Error::Usage(
                "--jitter is keras-vis's; lucid draws its own pad, jitter, scale and rotation (use --recipe keras-vis)".into(),
            ));
        }
        let pixels = PixelMap::new(spec, o.preprocess);
        let settings = Settings {
            steps,
            seed: o.seed,
            size,
            jitter: o.jitter,
            pixels: &pixels,
            control: &cx.control,
            device: cx.input.device(),
        };
        let result = match recipe {
            Recipe::Lucid => lucid::optimize(&cx.exec, &objective, &settings)?,
            Recipe::KerasVis => kerasvis::optimize(&cx.exec, &objective, &settings)?,
        };
        // The NPY: the picture in the model's input space, at the picture's size.
        let picture_spec = InputSpec {
            height: result.size.0,
            width: result.size.1,
            ..spec
        };
        let data = PixelMap::new(picture_spec, o.preprocess).to_input(&result.pixels);
        let mut out: Output = Artifact::Image {
            shape: picture_spec.shape(1)[1..].to_vec(),
            data,
            channels: spec.channels,
            height: result.size.0,
            width: result.size.1,
            pixels: result.display,
        }
        .into();
        let x = &mut out.extras;
        x.insert("objective".into(), json!(objective.describe(cx.graph)));
        x.insert("recipe".into(), json!(recipe.as_str()));
        x.insert("steps".into(), json!(steps));
        x.insert("seed".into(), json!(o.seed));
        x.insert("objective_start".into(), json!(result.objective_start));
        x.insert("objective_end".into(), json!(result.objective_end));
        Ok(out)
    }
}
