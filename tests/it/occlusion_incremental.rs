//! Incremental occlusion (each layer recomputed only where a window reaches) against the plain
//! computation (every occluded input through the whole network), on networks whose layers
//! stress the region arithmetic: residual additions of differently grown regions, strided and
//! padded convolutions, overlapping padded max pooling (ResNet50's stem), grouped and depthwise
//! convolutions, concatenations and global pools (which end the incremental part), windows cut
//! at the edge and uneven batches.
//!
//! Tolerance: 1e-4 of the largest |score drop| plus 1e-5 absolute. Both paths compute every
//! output position with the same kernels over the same values; only the GEMM's blocking over a
//! crop differs from that over the whole map, so the drops agree to float32 rounding.

use crate::common::{fixtures, npy_tensor};
use candle_core::{Device, Tensor};
use convscope::exec::Params;
use convscope::import::{onnx, zoo};
use convscope::methods::{
    self, Artifact, Control, Cx, Objective, OcclusionOptions, Options, Output,
};
use convscope::model::Graph;

/// Occlusion with `options`, in batches of 5: incremental on the CPU (the only device it runs
/// on), plain on the test device (`CONVSCOPE_TEST_DEVICE`).
fn occlusion(graph: &Graph, input: &Tensor, options: OcclusionOptions) -> Output {
    let device = if options.incremental {
        Device::Cpu
    } else {
        crate::common::device()
    };
    let params = Params::load(graph, &device).unwrap();
    let mut cx = Cx::new(
        graph,
        &params,
        input.to_device(&device).unwrap(),
        Objective::Class {
            scores: graph.logits_layer(),
            class: 1,
        },
        Control::default(),
    );
    cx.options = Options::Occlusion(options);
    cx.batch = 5;
    methods::by_id("occlusion").unwrap().run(&mut cx).unwrap()
}

fn attribution(out: &Output) -> Vec<f32> {
    match &out.artifact {
        Artifact::Attribution { data, .. } => data.clone(),
        other => panic!("expected an attribution, got {other:?}"),
    }
}

/// Runs both ways and compares; returns how many windows there were.
fn same_both_ways(name: &str, graph: &Graph, input: &Tensor, window: &[usize], stride: &[usize]) {
    let knobs = |incremental| OcclusionOptions {
        window: window.to_vec(),
        stride: stride.to_vec(),
        incremental,
        ..OcclusionOptions::default()
    };
    let fast = occlusion(graph, input, knobs(true));
    let plain = occlusion(graph, input, knobs(false));
    assert_eq!(
        fast.extras["incremental"], true,
        "{name}: took the incremental path"
    );
    assert_eq!(
        plain.extras["incremental"], false,
        "{name}: took the plain path"
    );
    let (a, b) = (attribution(&fast), attribution(&plain));
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        scale > 0.0,
        "{name}: the occlusions change nothing, so the test shows nothing"
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale + 1e-5,
            "{name}[{i}]: incremental {x}, plain {y} (largest {scale})"
        );
    }
}

fn random_input(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1f32, shape, &Device::Cpu).unwrap()
}

#[test]
fn fixture_networks_give_the_plain_results() {
    for name in [
        "vgg_like",
        "resnet_like",
        "mobilenet_like",
        "densenet_like",
        "convnext_like",
    ] {
        let graph = onnx::load(&fixtures().join(format!("nets/{name}.onnx"))).unwrap();
        let input = npy_tensor(&fixtures().join(format!("nets/{name}.input.npy")));
        // Windows that do not divide the input, so the last ones are cut at the edge.
        same_both_ways(name, &graph, &input, &[5, 5], &[3, 3]);
    }
}

#[test]
fn resnet50_gives_the_plain_results() {
    let graph = zoo::resnet50(64, 3).unwrap();
    same_both_ways(
        "resnet50",
        &graph,
        &random_input(&[1, 3, 64, 64]),
        &[12, 12],
        &[10, 10],
    );
}

#[test]
fn vgg16_gives_the_plain_results() {
    let graph = zoo::vgg16(32, 5).unwrap();
    same_both_ways(
        "vgg16",
        &graph,
        &random_input(&[1, 3, 32, 32]),
        &[3, 6, 6],
        &[3, 5, 5],
    );
}

/// Keras graphs: channels_last layout changes (transposes folded into rows), fused
/// activations, merges, and the decoder's kinds the incremental pass runs whole (transposed
/// convolution, upsampling, LayerNorm over channels): the same drops both ways.
#[test]
fn keras_graphs_give_the_plain_results() {
    for (name, window, stride) in [
        ("functional_cnn", [4, 4], [3, 3]),
        ("decoder", [2, 2], [1, 2]),
    ] {
        let path = fixtures().join(format!("keras/{name}.keras"));
        let graph = convscope::import::open_model(path.to_str().unwrap()).unwrap();
        let nhwc = npy_tensor(&fixtures().join(format!("keras/{name}.input.npy")));
        let input = nhwc.permute((0, 3, 1, 2)).unwrap().contiguous().unwrap();
        same_both_ways(name, &graph, &input, &window, &stride);
    }
}
