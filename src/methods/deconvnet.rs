//! Deconvnet (Zeiler & Fergus 2014; captum `Deconvolution`): the input "gradient" where every
//! ReLU-family layer passes back relu(grad), ignoring its forward input. Same rectifier scope
//! note as guided backpropagation.

use super::context::{attribution, Cx};
use super::{LayerNeed, Method, MethodInfo, Output};
use crate::error::Result;
use crate::exec::ReluRule;

pub struct Deconvnet;

impl Method for Deconvnet {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "deconvnet",
            name: "Deconvnet",
            layer: LayerNeed::None,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let g = cx.clean_input_gradient(ReluRule::Deconvnet)?;
        Ok(attribution(&g)?.into())
    }
}
