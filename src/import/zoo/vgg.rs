//! torchvision's VGG (configurations A, B, D, E, with and without BatchNorm) and AlexNet.

use super::Spec;
use crate::error::Result;
use crate::model::build::{ConvSpec, GraphBuilder, PoolSpec};
use crate::model::{Graph, LayerId};

/// Convolution widths per block; each block ends with a 2x2 max pool.
const A: [&[usize]; 5] = [&[64], &[128], &[256, 256], &[512, 512], &[512, 512]];
const B: [&[usize]; 5] = [
    &[64, 64],
    &[128, 128],
    &[256, 256],
    &[512, 512],
    &[512, 512],
];
const D: [&[usize]; 5] = [
    &[64, 64],
    &[128, 128],
    &[256, 256, 256],
    &[512, 512, 512],
    &[512, 512, 512],
];
const E: [&[usize]; 5] = [
    &[64, 64],
    &[128, 128],
    &[256, 256, 256, 256],
    &[512, 512, 512, 512],
    &[512, 512, 512, 512],
];

pub fn vgg11(s: &Spec) -> Result<Graph> {
    vgg("vgg11", &A, false, s)
}
pub fn vgg11_bn(s: &Spec) -> Result<Graph> {
    vgg("vgg11_bn", &A, true, s)
}
pub fn vgg13(s: &Spec) -> Result<Graph> {
    vgg("vgg13", &B, false, s)
}
pub fn vgg13_bn(s: &Spec) -> Result<Graph> {
    vgg("vgg13_bn", &B, true, s)
}
pub fn vgg16(s: &Spec) -> Result<Graph> {
    keras_names(vgg("vgg16", &D, false, s)?)
}
pub fn vgg16_bn(s: &Spec) -> Result<Graph> {
    vgg("vgg16_bn", &D, true, s)
}
pub fn vgg19(s: &Spec) -> Result<Graph> {
    keras_names(vgg("vgg19", &E, false, s)?)
}
pub fn vgg19_bn(s: &Spec) -> Result<Graph> {
    vgg("vgg19_bn", &E, true, s)
}

fn vgg(name: &str, blocks: &[&[usize]; 5], bn: bool, s: &Spec) -> Result<Graph> {
    let (mut b, mut x) = GraphBuilder::new(name, "input", &[1, 3, s.size, s.size], s.seed);
    let mut i = 0;
    for widths in blocks {
        for &c in *widths {
            x = b.conv(&format!("features.{i}"), x, ConvSpec::new(c, 3).bias(true))?;
            i += 1;
            if bn {
                x = b.batch_norm(&format!("features.{i}"), x)?;
                i += 1;
            }
            x = b.relu(&format!("features.{i}"), x)?;
            i += 1;
        }
        x = b.max_pool(&format!("features.{i}"), x, 2, 2, 0)?;
        i += 1;
    }
    // AdaptiveAvgPool2d((7, 7)): the identity at 224x224. Below 7x7 torchvision would
    // replicate the map; the small graphs that tests build there skip the pool instead.
    if b.shape(x)[2] >= 7 {
        x = b.adaptive_avg_pool("avgpool", x, 7)?;
    }
    x = b.flatten("flatten", x)?;
    classifier(b, x, s.classes)
}

/// Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear: VGG's and AlexNet's head.
fn classifier(mut b: GraphBuilder, x: LayerId, classes: usize) -> Result<Graph> {
    let mut x = b.linear("classifier.0", x, 4096)?;
    x = b.relu("classifier.1", x)?;
    x = b.dropout("classifier.2", x, 0.5)?;
    x = b.linear("classifier.3", x, 4096)?;
    x = b.relu("classifier.4", x)?;
    x = b.dropout("classifier.5", x, 0.5)?;
    x = b.linear("classifier.6", x, classes)?;
    b.finish(x)
}

/// Keras's names for VGG16 and VGG19 (`block1_conv1` … `block5_pool`, `fc1`, `fc2`,
/// `predictions`), as the Keras applications and most tutorials show them; the torchvision
/// module name stays as the layer's source name and its weights keep torchvision's keys.
fn keras_names(mut g: Graph) -> Result<Graph> {
    let (mut block, mut conv) = (1, 0);
    let mut last_named = String::new();
    let mut fc = 0;
    for layer in &mut g.layers {
        let kind = layer.kind.type_name();
        let name = match kind {
            "InputLayer" | "Flatten" => continue,
            "Conv2D" => {
                conv += 1;
                format!("block{block}_conv{conv}")
            }
            "MaxPooling2D" => {
                let n = format!("block{block}_pool");
                block += 1;
                conv = 0;
                n
            }
            "Dense" => {
                fc += 1;
                match fc {
                    1 | 2 => format!("fc{fc}"),
                    _ => "predictions".to_string(),
                }
            }
            "Activation" => format!("{last_named}_relu"),
            "Dropout" => format!("{last_named}_dropout"),
            _ => continue, // avgpool keeps its name
        };
        if matches!(kind, "Conv2D" | "MaxPooling2D" | "Dense") {
            last_named = name.clone();
        }
        layer.source_name = std::mem::replace(&mut layer.name, name);
    }
    g.validate()?;
    Ok(g)
}

/// torchvision `alexnet` (the one-GPU variant of Krizhevsky 2014).
pub fn alexnet(s: &Spec) -> Result<Graph> {
    let (mut b, mut x) = GraphBuilder::new("alexnet", "input", &[1, 3, s.size, s.size], s.seed);
    let convs = [
        (0, 64, 11, 4, 2, true),
        (3, 192, 5, 1, 2, true),
        (6, 384, 3, 1, 1, false),
        (8, 256, 3, 1, 1, false),
        (10, 256, 3, 1, 1, true),
    ];
    for (i, filters, k, stride, pad, pool) in convs {
        let spec = ConvSpec::new(filters, k).stride(stride).pad(pad).bias(true);
        x = b.conv(&format!("features.{i}"), x, spec)?;
        x = b.relu(&format!("features.{}", i + 1), x)?;
        if pool {
            x = b.pool(&format!("features.{}", i + 2), x, PoolSpec::max(3, 2, 0))?;
        }
    }
    x = b.adaptive_avg_pool("avgpool", x, 6)?;
    x = b.flatten("flatten", x)?;
    let mut x = b.dropout("classifier.0", x, 0.5)?;
    x = b.linear("classifier.1", x, 4096)?;
    x = b.relu("classifier.2", x)?;
    x = b.dropout("classifier.3", x, 0.5)?;
    x = b.linear("classifier.4", x, 4096)?;
    x = b.relu("classifier.5", x)?;
    x = b.linear("classifier.6", x, s.classes)?;
    b.finish(x)
}

/// torchvision `squeezenet1_1`: Fire modules (squeeze 1x1, then 1x1 and 3x3 expands
/// concatenated) and a convolutional classifier.
pub fn squeezenet1_1(s: &Spec) -> Result<Graph> {
    let (mut b, mut x) =
        GraphBuilder::new("squeezenet1_1", "input", &[1, 3, s.size, s.size], s.seed);
    x = b.conv(
        "features.0",
        x,
        ConvSpec::new(64, 3).stride(2).pad(0).bias(true),
    )?;
    x = b.relu("features.1", x)?;
    let pool = PoolSpec::max(3, 2, 0).ceil();
    x = b.pool("features.2", x, pool)?;
    let fires = [
        (3, 16, 64),
        (4, 16, 64),
        (6, 32, 128),
        (7, 32, 128),
        (9, 48, 192),
        (10, 48, 192),
        (11, 64, 256),
        (12, 64, 256),
    ];
    for (i, squeeze, expand) in fires {
        if i == 6 || i == 9 {
            x = b.pool(&format!("features.{}", i - 1), x, pool)?;
        }
        x = fire(&mut b, &format!("features.{i}"), x, squeeze, expand)?;
    }
    x = b.dropout("classifier.0", x, 0.5)?;
    x = b.conv("classifier.1", x, ConvSpec::new(s.classes, 1).bias(true))?;
    x = b.relu("classifier.2", x)?;
    x = b.adaptive_avg_pool("classifier.3", x, 1)?;
    x = b.flatten("flatten", x)?;
    b.finish(x)
}

fn fire(
    b: &mut GraphBuilder,
    p: &str,
    x: LayerId,
    squeeze: usize,
    expand: usize,
) -> Result<LayerId> {
    let conv = |c| ConvSpec::new(c, 1).bias(true);
    let mut s = b.conv(&format!("{p}.squeeze"), x, conv(squeeze))?;
    s = b.relu(&format!("{p}.squeeze_activation"), s)?;
    let e1 = b.conv(&format!("{p}.expand1x1"), s, conv(expand))?;
    let e1 = b.relu(&format!("{p}.expand1x1_activation"), e1)?;
    let e3 = b.conv(
        &format!("{p}.expand3x3"),
        s,
        ConvSpec::new(expand, 3).bias(true),
    )?;
    let e3 = b.relu(&format!("{p}.expand3x3_activation"), e3)?;
    b.concat(&format!("{p}.cat"), vec![e1, e3])
}
