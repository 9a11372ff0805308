//! The building blocks torchvision's mobile networks share, named as torchvision names their
//! modules so that checkpoint keys line up.

use crate::error::Result;
use crate::model::build::{ConvSpec, GraphBuilder};
use crate::model::{Activation, LayerId};

/// torchvision's `_make_divisible`: channels rounded to a multiple of 8, never more than 10%
/// below the requested number.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut rounded = (((v + d / 2.0) as usize) / divisor * divisor).max(divisor);
    if (rounded as f64) < 0.9 * v {
        rounded += divisor;
    }
    rounded
}

/// `Conv2dNormActivation`: `{p}.0` convolution (no bias, "same" padding), `{p}.1`
/// BatchNorm, and `{p}.2` activation when there is one.
pub struct ConvNormAct {
    pub filters: usize,
    pub kernel: usize,
    pub stride: usize,
    pub groups: usize,
    pub activation: Option<Activation>,
    pub bn_eps: f32,
}

impl ConvNormAct {
    pub fn new(
        filters: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        activation: Option<Activation>,
        bn_eps: f32,
    ) -> Self {
        ConvNormAct {
            filters,
            kernel,
            stride,
            groups,
            activation,
            bn_eps,
        }
    }

    pub fn build(&self, b: &mut GraphBuilder, p: &str, x: LayerId) -> Result<LayerId> {
        let spec = ConvSpec::new(self.filters, self.kernel)
            .stride(self.stride)
            .groups(self.groups);
        let mut y = b.conv(&format!("{p}.0"), x, spec)?;
        y = b.batch_norm_eps(&format!("{p}.1"), y, self.bn_eps)?;
        if let Some(a) = &self.activation {
            y = b.activation(&format!("{p}.2"), y, a.clone())?;
        }
        Ok(y)
    }
}

/// `torchvision.ops.SqueezeExcitation`: global average, 1x1 conv down, activation, 1x1 conv
/// up, gate, and the input scaled by the gate (`{p}.scale`, a functional multiply in torch).
pub fn squeeze_excite(
    b: &mut GraphBuilder,
    p: &str,
    x: LayerId,
    squeeze: usize,
    activation: Activation,
    gate: Activation,
) -> Result<LayerId> {
    let channels = b.shape(x)[1];
    let mut s = b.global_avg_pool(&format!("{p}.avgpool"), x)?;
    s = b.conv(&format!("{p}.fc1"), s, ConvSpec::new(squeeze, 1).bias(true))?;
    s = b.activation(&format!("{p}.activation"), s, activation)?;
    s = b.conv(
        &format!("{p}.fc2"),
        s,
        ConvSpec::new(channels, 1).bias(true),
    )?;
    s = b.activation(&format!("{p}.scale_activation"), s, gate)?;
    b.mul_layers(&format!("{p}.scale"), x, s)
}

/// PyTorch's `nn.Hardsigmoid`: relu6(x + 3) / 6.
pub const HARD_SIGMOID: Activation = Activation::HardSigmoid {
    alpha: 1.0 / 6.0,
    beta: 0.5,
};

/// `nn.ReLU6`.
pub const RELU6: Activation = Activation::Clip { min: 0.0, max: 6.0 };

#[cfg(test)]
mod tests {
    #[test]
    fn make_divisible_matches_torchvision() {
        // Values from torchvision's _make_divisible.
        let cases = [
            (32.0, 32),
            (24.0 * 1.4, 32),
            (16.0 * 1.1, 16),
            (320.0 * 1.4, 448),
        ];
        for (v, want) in cases {
            assert_eq!(super::make_divisible(v, 8), want, "{v}");
        }
        assert_eq!(super::make_divisible(3.0, 8), 8);
        assert_eq!(super::make_divisible(83.0, 8), 80);
        assert_eq!(super::make_divisible(10.0, 8), 16);
    }
}
