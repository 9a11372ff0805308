//! Weight files: PyTorch checkpoints written by torch itself (zip and legacy formats, a training
//! checkpoint wrapping a DataParallel state_dict, a pickle that tries to run a command), and
//! safetensors; the model argument forms end to end (a checkpoint alone, `--arch` with
//! `--weights`, `--arch` alone, `hf:ORG/REPO` from a fake cache); and what a misfit says.
//!
//! Files and expected values come from `tests/fixtures/make_checkpoints.py` (torch 2.15).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::expect_error;
use crate::common::rule::{assert_logits_close, rule_input};
use assert_cmd::cargo::cargo_bin_cmd;
use convscope::imaging::npy::{read_npy_f32, write_npy_f32};
use convscope::import::checkpoint::{self, EntryType, Format};
use convscope::model::HostTensor;
use serde_json::Value;

fn ckpt(name: &str) -> PathBuf {
    crate::common::fixtures().join("checkpoints").join(name)
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(ckpt("tensors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Values as torch holds them (the JSON has them as float64), rounded to f32.
fn check_against_torch(path: &Path, format: Format) {
    let c = checkpoint::open(path).unwrap();
    assert_eq!(c.format, format);
    let want = expected();
    let names: Vec<&str> = c.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, want.keys().map(String::as_str).collect::<Vec<_>>());
    for t in &c.tensors {
        let w = &want[&t.name];
        let shape: Vec<usize> = serde_json::from_value(w["shape"].clone()).unwrap();
        assert_eq!(t.shape, shape, "{}", t.name);
        if w["dtype"] == "int64" {
            assert_eq!(t.dtype, EntryType::Other("int64"));
            assert!(t.values().is_none());
            continue;
        }
        let values: Vec<f32> = w["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(t.values().unwrap(), values, "{}", t.name);
        // Again: reading copies the values out of the file afresh each time.
        assert_eq!(t.values().unwrap(), values, "{} read twice", t.name);
    }
}

#[test]
fn zip_format_tensors_equal_torchs() {
    check_against_torch(&ckpt("tensors.zip.pth"), Format::TorchZip);
}

#[test]
fn legacy_format_tensors_equal_torchs() {
    check_against_torch(&ckpt("tensors.legacy.pth"), Format::TorchLegacy);
}

#[test]
fn a_training_checkpoint_yields_its_state_dict_without_the_wrapper_prefix() {
    let c = checkpoint::open(&ckpt("wrapped.pth")).unwrap();
    assert_eq!(c.entry.as_deref(), Some("state_dict"));
    assert_eq!(c.stripped.as_deref(), Some("module."));
    let names: Vec<&str> = c.tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"transposed") && names.contains(&"f16"),
        "{names:?}"
    );
    let want = expected();
    let t = c.tensors.iter().find(|t| t.name == "offset_view").unwrap();
    let values: Vec<f32> = want["offset_view"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(t.values().unwrap(), values);
}

#[test]
fn a_pickle_that_calls_a_function_is_refused_by_name() {
    let marker = Path::new("/tmp/convscope-exploited");
    let _ = std::fs::remove_file(marker);
    let e = checkpoint::open(&ckpt("malicious.pth"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("refused") && e.contains("posix.system"), "{e}");
    assert!(
        e.contains("state_dict()"),
        "the message says what to do: {e}"
    );
    assert!(!marker.exists());
    expect_error(
        cargo_bin_cmd!("convscope")
            .arg("summary")
            .arg(ckpt("malicious.pth")),
        &["posix.system"],
    );
    assert!(!marker.exists());
}

/// Every prefix of a checkpoint is refused with a message, never a panic.
#[test]
fn truncated_checkpoints_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["tensors.zip.pth", "tensors.legacy.pth"] {
        let bytes = std::fs::read(ckpt(name)).unwrap();
        let cut = dir.path().join(name);
        for n in (0..bytes.len() - 1).step_by(7) {
            std::fs::write(&cut, &bytes[..n]).unwrap();
            let e = checkpoint::open(&cut).err();
            assert!(e.is_some(), "{name} cut at {n} bytes was accepted");
        }
    }
}

/// Flipped bytes (in the pickles, the zip directory, the storages) either read or fail with a
/// message; none may panic.
#[test]
fn corrupted_checkpoints_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["tensors.legacy.pth", "tensors.zip.pth"] {
        flip_each_byte(&std::fs::read(ckpt(name)).unwrap(), &dir.path().join(name));
    }
}

fn flip_each_byte(bytes: &[u8], bad: &Path) {
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] ^= 0x5a;
        std::fs::write(bad, &b).unwrap();
        if let Ok(c) = checkpoint::open(bad) {
            for t in &c.tensors {
                let _ = t.values();
            }
        }
    }
}

// ---- the model argument forms, end to end ----------------------------------------------------

/// Runs `predict ARGS --input-npy (the rule's input) --json --top 10`; returns the ten logits
/// by class and stderr.
fn predict_logits(args: &[&str], envs: &[(&str, &Path)]) -> (Vec<f32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    write_npy_f32(&x, &[1, 3, 224, 224], &rule_input(224)).unwrap();
    let mut cmd = cargo_bin_cmd!("convscope");
    cmd.arg("predict").args(args).arg("--input-npy").arg(&x);
    cmd.args(["--json", "--top", "10"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut logits = vec![f32::NAN; 10];
    for p in v["top"].as_array().unwrap() {
        logits[p["index"].as_u64().unwrap() as usize] = p["logit"].as_f64().unwrap() as f32;
    }
    (logits, stderr)
}

/// torch's logits for the fixture (the zoo's tolerance).
fn assert_torch_logits(logits: &[f32]) {
    let want = read_npy_f32(&ckpt("squeezenet10.logits.npy")).unwrap().data;
    assert_logits_close("squeezenet10 vs torch", logits, &want);
}

#[test]
fn a_checkpoint_alone_is_opened_with_its_inferred_architecture() {
    let path = ckpt("squeezenet10.pth");
    let (logits, stderr) = predict_logits(&[path.to_str().unwrap()], &[]);
    assert!(
        stderr.contains("squeezenet1_1 (inferred from the checkpoint's keys)"),
        "{stderr}"
    );
    assert_torch_logits(&logits);
}

#[test]
fn arch_and_weights_load_and_explain_a_class_count_mismatch() {
    let path = ckpt("squeezenet10.pth");
    let p = path.to_str().unwrap();
    let args = [
        "--arch",
        "squeezenet1_1",
        "--weights",
        p,
        "--num-classes",
        "10",
    ];
    let (logits, _) = predict_logits(&args, &[]);
    assert_torch_logits(&logits);

    let mut cmd = cargo_bin_cmd!("convscope");
    cmd.args(["summary", "--arch", "squeezenet1_1", "--weights", p]);
    expect_error(
        &mut cmd,
        &["classifier has 10 classes", "add --num-classes 10"],
    );

    let mut cmd = cargo_bin_cmd!("convscope");
    cmd.args(["summary", "--arch", "resnet18", "--num-classes", "10", p]);
    expect_error(
        &mut cmd,
        &[
            "does not fit resnet18",
            "conv1.weight [64, 3, 7, 7]",
            "features.0.weight [64, 3, 3, 3]",
        ],
    );
}

/// The same weights as safetensors (written here from the checkpoint), by path and through a
/// fake Hugging Face cache.
#[test]
fn safetensors_and_the_hf_cache_give_the_same_network() {
    let c = checkpoint::open(&ckpt("squeezenet10.pth")).unwrap();
    let tensors: HashMap<String, HostTensor> = c
        .tensors
        .iter()
        .filter_map(|t| {
            let data = t.values()?;
            Some((
                t.name.clone(),
                HostTensor {
                    shape: t.shape.clone(),
                    data,
                },
            ))
        })
        .collect();
    let bytes = convscope::import::safetensors::write(&tensors, HashMap::new()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("hub/models--someone--squeezenet10");
    let snap = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    let file = snap.join("model.safetensors");
    std::fs::write(&file, bytes).unwrap();

    let (logits, stderr) = predict_logits(&[file.to_str().unwrap()], &[]);
    assert!(stderr.contains("safetensors"), "{stderr}");
    assert_torch_logits(&logits);

    let (logits, _) = predict_logits(&["hf:someone/squeezenet10"], &[("HF_HOME", home.path())]);
    assert_torch_logits(&logits);

    let mut cmd = cargo_bin_cmd!("convscope");
    cmd.args(["summary", "hf:someone/absent"])
        .env("HF_HOME", home.path());
    expect_error(&mut cmd, &["not in the Hugging Face cache"]);
}

#[test]
fn arch_alone_builds_random_weights_and_says_so() {
    let out = cargo_bin_cmd!("convscope")
        .args(["config", "--arch", "vgg16", "block5_conv1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("vgg16 with RANDOM weights (seed 0)"),
        "{stderr}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"]["source_name"], "features.24", "{v}");
    assert_eq!(v["config"]["filters"], 512, "{v}");

    // Scripts get the same words in the JSON.
    let out = cargo_bin_cmd!("convscope")
        .args(["summary", "--arch", "efficientnet_b0", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let origin = v["origin"].as_str().unwrap();
    assert!(
        origin.starts_with("efficientnet_b0 with RANDOM weights"),
        "{origin}"
    );
    assert_eq!(v["trainable_params"], 5_288_548);

    let mut cmd = cargo_bin_cmd!("convscope");
    cmd.args(["summary", "--arch", "resnet5"]);
    expect_error(&mut cmd, &["did you mean resnet50"]);
    let mut cmd = cargo_bin_cmd!("convscope");
    cmd.args(["summary", "--num-classes", "10"]);
    expect_error(&mut cmd, &["--num-classes goes with --arch"]);
}
