//! `render features --layers A,B,C`: one row per layer from one forward pass, each row the
//! chosen channels of that layer exactly as `--layer` alone shows them; and its bad inputs.

use crate::common::{expect_error, fixtures, npy_tensor};
use assert_cmd::Command;
use candle_core::Device;
use convscope::exec::Params;
use convscope::import::onnx;
use convscope::methods::{self, Artifact, Control, Cx, FeaturesOptions, Objective, Options};
use serde_json::Value;

fn features(net: &str) -> Command {
    let mut c = Command::cargo_bin("convscope").unwrap();
    let dir = fixtures().join("nets");
    c.args(["render", "features"])
        .arg(dir.join(format!("{net}.onnx")))
        .arg("--input-npy")
        .arg(dir.join(format!("{net}.input.npy")));
    c
}

/// Runs features with `layers` on resnet_like (first 4 channels); returns the JSON and the PNG's
/// height.
fn rows_png(layers: &str) -> (Value, u32) {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("f.png");
    let out = features("resnet_like")
        .args(["--layers", layers, "--channels", "first:4", "--json", "-o"])
        .arg(&png)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    (
        serde_json::from_slice(&out).unwrap(),
        image::open(&png).unwrap().height(),
    )
}

#[test]
fn one_row_per_layer() {
    let (v3, h3) = rows_png("conv1,layer1.0.conv1,layer2.0.relu_1");
    let names: Vec<&str> = v3["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["conv1", "layer1.0.conv1", "layer2.0.relu_1"]);
    assert_eq!(v3["layers"][0]["shape"], serde_json::json!([8, 16, 16]));
    assert_eq!(
        v3["layers"][2]["channels"],
        serde_json::json!(["0", "1", "2", "3"])
    );
    assert!(v3["shape"].is_null(), "no single array");
    // Rows of 4 tiles each have one height: 3 rows are 1.5 times as tall as 2.
    let (v2, h2) = rows_png("conv1,layer2.0.relu_1");
    assert_eq!(v2["layers"].as_array().unwrap().len(), 2);
    assert_eq!(2 * h3, 3 * h2, "heights {h3} and {h2}");
    assert!(v3["files"]["png"].is_string() && v3["files"]["npy"].is_null());
}

#[test]
fn rows_are_what_each_layer_shows_alone() {
    let graph = onnx::load(&fixtures().join("nets/resnet_like.onnx")).unwrap();
    let params = Params::load(&graph, &Device::Cpu).unwrap();
    let input = npy_tensor(&fixtures().join("nets/resnet_like.input.npy"));
    let ids: Vec<_> = ["layer1.0.conv1", "conv1"]
        .iter()
        .map(|n| graph.find(n).unwrap())
        .collect();
    let run = |layer, layers: Vec<_>| {
        let mut cx = Cx::new(
            &graph,
            &params,
            input.clone(),
            Objective::Class {
                scores: graph.logits_layer(),
                class: 0,
            },
            Control::default(),
        );
        cx.layer = layer;
        cx.options = Options::Features(FeaturesOptions {
            layers,
            channels: "top:3".into(),
        });
        cx.batch = 1;
        methods::by_id("features")
            .unwrap()
            .run(&mut cx)
            .unwrap()
            .artifact
    };
    let Artifact::Rows { rows, .. } = run(None, ids.clone()) else {
        panic!("several layers give rows")
    };
    assert_eq!(rows.len(), 2);
    for (row, &id) in rows.iter().zip(&ids) {
        let Artifact::Grid { tiles, .. } = run(Some(id), vec![]) else {
            panic!("one layer gives a grid")
        };
        assert_eq!(row.layer, id);
        assert_eq!(row.label, graph.layer(id).name);
        let got: Vec<_> = row.tiles.iter().map(|t| (&t.label, &t.data)).collect();
        let want: Vec<_> = tiles.iter().map(|t| (&t.label, &t.data)).collect();
        assert_eq!(got, want, "{}", row.label);
    }
}

#[test]
fn bad_layers() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("f.npy");
    // NPY holds one array: refused for several layers, before anything is computed.
    let e = expect_error(
        features("resnet_like")
            .args(["--layers", "conv1,layer1.0.conv1", "--npy"])
            .arg(&npy),
        &["--npy", "--layers", "--layer NAME"],
    );
    assert!(e.contains("2 layers"), "{e}");
    assert!(!npy.exists());
    // One layer through --layers still writes its NPY.
    features("resnet_like")
        .args(["--layers", "conv1", "--npy"])
        .arg(&npy)
        .assert()
        .success();
    assert_eq!(npy_tensor(&npy).dims(), &[8, 16, 16]);
    expect_error(
        features("resnet_like").args(["--layers", "conv1,layer1.0.cnv1"]),
        &["layer1.0.cnv1", "did you mean", "layer1.0.conv1"],
    );
    expect_error(
        features("resnet_like").args(["--layers", "conv1,fc"]),
        &["'fc'", "not a spatial feature map", "layer2.0"],
    );
    expect_error(
        features("resnet_like").args(["--layers", "conv1,,bn1"]),
        &["--layers", "empty"],
    );
    expect_error(
        features("resnet_like").args(["--layers", "conv1,bn1", "--layer", "conv1"]),
        &["--layer", "--layers", "not both"],
    );
    expect_error(
        features("resnet_like").args(["--layers", "conv1,bn1", "--channels", "0,12"]),
        &["channel 12 is out of range", "'conv1' has 8 channels"],
    );
    let mut gradcam = Command::cargo_bin("convscope").unwrap();
    let nets = fixtures().join("nets");
    gradcam
        .args(["render", "gradcam"])
        .arg(nets.join("resnet_like.onnx"))
        .arg("--input-npy")
        .arg(nets.join("resnet_like.input.npy"))
        .args(["--layers", "conv1,bn1"]);
    expect_error(&mut gradcam, &["--layers is for features", "gradcam"]);
}
