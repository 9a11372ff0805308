//! Deconvnet (Zeiler & Fergus 2014; captum `Deconvolution`): the input "gradient" where every
//! ReLU-family layer passes back relu(grad), ignoring its forward input. Same rectifier scope
//! note as guided backpropagation.

use super::context::{attribution, Cx};
use super::{Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab};
use crate::error::Result;
use crate::exec::ReluRule;

pub struct Deconvnet;

impl Method for Deconvnet {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "deconvnet",
            title: "Deconvnet",
            family: Family::Gradient,
            layer: LayerNeed::None,
            batched: false,
            stackable: true,
            needs_input: true,
            options: &[Opt::Unit],
            tab: Tab::CliOnly,
            picture: Picture::Attribution,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let g = cx.clean_input_gradient(ReluRule::Deconvnet)?;
        Ok(attribution(&g)?.into())
    }
}
