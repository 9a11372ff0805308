//! The importer and executor against onnxruntime (forward outputs and intermediate activations)
//! and PyTorch (input gradients and gradients at inner layers), on the small nets that
//! `tests/fixtures/make_fixtures.py` exports.
//!
//! Tolerances, relative to the reference's largest magnitude: forward 1e-4 (float32 sums in a
//! different order over a few layers), gradients 1e-3 (the reverse pass adds one more chain of
//! float32 sums, and PyTorch's convolution backward uses different algorithms).

use crate::common::{device, fixtures, npy_tensor, rel_max_err};
use convscope::exec::{one_hot_seed, Executor, NoHook, Params, ReluRule};
use convscope::import::onnx;
use convscope::model::{Graph, LayerId};
use serde_json::Value;

const FORWARD_TOL: f32 = 1e-4;
const GRAD_TOL: f32 = 1e-3;

fn by_source(graph: &Graph, node: &str) -> LayerId {
    graph
        .ids()
        .find(|&id| graph.layer(id).source_name == node)
        .unwrap_or_else(|| panic!("no layer from node {node}"))
}

fn check_net(name: &str) {
    let dir = fixtures().join("nets");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
            .unwrap();
    let graph =
        onnx::load(&dir.join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
    let params = Params::load(&graph, &device()).unwrap();
    let exec = Executor::new(&graph, &params);
    let input = npy_tensor(&dir.join(manifest["input"].as_str().unwrap()))
        .to_device(&device())
        .unwrap();
    let acts = exec
        .forward(&input, &mut NoHook)
        .unwrap_or_else(|e| panic!("{name}: {e}"));

    let want = npy_tensor(&dir.join(manifest["output"].as_str().unwrap()));
    let err = rel_max_err(acts.get(graph.outputs[0]), &want);
    println!("{name}: output rel err {err:.2e}");
    assert!(
        err < FORWARD_TOL,
        "{name}: output differs from onnxruntime by {err}"
    );

    for a in manifest["activations"].as_array().unwrap() {
        let id = by_source(&graph, a["node"].as_str().unwrap());
        let want = npy_tensor(&dir.join(a["file"].as_str().unwrap()));
        let err = rel_max_err(acts.get(id), &want);
        println!(
            "{name}: activation {} ({}) rel err {err:.2e}",
            graph.layer(id).name,
            a["op"]
        );
        assert!(
            err < FORWARD_TOL,
            "{name}: activation of {} differs by {err}",
            a["node"]
        );
    }

    let Some(target) = manifest["target"].as_u64() else {
        return;
    };
    let logits = graph.logits_layer();
    let shape = acts.get(logits).dims().to_vec();
    let seed = one_hot_seed(&shape, target as usize, &device()).unwrap();
    let grads = exec
        .backward(&acts, logits, seed, ReluRule::Normal)
        .unwrap();
    if let Some(file) = manifest["grad_input"].as_str() {
        let got = grads
            .get(graph.inputs[0])
            .expect("gradient reaches the input");
        let err = rel_max_err(got, &npy_tensor(&dir.join(file)));
        println!("{name}: input gradient rel err {err:.2e}");
        assert!(
            err < GRAD_TOL,
            "{name}: input gradient differs from torch by {err}"
        );
    }
    for g in manifest["grads"].as_array().unwrap() {
        let id = by_source(&graph, g["node"].as_str().unwrap());
        // Our layer names are the torch module paths the gradients were taken at.
        assert_eq!(
            graph.layer(id).name,
            g["module"].as_str().unwrap(),
            "{name}: readable name"
        );
        let got = grads.get(id).expect("gradient reaches the layer");
        let err = rel_max_err(got, &npy_tensor(&dir.join(g["file"].as_str().unwrap())));
        println!("{name}: gradient at {} rel err {err:.2e}", g["module"]);
        assert!(
            err < GRAD_TOL,
            "{name}: gradient at {} differs by {err}",
            g["module"]
        );
    }
}

/// Each net twice: with convscope's CPU kernels (on the CPU), and without them — candle's
/// tensor ops, the paths every other device takes (`tests/it/device_generic.rs`).
macro_rules! net_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn kernels() {
                super::check_net(stringify!($name));
            }

            #[test]
            fn generic() {
                convscope::exec::cpu::with_kernels(false, || super::check_net(stringify!($name)));
            }
        }
    )*};
}

net_tests!(
    vgg_like,
    batch2,
    resnet_like,
    resnet_like_dynamo,
    mobilenet_like,
    densenet_like,
    convnext_like,
    convnext_like_op20,
    keras_nhwc,
    ops_misc,
    decoder_ops,
);
