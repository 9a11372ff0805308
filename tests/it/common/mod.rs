//! Shared helpers for the integration tests: fixture paths, NPY loading, tolerant comparison.
#![allow(dead_code)]

pub mod keras;
pub mod onnx;
pub mod rule;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use candle_core::{Device, Tensor};
use convscope::imaging::npy::read_npy_f32;
use predicates::prelude::*;

/// The binary the end-to-end tests run: `CONVSCOPE_E2E_BIN` (the release binary, as `.ci/run`
/// sets it), else this test build's.
pub fn e2e_bin() -> String {
    std::env::var("CONVSCOPE_E2E_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_convscope").into())
}

/// The device the reference tests compute on: `CONVSCOPE_TEST_DEVICE` (`cpu`, the default, or
/// `cuda:N` in a build with `--features cuda`). The references are read into host memory and
/// compared there, so only the computation moves. On CUDA, candle leaves TF32 off (as PyTorch
/// does): float32 GEMMs accumulate in float32, and the CPU's tolerances apply.
pub fn device() -> Device {
    static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    DEVICE
        .get_or_init(|| match std::env::var("CONVSCOPE_TEST_DEVICE") {
            Ok(spec) => convscope::exec::select_device(&spec)
                .unwrap_or_else(|e| panic!("CONVSCOPE_TEST_DEVICE={spec}: {e}")),
            Err(_) => Device::Cpu,
        })
        .clone()
}

/// The repository's root: the one `cargo test` names at run time, else the one the test binary
/// was built in (`benches/gpu_check.sh` runs a test binary built elsewhere, and sets it).
pub fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

pub fn npy_tensor(path: &Path) -> Tensor {
    let a = read_npy_f32(path).unwrap_or_else(|e| panic!("{e}"));
    Tensor::from_vec(a.data, a.shape, &Device::Cpu).unwrap()
}

/// Largest absolute difference, relative to the reference's largest magnitude. Relative to
/// the maximum (not element-wise) because gradients span orders of magnitude and tiny elements
/// carry only float32 rounding noise.
pub fn rel_max_err(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims(), "shape mismatch");
    let g: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    let w: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
    rel_max_err_of(&g, &w)
}

/// [`rel_max_err`] of two equally long lists of values.
pub fn rel_max_err_of(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    got.iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

/// Pearson's correlation of two equally long lists, accumulated in f64.
pub fn pearson(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let n = a.len() as f64;
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

/// Runs a command that prints a JSON report and writes a map to `npy` (`--json --npy npy`),
/// expecting success; returns the report and the map's values.
pub fn report_and_map(cmd: &mut Command, npy: &Path) -> (serde_json::Value, Vec<f32>) {
    let out = cmd.assert().success().get_output().stdout.clone();
    let report = serde_json::from_slice(&out).unwrap();
    (report, read_npy_f32(npy).unwrap().data)
}

/// Runs `cmd` and checks the error contract: non-zero exit (and not Rust's panic code 101),
/// empty stdout, exactly one stderr line starting with `error: `, no panic message, and every
/// keyword present (ignoring case). Returns the line.
pub fn expect_error(cmd: &mut Command, keywords: &[&str]) -> String {
    let assert = cmd
        .assert()
        .failure()
        .code(predicate::ne(101))
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with("error: "))
        .stderr(predicate::str::contains("panicked").not())
        .stderr(predicate::str::contains("RUST_BACKTRACE").not());
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.lines().count(),
        1,
        "stderr is not exactly one line:\n{stderr}"
    );
    assert!(
        stderr.ends_with('\n'),
        "stderr does not end its line: {stderr:?}"
    );
    let line = stderr.trim_end().to_string();
    assert!(
        line.len() > "error: ".len() + 10,
        "unhelpfully short message: {line}"
    );
    let lower = line.to_lowercase();
    for k in keywords {
        assert!(
            lower.contains(&k.to_lowercase()),
            "the message lacks {k:?}: {line}"
        );
    }
    line
}
