//! Methods on tiny nets with fixed weights, whose answers are computed by hand in the comments
//! (in the style of captum's `BasicModel_ConvNet_One_Conv`). Exact up to float32 rounding
//! (tolerance 1e-6).

use candle_core::{Device, Tensor};
use convscope::exec::Params;
use convscope::methods::{self, Control, Cx, Objective};
use convscope::model::build::GraphBuilder;
use convscope::model::*;

fn weight(name: &str, role: WeightRole, shape: &[usize], data: &[f32]) -> Weight {
    Weight::loaded(name, role, shape, data.to_vec(), ParamCount::Trainable)
}

fn dense(units: usize, inputs: usize) -> LayerKind {
    LayerKind::Linear(LinearConfig {
        units,
        in_features: inputs,
        use_bias: false,
        weight_out_in: true,
        alpha: 1.0,
        beta: 1.0,
    })
}

/// x (2 values) -> z = W1 x, W1 = [[1, 1], [1, -1]] -> relu -> y = W2 h, W2 = [[1, -1], [1, 1]].
fn two_layer_relu() -> Graph {
    let (mut b, x) = GraphBuilder::new("tiny", "x", &[1, 2], 0);
    let w1 = weight(
        "fc1.weight",
        WeightRole::Kernel,
        &[2, 2],
        &[1.0, 1.0, 1.0, -1.0],
    );
    let z = b.add("fc1", dense(2, 2), vec![x], vec![w1]).unwrap();
    let h = b.relu("relu", z).unwrap();
    let w2 = weight(
        "fc2.weight",
        WeightRole::Kernel,
        &[2, 2],
        &[1.0, -1.0, 1.0, 1.0],
    );
    let y = b.add("fc2", dense(2, 2), vec![h], vec![w2]).unwrap();
    b.finish(y).unwrap()
}

fn run(
    graph: &Graph,
    method: &str,
    x: &[f32],
    shape: &[usize],
    target: usize,
    layer: Option<&str>,
) -> Vec<f32> {
    let params = Params::load(graph, &Device::Cpu).unwrap();
    let mut cx = Cx::new(
        graph,
        &params,
        Tensor::from_slice(x, shape, &Device::Cpu).unwrap(),
        Objective::Class {
            scores: graph.logits_layer(),
            class: target,
        },
        Control::default(),
    );
    cx.layer = layer.map(|l| graph.find(l).unwrap());
    cx.batch = 10;
    let out = methods::by_id(method).unwrap().run(&mut cx).unwrap();
    out.artifact.data().to_vec()
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
    }
}

#[test]
fn guided_differs_from_vanilla_where_the_gradient_is_negative() {
    // x = (2, 1): z = (3, 1), both active. Class 0: dy/dh = (1, -1).
    // vanilla: W1ᵀ (1, -1) = (0, 2); guided and deconvnet zero the negative gradient:
    // W1ᵀ (1, 0) = (1, 1). input×gradient = x · (0, 2) = (0, 2).
    let g = two_layer_relu();
    close(
        &run(&g, "saliency", &[2.0, 1.0], &[1, 2], 0, None),
        &[0.0, 2.0],
    );
    close(
        &run(&g, "guided", &[2.0, 1.0], &[1, 2], 0, None),
        &[1.0, 1.0],
    );
    close(
        &run(&g, "deconvnet", &[2.0, 1.0], &[1, 2], 0, None),
        &[1.0, 1.0],
    );
    close(
        &run(&g, "inputxgrad", &[2.0, 1.0], &[1, 2], 0, None),
        &[0.0, 2.0],
    );
}

#[test]
fn deconvnet_ignores_the_forward_mask_guided_keeps_it() {
    // x = (1, 2): z = (3, -1), the second unit inactive. Class 1: dy/dh = (1, 1).
    // vanilla and guided: (1, 1)·[z>0] = (1, 0) -> W1ᵀ (1, 0) = (1, 1).
    // deconvnet: relu((1, 1)) = (1, 1) -> W1ᵀ (1, 1) = (2, 0).
    let g = two_layer_relu();
    close(
        &run(&g, "saliency", &[1.0, 2.0], &[1, 2], 1, None),
        &[1.0, 1.0],
    );
    close(
        &run(&g, "guided", &[1.0, 2.0], &[1, 2], 1, None),
        &[1.0, 1.0],
    );
    close(
        &run(&g, "deconvnet", &[1.0, 2.0], &[1, 2], 1, None),
        &[2.0, 0.0],
    );
}

#[test]
fn integrated_gradients_on_a_linear_path() {
    // x = (2, 1), zero baseline, class 0: along αx, z = α(3, 1) stays active, so the gradient is
    // (0, 2) on the whole open path and IG = x · (0, 2) = (0, 2); Σ = 2 = F(x) − F(0).
    let g = two_layer_relu();
    close(&run(&g, "ig", &[2.0, 1.0], &[1, 2], 0, None), &[0.0, 2.0]);
}

/// x [1,1,2,2] -> 1x1 conv with 2 filters (weights 1 and −1) -> relu -> global average pool ->
/// flatten -> identity dense. Class 0's score is mean(relu(x)).
fn one_conv() -> Graph {
    let (mut b, x) = GraphBuilder::new("one_conv", "x", &[1, 1, 2, 2], 0);
    let conv = LayerKind::Conv2d(Conv2dConfig {
        filters: 2,
        in_channels: 1,
        window: Window {
            kernel: [1, 1],
            strides: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
            mode: PaddingMode::Explicit,
        },
        groups: 1,
        use_bias: false,
    });
    let w = weight(
        "conv.weight",
        WeightRole::Kernel,
        &[2, 1, 1, 1],
        &[1.0, -1.0],
    );
    let c = b.add("conv", conv, vec![x], vec![w]).unwrap();
    let r = b.relu("relu", c).unwrap();
    let p = b.global_avg_pool("pool", r).unwrap();
    let f = b.flatten("flatten", p).unwrap();
    let w = weight(
        "fc.weight",
        WeightRole::Kernel,
        &[2, 2],
        &[1.0, 0.0, 0.0, 1.0],
    );
    let y = b.add("fc", dense(2, 2), vec![f], vec![w]).unwrap();
    b.finish(y).unwrap()
}

#[test]
fn cam_family_on_one_conv() {
    // x = [[1, 2], [3, 4]]: A₀ = x, A₁ = relu(−x) = 0. For class 0, G₀ = 1/4 everywhere, G₁ = 0.
    // Grad-CAM: w = (1/4, 0) -> x/4. HiResCAM: Σ G·A = x/4. XGrad-CAM: w₀ = Σ(G₀A₀)/ΣA₀ = 1/4.
    // LayerCAM: relu(G)·A = x/4.
    // Grad-CAM++: α = G²/(2G² + ΣA·G³ + ε) = (1/16)/(2/16 + 10/64 + 1e-6) ≈ 2/9,
    // w₀ = Σ_hw α·G₀ = 4·α·(1/4) = α -> α·x.
    let g = one_conv();
    let x = [1.0, 2.0, 3.0, 4.0];
    let quarter: Vec<f32> = x.iter().map(|v| v / 4.0).collect();
    for m in ["gradcam", "hirescam", "xgradcam", "layercam"] {
        close(&run(&g, m, &x, &[1, 1, 2, 2], 0, Some("relu")), &quarter);
    }
    let alpha = (1.0 / 16.0) / (2.0 / 16.0 + 10.0 / 64.0 + 1e-6);
    let pp: Vec<f32> = x.iter().map(|v| v * alpha).collect();
    close(
        &run(&g, "gradcampp", &x, &[1, 1, 2, 2], 0, Some("relu")),
        &pp,
    );
    // Class 1 only sees A₁ = 0: an all-zero map, which render reports instead of normalizing.
    close(
        &run(&g, "gradcam", &x, &[1, 1, 2, 2], 1, Some("relu")),
        &[0.0; 4],
    );
}

#[test]
fn guided_gradcam_is_guided_times_the_upsampled_map() {
    // Same net: guided backprop of class 0 at the input is 1/4 where x > 0 (all of it), times the
    // Grad-CAM map x/4 at the same resolution: x/16.
    let g = one_conv();
    let x = [1.0, 2.0, 3.0, 4.0];
    let want: Vec<f32> = x.iter().map(|v| v / 16.0).collect();
    close(
        &run(&g, "guided-gradcam", &x, &[1, 1, 2, 2], 0, Some("relu")),
        &want,
    );
}

#[test]
fn cam_methods_refuse_non_spatial_layers() {
    let g = one_conv();
    let params = Params::load(&g, &Device::Cpu).unwrap();
    let mut cx = Cx::new(
        &g,
        &params,
        Tensor::from_slice(&[1f32, 2.0, 3.0, 4.0], (1, 1, 2, 2), &Device::Cpu).unwrap(),
        Objective::Class {
            scores: g.logits_layer(),
            class: 0,
        },
        Control::default(),
    );
    cx.layer = Some(g.find("pool").unwrap());
    cx.batch = 10;
    let err = methods::by_id("gradcam")
        .unwrap()
        .run(&mut cx)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a spatial feature map") && err.contains("relu"),
        "{err}"
    );
    assert!(matches!(
        methods::by_id("nope").map(|m| m.info().id),
        Err(e) if e.to_string().contains("gradcam, gradcampp")
    ));
}
