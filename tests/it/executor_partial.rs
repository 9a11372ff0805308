//! The partial passes (`forward_to`, `output`, `backward_to`) free what they do not keep and
//! stop early; what they return must be bit for bit what the full passes return, on networks
//! with branches (residual adds), a squeeze-excitation product whose gate reads a map twice,
//! and a dropout: EfficientNet-B0, ResNet-18 and MobileNetV2, seeded random weights, at 64x64.
//! The partial passes also run each batch norm and the activation after it as one pass
//! (SiLU, ReLU, ReLU6 here), under each backward rule; and forward, each convolution with its
//! batch norm and activation, and each residual sum with the convolution and batch norm of one
//! branch and the activation after it (ResNet-18), or without one (MobileNetV2, EfficientNet).
//! A pass for gradients (keeping only what the backward rules read), and a reverse pass that
//! frees it as it goes, give every rule's gradients bit for bit too.

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

/// Checks `arch` and gives how many layer outputs a pass that keeps only the scores skipped.
fn check(arch: &str) -> usize {
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
    let before = exec.skipped_outputs();
    same(
        &exec.output(&x, scores).unwrap(),
        full.get(scores),
        &format!("{arch}: output"),
    );
    let skipped = exec.skipped_outputs() - before;

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

    // A pass for gradients keeps the values the backward rules read and the layers asked for,
    // the rest stand-ins that hold NaN: every rule's gradients come out as from a full pass.
    let lean = exec.forward_for_gradients(&x, &[scores, mid]).unwrap();
    same(
        lean.get(mid),
        full.get(mid),
        &format!("{arch}: lean pass, middle layer"),
    );
    let share = lean.kept_bytes() as f64 / full.kept_bytes() as f64;
    println!(
        "{arch}: a pass for gradients holds {:.0}% of a full pass",
        100.0 * share
    );
    for rule in [ReluRule::Normal, ReluRule::Guided, ReluRule::Deconvnet] {
        let all = exec.backward(&full, scores, seed(), rule).unwrap();
        for at in [input, mid] {
            let lean_g = exec
                .backward_to(&lean, scores, seed(), rule, &[at])
                .unwrap();
            same(
                lean_g.get(at).unwrap(),
                all.get(at).unwrap(),
                &format!(
                    "{arch}: from a pass for gradients to layer {}, {rule:?}",
                    at.0
                ),
            );
        }
        // Handed over, the pass is freed as the gradient moves down: nothing a rule still
        // reads may go.
        let owned = exec.forward_for_gradients(&x, &[scores]).unwrap();
        let released = exec
            .backward_to_releasing(owned, scores, seed(), rule, &[input, mid])
            .unwrap();
        for at in [input, mid] {
            same(
                released.get(at).unwrap(),
                all.get(at).unwrap(),
                &format!("{arch}: releasing the pass, layer {}, {rule:?}", at.0),
            );
        }
    }
    skipped
}

// The outputs a pass to the scores skips are counted from the architecture: each batch norm
// run with the convolution before it and the activation after it (1), and each residual sum
// run with the batch norm and convolution of one of its branches (the batch norm, and the sum
// itself where an activation follows it). A pass that did not fuse the sums counts fewer, so
// these pin that the fused passes above really ran (and so were compared).

#[test]
fn partial_passes_equal_full_ones_on_efficientnet_b0() {
    // The stem and the head (1 each); 15 expansions and 16 depthwise layers (1 each); the
    // projections of the 9 blocks with a residual sum and no activation after it (1 each).
    assert_eq!(check("efficientnet_b0"), 1 + 1 + 15 + 16 + 9);
}

#[test]
fn partial_passes_equal_full_ones_on_resnet18() {
    // The stem (1); in each of 8 blocks the first convolution (1) and the sum with its ReLU (2).
    assert_eq!(check("resnet18"), 1 + 8 * (1 + 2));
}

#[test]
fn partial_passes_equal_full_ones_on_mobilenet_v2() {
    // The stem and the last 1x1 convolution (1 each); 16 expansions and 17 depthwise layers
    // (1 each); the projections of the 10 blocks with a residual sum, no ReLU after it (1 each).
    assert_eq!(check("mobilenet_v2"), 1 + 1 + 16 + 17 + 10);
}
