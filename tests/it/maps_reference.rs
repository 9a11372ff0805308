//! Every `render` method against its reference implementation (captum 0.9, pytorch-grad-cam
//! 1.5.7) on the fixture nets; `tests/fixtures/make_fixtures.py` (`make_maps`) wrote the
//! references with the same weights and inputs.
//!
//! Tolerances, relative to the reference's largest magnitude (as in onnx_reference.rs):
//! - 1e-3 for gradients, CAMs, IG and SmoothGrad: one forward and one reverse pass in float32,
//!   summed in a different order than PyTorch's kernels.
//! - 1e-2 for VarGrad: E[g²] − E[g]² cancels most of its digits.
//! - 1e-3 absolute for pytorch-grad-cam's scaled maps (values in [0, 1]).
//! - 1e-3 for Score-CAM (pytorch-grad-cam `ScoreCAM`'s raw map: softmax over masked-input scores).
//! - 1e-3 for occlusion (captum `Occlusion`, windows over (C, H, W)): the manifest's window, and
//!   its `cases`: the last window cut at the edge, one channel at a time (baseline 0.25), and a
//!   non-square window and stride that also slides over the channels.
//!
//! Guided backprop, deconvnet and guided Grad-CAM are compared on the nets whose rectifiers are
//! all ReLU: captum overrides only `nn.ReLU`, convscope every rectifier (see methods/guided.rs).

use crate::common::{device, fixtures, npy_tensor, rel_max_err};
use candle_core::{Device, Tensor};
use convscope::exec::{Params, ReluRule};
use convscope::imaging::heatmap::Heatmap;
use convscope::import::{onnx, zoo};
use convscope::methods::{
    self, Artifact, Baseline, Control, Cx, IgMethod, IgOptions, NoiseTunnelType, Objective,
    OcclusionOptions, Options, SmoothGradOptions,
};
use convscope::model::{Graph, LayerId};
use serde_json::Value;

struct Net {
    graph: Graph,
    params: Params,
    input: Tensor,
    manifest: Value,
}

fn net(name: &str) -> Net {
    let dir = fixtures().join("maps");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
            .unwrap();
    let graph = onnx::load(&fixtures().join(format!("nets/{name}.onnx"))).unwrap();
    let params = Params::load(&graph, &device()).unwrap();
    let input = npy_tensor(&fixtures().join(format!("nets/{name}.input.npy")))
        .to_device(&device())
        .unwrap();
    Net {
        graph,
        params,
        input,
        manifest,
    }
}

impl Net {
    fn reference(&self, key: &str) -> Option<Tensor> {
        let file = self.manifest["files"][key].as_str()?;
        Some(npy_tensor(&fixtures().join("maps").join(file)))
    }

    /// The layer the manifest names for the layer methods.
    fn layer(&self) -> Option<LayerId> {
        self.manifest["layer"]["node"].as_str().map(|node| {
            self.graph
                .ids()
                .find(|&id| self.graph.layer(id).source_name == node)
                .unwrap_or_else(|| panic!("no layer from node {node}"))
        })
    }

    /// Runs `method` with `(options, batch)`.
    fn run(&self, method: &str, run: (Options, usize)) -> Artifact {
        self.run_with(method, run, Control::default())
    }

    fn run_with(
        &self,
        method: &str,
        (options, batch): (Options, usize),
        control: Control,
    ) -> Artifact {
        let mut cx = Cx::new(
            &self.graph,
            &self.params,
            self.input.clone(),
            Objective::Class {
                scores: self.graph.logits_layer(),
                class: self.manifest["target"].as_u64().unwrap() as usize,
            },
            control,
        );
        cx.layer = self.layer();
        cx.options = options;
        cx.batch = batch;
        methods::by_id(method)
            .unwrap()
            .run(&mut cx)
            .unwrap()
            .artifact
    }
}

fn tensor(a: &Artifact) -> Tensor {
    Tensor::from_slice(a.data(), a.shape(), &Device::Cpu).unwrap()
}

fn check(net: &str, key: &str, got: &Tensor, want: &Tensor, tol: f32) {
    let err = rel_max_err(got, want);
    println!("{net}: {key} rel err {err:.2e}");
    assert!(
        err < tol,
        "{net}: {key} differs from the reference by {err} (tolerance {tol})"
    );
}

fn check_method(n: &Net, name: &str, key: &str, method: &str, run: (Options, usize), tol: f32) {
    if let Some(want) = n.reference(key) {
        check(name, key, &tensor(&n.run(method, run)), &want, tol);
    }
}

fn check_net(name: &str, all_relu: bool) {
    let n = net(name);
    let k = || (Options::Default, 10);
    check_method(&n, name, "saliency", "saliency", k(), 1e-3);
    check_method(&n, name, "inputxgrad", "inputxgrad", k(), 1e-3);
    if all_relu {
        check_method(&n, name, "guided", "guided", k(), 1e-3);
        check_method(&n, name, "deconvnet", "deconvnet", k(), 1e-3);
        check_method(&n, name, "guided_gradcam", "guided-gradcam", k(), 1e-3);
    }
    for (key, method) in [
        ("gradcam", "gradcam"),
        ("layergradcam", "gradcam"),
        ("gradcampp", "gradcampp"),
        ("hirescam", "hirescam"),
        ("xgradcam", "xgradcam"),
        ("layercam", "layercam"),
        ("scorecam", "scorecam"),
    ] {
        check_method(&n, name, key, method, k(), 1e-3);
        // pytorch-grad-cam's displayed map: minmax(resize(minmax(raw))), minmax again.
        if let Some(want) = n.reference(&format!("{key}_scaled")) {
            let Artifact::Cam {
                height,
                width,
                data,
                ..
            } = n.run(method, k())
            else {
                panic!()
            };
            let (h, w) = want.dims2().unwrap();
            let scaled = Heatmap::new(height, width, data)
                .normalized()
                .resize_bilinear(h, w)
                .normalized();
            let got = Tensor::from_vec(scaled.data, (h, w), &Device::Cpu).unwrap();
            let diff = (got - &want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            println!("{name}: {key}_scaled abs err {diff:.2e}");
            assert!(diff < 1e-3, "{name}: {key}_scaled differs by {diff}");
        }
    }
    let steps = n.manifest["ig_n_steps"].as_u64().unwrap_or(50) as usize;
    for (key, m) in [
        ("ig_gausslegendre", IgMethod::GaussLegendre),
        ("ig_riemann_left", IgMethod::RiemannLeft),
        ("ig_riemann_right", IgMethod::RiemannRight),
        ("ig_riemann_middle", IgMethod::RiemannMiddle),
        ("ig_riemann_trapezoid", IgMethod::RiemannTrapezoid),
    ] {
        let options = Options::Ig(IgOptions {
            steps,
            method: m,
            ..IgOptions::default()
        });
        check_method(&n, name, key, "ig", (options, 10), 1e-3);
    }
    if let Some(occ) = n.manifest["occlusion"].as_object() {
        check_occlusion(&n, name, "occlusion", occ);
        // The window cut at the edge, channel-wise windows, a non-square window and stride.
        let cases = occ["cases"].as_object().expect("occlusion.cases");
        assert_eq!(cases.len(), 3, "{name}: occlusion cases");
        for (key, case) in cases {
            check_occlusion(&n, name, key, case.as_object().unwrap());
        }
    }
    if let Some(noise) = n.reference("smoothgrad_noise") {
        for (key, t, tol) in [
            ("smoothgrad", NoiseTunnelType::SmoothGrad, 1e-3),
            ("smoothgrad_sq", NoiseTunnelType::SmoothGradSq, 1e-3),
            ("vargrad", NoiseTunnelType::VarGrad, 1e-2),
        ] {
            let options = Options::SmoothGrad(SmoothGradOptions {
                noise: Some(noise.clone()),
                nt_type: t,
                ..SmoothGradOptions::default()
            });
            // Uneven batches: 3 + 3 + 2 samples.
            check_method(&n, name, key, "smoothgrad", (options, 3), tol);
        }
    }
}

/// captum `Occlusion` with the manifest's (C,H,W) window, stride and scalar baseline.
fn check_occlusion(n: &Net, name: &str, key: &str, occ: &serde_json::Map<String, Value>) {
    let sizes = |k: &str| -> Vec<usize> {
        occ[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect()
    };
    let baseline = occ["baseline"].as_f64().unwrap() as f32;
    let options = Options::Occlusion(OcclusionOptions {
        window: sizes("window"),
        stride: sizes("stride"),
        baseline: Baseline::Constant(baseline),
        ..OcclusionOptions::default()
    });
    assert!(n.reference(key).is_some(), "{name}: no {key} reference");
    // F(x) − F(x_occluded) subtracts nearby float32 scores: 1e-3 of the largest still holds.
    // Uneven batches of 7.
    check_method(n, name, key, "occlusion", (options, 7), 1e-3);
}

/// Guided Grad-CAM runs one reverse pass, guided backpropagation's, where the guided rule
/// cannot reach its layer (the ResNet-like net: after `layer2` only pooling and a linear
/// layer), and Grad-CAM's own pass from the scores down to the layer besides it where it can
/// (the VGG-like classifier's ReLU; the MobileNet-like net's layer is mid-network). Counted in the layer steps the passes check their token at;
/// `check_net` compares the maps with captum's.
#[test]
fn guided_gradcam_shares_guided_backprops_reverse_pass_where_that_is_exact() {
    for (name, shared) in [
        ("vgg_like", false),
        ("resnet_like", true),
        ("mobilenet_like", false),
    ] {
        let n = net(name);
        let steps = |method: &str| {
            let control = Control::default();
            let token = control.cancel.clone();
            n.run_with(method, (Options::Default, 10), control);
            token.checks()
        };
        let (guided, both) = (steps("guided"), steps("guided-gradcam"));
        let to_layer = n.graph.logits_layer().0 - n.layer().unwrap().0;
        let expected = guided + if shared { 0 } else { to_layer };
        println!("{name}: guided backprop {guided} layer steps, guided Grad-CAM {both}");
        assert_eq!(both, expected, "{name}: guided Grad-CAM's layer steps");
    }
}

/// At the default CAM layer (torch-cam's rule), the guided rule cannot reach the layer through
/// the zoo's ResNet, MobileNet, EfficientNet, DenseNet and ConvNeXt heads, so guided Grad-CAM
/// costs one forward and one reverse pass there; VGG's classifier and the demo's `fc1` have
/// ReLUs.
#[test]
fn the_guided_rule_reaches_the_default_cam_layer_only_through_relu_heads() {
    let reaches = |graph: &Graph| {
        let layer = methods::cam::default_layer(graph).unwrap();
        ReluRule::Guided.reaches(graph, layer, graph.logits_layer())
    };
    assert!(reaches(&convscope::import::demo::graph().unwrap()));
    for (arch, want) in [
        ("vgg16", true),
        ("resnet50", false),
        ("mobilenet_v2", false),
        ("efficientnet_b0", false),
        ("densenet121", false),
        ("convnext_tiny", false),
    ] {
        let graph = zoo::find(arch).unwrap().build(1000, 0).unwrap();
        assert_eq!(reaches(&graph), want, "{arch}");
        // The plain rule never differs from itself.
        let layer = methods::cam::default_layer(&graph).unwrap();
        assert!(!ReluRule::Normal.reaches(&graph, layer, graph.logits_layer()));
    }
}

#[test]
fn vgg_like() {
    check_net("vgg_like", true);
}

#[test]
fn resnet_like() {
    check_net("resnet_like", true);
}

#[test]
fn mobilenet_like() {
    check_net("mobilenet_like", false);
}

/// Without convscope's CPU kernels: candle's tensor ops, the paths every other device takes
/// (batch norm, residual additions, depthwise convolutions, max and average pools).
#[test]
fn resnet_and_mobilenet_on_the_device_generic_paths() {
    convscope::exec::cpu::with_kernels(false, || {
        check_net("resnet_like", true);
        check_net("mobilenet_like", false);
    });
}

#[test]
fn keras_nhwc_scores_are_taken_before_softmax() {
    check_net("keras_nhwc", true);
}
