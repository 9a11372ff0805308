//! torchvision's ConvNeXt-Tiny: a patchify stem, blocks of depthwise 7x7 convolution,
//! channels-last LayerNorm, an inverted MLP with GELU and a learned layer scale, and
//! LayerNorm-plus-strided-conv downsampling.

use super::Spec;
use crate::error::Result;
use crate::model::build::{ConvSpec, GraphBuilder};
use crate::model::{Activation, Graph, LayerId};

const EPS: f32 = 1e-6;
const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

pub fn convnext_tiny(s: &Spec) -> Result<Graph> {
    convnext("convnext_tiny", [96, 192, 384, 768], [3, 3, 9, 3], s)
}

fn convnext(name: &str, dims: [usize; 4], depths: [usize; 4], s: &Spec) -> Result<Graph> {
    let (mut b, input) = GraphBuilder::new(name, "input", &[1, 3, s.size, s.size], s.seed);
    let stem = ConvSpec::new(dims[0], 4).stride(4).pad(0).bias(true);
    let mut x = b.conv("features.0.0", input, stem)?;
    x = layer_norm_2d(&mut b, "features.0.1", x)?;
    for stage in 0..4 {
        let index = 2 * stage + 1;
        for block in 0..depths[stage] {
            x = cn_block(&mut b, &format!("features.{index}.{block}"), x)?;
        }
        if stage < 3 {
            let p = format!("features.{}", index + 1);
            x = layer_norm_2d(&mut b, &format!("{p}.0"), x)?;
            let down = ConvSpec::new(dims[stage + 1], 2)
                .stride(2)
                .pad(0)
                .bias(true);
            x = b.conv(&format!("{p}.1"), x, down)?;
        }
    }
    x = b.global_avg_pool("avgpool", x)?;
    x = layer_norm_2d(&mut b, "classifier.0", x)?;
    x = b.flatten("classifier.1", x)?;
    x = b.linear("classifier.2", x, s.classes)?;
    b.finish(x)
}

/// torchvision's `LayerNorm2d`: LayerNorm over channels, run channels-last.
fn layer_norm_2d(b: &mut GraphBuilder, p: &str, x: LayerId) -> Result<LayerId> {
    let mut y = b.transpose(&format!("{p}.to_nhwc"), x, &TO_NHWC)?;
    y = b.layer_norm(p, y, EPS)?;
    b.transpose(&format!("{p}.to_nchw"), y, &TO_NCHW)
}

fn cn_block(b: &mut GraphBuilder, p: &str, x: LayerId) -> Result<LayerId> {
    let dim = b.shape(x)[1];
    let dw = ConvSpec::new(dim, 7).groups(dim).bias(true);
    let mut y = b.conv(&format!("{p}.block.0"), x, dw)?;
    y = b.transpose(&format!("{p}.block.1"), y, &TO_NHWC)?;
    y = b.layer_norm(&format!("{p}.block.2"), y, EPS)?;
    y = b.linear(&format!("{p}.block.3"), y, 4 * dim)?;
    let gelu = Activation::Gelu {
        tanh_approximation: false,
    };
    y = b.activation(&format!("{p}.block.4"), y, gelu)?;
    y = b.linear(&format!("{p}.block.5"), y, dim)?;
    y = b.transpose(&format!("{p}.block.6"), y, &TO_NCHW)?;
    let key = format!("{p}.layer_scale");
    y = b.scale(&key, y, &key, vec![dim, 1, 1])?;
    // Stochastic depth is the identity at inference.
    b.add_layers(&format!("{p}.add"), y, x)
}
