//! Bad inputs on the command line: every one must end in a non-zero exit with exactly one line
//! on stderr, `error: ` followed by what is wrong, nothing on stdout and no panic.
//!
//! The broken ONNX files are made here, in a temporary folder, by decoding a valid fixture (or
//! building a tiny graph) with the importer's own prost structs, breaking it and re-encoding.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::expect_error;
use crate::common::onnx::*;
use assert_cmd::cargo::cargo_bin_cmd;
use assert_cmd::Command;
use convscope::imaging::npy::write_npy_f32;
use predicates::prelude::*;
use tempfile::TempDir;

fn convscope() -> Command {
    cargo_bin_cmd!("convscope")
}

fn summary(model: &Path) -> Command {
    let mut c = convscope();
    c.arg("summary").arg(model);
    c
}

fn predict_npy(model: &Path, npy: &Path) -> Command {
    let mut c = convscope();
    c.arg("predict").arg(model).arg("--input-npy").arg(npy);
    c
}

fn predict_image(model: &Path, image: &Path) -> Command {
    let mut c = convscope();
    c.arg("predict").arg(model).arg("--image").arg(image);
    c
}

// ---- 1-3: files that are not ONNX models ----

#[test]
fn text_file_as_model() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("notes.onnx");
    fs::write(&path, "this is a text file, not a model\nsecond line\n").unwrap();
    expect_error(
        &mut summary(&path),
        &["notes.onnx", "not a valid onnx model"],
    );
    expect_error(
        convscope().arg("config").arg(&path).arg("features.0"),
        &["not a valid onnx model"],
    );
    expect_error(
        &mut predict_npy(&path, &vgg_input()),
        &["not a valid onnx model"],
    );
}

#[test]
fn png_image_as_model() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("picture.png");
    let img =
        image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 16, y as u8 * 16, 128]));
    img.save(&path).unwrap();
    expect_error(
        &mut summary(&path),
        &["picture.png", "not a valid onnx model"],
    );
}

#[test]
fn truncated_model() {
    let dir = TempDir::new().unwrap();
    let bytes = fs::read(nets().join("resnet_like.onnx")).unwrap();
    let path = dir.path().join("resnet_half.onnx");
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    expect_error(
        &mut summary(&path),
        &["resnet_half.onnx", "not a valid onnx model", "truncated"],
    );
    expect_error(&mut predict_npy(&path, &vgg_input()), &["truncated"]);
}

#[test]
fn empty_model() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("empty.onnx");
    fs::write(&path, b"").unwrap();
    expect_error(&mut summary(&path), &["empty.onnx", "empty"]);
}

#[test]
fn directory_as_model() {
    let dir = TempDir::new().unwrap();
    expect_error(&mut summary(dir.path()), &["directory"]);
}

// ---- 4: unsupported op ----

#[test]
fn unsupported_op_names_op_node_and_supported_ops() {
    let dir = TempDir::new().unwrap();
    let mut m = vgg_proto();
    let relu = graph_mut(&mut m)
        .node
        .iter_mut()
        .find(|n| n.op_type == "Relu")
        .expect("vgg_like has a Relu");
    relu.op_type = "NonMaxSuppression".into();
    let node_name = relu.name.clone();
    let path = write_model(dir.path(), "nms.onnx", &m);
    let line = expect_error(
        &mut summary(&path),
        &[
            "unsupported",
            "NonMaxSuppression",
            &node_name,
            "Conv",
            "Relu",
        ],
    );
    assert!(
        line.contains("Conv,") || line.contains(", Conv"),
        "no list of ops: {line}"
    );

    let mut m = vgg_proto();
    let relu = graph_mut(&mut m)
        .node
        .iter_mut()
        .find(|n| n.op_type == "Relu")
        .unwrap();
    relu.op_type = "LSTM".into();
    let path = write_model(dir.path(), "lstm.onnx", &m);
    expect_error(&mut summary(&path), &["LSTM", "Relu", "Conv"]);
    expect_error(&mut predict_npy(&path, &vgg_input()), &["LSTM"]);
}

#[test]
fn op_from_another_domain_is_unsupported() {
    let dir = TempDir::new().unwrap();
    let mut m = vgg_proto();
    let relu = graph_mut(&mut m)
        .node
        .iter_mut()
        .find(|n| n.op_type == "Relu")
        .unwrap();
    relu.domain = "com.microsoft".into();
    let path = write_model(dir.path(), "ms.onnx", &m);
    expect_error(&mut summary(&path), &["com.microsoft", "Relu"]);
}

// ---- 5-6: inconsistent tensors ----

#[test]
fn absurd_tensor_size_is_refused_without_allocating() {
    let dir = TempDir::new().unwrap();
    let mut m = vgg_proto();
    let g = graph_mut(&mut m);
    let w = g
        .initializer
        .iter_mut()
        .find(|t| t.name == "features.0.weight")
        .unwrap();
    w.dims = vec![1_000_000, 1_000_000, 1000];
    w.raw_data = vec![0; 64].into();
    let path = write_model(dir.path(), "absurd.onnx", &m);
    let start = Instant::now();
    let line = expect_error(&mut summary(&path), &["features.0.weight", "corrupt"]);
    assert!(line.contains("absurd"), "{line}");
    expect_error(&mut predict_npy(&path, &vgg_input()), &["absurd"]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );

    // The same with a dimension product that overflows 64 bits.
    let w = graph_mut(&mut m)
        .initializer
        .iter_mut()
        .find(|t| t.name == "features.0.weight")
        .unwrap();
    w.dims = vec![i64::MAX, i64::MAX, 4];
    let path = write_model(dir.path(), "overflow.onnx", &m);
    expect_error(&mut summary(&path), &["absurd"]);
}

#[test]
fn negative_dimension_is_refused() {
    let dir = TempDir::new().unwrap();
    let mut m = vgg_proto();
    let w = graph_mut(&mut m)
        .initializer
        .iter_mut()
        .find(|t| t.name == "features.0.weight")
        .unwrap();
    w.dims[0] = -8;
    let path = write_model(dir.path(), "negative.onnx", &m);
    expect_error(&mut summary(&path), &["features.0.weight", "negative"]);
}

#[test]
fn raw_data_shorter_than_dims_need() {
    let dir = TempDir::new().unwrap();
    let mut m = vgg_proto();
    let w = graph_mut(&mut m)
        .initializer
        .iter_mut()
        .find(|t| t.name == "features.0.weight")
        .unwrap();
    assert_eq!(
        w.raw_data.len(),
        8 * 3 * 3 * 3 * 4,
        "fixture stores raw_data"
    );
    w.raw_data.truncate(100);
    let path = write_model(dir.path(), "short.onnx", &m);
    let line = expect_error(
        &mut summary(&path),
        &["features.0.weight", "100 bytes", "864"],
    );
    assert!(line.contains("short.onnx"), "{line}");
    expect_error(
        &mut predict_npy(&path, &vgg_input()),
        &["features.0.weight"],
    );
}

// ---- 7: graph structure ----

#[test]
fn graph_with_a_cycle() {
    let dir = TempDir::new().unwrap();
    // add reads relu's output, relu reads add's.
    let m = tiny_model(
        vec![
            node("the_add", "Add", &["x", "b"], &["a"]),
            node("the_relu", "Relu", &["a"], &["b"]),
        ],
        "b",
    );
    let path = write_model(dir.path(), "cycle.onnx", &m);
    let line = expect_error(&mut summary(&path), &["cycle"]);
    assert!(
        line.contains("the_add") || line.contains("the_relu"),
        "no node named: {line}"
    );
    expect_error(&mut predict_npy(&path, &vgg_input()), &["cycle"]);
}

#[test]
fn graph_with_a_dangling_input() {
    let dir = TempDir::new().unwrap();
    let m = tiny_model(
        vec![
            node("relu0", "Relu", &["x"], &["a"]),
            node("adder", "Add", &["a", "ghost"], &["y"]),
        ],
        "y",
    );
    let path = write_model(dir.path(), "dangling.onnx", &m);
    expect_error(&mut summary(&path), &["dangling", "ghost", "adder"]);
}

#[test]
fn a_model_with_two_inputs_is_refused() {
    let dir = TempDir::new().unwrap();
    let mut m = tiny_model(vec![node("adder", "Add", &["x", "y"], &["z"])], "z");
    let graph = m.graph.as_mut().unwrap();
    graph.input.push(float_input("y", &[1, 3, 4, 4]));
    let path = write_model(dir.path(), "two_inputs.onnx", &m);
    expect_error(&mut summary(&path), &["2 inputs", "x, y", "single-input"]);
}

#[test]
fn graph_output_nobody_produces() {
    let dir = TempDir::new().unwrap();
    let m = tiny_model(vec![node("relu0", "Relu", &["x"], &["a"])], "nowhere");
    let path = write_model(dir.path(), "no_output.onnx", &m);
    expect_error(&mut summary(&path), &["nowhere"]);
}

// ---- 8: external data outside the model's folder ----

#[test]
fn external_data_escaping_the_folder() {
    let dir = TempDir::new().unwrap();
    let sub = dir.path().join("models");
    fs::create_dir(&sub).unwrap();
    let mut m = vgg_proto();
    // The file it points to exists, so only the location itself can be the reason.
    let bytes = externalize(&mut m, "../x.bin");
    fs::write(dir.path().join("x.bin"), bytes).unwrap();
    let path = write_model(&sub, "escape.onnx", &m);
    expect_error(
        &mut summary(&path),
        &["../x.bin", "next to the model", "features.0.weight"],
    );
    expect_error(&mut predict_npy(&path, &vgg_input()), &["../x.bin"]);

    let abs = dir.path().join("x.bin").to_string_lossy().into_owned();
    let mut m = vgg_proto();
    externalize(&mut m, &abs);
    let path = write_model(&sub, "absolute.onnx", &m);
    expect_error(&mut summary(&path), &[&abs, "next to the model"]);
}

// ---- 9: images that do not decode ----

#[test]
fn random_bytes_named_jpg() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("cat.jpg");
    fs::write(&path, noise(4096, 0x9e37_79b9_7f4a_7c15)).unwrap();
    expect_error(
        &mut predict_image(&vgg(), &path),
        &["cat.jpg", "cannot decode image", "png or jpeg"],
    );

    // Noise behind a JPEG signature gets as far as the JPEG decoder.
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend(noise(4096, 7));
    fs::write(&path, bytes).unwrap();
    expect_error(
        &mut predict_image(&vgg(), &path),
        &["cat.jpg", "cannot decode image"],
    );
}

#[test]
fn empty_image() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("blank.png");
    fs::write(&path, b"").unwrap();
    expect_error(&mut predict_image(&vgg(), &path), &["blank.png", "empty"]);
}

/// The bytes of a real PNG: `../shared/data/images/chelsea.png` when there is one, else one
/// made here.
fn png_bytes() -> Vec<u8> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/images/chelsea.png");
    if let Ok(bytes) = fs::read(shared) {
        return bytes;
    }
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        let n = noise(3, u64::from(x * 131 + y * 7 + 1));
        image::Rgb([n[0], n[1], n[2]])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn truncated_png() {
    let dir = TempDir::new().unwrap();
    let bytes = png_bytes();
    let path = dir.path().join("half.png");
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    expect_error(
        &mut predict_image(&vgg(), &path),
        &["half.png", "cannot decode image"],
    );
    // Only the signature and a piece of the header.
    fs::write(&path, &bytes[..20]).unwrap();
    expect_error(
        &mut predict_image(&vgg(), &path),
        &["half.png", "cannot decode image"],
    );
}

// ---- 10: --input-npy that does not fit ----

#[test]
fn npy_of_the_wrong_shape() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("small.npy");
    write_npy_f32(&path, &[1, 3, 8, 8], &[0.5; 3 * 8 * 8]).unwrap();
    expect_error(
        &mut predict_npy(&vgg(), &path),
        &["small.npy", "(1, 3, 8, 8)", "(1, 3, 16, 16)"],
    );
}

#[test]
fn npy_in_the_other_layout_gets_a_hint() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nhwc.npy");
    write_npy_f32(&path, &[1, 16, 16, 3], &[0.5; 3 * 16 * 16]).unwrap();
    expect_error(&mut predict_npy(&vgg(), &path), &["(1, 16, 16, 3)", "NCHW"]);
}

#[test]
fn npy_of_the_wrong_dtype() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("double.npy");
    let mut header =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3, 16, 16), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for i in 0..3 * 16 * 16 {
        bytes.extend((i as f64 / 100.0).to_le_bytes());
    }
    fs::write(&path, bytes).unwrap();
    expect_error(
        &mut predict_npy(&vgg(), &path),
        &["double.npy", "float64", "float32"],
    );
}

#[test]
fn npy_that_is_not_npy() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("input.npy");
    fs::write(&path, "1,2,3\n4,5,6\n").unwrap();
    expect_error(
        &mut predict_npy(&vgg(), &path),
        &["input.npy", "not a numpy"],
    );
}

#[test]
fn npy_with_nan() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nan.npy");
    let mut data = vec![0.0f32; 3 * 16 * 16];
    data[5] = f32::NAN;
    write_npy_f32(&path, &[1, 3, 16, 16], &data).unwrap();
    expect_error(&mut predict_npy(&vgg(), &path), &["nan.npy", "NaN"]);
}

// ---- 11: missing files ----

#[test]
fn missing_model_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.onnx");
    expect_error(&mut summary(&path), &["nope.onnx", "not found"]);
    expect_error(
        convscope().arg("config").arg(&path).arg("features.0"),
        &["nope.onnx", "not found"],
    );
    expect_error(
        &mut predict_npy(&path, &vgg_input()),
        &["nope.onnx", "not found"],
    );
}

#[test]
fn missing_image_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.png");
    expect_error(
        &mut predict_image(&vgg(), &path),
        &["nope.png", "not found"],
    );
}

#[test]
fn missing_npy_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.npy");
    expect_error(&mut predict_npy(&vgg(), &path), &["nope.npy", "not found"]);
}

#[test]
fn missing_labels_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.txt");
    expect_error(
        predict_npy(&vgg(), &vgg_input()).arg("--labels").arg(&path),
        &["nope.txt", "not found"],
    );
}

// ---- 12: unknown layer ----

#[test]
fn unknown_layer_suggests_the_real_name() {
    for wrong in ["features.O", "feature.0", "Features.0"] {
        let line = expect_error(
            convscope().arg("config").arg(vgg()).arg(wrong),
            &[wrong, "did you mean", "features.0"],
        );
        assert!(line.contains(&format!("'{wrong}'")), "{line}");
    }
    expect_error(
        convscope().arg("config").arg(vgg()).arg("zzzzzz"),
        &["zzzzzz", "summary"],
    );
}

// ---- 13: --device ----

#[test]
#[cfg(not(feature = "cuda"))]
fn device_cuda_without_the_feature() {
    for dev in ["cuda", "cuda:0"] {
        expect_error(
            predict_npy(&vgg(), &vgg_input()).args(["--device", dev]),
            &["cuda", "rebuild", "--features cuda", "--device cpu"],
        );
    }
}

#[test]
fn device_unknown() {
    expect_error(
        predict_npy(&vgg(), &vgg_input()).args(["--device", "tpu"]),
        &["tpu", "auto", "cpu", "cuda"],
    );
    expect_error(
        predict_npy(&vgg(), &vgg_input()).args(["--device", "cuda:x"]),
        &["cuda:x", "cuda:N"],
    );
}

// ---- 14: --preprocess ----

#[test]
fn preprocess_bogus() {
    // A clap error: may span several lines, so only the exit code and the valid names.
    convscope()
        .arg("predict")
        .arg(vgg())
        .args(["--image", "whatever.png", "--preprocess", "bogus"])
        .assert()
        .failure()
        .code(predicate::ne(101))
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("bogus"))
        .stderr(predicate::str::contains("imagenet"))
        .stderr(predicate::str::contains("caffe"))
        .stderr(predicate::str::contains("unit"))
        .stderr(predicate::str::contains("signed"))
        .stderr(predicate::str::contains("panicked").not());
}

// ---- 15: --labels ----

#[test]
fn labels_file_with_the_wrong_count() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("labels.txt");
    let names: Vec<String> = (0..9).map(|i| format!("class {i}")).collect();
    fs::write(&path, names.join("\n") + "\n").unwrap();
    expect_error(
        predict_npy(&vgg(), &vgg_input()).arg("--labels").arg(&path),
        &["labels.txt", "9 labels", "10 classes"],
    );
    let names: Vec<String> = (0..11).map(|i| format!("class {i}")).collect();
    fs::write(&path, names.join("\n")).unwrap();
    expect_error(
        predict_npy(&vgg(), &vgg_input()).arg("--labels").arg(&path),
        &["11 labels", "10 classes"],
    );
    fs::write(&path, "\n\n").unwrap();
    expect_error(
        predict_npy(&vgg(), &vgg_input()).arg("--labels").arg(&path),
        &["empty"],
    );
}

#[test]
fn labels_file_with_the_right_count_works() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("labels.txt");
    let names: Vec<String> = (0..10).map(|i| format!("class {i}")).collect();
    fs::write(&path, names.join("\n") + "\n\n").unwrap();
    predict_npy(&vgg(), &vgg_input())
        .arg("--labels")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("class "))
        .stderr(predicate::str::is_empty());
}

// ---- usage errors caught by clap ----

#[test]
fn predict_needs_an_input() {
    convscope()
        .arg("predict")
        .arg(vgg())
        .assert()
        .failure()
        .code(predicate::ne(101))
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("--image").or(predicate::str::contains("--input-npy")));
}

/// The interface checks its arguments before it touches the terminal: each mistake is one line
/// on a normal screen; without a terminal it says what to use instead.
#[test]
fn the_interface_refuses_bad_arguments_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    expect_error(
        convscope().arg("no-such-model.onnx"),
        &["no-such-model.onnx"],
    );
    expect_error(
        convscope().args(["demo", "--image", "no-such-picture.png"]),
        &["no-such-picture.png"],
    );
    expect_error(
        convscope().args(["--graphics", "ascii-art"]),
        &["ascii-art", "halfblocks"],
    );
    let missing = dir.path().join("missing");
    expect_error(
        convscope().arg("--export-dir").arg(&missing),
        &["--export-dir", "not a directory"],
    );
    // The tests run without a terminal.
    expect_error(convscope().arg("demo"), &["needs a terminal", "render"]);
}

/// The decoder ops outside what convscope runs: a Resize by a fraction, a linear Resize with
/// aligned corners, a Max of three inputs, a grouped ConvTranspose: one line each, naming the
/// node and what is run instead.
#[test]
fn decoder_ops_outside_what_runs_say_so() {
    use convscope::import::onnx::proto::{AttributeProto, ModelProto};
    use prost::Message;
    let dir = TempDir::new().unwrap();
    let base = ModelProto::decode(&*fs::read(nets().join("decoder_ops.onnx")).unwrap()).unwrap();
    let edit = |name: &str, change: &dyn Fn(&mut ModelProto)| {
        let mut m = base.clone();
        change(&mut m);
        write_model(dir.path(), name, &m)
    };
    let node = |m: &mut ModelProto, name: &str| -> usize {
        graph_mut(m)
            .node
            .iter()
            .position(|n| n.name == name)
            .unwrap()
    };
    let fraction = edit("fraction.onnx", &|m| {
        let g = graph_mut(m);
        let scales = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "near_scales")
            .unwrap();
        scales.float_data = vec![1.0, 1.0, 1.5, 2.0];
        scales.raw_data.clear();
    });
    expect_error(&mut summary(&fraction), &["near", "1.5", "whole factors"]);
    let corners = edit("corners.onnx", &|m| {
        let i = node(m, "lin");
        let a = graph_mut(m).node[i]
            .attribute
            .iter_mut()
            .find(|a| a.name == "coordinate_transformation_mode")
            .unwrap();
        a.s = b"align_corners".to_vec();
    });
    expect_error(
        &mut summary(&corners),
        &["lin", "align_corners", "half-pixel"],
    );
    let three = edit("three.onnx", &|m| {
        let i = node(m, "hi");
        graph_mut(m).node[i].input.push("near".into());
    });
    expect_error(&mut summary(&three), &["hi", "3 inputs", "two"]);
    let grouped = edit("grouped.onnx", &|m| {
        let i = node(m, "up1");
        graph_mut(m).node[i].attribute.push(AttributeProto {
            name: "group".into(),
            i: 2,
            r#type: 2,
            ..Default::default()
        });
    });
    expect_error(&mut summary(&grouped), &["up1", "group"]);
}
