//! `convscope render actmax`: it needs no input image, writes the picture (PNG) and the
//! optimized input (NPY, model layout and input space), reports the objective, and refuses bad
//! options with one line.

use crate::common::{expect_error, fixtures};
use assert_cmd::Command;

fn actmax(net: &str) -> Command {
    let mut c = Command::cargo_bin("convscope").unwrap();
    c.arg("render")
        .arg("actmax")
        .arg(fixtures().join(format!("nets/{net}.onnx")));
    c
}

fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn maximizes_a_class_without_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let (png, npy) = (dir.path().join("am.png"), dir.path().join("am.npy"));
    let v = json(
        actmax("keras_nhwc")
            .args(["--target", "3", "--steps", "30", "--json", "-o"])
            .arg(&png)
            .arg("--npy")
            .arg(&npy),
    );
    assert_eq!(v["method"], "actmax");
    assert_eq!(v["objective"], "class 3");
    assert_eq!(v["recipe"], "lucid");
    assert_eq!(v["steps"], 30);
    assert_eq!(v["target"]["index"], 3);
    assert!(v["objective_end"].as_f64().unwrap() > v["objective_start"].as_f64().unwrap());
    let arr = convscope::imaging::npy::read_npy_f32(&npy).unwrap();
    // keras_nhwc takes [1, 32, 32, 3]: the NPY keeps the model's layout.
    assert_eq!(arr.shape, vec![32, 32, 3]);
    assert_eq!(v["shape"], serde_json::json!([32, 32, 3]));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (32, 32));
}

#[test]
fn maximizes_a_channel_with_keras_vis_at_the_image_target() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("c.npy");
    let v = json(
        actmax("vgg_like")
            .args([
                "--layer",
                "features.5",
                "--channel",
                "2",
                "--recipe",
                "keras-vis",
            ])
            .args(["--steps", "10", "--jitter", "0.1", "--json", "--npy"])
            .arg(&npy),
    );
    assert_eq!(v["objective"], "channel 2 of features.5");
    assert_eq!(v["recipe"], "keras-vis");
    assert!(
        v["target"].is_null(),
        "a channel has no class: {}",
        v["target"]
    );
    assert_eq!(
        convscope::imaging::npy::read_npy_f32(&npy).unwrap().shape,
        vec![3, 16, 16]
    );
    // With an image, the class defaults to the image's top class.
    let dir = fixtures().join("nets");
    let v = json(
        actmax("vgg_like")
            .arg("--input-npy")
            .arg(dir.join("vgg_like.input.npy"))
            .args(["--steps", "5", "--json", "--npy"])
            .arg(tempfile::tempdir().unwrap().path().join("x.npy")),
    );
    assert_eq!(
        v["target"]["index"], 9,
        "vgg_like's top class for its input"
    );
}

#[test]
fn lucid_paints_at_the_size_asked() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("big.png");
    let v = json(
        actmax("vgg_like")
            .args([
                "--target", "1", "--steps", "5", "--size", "40x32", "--json", "-o",
            ])
            .arg(&png),
    );
    assert_eq!(v["shape"], serde_json::json!([3, 32, 40]));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (40, 32));
}

#[test]
fn bad_options_are_one_line_errors() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--target", "1", "--steps", "0"],
            &["--steps", "at least 1"],
        ),
        (&[], &["needs --target", "--channel"]),
        (&["--channel", "2"], &["--channel", "--layer"]),
        (
            &["--layer", "features.5", "--channel", "99"],
            &["out of range", "16"],
        ),
        (
            &["--layer", "features.5", "--neuron", "1"],
            &["--neuron", "--channel"],
        ),
        (
            &["--layer", "classifier.0", "--channel", "1"],
            &["not a feature map", "--neuron"],
        ),
        (
            &["--target", "1", "--recipe", "deepdream"],
            &["lucid", "keras-vis"],
        ),
        (
            &["--target", "1", "--recipe", "keras-vis", "--size", "32x32"],
            &["keras-vis", "--size"],
        ),
        (&["--target", "1", "--size", "4x4"], &["--size", "8"]),
        (&["--target", "1", "--jitter", "-1"], &["--jitter"]),
        (
            &["--target", "1", "--jitter", "0.1"],
            &["--jitter", "keras-vis"],
        ),
    ];
    for (args, words) in cases {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("never.png");
        let e = expect_error(actmax("vgg_like").args(*args).arg("-o").arg(&png), words);
        assert!(!png.exists(), "{args:?} left {png:?}: {e}");
    }
}
