//! Guided backpropagation (Springenberg et al. 2015; captum `GuidedBackprop`): the input
//! gradient where every ReLU-family layer passes back grad · [x active] · [grad > 0].
//!
//! Where we differ from captum: captum overrides only `nn.ReLU` modules; convscope applies the
//! rule to every rectifier (ReLU, LeakyReLU, Clip/ReLU6), as the method intends. On networks with
//! only ReLU the two agree exactly (tested on the fixture nets).

use super::context::{attribution, Cx};
use super::{Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab};
use crate::error::Result;
use crate::exec::ReluRule;

pub struct Guided;

impl Method for Guided {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "guided",
            title: "Guided backpropagation",
            family: Family::Gradient,
            layer: LayerNeed::None,
            batched: false,
            stackable: true,
            needs_input: true,
            options: &[Opt::Unit],
            tab: Tab::Own {
                title: "Guided backprop",
                short: "Guid",
            },
            picture: Picture::Attribution,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let g = cx.clean_input_gradient(ReluRule::Guided)?;
        Ok(attribution(&g)?.into())
    }
}
