//! Weights read in place: a safetensors, PyTorch or ONNX file is mapped, its tensors are views
//! of the map until a pass reads them, and their pages leave the process once read, so that the
//! weights are resident once (as tensors), not also as the file (Linux: residency is read from
//! /proc/self/smaps).
#![cfg(target_os = "linux")]

use std::collections::HashMap;

use convscope::import::checkpoint;
use convscope::import::onnx::{self, proto::data_type, proto::TensorProto};
use convscope::model::{HostTensor, WeightData};

use crate::common::onnx::{graph_mut, node, tiny_model, write_model};

/// Decoding a weight releases the file's pages under it, so a checkpoint is not resident twice
/// (once mapped, once as tensors); the values read again from the page cache are the same.
#[test]
fn decoded_weights_leave_the_files_pages_to_the_page_cache() {
    let n = 1 << 19; // 2 MiB of f32
    let values: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 7.0).collect();
    let tensors = HashMap::from([(
        "w".to_string(),
        HostTensor {
            shape: vec![n],
            data: values.clone(),
        },
    )]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.safetensors");
    let bytes = convscope::import::safetensors::write(&tensors, HashMap::new()).unwrap();
    std::fs::write(&path, bytes).unwrap();

    let c = checkpoint::open(&path).unwrap();
    let map = &c.tensors[0].data.map;
    let checksum = map.iter().fold(0u8, |a, &b| a ^ b); // faults every page in
    assert!(map.resident_kb().unwrap() >= 2048, "{checksum}");
    assert_eq!(c.tensors[0].values().unwrap(), values);
    let left = map.resident_kb().unwrap();
    assert!(
        left <= 8,
        "{left} kB of the map stay resident after decoding"
    );
    assert_eq!(c.tensors[0].values().unwrap(), values);
}

/// An ONNX model's float initializers are slices of the mapped file: importing reads none of
/// them (a summary faults no weight page in), and reading one lets its pages go again.
#[test]
fn onnx_weights_stay_in_the_file_until_read() {
    let filters = 65_536; // a [65536, 3, 4, 4] kernel: 12 MiB
    let values: Vec<f32> = (0..filters * 48)
        .map(|i| (i % 1000) as f32 * 1e-3)
        .collect();
    let kernel = TensorProto {
        name: "w".into(),
        dims: vec![filters as i64, 3, 4, 4],
        data_type: data_type::FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    let mut model = tiny_model(vec![node("conv0", "Conv", &["x", "w"], &["y"])], "y");
    graph_mut(&mut model).initializer.push(kernel);
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(dir.path(), "wide.onnx", &model);

    let graph = onnx::load(&path).unwrap();
    let weight = graph.layers.iter().flat_map(|l| &l.weights).next().unwrap();
    let WeightData::Mapped(view) = &weight.data else {
        panic!("the kernel was decoded at import")
    };
    // Reading the protobuf before and after the kernel maps the pages around (the kernel maps
    // the page cache's whole folio about a fault, up to 2 MiB); the rest of the kernel's 12 MiB
    // stays out.
    let at_import = view.map.resident_kb().unwrap();
    assert!(
        at_import <= 4096,
        "{at_import} kB of the file resident after import"
    );
    assert_eq!(weight.load().unwrap().data, values);
    let after_read = view.map.resident_kb().unwrap();
    assert!(
        after_read <= 4096,
        "{after_read} kB of the file resident after reading"
    );
}

/// A `Transpose` of a 2-D initializer (how some exporters feed `MatMul`) keeps the weight in
/// the file too: the layer's weight is the transposed view, read and transposed when loaded.
#[test]
fn a_transposed_initializer_stays_in_the_file_and_loads_transposed() {
    let (rows, cols) = (10, 48);
    let values: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.25).collect();
    let w = TensorProto {
        name: "w".into(),
        dims: vec![rows as i64, cols as i64],
        data_type: data_type::FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    let nodes = vec![
        node("flat", "Flatten", &["x"], &["f"]),
        node("wt", "Transpose", &["w"], &["w_t"]),
        node("fc", "MatMul", &["f", "w_t"], &["y"]),
    ];
    let mut model = tiny_model(nodes, "y");
    graph_mut(&mut model).initializer.push(w);
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(dir.path(), "matmul.onnx", &model);

    let graph = onnx::load(&path).unwrap();
    let weight = graph.layers.iter().flat_map(|l| &l.weights).next().unwrap();
    let WeightData::Transposed { inner, .. } = &weight.data else {
        panic!("the kernel was read at import")
    };
    assert!(matches!(**inner, WeightData::Mapped(_)), "{inner:?}");
    let loaded = weight.load().unwrap();
    assert_eq!(loaded.shape, [cols, rows]);
    for r in 0..rows {
        for c in 0..cols {
            assert_eq!(loaded.data[c * rows + r], values[r * cols + c]);
        }
    }
}
