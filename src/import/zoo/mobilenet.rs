//! torchvision's MobileNetV2 (inverted residuals with ReLU6) and MobileNetV3 small/large
//! (Hardswish, squeeze-excitation with a hard-sigmoid gate, BatchNorm eps 1e-3).

use super::blocks::{make_divisible, squeeze_excite, ConvNormAct, HARD_SIGMOID, RELU6};
use super::Spec;
use crate::error::Result;
use crate::model::build::GraphBuilder;
use crate::model::{Activation, Graph, LayerId};

pub fn mobilenet_v2(s: &Spec) -> Result<Graph> {
    let (mut b, input) =
        GraphBuilder::new("mobilenet_v2", "input", &[1, 3, s.size, s.size], s.seed);
    let cna = |f, k, s, g, a| ConvNormAct::new(f, k, s, g, a, 1e-5);
    let mut x = cna(32, 3, 2, 1, Some(RELU6)).build(&mut b, "features.0", input)?;
    // (expand ratio t, channels c, repeats n, first stride s)
    let settings = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let mut index = 1;
    for (t, c, n, first_stride) in settings {
        for i in 0..n {
            let stride = if i == 0 { first_stride } else { 1 };
            let p = format!("features.{index}");
            let inp = b.shape(x)[1];
            let hidden = inp * t;
            let mut y = x;
            let mut k = 0;
            if t != 1 {
                y = cna(hidden, 1, 1, 1, Some(RELU6)).build(&mut b, &format!("{p}.conv.0"), y)?;
                k = 1;
            }
            y = cna(hidden, 3, stride, hidden, Some(RELU6)).build(
                &mut b,
                &format!("{p}.conv.{k}"),
                y,
            )?;
            let spec = crate::model::build::ConvSpec::new(c, 1);
            y = b.conv(&format!("{p}.conv.{}", k + 1), y, spec)?;
            y = b.batch_norm(&format!("{p}.conv.{}", k + 2), y)?;
            x = if stride == 1 && inp == c {
                b.add_layers(&format!("{p}.add"), y, x)?
            } else {
                y
            };
            index += 1;
        }
    }
    x = cna(1280, 1, 1, 1, Some(RELU6)).build(&mut b, &format!("features.{index}"), x)?;
    x = b.global_avg_pool("avgpool", x)?;
    x = b.flatten("flatten", x)?;
    x = b.dropout("classifier.0", x, 0.2)?;
    x = b.linear("classifier.1", x, s.classes)?;
    b.finish(x)
}

/// One MobileNetV3 inverted residual: input and expanded channels, output channels, kernel,
/// squeeze-excitation, Hardswish (else ReLU), stride.
struct Bneck(usize, usize, usize, usize, bool, bool, usize);

const LARGE: [Bneck; 15] = [
    Bneck(16, 16, 16, 3, false, false, 1),
    Bneck(16, 64, 24, 3, false, false, 2),
    Bneck(24, 72, 24, 3, false, false, 1),
    Bneck(24, 72, 40, 5, true, false, 2),
    Bneck(40, 120, 40, 5, true, false, 1),
    Bneck(40, 120, 40, 5, true, false, 1),
    Bneck(40, 240, 80, 3, false, true, 2),
    Bneck(80, 200, 80, 3, false, true, 1),
    Bneck(80, 184, 80, 3, false, true, 1),
    Bneck(80, 184, 80, 3, false, true, 1),
    Bneck(80, 480, 112, 3, true, true, 1),
    Bneck(112, 672, 112, 3, true, true, 1),
    Bneck(112, 672, 160, 5, true, true, 2),
    Bneck(160, 960, 160, 5, true, true, 1),
    Bneck(160, 960, 160, 5, true, true, 1),
];

const SMALL: [Bneck; 11] = [
    Bneck(16, 16, 16, 3, true, false, 2),
    Bneck(16, 72, 24, 3, false, false, 2),
    Bneck(24, 88, 24, 3, false, false, 1),
    Bneck(24, 96, 40, 5, true, true, 2),
    Bneck(40, 240, 40, 5, true, true, 1),
    Bneck(40, 240, 40, 5, true, true, 1),
    Bneck(40, 120, 48, 5, true, true, 1),
    Bneck(48, 144, 48, 5, true, true, 1),
    Bneck(48, 288, 96, 5, true, true, 2),
    Bneck(96, 576, 96, 5, true, true, 1),
    Bneck(96, 576, 96, 5, true, true, 1),
];

pub fn mobilenet_v3_large(s: &Spec) -> Result<Graph> {
    mobilenet_v3("mobilenet_v3_large", &LARGE, 1280, s)
}

pub fn mobilenet_v3_small(s: &Spec) -> Result<Graph> {
    mobilenet_v3("mobilenet_v3_small", &SMALL, 1024, s)
}

/// MobileNetV3's Conv2dNormActivation: BatchNorm epsilon 1e-3.
fn cna(f: usize, k: usize, s: usize, g: usize, a: Option<Activation>) -> ConvNormAct {
    ConvNormAct::new(f, k, s, g, a, 1e-3)
}

fn mobilenet_v3(name: &str, blocks: &[Bneck], last_channel: usize, s: &Spec) -> Result<Graph> {
    let (mut b, input) = GraphBuilder::new(name, "input", &[1, 3, s.size, s.size], s.seed);
    let act = |hs: bool| {
        Some(if hs {
            Activation::HardSwish
        } else {
            Activation::Relu
        })
    };
    let mut x = cna(16, 3, 2, 1, act(true)).build(&mut b, "features.0", input)?;
    for (i, Bneck(inp, exp, out, k, se, hs, stride)) in blocks.iter().enumerate() {
        let p = format!("features.{}.block", i + 1);
        x = inverted_residual(
            &mut b,
            &p,
            x,
            (*inp, *exp, *out, *k, *se, *stride),
            act(*hs),
        )?;
    }
    let last = 6 * b.shape(x)[1];
    let p = format!("features.{}", blocks.len() + 1);
    x = cna(last, 1, 1, 1, act(true)).build(&mut b, &p, x)?;
    x = b.global_avg_pool("avgpool", x)?;
    x = b.flatten("flatten", x)?;
    x = b.linear("classifier.0", x, last_channel)?;
    x = b.activation("classifier.1", x, Activation::HardSwish)?;
    x = b.dropout("classifier.2", x, 0.2)?;
    x = b.linear("classifier.3", x, s.classes)?;
    b.finish(x)
}

fn inverted_residual(
    b: &mut GraphBuilder,
    p: &str,
    x: LayerId,
    (inp, exp, out, k, se, stride): (usize, usize, usize, usize, bool, usize),
    act: Option<Activation>,
) -> Result<LayerId> {
    let mut y = x;
    let mut i = 0;
    if exp != inp {
        y = cna(exp, 1, 1, 1, act.clone()).build(b, &format!("{p}.{i}"), y)?;
        i += 1;
    }
    y = cna(exp, k, stride, exp, act).build(b, &format!("{p}.{i}"), y)?;
    i += 1;
    if se {
        let squeeze = make_divisible((exp / 4) as f64, 8);
        y = squeeze_excite(
            b,
            &format!("{p}.{i}"),
            y,
            squeeze,
            Activation::Relu,
            HARD_SIGMOID,
        )?;
        i += 1;
    }
    y = cna(out, 1, 1, 1, None).build(b, &format!("{p}.{i}"), y)?;
    if stride == 1 && inp == out {
        let name = p.trim_end_matches(".block");
        return b.add_layers(&format!("{name}.add"), y, x);
    }
    Ok(y)
}
