//! Input × gradient (captum `InputXGradient`): the input times its gradient, element-wise.

use super::context::{attribution, Cx};
use super::{LayerNeed, Method, MethodInfo, Output};
use crate::error::Result;
use crate::exec::ReluRule;

pub struct InputXGradient;

impl Method for InputXGradient {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "inputxgrad",
            name: "Input × gradient",
            layer: LayerNeed::None,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let g = cx.clean_input_gradient(ReluRule::Normal)?;
        Ok(attribution(&(g * &cx.input)?)?.into())
    }
}
