//! Every architecture convscope builds, against torchvision on the same weights.
//!
//! The weights are not shipped: `tests/fixtures/make_checkpoints.py` documents a rule that fills
//! each tensor of a state_dict from its key and element index, and this file implements it
//! again. torchvision's logits under the rule, for the rule's input, are the fixtures
//! (`zoo_rule/NAME.logits.npy`, 4 KB each), with its parameter counts (`manifest.json`).
//!
//! Tolerance: |ours - torch| <= 2e-5 * max|torch logits| + 1e-6. Both sides compute in float32
//! with different summation orders (GEMM blocking, oneDNN's Winograd and direct kernels), so
//! their relative difference grows with depth. Measured: 2e-7 (squeezenet1_1) to 4.3e-6
//! (vgg16) of the largest logit, printed by each test (`-- --nocapture`); the bound leaves 5x.

use crate::common::rule::{assert_logits_close, rule_logits, rule_values};

use std::collections::HashMap;

use convscope::imaging::npy::read_npy_f32;
use convscope::import::zoo;
use convscope::model::{Graph, HostTensor, ParamCount, WeightData};
use serde_json::Value;

fn fill_by_rule(graph: &mut Graph) {
    for w in graph.layers.iter_mut().flat_map(|l| l.weights.iter_mut()) {
        let data = rule_values(&w.name, &w.shape);
        w.data = WeightData::Loaded(std::sync::Arc::new(HostTensor {
            shape: w.shape.clone(),
            data,
        }));
    }
}

fn manifest() -> HashMap<String, Value> {
    let text =
        std::fs::read_to_string(crate::common::fixtures().join("zoo_rule/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Builds `name`, checks its counts against torchvision's, runs the rule's input and returns
/// max |ours - torch| / max |torch|.
fn check(name: &str) -> f32 {
    let m = &manifest()[name];
    let arch = zoo::find(name).unwrap();
    let mut graph = arch.build(1000, 0).unwrap();
    let totals = graph.param_totals();
    assert_eq!(
        totals.trainable as u64,
        m["trainable_params"].as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(
        totals.non_trainable as u64,
        m["buffers"].as_u64().unwrap(),
        "{name}"
    );
    let keys = graph
        .layers
        .iter()
        .flat_map(|l| &l.weights)
        .filter(|w| w.count != ParamCount::NotCounted)
        .count();
    assert_eq!(keys as u64, m["float_keys"].as_u64().unwrap(), "{name}");
    let size = m["input_size"].as_u64().unwrap() as usize;
    assert_eq!(arch.input_size, size, "{name}");

    fill_by_rule(&mut graph);
    let ours = rule_logits(&graph, size);
    let path = crate::common::fixtures().join(format!("zoo_rule/{name}.logits.npy"));
    let want = read_npy_f32(&path).unwrap().data;
    assert_logits_close(&format!("{name} vs torchvision"), &ours, &want)
}

fn check_all(names: &[&str]) {
    for name in names {
        check(name);
    }
}

#[test]
fn vgg11_vgg13_and_alexnet_match_torchvision() {
    check_all(&["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "alexnet"]);
}

#[test]
fn vgg16_and_vgg19_match_torchvision() {
    check_all(&["vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]);
}

#[test]
fn resnet_family_matches_torchvision() {
    check_all(&[
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "wide_resnet50_2",
        "resnext50_32x4d",
    ]);
}

#[test]
fn mobile_networks_match_torchvision() {
    check_all(&[
        "mobilenet_v2",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
        "squeezenet1_1",
    ]);
}

#[test]
fn efficientnets_match_torchvision() {
    check_all(&[
        "efficientnet_b0",
        "efficientnet_b1",
        "efficientnet_b2",
        "efficientnet_b3",
        "efficientnet_b4",
    ]);
}

#[test]
fn densenet_and_convnext_match_torchvision() {
    check_all(&["densenet121", "convnext_tiny"]);
}

/// timm's models of the same names: a safetensors checkpoint with timm's keys (filled by the
/// rule under those keys) is opened with no `--arch`, as a user would open
/// `hf:timm/convnext_tiny.fb_in1k`; the architecture must be inferred through timm's names and
/// give timm's logits.
#[test]
fn timm_checkpoints_load_into_the_torchvision_architectures() {
    let text =
        std::fs::read_to_string(crate::common::fixtures().join("zoo_rule/timm_manifest.json"))
            .unwrap();
    let manifest: HashMap<String, Value> = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, m) in manifest.iter().filter(|(_, m)| m.is_object()) {
        let tensors: HashMap<String, HostTensor> = m["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                let key = kv[0].as_str().unwrap().to_string();
                let shape: Vec<usize> = serde_json::from_value(kv[1].clone()).unwrap();
                let data = rule_values(&key, &shape);
                (key, HostTensor { shape, data })
            })
            .collect();
        let path = dir.path().join(format!("{name}.safetensors"));
        let bytes = convscope::import::safetensors::write(&tensors, HashMap::new()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let graph = convscope::import::open(&convscope::import::ModelSource::named(
            path.to_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(&graph.name, name);
        let origin = graph.origin.clone().unwrap();
        let size = m["input_size"].as_u64().unwrap() as usize;
        let ours = rule_logits(&graph, size);
        let path = crate::common::fixtures().join(format!("zoo_rule/timm_{name}.logits.npy"));
        let want = read_npy_f32(&path).unwrap().data;
        assert_logits_close(&format!("timm {name} ({origin})"), &ours, &want);
    }
}

#[test]
fn every_architecture_has_a_fixture() {
    let m = manifest();
    for arch in zoo::ARCHS {
        assert!(m.contains_key(arch.name), "{} has no fixture", arch.name);
    }
    assert_eq!(m.len(), zoo::ARCHS.len());
}
