//! Input × gradient (captum `InputXGradient`): the input times its gradient, element-wise.

use super::context::{attribution, Cx};
use super::{Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab};
use crate::error::Result;
use crate::exec::ReluRule;

pub struct InputXGradient;

impl Method for InputXGradient {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "inputxgrad",
            title: "Input × gradient",
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
        let g = cx.clean_input_gradient(ReluRule::Normal)?;
        Ok(attribution(&(g * &cx.input)?)?.into())
    }
}
