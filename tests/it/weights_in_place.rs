//! Weights read in place: a safetensors, PyTorch or ONNX file is mapped to parse it, its
//! tensors stay in the file until a pass reads them, and they are copied out without bringing
//! the file's pages into the process, so that the weights are resident once (as tensors), not
//! also as the file (Linux: residency is read from /proc/self/smaps).
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use convscope::import::checkpoint;
use convscope::import::onnx::{self, proto::data_type, proto::NodeProto, proto::TensorProto};
use convscope::model::{HostTensor, WeightData};

use crate::common::onnx::{graph_mut, node, tiny_model, write_model};

/// A checkpoint's tensors are copied out of the file without mapping its pages in, so the
/// weights are resident once (as tensors), not also as the mapped file.
#[test]
fn decoded_weights_never_bring_the_files_pages_in() {
    let n = 3 << 20; // 12 MiB of f32
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
    assert_eq!(c.tensors[0].values().unwrap(), values);
    // Parsing the header maps the pages around it (the kernel maps the page cache's whole
    // folio about a fault, up to 2 MiB); the rest of the tensor's 12 MiB stays out.
    let left = c.tensors[0].data.map.resident_kb().unwrap();
    assert!(left <= 4096, "{left} kB of the map resident after decoding");
}

/// An ONNX model's float initializers are slices of the mapped file: importing reads none of
/// them (a summary faults no weight page in), and reading one does not bring them in either.
#[test]
fn onnx_weights_stay_in_the_file_until_read() {
    let filters = 65_536; // a [65536, 3, 4, 4] kernel: 12 MiB
    let values: Vec<f32> = (0..filters * 48)
        .map(|i| (i % 1000) as f32 * 1e-3)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let dims = [filters as i64, 3, 4, 4];
    let path = model_reading_w(dir.path(), "wide.onnx", conv(), &dims, &values);

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
    let nodes = vec![
        node("flat", "Flatten", &["x"], &["f"]),
        node("wt", "Transpose", &["w"], &["w_t"]),
        node("fc", "MatMul", &["f", "w_t"], &["y"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let dims = [rows as i64, cols as i64];
    let path = model_reading_w(dir.path(), "matmul.onnx", nodes, &dims, &values);

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

/// A model saved over after it was opened (a training script exporting again while the
/// interface is open): reading its weights is an error naming the file and the weight, not
/// the new file's values nor a SIGBUS past its new end.
#[test]
fn a_model_saved_over_after_opening_is_an_error_when_its_weights_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = model_reading_w(
        dir.path(),
        "saved_over.onnx",
        conv(),
        &[2, 3, 3, 3],
        &[0.5; 54],
    );

    let graph = onnx::load(&path).unwrap();
    std::fs::write(&path, b"not yet complete").unwrap();
    let weight = graph.layers.iter().flat_map(|l| &l.weights).next().unwrap();
    let e = weight.load().unwrap_err().to_string();
    for part in [
        "saved_over.onnx",
        "weight 'w'",
        "changed on disk",
        "open the model again",
    ] {
        assert!(e.contains(part), "{e}");
    }
}

/// A hand-made model (input `x` [1,3,4,4], output `y`) whose `nodes` read the initializer `w`
/// of shape `dims`, stored as raw little-endian floats, as exporters store weights.
fn model_reading_w(
    dir: &Path,
    name: &str,
    nodes: Vec<NodeProto>,
    dims: &[i64],
    values: &[f32],
) -> PathBuf {
    let w = TensorProto {
        name: "w".into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    let mut model = tiny_model(nodes, "y");
    graph_mut(&mut model).initializer.push(w);
    write_model(dir, name, &model)
}

fn conv() -> Vec<NodeProto> {
    vec![node("conv0", "Conv", &["x", "w"], &["y"])]
}
