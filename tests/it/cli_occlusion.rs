//! `convscope render occlusion --view heatmap|mask`: the files each view writes, what its JSON
//! reports, and its bad inputs (one-line messages, nothing written).

use crate::common::{expect_error, fixtures};
use assert_cmd::Command;
use convscope::imaging::npy::read_npy_f32;
use serde_json::Value;

fn occlusion(net: &str) -> Command {
    let mut c = Command::cargo_bin("convscope").unwrap();
    let dir = fixtures().join("nets");
    c.args(["render", "occlusion"])
        .arg(dir.join(format!("{net}.onnx")))
        .arg("--input-npy")
        .arg(dir.join(format!("{net}.input.npy")));
    c
}

/// Runs a view on vgg_like (3x16x16) writing PNG and NPY; returns the JSON report, the PNG's
/// size and the NPY.
fn run(extra: &[&str]) -> (Value, (u32, u32), convscope::imaging::npy::NpyArray) {
    let dir = tempfile::tempdir().unwrap();
    let (png, npy) = (dir.path().join("o.png"), dir.path().join("o.npy"));
    let out = occlusion("vgg_like")
        .args(["--json", "-o"])
        .arg(&png)
        .arg("--npy")
        .arg(&npy)
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let img = image::open(&png).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    (v, (img.width(), img.height()), read_npy_f32(&npy).unwrap())
}

#[test]
fn heatmap_writes_the_probability_grid() {
    // Window 5 stride 4 over 16: starts 0, 4, 8, 12 (the last cut): a 4x4 grid.
    let (v, size, npy) = run(&[
        "--view", "heatmap", "--window", "5,5", "--stride", "4,4", "--size", "64x64",
    ]);
    assert_eq!(
        npy.shape,
        vec![4, 4],
        "NPY: one probability per window position"
    );
    assert_eq!(size, (64, 64));
    assert_eq!(v["view"], "heatmap");
    assert_eq!(v["windows"], 16);
    assert_eq!(v["grid"], serde_json::json!([4, 4]));
    assert_eq!(v["shape"], serde_json::json!([4, 4]));
    let p0 = v["prob_unoccluded"].as_f64().unwrap();
    assert!((p0 - v["target"]["prob"].as_f64().unwrap()).abs() < 1e-6);
    assert!(
        npy.data.iter().all(|p| (0.0..=1.0).contains(p)),
        "probabilities"
    );
    let (min, max) = (
        v["map"]["min"].as_f64().unwrap(),
        v["map"]["max"].as_f64().unwrap(),
    );
    assert!(min < max, "occlusion moves the probability: {min}..{max}");
}

#[test]
fn heatmap_of_channel_wise_windows_is_still_one_value_per_place() {
    let (v, _, npy) = run(&[
        "--view", "heatmap", "--window", "1,8,8", "--stride", "1,4,4",
    ]);
    assert_eq!(v["windows"], 27, "3 channel positions x 3 x 3");
    assert_eq!(npy.shape, vec![3, 3]);
}

#[test]
fn mask_writes_the_drop_map_and_black_pixels() {
    let (v, size, npy) = run(&["--view", "mask", "--window", "4,4", "--stride", "2,2"]);
    assert_eq!(
        npy.shape,
        vec![16, 16],
        "NPY: the per-pixel probability drop [H,W]"
    );
    assert_eq!(size, (16, 16), "the input's size");
    assert_eq!(v["view"], "mask");
    assert_eq!(v["threshold"], 0.5);
    let max = v["max_drop"].as_f64().unwrap();
    let cutoff = v["cutoff"].as_f64().unwrap();
    assert!((cutoff - 0.5 * max).abs() < 1e-6, "{cutoff} vs {max}");
    let kept = npy.data.iter().filter(|&&d| d as f64 >= cutoff).count();
    assert_eq!(v["kept_pixels"], kept as u64);
    assert_eq!(v["total_pixels"], 256);
    // A higher threshold keeps fewer pixels.
    let (v9, _, _) = run(&[
        "--view",
        "mask",
        "--window",
        "4,4",
        "--stride",
        "2,2",
        "--threshold",
        "0.9",
    ]);
    assert!(v9["kept_pixels"].as_u64() < v["kept_pixels"].as_u64());
}

#[test]
fn mask_picture_is_the_input_with_the_rest_black() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("m.png");
    let out = occlusion("vgg_like")
        .args([
            "--view", "mask", "--window", "4,4", "--stride", "2,2", "--json", "-o",
        ])
        .arg(&png)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let img = image::open(&png).unwrap().to_rgb8();
    let black = img.pixels().filter(|p| p.0 == [0, 0, 0]).count() as u64;
    let dropped = 256 - v["kept_pixels"].as_u64().unwrap();
    // Every dropped pixel is black; a kept one is black only if the input is black there.
    assert!(
        black >= dropped && dropped > 0,
        "{black} black, {dropped} dropped"
    );
}

#[test]
fn text_report_says_what_each_view_shows() {
    let dir = tempfile::tempdir().unwrap();
    let out = occlusion("vgg_like")
        .args(["--view", "heatmap", "--npy"])
        .arg(dir.path().join("h.npy"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("with a window occluded") && text.contains("unoccluded"),
        "{text}"
    );
    let out = occlusion("vgg_like")
        .args(["--view", "mask", "--npy"])
        .arg(dir.path().join("m.npy"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("kept") && text.contains("of 256 pixels"),
        "{text}"
    );
}

#[test]
fn bad_view_and_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("o.npy");
    let e = expect_error(
        occlusion("vgg_like")
            .args(["--view", "probability", "--npy"])
            .arg(&npy),
        &["--view probability", "attribution", "heatmap", "mask"],
    );
    assert!(e.starts_with("error: --view"), "{e}");
    for t in ["0", "1.5", "-0.2", "nan"] {
        expect_error(
            occlusion("vgg_like")
                .args(["--view", "mask", "--threshold", t, "--npy"])
                .arg(&npy),
            &["--threshold", "(0, 1]"],
        );
    }
    assert!(!npy.exists(), "nothing is written on a bad input");
}

/// Occlusion's picture is drawn over the input, as the interface draws it: at alpha 0 it is
/// the input itself (the same picture Grad-CAM's overlay starts from), and without the overlay
/// it is the map alone.
#[test]
fn the_occlusion_picture_lies_over_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let picture = |method: &str, extra: &[&str]| {
        let path = dir.path().join(format!("{method}{}.png", extra.join("")));
        Command::cargo_bin("convscope")
            .unwrap()
            .args(["render", method, "-o"])
            .arg(&path)
            .args(extra)
            .assert()
            .success();
        image::open(&path).unwrap().to_rgb8()
    };
    let input = picture("gradcam", &["--alpha", "0"]);
    assert_eq!(picture("occlusion", &["--alpha", "0"]), input);
    let over = picture("occlusion", &[]);
    let alone = picture("occlusion", &["--no-overlay"]);
    assert_ne!(over, alone);
    assert_ne!(over, input);
}
