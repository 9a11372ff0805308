//! torchvision's ResNet family: basic blocks (18, 34), bottlenecks (50, 101, 152), and the
//! bottleneck variants wide_resnet50_2 and resnext50_32x4d. timm's ResNets use the same keys.

use super::Spec;
use crate::error::Result;
use crate::model::build::{ConvSpec, GraphBuilder};
use crate::model::{Graph, LayerId};

#[derive(Clone, Copy)]
struct Config {
    name: &'static str,
    layers: [usize; 4],
    bottleneck: bool,
    groups: usize,
    width_per_group: usize,
}

const fn cfg(name: &'static str, layers: [usize; 4], bottleneck: bool) -> Config {
    Config {
        name,
        layers,
        bottleneck,
        groups: 1,
        width_per_group: 64,
    }
}

pub fn resnet18(s: &Spec) -> Result<Graph> {
    resnet(cfg("resnet18", [2, 2, 2, 2], false), s)
}
pub fn resnet34(s: &Spec) -> Result<Graph> {
    resnet(cfg("resnet34", [3, 4, 6, 3], false), s)
}
pub fn resnet50(s: &Spec) -> Result<Graph> {
    resnet(cfg("resnet50", [3, 4, 6, 3], true), s)
}
pub fn resnet101(s: &Spec) -> Result<Graph> {
    resnet(cfg("resnet101", [3, 4, 23, 3], true), s)
}
pub fn resnet152(s: &Spec) -> Result<Graph> {
    resnet(cfg("resnet152", [3, 8, 36, 3], true), s)
}
pub fn wide_resnet50_2(s: &Spec) -> Result<Graph> {
    let c = Config {
        width_per_group: 128,
        ..cfg("wide_resnet50_2", [3, 4, 6, 3], true)
    };
    resnet(c, s)
}
pub fn resnext50_32x4d(s: &Spec) -> Result<Graph> {
    let c = Config {
        groups: 32,
        width_per_group: 4,
        ..cfg("resnext50_32x4d", [3, 4, 6, 3], true)
    };
    resnet(c, s)
}

fn resnet(c: Config, s: &Spec) -> Result<Graph> {
    let (mut b, input) = GraphBuilder::new(c.name, "input", &[1, 3, s.size, s.size], s.seed);
    let mut x = b.conv("conv1", input, ConvSpec::new(64, 7).stride(2))?;
    x = b.batch_norm("bn1", x)?;
    x = b.relu("relu", x)?;
    x = b.max_pool("maxpool", x, 3, 2, 1)?;
    for (stage, (&blocks, &planes)) in c.layers.iter().zip(&[64, 128, 256, 512]).enumerate() {
        for block in 0..blocks {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let p = format!("layer{}.{block}", stage + 1);
            x = if c.bottleneck {
                bottleneck(&mut b, &p, x, planes, stride, c)?
            } else {
                basic(&mut b, &p, x, planes, stride)?
            };
        }
    }
    x = b.global_avg_pool("avgpool", x)?;
    x = b.flatten("flatten", x)?;
    x = b.linear("fc", x, s.classes)?;
    b.finish(x)
}

/// The projection shortcut torchvision adds when the block changes shape.
fn shortcut(
    b: &mut GraphBuilder,
    p: &str,
    x: LayerId,
    out: usize,
    stride: usize,
) -> Result<LayerId> {
    if stride == 1 && b.shape(x)[1] == out {
        return Ok(x);
    }
    let s = b.conv(
        &format!("{p}.downsample.0"),
        x,
        ConvSpec::new(out, 1).stride(stride),
    )?;
    b.batch_norm(&format!("{p}.downsample.1"), s)
}

fn basic(
    b: &mut GraphBuilder,
    p: &str,
    x: LayerId,
    planes: usize,
    stride: usize,
) -> Result<LayerId> {
    let mut y = b.conv(
        &format!("{p}.conv1"),
        x,
        ConvSpec::new(planes, 3).stride(stride),
    )?;
    y = b.batch_norm(&format!("{p}.bn1"), y)?;
    y = b.relu(&format!("{p}.relu"), y)?;
    y = b.conv(&format!("{p}.conv2"), y, ConvSpec::new(planes, 3))?;
    y = b.batch_norm(&format!("{p}.bn2"), y)?;
    let short = shortcut(b, p, x, planes, stride)?;
    let sum = b.add_layers(p, y, short)?;
    b.relu(&format!("{p}.relu_1"), sum)
}

fn bottleneck(
    b: &mut GraphBuilder,
    p: &str,
    x: LayerId,
    planes: usize,
    stride: usize,
    c: Config,
) -> Result<LayerId> {
    let width = planes * c.width_per_group / 64 * c.groups;
    let mut y = b.conv(&format!("{p}.conv1"), x, ConvSpec::new(width, 1))?;
    y = b.batch_norm(&format!("{p}.bn1"), y)?;
    y = b.relu(&format!("{p}.relu"), y)?;
    let spec = ConvSpec::new(width, 3).stride(stride).groups(c.groups);
    y = b.conv(&format!("{p}.conv2"), y, spec)?;
    y = b.batch_norm(&format!("{p}.bn2"), y)?;
    y = b.relu(&format!("{p}.relu_1"), y)?;
    y = b.conv(&format!("{p}.conv3"), y, ConvSpec::new(planes * 4, 1))?;
    y = b.batch_norm(&format!("{p}.bn3"), y)?;
    let short = shortcut(b, p, x, planes * 4, stride)?;
    let sum = b.add_layers(p, y, short)?;
    b.relu(&format!("{p}.relu_2"), sum)
}
