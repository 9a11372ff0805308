//! The embedded demo model: `demo` is a MODEL everywhere, a command without a model uses it, and
//! without an input it classifies its own sample picture (a star).

use assert_cmd::Command;

fn convscope() -> Command {
    Command::cargo_bin("convscope").unwrap()
}

fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn summary_of_the_demo_with_or_without_its_name() {
    let named = json(convscope().args(["summary", "demo", "--json"]));
    let implied = json(convscope().args(["summary", "--json"]));
    assert_eq!(named, implied);
    let names: Vec<&str> = named["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    for want in [
        "block1_conv1",
        "block1_pool",
        "block4_conv2",
        "fc1",
        "predictions",
    ] {
        assert!(names.contains(&want), "no {want} in {names:?}");
    }
    let total = named["total_params"].as_u64().unwrap();
    assert!((100_000..1_000_000).contains(&total), "{total} parameters");
}

#[test]
fn predict_classifies_the_sample_star_by_name() {
    let v = json(convscope().args(["predict", "--json"]));
    assert_eq!(v["top"][0]["label"], "star", "{v}");
    assert!(v["top"][0]["prob"].as_f64().unwrap() > 0.9, "{v}");
    // --device auto: the CPU in a build without CUDA, and the report says so.
    #[cfg(not(feature = "cuda"))]
    assert_eq!(v["device"], "cpu", "{v}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/images/shapes");
    for class in ["circle", "heart", "hexagon"] {
        let v = json(
            convscope()
                .args(["predict", "demo", "--json", "--image"])
                .arg(dir.join(format!("{class}.png"))),
        );
        assert_eq!(v["top"][0]["label"], class, "{v}");
    }
}

#[test]
fn render_and_config_default_to_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("cam.png");
    let v = json(
        convscope()
            .args(["render", "gradcam", "--json", "--target", "star", "-o"])
            .arg(&png),
    );
    assert_eq!(v["layer"], "block4_conv2_relu");
    assert_eq!(v["target"]["label"], "star");
    assert!(png.exists());
    let v = json(convscope().args(["config", "block1_conv1", "--json"]));
    assert_eq!(v["config"]["filters"], 8);
    assert_eq!(v["weights"][0]["shape"], serde_json::json!([8, 3, 3, 3]));
}

#[test]
fn batches_are_sized_to_the_model() {
    // The demo keeps ~7 MB of activations and gradients per input: the 64 cap applies.
    let v = json(
        convscope()
            .args(["render", "occlusion", "--json", "--npy"])
            .arg(tempfile::tempdir().unwrap().path().join("o.npy")),
    );
    assert_eq!(v["batch"], 64, "{v}");
    let v = json(
        convscope()
            .args(["render", "occlusion", "--json", "--batch", "3", "--npy"])
            .arg(tempfile::tempdir().unwrap().path().join("o.npy")),
    );
    assert_eq!(v["batch"], 3, "{v}");
    // VGG16 at 224x224 keeps ~230 MB per input: 9 fit in the 2 GiB budget.
    let vgg = convscope::import::onnx::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoo/vgg16.onnx"),
    )
    .unwrap();
    let b = convscope::methods::batch_for(&vgg, convscope::methods::BATCH_BUDGET);
    assert!((2..=16).contains(&b), "vgg16 batch {b}");
}
