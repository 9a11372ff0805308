//! Vanilla gradient (Simonyan et al. 2014; captum `Saliency` with `abs=False`): the signed
//! gradient of the target score with respect to the input. Display takes max |·| over channels.

use super::context::{attribution, Cx};
use super::{Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab};
use crate::error::Result;
use crate::exec::ReluRule;

pub struct Saliency;

impl Method for Saliency {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "saliency",
            title: "Saliency (vanilla gradient)",
            family: Family::Gradient,
            layer: LayerNeed::None,
            batched: false,
            stackable: true,
            needs_input: true,
            options: &[Opt::Unit],
            tab: Tab::Own {
                title: "Saliency",
                short: "Sal",
            },
            picture: Picture::Attribution,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let g = cx.clean_input_gradient(ReluRule::Normal)?;
        Ok(attribution(&g)?.into())
    }
}
