//! A second, independent implementation of the same networks: candle-transformers' ResNets,
//! ConvNeXt and VGG (a dev-dependency only; convscope never runs them) load the same rule
//! weights under their own names, and their logits must equal ours.
//!
//! candle-transformers' ResNets use torchvision's keys; its ConvNeXt and VGG use timm's, which
//! convscope translates, so the checkpoint convscope opens here has timm's keys too. Its
//! EfficientNet is the TensorFlow variant ("same" padding, BatchNorm epsilon 1e-3), a different
//! network from torchvision's, so it is not compared. Its VGG ends in a ReLU after the last
//! dense layer (`apply(&lin3)?.relu()` in `vgg.rs`), so for VGG the comparison is with relu of
//! our logits.
//!
//! Tolerance as in `zoo_reference.rs`: 2e-5 of the largest logit (both are float32 on candle's
//! CPU backend or our kernels, summing in different orders).

use std::collections::HashMap;

use crate::common::rule::{assert_logits_close, rule_input, rule_logits, rule_tensors};
use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{convnext, resnet, vgg};
use convscope::import::{open, zoo, ModelSource};
use serde_json::Value;

/// `(key, shape)` of every float tensor, from the timm manifest.
fn timm_keys(name: &str) -> Vec<(String, Vec<usize>)> {
    let path = crate::common::fixtures().join("zoo_rule/timm_manifest.json");
    let m: HashMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    m[name]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let shape = serde_json::from_value(kv[1].clone()).unwrap();
            (kv[0].as_str().unwrap().to_string(), shape)
        })
        .collect()
}

/// torchvision's keys, as convscope's graph names its weights (checked against torchvision in
/// `zoo_reference.rs`).
fn torchvision_keys(name: &str) -> Vec<(String, Vec<usize>)> {
    let graph = zoo::find(name).unwrap().build(1000, 0).unwrap();
    graph
        .layers
        .iter()
        .flat_map(|l| &l.weights)
        .map(|w| (w.name.clone(), w.shape.clone()))
        .collect()
}

/// Writes the rule's tensors under `keys` as a safetensors file, opens it the way a user would
/// (architecture inferred), and runs the rule's input; also returns candle's VarBuilder over
/// the same tensors.
fn ours_and_vars(name: &str, keys: &[(String, Vec<usize>)]) -> (Vec<f32>, VarBuilder<'static>) {
    let tensors = rule_tensors(keys);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.safetensors"));
    let bytes = convscope::import::safetensors::write(&tensors, HashMap::new()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let graph = open(&ModelSource::named(path.to_str().unwrap())).unwrap();
    assert_eq!(graph.name, name);
    let logits = rule_logits(&graph, 224);
    let vars: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, t)| {
            let v = Tensor::from_vec(t.data, t.shape, &Device::Cpu).unwrap();
            (k, v)
        })
        .collect();
    (
        logits,
        VarBuilder::from_tensors(vars, DType::F32, &Device::Cpu),
    )
}

fn input() -> Tensor {
    Tensor::from_vec(rule_input(224), (1, 3, 224, 224), &Device::Cpu).unwrap()
}

fn assert_close(name: &str, ours: &[f32], candle: &Tensor) {
    let theirs = candle.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_logits_close(&format!("{name} vs candle-transformers"), ours, &theirs);
}

#[test]
fn resnets_equal_candle_transformers() {
    let (ours, vb) = ours_and_vars("resnet18", &torchvision_keys("resnet18"));
    let model = resnet::resnet18(1000, vb).unwrap();
    assert_close("resnet18", &ours, &model.forward(&input()).unwrap());
    let (ours, vb) = ours_and_vars("resnet50", &torchvision_keys("resnet50"));
    let model = resnet::resnet50(1000, vb).unwrap();
    assert_close("resnet50", &ours, &model.forward(&input()).unwrap());
}

#[test]
fn convnext_tiny_equals_candle_transformers() {
    let (ours, vb) = ours_and_vars("convnext_tiny", &timm_keys("convnext_tiny"));
    let model = convnext::convnext(&convnext::Config::tiny(), 1000, vb).unwrap();
    assert_close("convnext_tiny", &ours, &model.forward(&input()).unwrap());
}

#[test]
fn vgg16_equals_candle_transformers_up_to_its_final_relu() {
    let (ours, vb) = ours_and_vars("vgg16", &timm_keys("vgg16"));
    let model = vgg::Vgg::new(vb, vgg::Models::Vgg16).unwrap();
    let x = input().squeeze(0).unwrap();
    let theirs = model.forward_t(&x, false).unwrap();
    let ours: Vec<f32> = ours.iter().map(|v| v.max(0.0)).collect();
    assert_close("vgg16", &ours, &theirs);
}
