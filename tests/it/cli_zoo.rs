//! The CLI on real architectures and on the small reference nets.
//!
//! `tests/fixtures/zoo/` holds torchvision models exported to ONNX whose external weights file
//! was deleted: everything about structure (parameter counts, layer names and output shapes)
//! must work without it, and what needs the values must say which file is missing. The expected
//! numbers come from torch (`zoo/NAME.json`, written by `make_fixtures.py`).
//!
//! `tests/fixtures/nets/` holds small nets with their weights and onnxruntime's outputs, for the
//! happy paths of `summary`, `config` and `predict`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::expect_error;
use assert_cmd::cargo::cargo_bin_cmd;
use assert_cmd::Command;
use convscope::imaging::npy::{read_npy_f32, write_npy_f32};
use convscope::import::onnx::proto::ModelProto;
use prost::Message;
use serde_json::Value;
use tempfile::TempDir;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn zoo_model(name: &str) -> PathBuf {
    fixtures().join("zoo").join(format!("{name}.onnx"))
}

fn zoo_manifest(name: &str) -> Value {
    let path = fixtures().join("zoo").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn convscope() -> Command {
    cargo_bin_cmd!("convscope")
}

/// Runs a command that must succeed silently on stderr; returns its stdout.
fn ok_stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "{cmd:?} wrote to stderr: {stderr}");
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

fn ok_json(cmd: &mut Command) -> Value {
    let text = ok_stdout(cmd);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{cmd:?} printed invalid JSON ({e}):\n{text}"))
}

fn summary_json(model: &Path) -> Value {
    ok_json(convscope().arg("summary").arg(model).arg("--json"))
}

fn layers(summary: &Value) -> &Vec<Value> {
    summary["layers"].as_array().expect("summary has layers")
}

/// `138357544` -> `138,357,544`, written independently of the crate's formatter.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    groups.join(",")
}

#[test]
fn thousands_helper() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(138_357_544), "138,357,544");
}

// ---- zoo: structure without the weights file ----

fn params(name: &str) {
    let want = zoo_manifest(name);
    let got = summary_json(&zoo_model(name));
    for key in ["trainable_params", "non_trainable_params", "total_params"] {
        assert_eq!(got[key], want[key], "{name}: {key}");
    }
    let per_layer: u64 = layers(&got)
        .iter()
        .map(|l| l["params"].as_u64().unwrap())
        .sum();
    assert_eq!(
        per_layer,
        want["total_params"].as_u64().unwrap(),
        "{name}: sum of the layers' params"
    );
    let trainable: u64 = layers(&got)
        .iter()
        .map(|l| l["trainable_params"].as_u64().unwrap())
        .sum();
    assert_eq!(
        trainable,
        want["trainable_params"].as_u64().unwrap(),
        "{name}: sum of trainable"
    );
}

struct ShapeReport {
    /// torch module path -> (torch's shape, ours)
    matched: BTreeMap<String, (Value, Value)>,
    unmatched: Vec<String>,
    total: usize,
}

/// Modules that are the identity in eval mode and so export to no node at all: dropout and
/// stochastic depth. They cannot name a layer and are left out of the count.
fn exports_no_node(model: &str, module: &str) -> bool {
    const DROPOUTS: &[(&str, &str)] = &[
        ("vgg16", "classifier.2"),
        ("vgg16", "classifier.5"),
        ("mobilenet_v2", "classifier.0"),
        ("efficientnet_b0", "classifier.0"),
    ];
    module.ends_with("stochastic_depth") || DROPOUTS.contains(&(model, module))
}

fn shape_report(name: &str) -> ShapeReport {
    let want = zoo_manifest(name);
    let got = summary_json(&zoo_model(name));
    let by_name: BTreeMap<&str, &Value> = layers(&got)
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), &l["output_shape"]))
        .collect();
    let shapes: Vec<(&String, &Value)> = want["shapes"]
        .as_object()
        .expect("manifest has shapes")
        .iter()
        .filter(|(module, _)| !exports_no_node(name, module))
        .collect();
    let mut report = ShapeReport {
        matched: BTreeMap::new(),
        unmatched: Vec::new(),
        total: shapes.len(),
    };
    for (module, shape) in shapes {
        match by_name.get(module.as_str()) {
            Some(ours) => {
                report
                    .matched
                    .insert(module.clone(), (shape.clone(), (*ours).clone()));
            }
            None => report.unmatched.push(module.clone()),
        }
    }
    println!(
        "{name}: {} of {} torch modules have a layer of that name; unmatched: {:?}",
        report.matched.len(),
        report.total,
        report.unmatched
    );
    report
}

/// Every torch module that has a layer of the same name has torch's output shape there.
fn layer_shapes(name: &str) {
    let report = shape_report(name);
    assert!(
        !report.matched.is_empty(),
        "{name}: no module path matched a layer name"
    );
    let wrong: Vec<_> = report
        .matched
        .iter()
        .filter(|(_, (want, got))| want != got)
        .collect();
    assert!(
        wrong.is_empty(),
        "{name}: layers with the wrong output shape (module: (torch, ours)): {wrong:?}"
    );
}

/// Every torch module path that exports a node names a layer.
fn name_coverage(name: &str) {
    let report = shape_report(name);
    let share = report.matched.len() as f64 / report.total as f64;
    assert!(
        share >= 1.0,
        "{name}: only {} of {} module paths ({:.0}%) name a layer; unmatched: {:?}",
        report.matched.len(),
        report.total,
        share * 100.0,
        report.unmatched
    );
}

fn last_layer(name: &str) {
    let want = zoo_manifest(name);
    let got = summary_json(&zoo_model(name));
    let last = layers(&got).last().expect("at least one layer");
    assert_eq!(
        last["output_shape"], want["output_shape"],
        "{name}: last layer {}",
        last["name"]
    );
    let first = layers(&got).first().unwrap();
    assert_eq!(first["type"], "InputLayer", "{name}");
    assert_eq!(first["output_shape"], want["input_shape"], "{name}: input");
}

fn text_totals(name: &str) {
    let want = zoo_manifest(name);
    let n = |key: &str| thousands(want[key].as_u64().unwrap());
    let text = ok_stdout(convscope().arg("summary").arg(zoo_model(name)));
    assert!(
        text.starts_with(&format!("Model: \"{name}\"")),
        "{name}: header: {}",
        text.lines().next().unwrap_or("")
    );
    let tail: Vec<&str> = text.lines().rev().take(3).collect();
    let [non_trainable, trainable, total] = tail[..] else {
        panic!("{name}: fewer than 3 lines:\n{text}")
    };
    let expect = |line: &str, label: &str, key: &str| {
        let prefix = format!(" {label}: {} (", n(key));
        assert!(
            line.starts_with(&prefix),
            "{name}: expected {prefix:?}..., got {line:?}"
        );
        assert!(
            line.ends_with("B)"),
            "{name}: size in bytes missing: {line:?}"
        );
    };
    expect(total, "Total params", "total_params");
    expect(trainable, "Trainable params", "trainable_params");
    expect(
        non_trainable,
        "Non-trainable params",
        "non_trainable_params",
    );
}

fn predict_missing_weights(name: &str) {
    let want = zoo_manifest(name);
    let file = want["external_data"].as_str().unwrap();
    assert_eq!(file, format!("{name}.weights.bin"));
    assert!(
        !fixtures().join("zoo").join(file).exists(),
        "{file} should not be in the repository"
    );
    let shape: Vec<usize> = want["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let dir = TempDir::new().unwrap();
    let npy = dir.path().join("zeros.npy");
    write_npy_f32(&npy, &shape, &vec![0.0; shape.iter().product()]).unwrap();
    let line = expect_error(
        convscope()
            .arg("predict")
            .arg(zoo_model(name))
            .arg("--input-npy")
            .arg(&npy),
        &[file],
    );
    assert!(line.contains("missing"), "{name}: {line}");
}

fn config_conv_layer(name: &str) {
    let file = format!("{name}.weights.bin");
    let summary = summary_json(&zoo_model(name));
    let conv = layers(&summary)
        .iter()
        .find(|l| l["type"] == "Conv2D")
        .unwrap_or_else(|| panic!("{name} has no Conv2D layer"));
    let layer = conv["name"].as_str().unwrap();

    let got = ok_json(
        convscope()
            .args(["config", "--json"])
            .arg(zoo_model(name))
            .arg(layer),
    );
    assert_eq!(got["name"], layer);
    assert_eq!(got["type"], "Conv2D");
    assert_eq!(got["output_shape"], conv["output_shape"]);
    let filters = got["config"]["filters"].as_u64().unwrap();
    assert_eq!(
        Some(filters),
        conv["output_shape"][1].as_u64(),
        "{name}/{layer}: filters = channels out"
    );
    let kernel = got["config"]["kernel_size"]
        .as_array()
        .expect("kernel_size");
    assert_eq!(kernel.len(), 2, "{name}/{layer}");
    let weights = got["weights"].as_array().unwrap();
    let w = weights
        .iter()
        .find(|w| w["role"] == "kernel")
        .expect("a kernel weight");
    let wshape: Vec<u64> = w["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    assert_eq!(wshape.len(), 4, "{name}/{layer}: kernel {wshape:?}");
    assert_eq!(wshape[0], filters);
    assert_eq!(
        wshape[2..],
        [kernel[0].as_u64().unwrap(), kernel[1].as_u64().unwrap()]
    );
    assert!(
        w["stats"].is_null(),
        "{name}/{layer}: statistics without the weights file?"
    );
    let note = got["note"]
        .as_str()
        .expect("a note says why the statistics are missing");
    assert!(
        note.contains(&file) && note.contains("missing"),
        "{name}: {note}"
    );

    let text = ok_stdout(convscope().arg("config").arg(zoo_model(name)).arg(layer));
    assert!(text.contains("kernel_size"), "{name}: {text}");
    let shape_cell = format!("{wshape:?}");
    assert!(
        text.contains(&shape_cell),
        "{name}: kernel shape {shape_cell} not shown:\n{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("statistics unavailable") && last.contains(&file),
        "{name}: last line {last:?}"
    );
}

/// One module per model, the same checks for each.
macro_rules! zoo {
    ($model:ident { $( $(#[$attr:meta])* $test:ident ),* $(,)? }) => {
        mod $model {
            $(
                #[test]
                $(#[$attr])*
                fn $test() {
                    super::$test(stringify!($model));
                }
            )*
        }
    };
}

zoo!(vgg16 {
    params,
    layer_shapes,
    name_coverage,
    last_layer,
    text_totals,
    predict_missing_weights,
    config_conv_layer,
});

zoo!(resnet50 {
    params,
    layer_shapes,
    name_coverage,
    last_layer,
    text_totals,
    predict_missing_weights,
    config_conv_layer,
});

zoo!(mobilenet_v2 {
    params,
    layer_shapes,
    name_coverage,
    last_layer,
    text_totals,
    predict_missing_weights,
    config_conv_layer,
});

zoo!(efficientnet_b0 {
    params,
    layer_shapes,
    name_coverage,
    last_layer,
    text_totals,
    predict_missing_weights,
    config_conv_layer,
});

zoo!(densenet121 {
    params,
    layer_shapes,
    name_coverage,
    last_layer,
    text_totals,
    predict_missing_weights,
    config_conv_layer,
});

zoo!(convnext_tiny {
    params,
    layer_shapes,
    name_coverage,
    last_layer,
    text_totals,
    predict_missing_weights,
    config_conv_layer,
});

// ---- nets: happy paths with real weights ----

fn nets() -> PathBuf {
    fixtures().join("nets")
}

fn vgg() -> PathBuf {
    nets().join("vgg_like.onnx")
}

#[test]
fn vgg_like_summary_json() {
    let got = summary_json(&vgg());
    assert_eq!(got["name"], "vgg_like");
    let by_name: BTreeMap<&str, &Value> = layers(&got)
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l))
        .collect();
    let expect = [
        ("features.0", "Conv2D", vec![1, 8, 16, 16], 8 * 3 * 9 + 8),
        ("features.1", "Activation", vec![1, 8, 16, 16], 0),
        ("features.2", "Conv2D", vec![1, 8, 16, 16], 8 * 8 * 9 + 8),
        ("features.3", "Activation", vec![1, 8, 16, 16], 0),
        ("features.4", "MaxPooling2D", vec![1, 8, 8, 8], 0),
        ("features.5", "Conv2D", vec![1, 16, 8, 8], 16 * 8 * 9 + 16),
        ("features.6", "Activation", vec![1, 16, 8, 8], 0),
        ("features.7", "MaxPooling2D", vec![1, 16, 4, 4], 0),
        ("classifier.0", "Dense", vec![1, 32], 256 * 32 + 32),
        ("classifier.1", "Activation", vec![1, 32], 0),
        ("classifier.3", "Dense", vec![1, 10], 32 * 10 + 10),
    ];
    for (name, kind, shape, params) in &expect {
        let l = by_name
            .get(name)
            .unwrap_or_else(|| panic!("no layer {name}; layers: {:?}", by_name.keys()));
        assert_eq!(l["type"], *kind, "{name}");
        assert_eq!(l["output_shape"], serde_json::json!(shape), "{name}");
        assert_eq!(l["params"], *params, "{name}");
        assert_eq!(l["trainable_params"], *params, "{name}");
    }
    // In graph order, features.N before classifier.N.
    let order: Vec<&str> = layers(&got)
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .filter(|n| n.starts_with("features.") || n.starts_with("classifier."))
        .collect();
    let want: Vec<&str> = expect.iter().map(|e| e.0).collect();
    assert_eq!(order, want);
    assert_eq!(layers(&got)[0]["type"], "InputLayer");
    assert_eq!(
        layers(&got)[0]["output_shape"],
        serde_json::json!([1, 3, 16, 16])
    );
    assert_eq!(
        by_name["features.0"]["connected_to"],
        serde_json::json!([layers(&got)[0]["name"]])
    );
    let total: u64 = expect.iter().map(|e| e.3).sum();
    assert_eq!(got["total_params"], total);
    assert_eq!(got["trainable_params"], total);
    assert_eq!(got["non_trainable_params"], 0);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(nets().join("vgg_like.json")).unwrap())
            .unwrap();
    assert_eq!(
        layers(&got).last().unwrap()["output_shape"],
        manifest["output_shape"]
    );
}

#[test]
fn vgg_like_summary_text() {
    let text = ok_stdout(convscope().arg("summary").arg(vgg()));
    assert!(text.contains("features.0 (Conv2D)"), "{text}");
    assert!(text.contains("classifier.3 (Dense)"), "{text}");
    assert!(text.contains("(None, 8, 16, 16)"), "{text}");
    assert!(text.contains(" Total params: 10,530 ("), "{text}");
}

/// Population statistics of a float32 initializer, read straight from the ONNX file.
fn initializer_stats(model: &Path, name: &str) -> (Vec<usize>, [f64; 4]) {
    let m = ModelProto::decode(&*std::fs::read(model).unwrap()).unwrap();
    let t = m
        .graph
        .unwrap()
        .initializer
        .into_iter()
        .find(|t| t.name == name)
        .expect("initializer");
    let values: Vec<f64> = if t.raw_data.is_empty() {
        t.float_data.iter().map(|&v| f64::from(v)).collect()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect()
    };
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let shape = t.dims.iter().map(|&d| d as usize).collect();
    (shape, [min, max, mean, var.sqrt()])
}

#[test]
fn vgg_like_config_json() {
    let text = ok_stdout(
        convscope()
            .args(["config", "--json"])
            .arg(vgg())
            .arg("features.0"),
    );
    let keys = [
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "dilation_rate",
        "groups",
        "use_bias",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\""))
                .unwrap_or_else(|| panic!("no key {k}:\n{text}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "config keys out of order {keys:?}:\n{text}"
    );

    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(got["name"], "features.0");
    assert_eq!(got["type"], "Conv2D");
    let c = &got["config"];
    assert_eq!(c["filters"], 8);
    assert_eq!(c["kernel_size"], serde_json::json!([3, 3]));
    assert_eq!(c["strides"], serde_json::json!([1, 1]));
    assert_eq!(c["dilation_rate"], serde_json::json!([1, 1]));
    assert_eq!(c["groups"], 1);
    assert_eq!(c["use_bias"], true);
    assert!(got["note"].is_null(), "{}", got["note"]);

    let weights = got["weights"].as_array().unwrap();
    let roles: Vec<&str> = weights
        .iter()
        .map(|w| w["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["kernel", "bias"]);
    for w in weights {
        let name = w["name"].as_str().unwrap();
        let stats = w["stats"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: no stats"));
        let (shape, want) = initializer_stats(&vgg(), name);
        assert_eq!(w["shape"], serde_json::json!(shape), "{name}");
        for (key, want) in ["min", "max", "mean", "std"].iter().zip(want) {
            let got = stats[*key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: no {key}"));
            assert!(
                (got - want).abs() <= 1e-6 + 1e-5 * want.abs(),
                "{name}.{key}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn vgg_like_config_text() {
    let text = ok_stdout(convscope().arg("config").arg(vgg()).arg("features.0"));
    assert!(text.starts_with("features.0 (Conv2D)"), "{text}");
    assert!(text.contains("features.0.weight"), "{text}");
    assert!(text.contains("[8, 3, 3, 3]"), "{text}");
    assert!(!text.contains("statistics unavailable"), "{text}");
}

fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = logits.iter().map(|&l| f64::from(l - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[test]
fn vgg_like_predict_json() {
    let input = nets().join("vgg_like.input.npy");
    let reference = read_npy_f32(&nets().join("vgg_like.output.npy")).unwrap();
    assert_eq!(reference.shape, [1, 10]);
    let argmax = (0..10)
        .max_by(|&a, &b| reference.data[a].total_cmp(&reference.data[b]))
        .unwrap();
    let probs = softmax(&reference.data);

    let got = ok_json(
        convscope()
            .arg("predict")
            .arg(vgg())
            .arg("--input-npy")
            .arg(&input)
            .args(["--json", "--top", "3"]),
    );
    let top = got["top"].as_array().expect("top");
    assert_eq!(top.len(), 3);
    assert_eq!(top[0]["index"], argmax);
    let p: Vec<f64> = top.iter().map(|t| t["prob"].as_f64().unwrap()).collect();
    assert!(
        p.windows(2).all(|w| w[0] >= w[1]),
        "probs not descending: {p:?}"
    );
    assert!(p.iter().sum::<f64>() <= 1.0 + 1e-6);
    for t in top {
        let i = t["index"].as_u64().unwrap() as usize;
        let logit = t["logit"].as_f64().unwrap();
        assert!(
            (logit - f64::from(reference.data[i])).abs() < 1e-4,
            "logit {i}: {logit}"
        );
        assert!(
            (t["prob"].as_f64().unwrap() - probs[i]).abs() < 1e-5,
            "prob {i}"
        );
        assert!(
            t["label"].is_null(),
            "a 10-class model has no default labels"
        );
    }

    // All classes: probabilities sum to (at most) one.
    let all = ok_json(
        convscope()
            .arg("predict")
            .arg(vgg())
            .arg("--input-npy")
            .arg(&input)
            .args(["--json", "--top", "100"]),
    );
    let all = all["top"].as_array().unwrap();
    assert_eq!(all.len(), 10);
    let sum: f64 = all.iter().map(|t| t["prob"].as_f64().unwrap()).sum();
    assert!(sum <= 1.0 + 1e-5 && sum > 0.999, "sum of probs {sum}");
}

#[test]
fn vgg_like_predict_text() {
    let text = ok_stdout(
        convscope()
            .arg("predict")
            .arg(vgg())
            .arg("--input-npy")
            .arg(nets().join("vgg_like.input.npy"))
            .args(["--top", "2", "--device", "cpu"]),
    );
    assert!(text.contains("prob") && text.contains("logit"), "{text}");
    let rows = text.lines().filter(|l| l.starts_with('│')).count();
    assert_eq!(rows, 2, "{text}");
}

#[test]
fn vgg_like_predict_image() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("gradient.png");
    image::RgbImage::from_fn(40, 24, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 10) as u8, 77])
    })
    .save(&path)
    .unwrap();
    for pre in ["imagenet", "caffe", "unit", "signed"] {
        let got = ok_json(
            convscope()
                .arg("predict")
                .arg(vgg())
                .arg("--image")
                .arg(&path)
                .args(["--json", "--preprocess", pre]),
        );
        assert_eq!(got["top"].as_array().unwrap().len(), 5, "{pre}");
    }
}

// ---- --help and --version ----

#[test]
fn help_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["summary", "--help"],
        vec!["config", "--help"],
        vec!["predict", "--help"],
        vec!["help", "summary"],
        vec!["help", "config"],
        vec!["help", "predict"],
    ] {
        let text = ok_stdout(convscope().args(&args));
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    let text = ok_stdout(convscope().args(["predict", "--help"]));
    for option in [
        "--image",
        "--input-npy",
        "--top",
        "--labels",
        "--json",
        "--preprocess",
        "--device",
    ] {
        assert!(text.contains(option), "predict --help lacks {option}");
    }
}

#[test]
fn version() {
    let text = ok_stdout(convscope().arg("--version"));
    assert_eq!(
        text.trim(),
        format!("convscope {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn version_for_every_subcommand() {
    for sub in ["summary", "config", "predict"] {
        let text = ok_stdout(convscope().args([sub, "--version"]));
        assert!(text.contains(env!("CARGO_PKG_VERSION")), "{sub}: {text}");
    }
}
