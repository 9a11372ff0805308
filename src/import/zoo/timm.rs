//! timm's parameter names, for the architectures where timm's module tree computes the same
//! network under other names: ConvNeXt, EfficientNet B0–B4 (timm's non-`tf_` variants) and
//! VGG (whose classifier timm holds as convolutions). timm's ResNets, ResNeXts, wide ResNets
//! and DenseNet-121 already use torchvision's keys. timm's MobileNetV3 is not here: it uses
//! BatchNorm epsilon 1e-5 where torchvision's uses 1e-3, so its weights do not give timm's
//! outputs in torchvision's network.
//!
//! Shapes that differ only by a reshape (ConvNeXt's `gamma` `[C]` for `layer_scale`
//! `[C, 1, 1]`, VGG's `fc1` as a 7x7 convolution) are accepted by the loader.

/// The torchvision key for a timm key of `arch`, or None when the key is not timm's.
pub fn to_torchvision(arch: &str, key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    if arch.starts_with("convnext") {
        convnext(&parts)
    } else if arch.starts_with("efficientnet") {
        efficientnet(&parts)
    } else if arch.starts_with("vgg") {
        vgg(&parts)
    } else {
        None
    }
}

fn join(head: String, tail: &[&str]) -> Option<String> {
    Some(
        std::iter::once(head.as_str())
            .chain(tail.iter().copied())
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn index(s: &str) -> Option<usize> {
    s.parse().ok()
}

fn convnext(p: &[&str]) -> Option<String> {
    match p {
        ["stem", i @ ("0" | "1"), rest @ ..] => join(format!("features.0.{i}"), rest),
        ["stages", s, "downsample", j, rest @ ..] => {
            join(format!("features.{}.{j}", 2 * index(s)?), rest)
        }
        ["stages", s, "blocks", b, rest @ ..] => {
            let block = format!("features.{}.{b}", 2 * index(s)? + 1);
            match rest {
                ["gamma"] => Some(format!("{block}.layer_scale")),
                ["conv_dw", t @ ..] => join(format!("{block}.block.0"), t),
                ["norm", t @ ..] => join(format!("{block}.block.2"), t),
                ["mlp", "fc1", t @ ..] => join(format!("{block}.block.3"), t),
                ["mlp", "fc2", t @ ..] => join(format!("{block}.block.5"), t),
                _ => None,
            }
        }
        ["head", "norm", rest @ ..] => join("classifier.0".into(), rest),
        ["head", "fc", rest @ ..] => join("classifier.2".into(), rest),
        _ => None,
    }
}

fn efficientnet(p: &[&str]) -> Option<String> {
    match p {
        ["conv_stem", t] => join("features.0.0".into(), &[t]),
        ["bn1", t] => join("features.0.1".into(), &[t]),
        ["conv_head", t] => join("features.8.0".into(), &[t]),
        ["bn2", t] => join("features.8.1".into(), &[t]),
        ["classifier", t] => join("classifier.1".into(), &[t]),
        ["blocks", s, i, rest @ ..] => {
            let stage = index(s)?;
            let block = format!("features.{}.{i}.block", stage + 1);
            // Stage 0 is timm's DepthwiseSeparableConv (no expansion): dw, SE, project.
            let (first, rest) = rest.split_first()?;
            let local = match (stage == 0, *first, rest) {
                (true, "conv_dw", _) => "0.0",
                (true, "bn1", _) => "0.1",
                (true, "conv_pw", _) => "2.0",
                (true, "bn2", _) => "2.1",
                (false, "conv_pw", _) => "0.0",
                (false, "bn1", _) => "0.1",
                (false, "conv_dw", _) => "1.0",
                (false, "bn2", _) => "1.1",
                (false, "conv_pwl", _) => "3.0",
                (false, "bn3", _) => "3.1",
                (dw, "se", [conv, t @ ..]) => {
                    let se = if dw { 1 } else { 2 };
                    let fc = match *conv {
                        "conv_reduce" => "fc1",
                        "conv_expand" => "fc2",
                        _ => return None,
                    };
                    return join(format!("{block}.{se}.{fc}"), t);
                }
                _ => return None,
            };
            join(format!("{block}.{local}"), rest)
        }
        _ => None,
    }
}

fn vgg(p: &[&str]) -> Option<String> {
    match p {
        ["pre_logits", "fc1", t] => join("classifier.0".into(), &[t]),
        ["pre_logits", "fc2", t] => join("classifier.3".into(), &[t]),
        ["head", "fc", t] => join("classifier.6".into(), &[t]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::to_torchvision;

    #[test]
    fn timm_keys_map_to_torchvision_modules() {
        let cases = [
            ("convnext_tiny", "stem.1.bias", "features.0.1.bias"),
            (
                "convnext_tiny",
                "stages.2.downsample.1.weight",
                "features.4.1.weight",
            ),
            (
                "convnext_tiny",
                "stages.2.blocks.7.mlp.fc2.bias",
                "features.5.7.block.5.bias",
            ),
            (
                "convnext_tiny",
                "stages.0.blocks.0.gamma",
                "features.1.0.layer_scale",
            ),
            ("convnext_tiny", "head.norm.weight", "classifier.0.weight"),
            (
                "efficientnet_b0",
                "blocks.0.0.se.conv_expand.bias",
                "features.1.0.block.1.fc2.bias",
            ),
            (
                "efficientnet_b0",
                "blocks.0.0.bn2.running_var",
                "features.1.0.block.2.1.running_var",
            ),
            (
                "efficientnet_b3",
                "blocks.5.3.conv_pwl.weight",
                "features.6.3.block.3.0.weight",
            ),
            (
                "efficientnet_b3",
                "blocks.5.3.se.conv_reduce.weight",
                "features.6.3.block.2.fc1.weight",
            ),
            ("efficientnet_b0", "bn2.weight", "features.8.1.weight"),
            ("efficientnet_b0", "classifier.bias", "classifier.1.bias"),
            ("vgg16", "pre_logits.fc1.weight", "classifier.0.weight"),
        ];
        for (arch, timm, tv) in cases {
            assert_eq!(
                to_torchvision(arch, timm).as_deref(),
                Some(tv),
                "{arch} {timm}"
            );
        }
        for (arch, key) in [
            ("efficientnet_b0", "features.0.0.weight"),
            ("efficientnet_b0", "classifier.1.weight"),
            ("resnet50", "fc.weight"),
            ("convnext_tiny", "features.1.0.block.0.weight"),
        ] {
            assert_eq!(to_torchvision(arch, key), None, "{arch} {key}");
        }
    }
}
