//! `convscope render`: outputs on the happy path, and every bad input: a one-line message, a
//! non-zero exit, no panic, and nothing left behind.

use crate::common::{expect_error, fixtures};
use assert_cmd::Command;
use predicates::prelude::*;

fn render(method: &str, net: &str) -> Command {
    let mut c = Command::cargo_bin("convscope").unwrap();
    let dir = fixtures().join("nets");
    c.arg("render")
        .arg(method)
        .arg(dir.join(format!("{net}.onnx")))
        .arg("--input-npy")
        .arg(dir.join(format!("{net}.input.npy")));
    c
}

/// Runs a failing command and returns its one-line message (the contract of
/// `crate::common::expect_error`).
fn fails(cmd: &mut Command) -> String {
    expect_error(cmd, &[])
}

#[test]
fn writes_png_npy_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (png, npy) = (dir.path().join("cam.png"), dir.path().join("cam.npy"));
    let out = render("gradcam", "resnet_like")
        .args(["--json", "--size", "64x48", "--target", "3", "-o"])
        .arg(&png)
        .arg("--npy")
        .arg(&npy)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["method"], "gradcam");
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["target"]["index"], 3);
    assert_eq!(
        v["layer"], "layer2.0.relu_1",
        "default layer: the last with spatial size > 1"
    );
    assert_eq!(v["shape"], serde_json::json!([4, 4]));
    for k in ["load_ms", "prepare_ms", "method_ms", "render_ms"] {
        assert!(v["timings"][k].is_number(), "{k}");
    }
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (64, 48));
    let arr = convscope::imaging::npy::read_npy_f32(&npy).unwrap();
    assert_eq!(arr.shape, vec![4, 4]);
    assert!(
        arr.data.iter().all(|v| *v >= 0.0),
        "CAMs are after the ReLU"
    );
}

#[test]
fn ig_reports_its_completeness_gap() {
    let out = render("ig", "vgg_like")
        .args(["--json", "--npy"])
        .arg(tempfile::tempdir().unwrap().path().join("ig.npy"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let gap = v["completeness_gap"].as_f64().unwrap();
    let delta = v["delta_f"].as_f64().unwrap();
    assert!(
        gap.abs() < 0.05 * delta.abs().max(1e-3),
        "gap {gap} vs F(x)-F(0) {delta}"
    );
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let e = fails(&mut render("sailency", "vgg_like"));
    assert!(
        e.contains("unknown method") && e.contains("saliency") && e.contains("gradcam"),
        "{e}"
    );
    let e = fails(render("gradcam", "vgg_like").args(["--layer", "classifier.0"]));
    assert!(
        e.contains("not a spatial feature map") && e.contains("features."),
        "{e}"
    );
    let e = fails(render("saliency", "vgg_like").args(["--target", "10"]));
    assert!(
        e.contains("out of range") && e.contains("10 classes"),
        "{e}"
    );
    let e = fails(render("saliency", "vgg_like").args(["--target", "cat"]));
    assert!(e.contains("no labels"), "{e}");
    let e = fails(render("ig", "vgg_like").args(["--steps", "0"]));
    assert!(e.contains("--steps"), "{e}");
    let e = fails(render("smoothgrad", "vgg_like").args(["--stdev", "-1"]));
    assert!(e.contains("--stdev") && e.contains("non-negative"), "{e}");
    let e = fails(render("gradcam", "vgg_like").args(["--layer", "features.O"]));
    assert!(e.contains("features.0"), "{e}");
    let e = fails(render("gradcam", "vgg_like").args(["--colormap", "rainbow"]));
    assert!(e.contains("jet"), "{e}");
    let e = fails(render("gradcam", "vgg_like").args(["--alpha", "2"]));
    assert!(e.contains("--alpha"), "{e}");
}

#[test]
fn ambiguous_and_unknown_labels() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.txt");
    let names = [
        "tabby",
        "tiger cat",
        "tiger",
        "Egyptian cat",
        "dog",
        "a",
        "b",
        "c",
        "d",
        "e",
    ];
    std::fs::write(&labels, names.join("\n")).unwrap();
    let e = fails(
        render("saliency", "vgg_like")
            .arg("--labels")
            .arg(&labels)
            .args(["--target", "cat"]),
    );
    assert!(
        e.contains("ambiguous") && e.contains("tiger cat") && e.contains("Egyptian cat"),
        "{e}"
    );
    let e = fails(
        render("saliency", "vgg_like")
            .arg("--labels")
            .arg(&labels)
            .args(["--target", "zebra"]),
    );
    assert!(e.contains("matches no label"), "{e}");
    render("saliency", "vgg_like")
        .arg("--labels")
        .arg(&labels)
        .args(["--target", "tiger", "--npy"])
        .arg(dir.path().join("s.npy"))
        .assert()
        .success()
        .stdout(predicate::str::contains("class 2 'tiger'"));
}

#[test]
fn an_unwritable_output_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("map.npy");
    let png = dir.path().join("no/such/dir/map.png");
    let e = fails(
        render("gradcam", "vgg_like")
            .arg("-o")
            .arg(&png)
            .arg("--npy")
            .arg(&npy),
    );
    assert!(e.contains("cannot write") && e.contains("map.png"), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "nothing may be written when one output fails: {left:?}"
    );
}

#[test]
fn print_without_a_terminal_prints_the_path_and_never_waits() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("cam.png");
    // stdout is a pipe here, so no terminal is queried: the path is printed instead.
    render("gradcam", "vgg_like")
        .arg("--print")
        .arg("-o")
        .arg(&png)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicate::str::contains(png.display().to_string()));
    assert!(png.exists());
    // Without -o, the picture goes where it would without --print, and its path is printed.
    render("gradcam", "vgg_like")
        .arg("--print")
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("vgg_like.input.gradcam.png"));
    assert!(dir.path().join("vgg_like.input.gradcam.png").is_file());
}

/// `--print` in a real terminal (tmux, which has no graphics protocol and does not answer the
/// kitty query): the picture is drawn in half-blocks with 24-bit colours, without hanging.
#[test]
fn print_in_a_terminal_draws_half_blocks() {
    use std::process::Command as Std;
    let session = format!("convscope-print-{}", std::process::id());
    let bin = assert_cmd::cargo::cargo_bin("convscope");
    let dir = fixtures().join("nets");
    let cmd = format!(
        "{} render gradcam {} --input-npy {} --print --size 120x80; echo CONVSCOPE-DONE; sleep 30",
        bin.display(),
        dir.join("vgg_like.onnx").display(),
        dir.join("vgg_like.input.npy").display()
    );
    let started = Std::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "100",
            "-y",
            "40",
            &cmd,
        ])
        .status()
        .expect("tmux is installed (.ci/run installs it)");
    assert!(started.success());
    let mut screen = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let out = Std::new("tmux")
            .args(["capture-pane", "-p", "-e", "-t", &session])
            .output()
            .unwrap();
        screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if screen.contains("CONVSCOPE-DONE") {
            break;
        }
    }
    let _ = Std::new("tmux")
        .args(["kill-session", "-t", &session])
        .status();
    assert!(
        screen.contains("CONVSCOPE-DONE"),
        "render --print did not finish:\n{screen}"
    );
    assert!(screen.contains("gradcam of class"), "{screen}");
    let blocks = screen.matches(['▀', '▄']).count();
    assert!(
        blocks > 500,
        "expected a half-block picture, found {blocks} block characters:\n{screen}"
    );
    assert!(screen.contains("38;2;"), "expected 24-bit colours");
}

#[test]
fn occlusion_windows_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("occ.npy");
    render("occlusion", "vgg_like")
        .args([
            "--window",
            "4,4",
            "--stride",
            "2,2",
            "--baseline",
            "0.5",
            "--npy",
        ])
        .arg(&npy)
        .assert()
        .success();
    let arr = convscope::imaging::npy::read_npy_f32(&npy).unwrap();
    assert_eq!(arr.shape, vec![3, 16, 16], "captum's [C,H,W] attribution");
    let e = fails(render("occlusion", "vgg_like").args(["--window", "0,4"]));
    assert!(e.contains("--window") && e.contains("positive"), "{e}");
    let e = fails(render("occlusion", "vgg_like").args(["--window", "32,32"]));
    assert!(e.contains("larger than the input"), "{e}");
    let e = fails(render("occlusion", "vgg_like").args(["--window", "4,4", "--stride", "5,5"]));
    assert!(
        e.contains("--stride") && e.contains("never be occluded"),
        "{e}"
    );
    let e = fails(render("occlusion", "vgg_like").args(["--baseline", "bright"]));
    assert!(e.contains("--baseline"), "{e}");
}

#[test]
fn filters_are_the_kernels_exactly() {
    use convscope::import::onnx::proto::ModelProto;
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("filters.npy");
    let png = dir.path().join("filters.png");
    render("filters", "resnet_like")
        .args(["--layer", "conv1", "--npy"])
        .arg(&npy)
        .arg("-o")
        .arg(&png)
        .assert()
        .success();
    // The kernel, decoded here straight from the ONNX initializer's bytes.
    let bytes = std::fs::read(fixtures().join("nets/resnet_like.onnx")).unwrap();
    let model = ModelProto::decode(bytes.as_slice()).unwrap();
    let init = model
        .graph
        .unwrap()
        .initializer
        .into_iter()
        .find(|t| t.name == "conv1.weight")
        .unwrap();
    let want: Vec<f32> = init
        .raw_data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let got = convscope::imaging::npy::read_npy_f32(&npy).unwrap();
    assert_eq!(
        got.shape,
        init.dims.iter().map(|&d| d as usize).collect::<Vec<_>>()
    );
    assert_eq!(
        got.data, want,
        "NPY is the raw kernel tensor [O, I, kh, kw]"
    );
    let img = image::open(&png).unwrap();
    assert!(
        img.width() > 100 && img.height() > 100,
        "a grid of 8 RGB tiles"
    );
    let e = fails(render("filters", "resnet_like").args(["--layer", "bn1"]));
    assert!(
        e.contains("no convolution kernels") && e.contains("conv1"),
        "{e}"
    );
    let e = fails(render("filters", "resnet_like").args([
        "--layer",
        "layer1.0.conv1",
        "--in-channel",
        "8",
    ]));
    assert!(
        e.contains("--in-channel 8 is out of range") && e.contains("8 input channels"),
        "{e}"
    );
}

#[test]
fn features_are_the_activation_onnxruntime_computes() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("features.npy");
    render("features", "resnet_like")
        .args(["--layer", "conv1", "--channels", "first:4", "--npy"])
        .arg(&npy)
        .assert()
        .success();
    let got = crate::common::npy_tensor(&npy);
    // onnxruntime's output of /conv1/Conv on the same input (batch dim dropped).
    let want = crate::common::npy_tensor(&fixtures().join("nets/resnet_like.act.0.npy"))
        .squeeze(0)
        .unwrap();
    let err = crate::common::rel_max_err(&got, &want);
    assert!(err < 1e-4, "feature maps differ from onnxruntime by {err}");
    let e =
        fails(render("features", "resnet_like").args(["--layer", "conv1", "--channels", "3,99"]));
    assert!(
        e.contains("channel 99 is out of range") && e.contains("8 channels"),
        "{e}"
    );
}

#[test]
fn scorecam_scores_all_or_the_top_channels() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| -> serde_json::Value {
        let out = render("scorecam", "resnet_like")
            .args(["--json", "--npy"])
            .arg(dir.path().join("s.npy"))
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    assert_eq!(
        run(&[])["channels_scored"],
        16,
        "layer2.0.relu_1 has 16 channels"
    );
    assert_eq!(run(&["--top-channels", "4"])["channels_scored"], 4);
}

/// Runs `render saliency` on the vgg-like net with `args`; returns the JSON report and the map.
fn saliency(args: &[&str]) -> (serde_json::Value, Vec<f32>) {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("s.npy");
    crate::common::report_and_map(
        render("saliency", "vgg_like")
            .args(args)
            .arg("--json")
            .arg("--npy")
            .arg(&npy),
        &npy,
    )
}

/// The objective is one abstraction: a channel of a layer (`--layer L --channel K`) is
/// explained by the same gradient method as a class, and its map is the gradient of the
/// channel's mean, checked here by central finite differences of that mean on the input's
/// most salient elements. The net is piecewise linear, so a small step gives the slope
/// exactly unless it crosses a ReLU's kink: 2% tolerance for f32 rounding of the difference.
#[test]
fn saliency_explains_a_channel_of_a_layer() {
    use convscope::exec::Executor;
    use convscope::methods::Objective;
    let (report, map) = saliency(&["--layer", "features.5", "--channel", "3"]);
    assert_eq!(report["objective"], "channel 3 of features.5");
    assert!(report["target"].is_null(), "{report}");

    let net = fixtures().join("nets");
    let graph = convscope::import::onnx::load(&net.join("vgg_like.onnx")).unwrap();
    let params = convscope::exec::Params::load(&graph, &candle_core::Device::Cpu).unwrap();
    let exec = Executor::new(&graph, &params);
    let x = crate::common::npy_tensor(&net.join("vgg_like.input.npy"));
    let objective = Objective::channel(&graph, graph.find("features.5").unwrap(), 3).unwrap();
    let base: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let mut order: Vec<usize> = (0..map.len()).collect();
    order.sort_by(|&a, &b| map[b].abs().total_cmp(&map[a].abs()));
    let eps = 1e-3f32;
    for &i in &order[..5] {
        let at = |d: f32| {
            let mut v = base.clone();
            v[i] += d;
            let t = candle_core::Tensor::from_vec(v, x.dims(), &candle_core::Device::Cpu).unwrap();
            objective.value(&exec, &t).unwrap()
        };
        let fd = (at(eps) - at(-eps)) / (2.0 * eps);
        let err = (fd - map[i]).abs() / map[i].abs();
        assert!(
            err < 0.02,
            "element {i}: gradient {} vs finite difference {fd}",
            map[i]
        );
    }
}

/// `--target I,J` explains the sum of the classes' scores: its gradient is the sum of their
/// gradients (linearity), to f32 rounding.
#[test]
fn saliency_of_several_classes_is_the_sum_of_theirs() {
    let (report, both) = saliency(&["--target", "1,3"]);
    assert_eq!(report["objective"], "classes 1+3");
    let (one, a) = saliency(&["--target", "1"]);
    assert_eq!(one["objective"], "class 1");
    let (_, b) = saliency(&["--target", "3"]);
    for i in 0..both.len() {
        let want = a[i] + b[i];
        assert!(
            (both[i] - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "{i}: {} vs {want}",
            both[i]
        );
    }
    // A class and a unit at once, or a unit without its layer, are usage errors.
    let e = fails(render("saliency", "vgg_like").args([
        "--target",
        "1",
        "--layer",
        "features.5",
        "--channel",
        "3",
    ]));
    assert!(e.contains("give one of them"), "{e}");
    let e = fails(render("saliency", "vgg_like").args(["--channel", "3"]));
    assert!(e.contains("--layer"), "{e}");
    let e = fails(render("gradcam", "vgg_like").args(["--channel", "3"]));
    assert!(
        e.contains("--channel is not an option of gradcam; it is taken by saliency"),
        "{e}"
    );
}
