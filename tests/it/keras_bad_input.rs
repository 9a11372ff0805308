//! Keras files that are damaged, inconsistent or unsafe: each is one `error:` line naming the
//! file and what to do, never a panic. Truncations and byte flips follow the checkpoint tests
//! (every 7th prefix, every byte flipped); the rest edit a real archive's config.json.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::common::{e2e_bin, expect_error, fixtures};
use assert_cmd::Command;
use convscope::import::open_model;
use serde_json::Value;

fn keras(name: &str) -> PathBuf {
    fixtures().join("keras").join(name)
}

fn summary(path: &Path) -> Command {
    let mut c = Command::new(e2e_bin());
    c.arg("summary").arg(path);
    c
}

/// Opening, and when it opens, running a forward pass: an error or a result, never a panic.
/// Opens the model and reads every weight (opening reads none: they are read when loaded).
fn open_quietly(path: &Path) -> bool {
    let Ok(graph) = open_model(path.to_str().unwrap()) else {
        return false;
    };
    graph
        .layers
        .iter()
        .flat_map(|l| &l.weights)
        .all(|w| w.load().is_ok())
}

#[test]
fn truncated_keras_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["shared_cf.h5", "shared_cf.keras"] {
        let bytes = std::fs::read(keras(name)).unwrap();
        let cut = dir.path().join(name);
        for n in (0..bytes.len() - 1).step_by(7) {
            std::fs::write(&cut, &bytes[..n]).unwrap();
            assert!(!open_quietly(&cut), "{name} cut at {n} bytes was accepted");
        }
    }
}

/// Every byte of a small HDF5 model flipped in turn: opens or fails, never panics. (In the
/// archive a flip inside a stored member fails its CRC; the HDF5 file is the parser's test.)
#[test]
fn flipped_hdf5_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(keras("shared_cf.h5")).unwrap();
    let bad = dir.path().join("flipped.h5");
    let mut opened = 0;
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        std::fs::write(&bad, &b).unwrap();
        opened += usize::from(open_quietly(&bad));
    }
    // Flips in padding and unused space leave a readable file: the loop did open models.
    assert!(opened > 0);
}

/// The archive with its config.json replaced by `edit(config)`.
fn edited(dir: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut edit = Some(edit);
    let src = std::fs::File::open(keras(name)).unwrap();
    let mut zip = zip::ZipArchive::new(src).unwrap();
    let out = dir.join(format!("edited_{name}"));
    let mut w = zip::ZipWriter::new(std::fs::File::create(&out).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let mut bytes = vec![];
        f.read_to_end(&mut bytes).unwrap();
        if name == "config.json" {
            let mut v: Value = serde_json::from_slice(&bytes).unwrap();
            (edit.take().expect("one config.json"))(&mut v);
            bytes = serde_json::to_vec(&v).unwrap();
        }
        w.start_file(name, opts).unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap();
    out
}

/// The config of the layer named `name` in a Functional model's config.
fn layer<'a>(v: &'a mut Value, name: &str) -> &'a mut Value {
    v["config"]["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| l["name"] == name)
        .unwrap()
}

#[test]
fn config_naming_missing_weights_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = edited(dir.path(), "functional_cnn.keras", |v| {
        layer(v, "branch_a")["config"]["use_bias"] = Value::Bool(true);
    });
    expect_error(
        &mut summary(&f),
        &["branch_a", "bias", "not in the weights", "save"],
    );
}

#[test]
fn weights_of_the_wrong_shape_name_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let f = edited(dir.path(), "functional_cnn.keras", |v| {
        layer(v, "conv_relu")["config"]["filters"] = Value::from(7);
    });
    expect_error(
        &mut summary(&f),
        &["conv_relu/kernel", "[3, 3, 3, 6]", "[3, 3, 3, 7]"],
    );
}

#[test]
fn a_config_cycle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = edited(dir.path(), "functional_cnn.keras", |v| {
        let node = &mut layer(v, "conv_relu")["inbound_nodes"][0]["args"][0]["config"];
        node["keras_history"][0] = Value::from("bn");
    });
    expect_error(&mut summary(&f), &["cycle", "conv_relu"]);
}

#[test]
fn an_absurd_input_dimension_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = edited(dir.path(), "functional_cnn.keras", |v| {
        layer(v, "image")["config"]["batch_shape"][1] = Value::from(1u64 << 40);
    });
    expect_error(&mut summary(&f), &["image", "dim 1"]);
}

#[test]
fn weights_of_another_model_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // nested's config over functional_cnn's weights.
    let mut other = String::new();
    zip::ZipArchive::new(std::fs::File::open(keras("nested.keras")).unwrap())
        .unwrap()
        .by_name("config.json")
        .unwrap()
        .read_to_string(&mut other)
        .unwrap();
    let other: Value = serde_json::from_str(&other).unwrap();
    let f = edited(dir.path(), "functional_cnn.keras", |v| *v = other);
    expect_error(
        &mut summary(&f),
        &["edited_functional_cnn.keras", "weights"],
    );
}

#[test]
fn code_and_custom_classes_are_refused_by_name() {
    expect_error(
        &mut summary(&keras("bad_lambda.keras")),
        &["'double'", "Lambda", "never runs"],
    );
    expect_error(
        &mut summary(&keras("bad_custom.keras")),
        &["'scale'", "mine>Scale", "built-in"],
    );
}

#[test]
fn integer_weights_are_refused() {
    expect_error(
        &mut summary(&keras("bad_dtype.h5")),
        &["bad_dtype.h5", "kernel", "32-bit integer"],
    );
}

#[test]
fn a_weights_only_file_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    // The weights of a full .h5 without its config: write one with the root attribute gone is
    // not possible without an HDF5 writer, so take the Keras 3 weights file out of an archive.
    let mut bytes = vec![];
    zip::ZipArchive::new(std::fs::File::open(keras("shared_cf.keras")).unwrap())
        .unwrap()
        .by_name("model.weights.h5")
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let f = dir.path().join("shared_cf.weights.h5");
    std::fs::write(&f, bytes).unwrap();
    expect_error(&mut summary(&f), &["weights-only", "shared_cf.weights.h5"]);
}

/// A layer name with terminal escapes is shown escaped, never sent to the terminal raw.
#[test]
fn escape_sequences_in_layer_names_are_not_printed_raw() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "probs\u{1b}]0;pwned\u{7}\u{1b}[2J";
    let f = edited(dir.path(), "functional_cnn.keras", |v| {
        let l = layer(v, "probs");
        l["name"] = Value::from(evil);
        l["config"]["name"] = Value::from(evil);
        // One output is stored as one reference, `["probs", 0, 0]`.
        v["config"]["output_layers"][0] = Value::from(evil);
    });
    let out = summary(&f).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("probs"), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "raw escape in: {text:?}"
    );
}

/// A folder with a Keras config but weights in the NPZ format convscope does not read, and a
/// folder that is not a model: one line each, saying what to give.
#[test]
fn folders_that_are_not_readable_models_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("npz_model");
    std::fs::create_dir(&npz).unwrap();
    std::fs::write(npz.join("config.json"), "{}").unwrap();
    std::fs::write(npz.join("model.weights.npz"), "").unwrap();
    expect_error(
        &mut summary(&npz),
        &["npz_model", "model.weights.npz", "HDF5"],
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    expect_error(
        &mut summary(&empty),
        &[
            "empty",
            "is a directory",
            "config.json and model.weights.h5",
        ],
    );
}

/// A `.keras` archive whose weights are a sharded `*.weights.json` map (Keras 3.15 writes none;
/// a later one or another tool might): refused in one line that says how to save it instead.
#[test]
fn a_sharded_archive_says_how_to_save_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sharded.keras");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [
        ("metadata.json", &b"{\"keras_version\": \"3.15.1\"}"[..]),
        ("config.json", b"{}"),
        ("model.weights.json", b"{\"weight_map\": {}}"),
    ] {
        w.start_file(name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
    expect_error(
        &mut summary(&path),
        &["sharded.keras", "shards", "without max_shard_size"],
    );
}
