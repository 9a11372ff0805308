//! Shared helpers for the integration tests: fixture paths, NPY loading, tolerant comparison.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use convscope::imaging::npy::read_npy_f32;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
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
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    g.iter()
        .zip(&w)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}
