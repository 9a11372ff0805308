//! The partial passes (`forward_to`, `output`, `backward_to`) free what they do not keep and
//! stop early; what they return must be bit for bit what the full passes return, on networks
//! with branches (residual adds), a squeeze-excitation product whose gate reads a map twice,
//! and a dropout: EfficientNet-B0, ResNet-18 and MobileNetV2, seeded random weights, at 64x64.
//! The partial passes also run each batch norm and the activation after it as one pass
//! (SiLU, ReLU, ReLU6 here), under each backward rule, and each residual sum and the ReLU after
//! it (ResNet-18) as one forward pass.

use candle_core::{Device, Tensor};
use convscope::exec::{one_hot_seed, Executor, NoHook, Params, ReluRule};
use convscope::import::zoo;
use convscope::model::{Graph, LayerId};

fn same(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shape");
    let (a, b): (Vec<f32>, Vec<f32>) = (
        a.flatten_all().unwrap().to_vec1().unwrap(),
        b.flatten_all().unwrap().to_vec1().unwrap(),
    );
    assert!(a == b, "{what}: values differ");
}

/// A layer in the middle of the network, with a spatial output.
fn middle(g: &Graph) -> LayerId {
    let spatial: Vec<LayerId> = g
        .ids()
        .filter(|&id| g.layer(id).out_shape.len() == 4 && !g.inputs.contains(&id))
        .collect();
    spatial[spatial.len() / 2]
}

fn check(arch: &str) {
    let g = zoo::find(arch).unwrap().build_at(64, 10, 3).unwrap();
    let params = Params::load(&g, &Device::Cpu).unwrap();
    let exec = Executor::new(&g, &params);
    let x = Tensor::randn(0f32, 1f32, (2, 3, 64, 64), &Device::Cpu).unwrap();
    let (scores, mid, input) = (g.logits_layer(), middle(&g), g.inputs[0]);

    let full = exec.forward(&x, &mut NoHook).unwrap();
    let kept = exec.forward_to(&x, &[mid, scores]).unwrap();
    same(
        &kept[0],
        full.get(mid),
        &format!("{arch}: forward_to, middle layer"),
    );
    same(
        &kept[1],
        full.get(scores),
        &format!("{arch}: forward_to, scores"),
    );
    same(
        &exec.output(&x, scores).unwrap(),
        full.get(scores),
        &format!("{arch}: output"),
    );

    let seed = || one_hot_seed(full.get(scores).dims(), 1, &Device::Cpu).unwrap();
    let all = exec
        .backward(&full, scores, seed(), ReluRule::Normal)
        .unwrap();
    let to_input = exec
        .backward_to(&full, scores, seed(), ReluRule::Normal, &[input])
        .unwrap();
    same(
        to_input.get(input).unwrap(),
        all.get(input).unwrap(),
        &format!("{arch}: backward_to the input"),
    );
    assert!(
        to_input.get(mid).is_none(),
        "{arch}: a gradient not asked for is freed"
    );
    let to_mid = exec
        .backward_to(&full, scores, seed(), ReluRule::Guided, &[mid])
        .unwrap();
    let guided = exec
        .backward(&full, scores, seed(), ReluRule::Guided)
        .unwrap();
    same(
        to_mid.get(mid).unwrap(),
        guided.get(mid).unwrap(),
        &format!("{arch}: backward_to a middle layer"),
    );
    assert!(
        to_mid.get(input).is_none(),
        "{arch}: the pass stops at the earliest kept layer"
    );
    for rule in [ReluRule::Guided, ReluRule::Deconvnet] {
        let to_input = exec
            .backward_to(&full, scores, seed(), rule, &[input])
            .unwrap();
        let all = exec.backward(&full, scores, seed(), rule).unwrap();
        same(
            to_input.get(input).unwrap(),
            all.get(input).unwrap(),
            &format!("{arch}: backward_to the input, {rule:?}"),
        );
    }
}

#[test]
fn partial_passes_equal_full_ones_on_efficientnet_b0() {
    check("efficientnet_b0");
}

#[test]
fn partial_passes_equal_full_ones_on_resnet18() {
    check("resnet18");
}

#[test]
fn partial_passes_equal_full_ones_on_mobilenet_v2() {
    check("mobilenet_v2");
}
