//! torchvision's EfficientNet B0–B4: MBConv blocks (expand, depthwise, squeeze-excitation with
//! SiLU and a sigmoid gate, project) scaled in width and depth per variant.

use super::blocks::{make_divisible, squeeze_excite, ConvNormAct};
use super::Spec;
use crate::error::Result;
use crate::model::build::GraphBuilder;
use crate::model::{Activation, Graph, LayerId};

/// B0's stages: expand ratio, kernel, first stride, input and output channels, repeats.
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];

pub fn efficientnet_b0(s: &Spec) -> Result<Graph> {
    efficientnet("efficientnet_b0", 1.0, 1.0, 0.2, s)
}
pub fn efficientnet_b1(s: &Spec) -> Result<Graph> {
    efficientnet("efficientnet_b1", 1.0, 1.1, 0.2, s)
}
pub fn efficientnet_b2(s: &Spec) -> Result<Graph> {
    efficientnet("efficientnet_b2", 1.1, 1.2, 0.3, s)
}
pub fn efficientnet_b3(s: &Spec) -> Result<Graph> {
    efficientnet("efficientnet_b3", 1.2, 1.4, 0.3, s)
}
pub fn efficientnet_b4(s: &Spec) -> Result<Graph> {
    efficientnet("efficientnet_b4", 1.4, 1.8, 0.4, s)
}

fn cna(filters: usize, kernel: usize, stride: usize, groups: usize, silu: bool) -> ConvNormAct {
    let activation = silu.then_some(Activation::Silu);
    ConvNormAct::new(filters, kernel, stride, groups, activation, 1e-5)
}

fn efficientnet(name: &str, width: f64, depth: f64, dropout: f32, s: &Spec) -> Result<Graph> {
    let (mut b, input) = GraphBuilder::new(name, "input", &[1, 3, s.size, s.size], s.seed);
    let channels = |c: usize| make_divisible(c as f64 * width, 8);
    let mut x = cna(channels(32), 3, 2, 1, true).build(&mut b, "features.0", input)?;
    for (stage, &(expand, k, stride, _, out, repeats)) in STAGES.iter().enumerate() {
        let repeats = (repeats as f64 * depth).ceil() as usize;
        for i in 0..repeats {
            let p = format!("features.{}.{i}", stage + 1);
            let stride = if i == 0 { stride } else { 1 };
            x = mbconv(&mut b, &p, x, expand, k, stride, channels(out))?;
        }
    }
    let last = 4 * b.shape(x)[1];
    x = cna(last, 1, 1, 1, true).build(&mut b, "features.8", x)?;
    x = b.global_avg_pool("avgpool", x)?;
    x = b.flatten("flatten", x)?;
    x = b.dropout("classifier.0", x, dropout)?;
    x = b.linear("classifier.1", x, s.classes)?;
    b.finish(x)
}

fn mbconv(
    b: &mut GraphBuilder,
    p: &str,
    x: LayerId,
    expand: usize,
    k: usize,
    stride: usize,
    out: usize,
) -> Result<LayerId> {
    let inp = b.shape(x)[1];
    let expanded = make_divisible((inp * expand) as f64, 8);
    let mut y = x;
    let mut i = 0;
    if expanded != inp {
        y = cna(expanded, 1, 1, 1, true).build(b, &format!("{p}.block.{i}"), y)?;
        i += 1;
    }
    y = cna(expanded, k, stride, expanded, true).build(b, &format!("{p}.block.{i}"), y)?;
    i += 1;
    let squeeze = (inp / 4).max(1);
    y = squeeze_excite(
        b,
        &format!("{p}.block.{i}"),
        y,
        squeeze,
        Activation::Silu,
        Activation::Sigmoid,
    )?;
    y = cna(out, 1, 1, 1, false).build(b, &format!("{p}.block.{}", i + 1), y)?;
    if stride == 1 && inp == out {
        // Stochastic depth is the identity at inference.
        return b.add_layers(&format!("{p}.add"), y, x);
    }
    Ok(y)
}
