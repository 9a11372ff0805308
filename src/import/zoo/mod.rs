//! Architectures convscope builds itself, as graphs with torchvision's module names, so that
//! torchvision, timm (where the keys agree) and fine-tuned checkpoints load by name. Built
//! without a checkpoint, their weights are seeded random and drawn only when read.

mod blocks;
mod convnext;
mod densenet;
mod efficientnet;
mod infer;
mod load;
mod mobilenet;
mod resnet;
mod timm;
mod vgg;

pub use infer::infer;
pub use load::{load, Loaded};

use crate::error::{Error, Result};
use crate::model::graph::closest_names;
use crate::model::Graph;

/// The picture zoo models open on when no --image is given: a tabby cat (ImageNet classes
/// 281-285), CC0, from scikit-image (see demo/images/LICENSES.md).
pub const SAMPLE: (&str, &[u8]) = (
    "chelsea.png",
    include_bytes!("../../../demo/images/chelsea.png"),
);

/// What to build: class count, input side, seed of the random weights.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub classes: usize,
    pub size: usize,
    pub seed: u64,
}

/// One architecture and torchvision's evaluation preset for it (resize the shorter side to
/// `resize_size`, centre-crop `input_size`, ImageNet mean and std).
pub struct Arch {
    pub name: &'static str,
    pub input_size: usize,
    pub resize_size: usize,
    build: fn(&Spec) -> Result<Graph>,
}

impl Arch {
    /// The graph at the preset input size.
    pub fn build(&self, classes: usize, seed: u64) -> Result<Graph> {
        if classes == 0 {
            return Err(Error::Usage("--num-classes must be at least 1".into()));
        }
        let mut g = (self.build)(&Spec {
            classes,
            size: self.input_size,
            seed,
        })?;
        g.sample_image = Some(SAMPLE);
        g.crop_resize = Some(self.resize_size);
        Ok(g)
    }

    /// The graph at another input size (tests and benchmarks use small ones).
    pub fn build_at(&self, size: usize, classes: usize, seed: u64) -> Result<Graph> {
        (self.build)(&Spec {
            classes,
            size,
            seed,
        })
    }
}

const fn arch(
    name: &'static str,
    input_size: usize,
    resize_size: usize,
    build: fn(&Spec) -> Result<Graph>,
) -> Arch {
    Arch {
        name,
        input_size,
        resize_size,
        build,
    }
}

/// Every architecture, in the order `--arch` lists them.
pub const ARCHS: &[Arch] = &[
    arch("vgg11", 224, 256, vgg::vgg11),
    arch("vgg11_bn", 224, 256, vgg::vgg11_bn),
    arch("vgg13", 224, 256, vgg::vgg13),
    arch("vgg13_bn", 224, 256, vgg::vgg13_bn),
    arch("vgg16", 224, 256, vgg::vgg16),
    arch("vgg16_bn", 224, 256, vgg::vgg16_bn),
    arch("vgg19", 224, 256, vgg::vgg19),
    arch("vgg19_bn", 224, 256, vgg::vgg19_bn),
    arch("alexnet", 224, 256, vgg::alexnet),
    arch("resnet18", 224, 256, resnet::resnet18),
    arch("resnet34", 224, 256, resnet::resnet34),
    arch("resnet50", 224, 256, resnet::resnet50),
    arch("resnet101", 224, 256, resnet::resnet101),
    arch("resnet152", 224, 256, resnet::resnet152),
    arch("wide_resnet50_2", 224, 256, resnet::wide_resnet50_2),
    arch("resnext50_32x4d", 224, 256, resnet::resnext50_32x4d),
    arch("mobilenet_v2", 224, 256, mobilenet::mobilenet_v2),
    arch(
        "mobilenet_v3_small",
        224,
        256,
        mobilenet::mobilenet_v3_small,
    ),
    arch(
        "mobilenet_v3_large",
        224,
        256,
        mobilenet::mobilenet_v3_large,
    ),
    arch("efficientnet_b0", 224, 256, efficientnet::efficientnet_b0),
    arch("efficientnet_b1", 240, 256, efficientnet::efficientnet_b1),
    arch("efficientnet_b2", 288, 288, efficientnet::efficientnet_b2),
    arch("efficientnet_b3", 300, 320, efficientnet::efficientnet_b3),
    arch("efficientnet_b4", 380, 384, efficientnet::efficientnet_b4),
    arch("densenet121", 224, 256, densenet::densenet121),
    arch("squeezenet1_1", 224, 256, vgg::squeezenet1_1),
    arch("convnext_tiny", 224, 236, convnext::convnext_tiny),
];

/// Looks an architecture up by name; an unknown name lists the nearest and all names.
pub fn find(name: &str) -> Result<&'static Arch> {
    // `ResNet-50`, `resnet_50` and `resnet50` name the same thing.
    let key = |s: &str| s.to_ascii_lowercase().replace(['-', '_'], "");
    if let Some(a) = ARCHS.iter().find(|a| key(a.name) == key(name)) {
        return Ok(a);
    }
    let wanted = name.to_ascii_lowercase();
    let near = closest_names(&wanted, ARCHS.iter().map(|a| a.name), 3);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("did you mean {}? ", near.join(", "))
    };
    Err(Error::Usage(format!(
        "unknown architecture '{name}'; {hint}convscope builds: {}",
        names()
    )))
}

pub fn names() -> String {
    ARCHS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
}

/// torchvision `vgg16` at `size`x`size` with seeded random weights (benchmarks, tests).
pub fn vgg16(size: usize, seed: u64) -> Result<Graph> {
    find("vgg16")?.build_at(size, 1000, seed)
}

/// torchvision `resnet50` at `size`x`size` with seeded random weights (benchmarks, tests).
pub fn resnet50(size: usize, seed: u64) -> Result<Graph> {
    find("resnet50")?.build_at(size, 1000, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_suggest_the_nearest() {
        let e = find("resnet5").err().unwrap().to_string();
        assert!(e.contains("did you mean resnet50"), "{e}");
        assert!(find("ResNet-50").is_ok());
    }

    #[test]
    fn vgg16_and_vgg19_carry_keras_names_and_torchvision_keys() {
        let g = find("vgg16").unwrap().build(1000, 0).unwrap();
        let conv = g.layer(g.find("block5_conv1").unwrap());
        assert_eq!(conv.source_name, "features.24");
        assert_eq!(conv.weights[0].name, "features.24.weight");
        assert_eq!(conv.out_shape, vec![1, 512, 14, 14]);
        for name in ["block1_pool", "block5_pool", "fc1", "fc2", "predictions"] {
            g.find(name).unwrap();
        }
        let g = find("vgg19").unwrap().build(10, 0).unwrap();
        let last = g.layer(g.find("predictions").unwrap());
        assert_eq!(last.out_shape, vec![1, 10]);
        assert_eq!(last.source_name, "classifier.6");
    }
}
