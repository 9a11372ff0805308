//! Architectures convscope can build itself, with torchvision's layer names, so that their
//! weights can be loaded by name (the checkpoint work builds on this) and the benchmarks have
//! real networks without any download. Weights here are seeded random.

use crate::error::Result;
use crate::model::build::{ConvSpec, GraphBuilder};
use crate::model::{Graph, LayerId, LayerKind, PaddingMode, PoolConfig, Window};

/// torchvision `vgg16` (configuration D), at `size`x`size` input.
pub fn vgg16(size: usize, seed: u64) -> Result<Graph> {
    let (mut b, mut x) = GraphBuilder::new("vgg16", "input", &[1, 3, size, size], seed);
    let cfg: [usize; 18] = [
        64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
    ];
    let mut i = 0;
    for &c in &cfg {
        if c == 0 {
            x = b.max_pool(&format!("features.{i}"), x, 2, 2, 0)?;
            i += 1;
        } else {
            x = b.conv(&format!("features.{i}"), x, ConvSpec::new(c, 3).bias(true))?;
            x = b.relu(&format!("features.{}", i + 1), x)?;
            i += 2;
        }
    }
    // AdaptiveAvgPool2d((7, 7)) is the identity at 224x224, an average window elsewhere.
    let side = b.shape(x)[2];
    let k = side / 7;
    if k >= 1 && side % 7 == 0 {
        let window = Window {
            kernel: [k, k],
            strides: [k, k],
            dilation: [1, 1],
            pads: [0; 4],
            mode: PaddingMode::Explicit,
        };
        let pool = PoolConfig {
            window,
            ceil_mode: false,
            count_include_pad: false,
        };
        x = b.add("avgpool", LayerKind::AvgPool2d(pool), vec![x], vec![])?;
    }
    x = b.flatten("flatten", x)?;
    x = b.linear("classifier.0", x, 4096)?;
    x = b.relu("classifier.1", x)?;
    x = b.linear("classifier.3", x, 4096)?;
    x = b.relu("classifier.4", x)?;
    x = b.linear("classifier.6", x, 1000)?;
    b.finish(x)
}

/// torchvision `resnet50` (bottleneck blocks [3, 4, 6, 3]).
pub fn resnet50(size: usize, seed: u64) -> Result<Graph> {
    let (mut b, input) = GraphBuilder::new("resnet50", "input", &[1, 3, size, size], seed);
    let mut x = b.conv("conv1", input, ConvSpec::new(64, 7).stride(2))?;
    x = b.batch_norm("bn1", x)?;
    x = b.relu("relu", x)?;
    x = b.max_pool("maxpool", x, 3, 2, 1)?;
    for (stage, (&blocks, &width)) in [3, 4, 6, 3].iter().zip(&[64, 128, 256, 512]).enumerate() {
        for block in 0..blocks {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            x = bottleneck(
                &mut b,
                &format!("layer{}.{block}", stage + 1),
                x,
                width,
                stride,
                block == 0,
            )?;
        }
    }
    x = b.global_avg_pool("avgpool", x)?;
    x = b.flatten("flatten", x)?;
    x = b.linear("fc", x, 1000)?;
    b.finish(x)
}

fn bottleneck(
    b: &mut GraphBuilder,
    p: &str,
    x: LayerId,
    width: usize,
    stride: usize,
    project: bool,
) -> Result<LayerId> {
    let mut y = b.conv(&format!("{p}.conv1"), x, ConvSpec::new(width, 1))?;
    y = b.batch_norm(&format!("{p}.bn1"), y)?;
    y = b.relu(&format!("{p}.relu"), y)?;
    y = b.conv(
        &format!("{p}.conv2"),
        y,
        ConvSpec::new(width, 3).stride(stride),
    )?;
    y = b.batch_norm(&format!("{p}.bn2"), y)?;
    y = b.relu(&format!("{p}.relu_1"), y)?;
    y = b.conv(&format!("{p}.conv3"), y, ConvSpec::new(width * 4, 1))?;
    y = b.batch_norm(&format!("{p}.bn3"), y)?;
    let shortcut = if project {
        let spec = ConvSpec::new(width * 4, 1).stride(stride);
        let s = b.conv(&format!("{p}.downsample.0"), x, spec)?;
        b.batch_norm(&format!("{p}.downsample.1"), s)?
    } else {
        x
    };
    let sum = b.add_layers(p, y, shortcut)?;
    b.relu(&format!("{p}.relu_2"), sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torchvision's own counts: sum(p.numel() for p in model.parameters()).
    #[test]
    fn parameter_counts_match_torchvision() {
        let vgg = vgg16(224, 0).unwrap();
        assert_eq!(vgg.param_totals().trainable, 138_357_544);
        assert_eq!(vgg.layer(vgg.outputs[0]).out_shape, vec![1, 1000]);
        let r = resnet50(224, 0).unwrap();
        assert_eq!(r.param_totals().trainable, 25_557_032);
        assert_eq!(
            r.layer(r.find("layer4.2.relu_2").unwrap()).out_shape,
            vec![1, 2048, 7, 7]
        );
    }
}
