//! Building ONNX models in tests: the fixture nets, and hand-made graphs encoded with the
//! importer's own prost structs.

use std::fs;
use std::path::{Path, PathBuf};

use convscope::import::onnx::proto::{
    data_type, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use prost::Message;

pub fn nets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nets")
}

/// vgg_like: input 1x3x16x16, 10 classes, layers `features.0`, `features.1`, …
pub fn vgg() -> PathBuf {
    nets().join("vgg_like.onnx")
}

pub fn vgg_input() -> PathBuf {
    nets().join("vgg_like.input.npy")
}

pub fn vgg_proto() -> ModelProto {
    ModelProto::decode(&*fs::read(vgg()).unwrap()).unwrap()
}

pub fn write_model(dir: &Path, name: &str, model: &ModelProto) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, model.encode_to_vec()).unwrap();
    path
}

pub fn graph_mut(m: &mut ModelProto) -> &mut GraphProto {
    m.graph.as_mut().expect("the fixture has a graph")
}

/// Deterministic noise (xorshift), so no `rand` dependency.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

pub fn float_input(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: Some(d),
                            dim_param: None,
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

pub fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        name: name.into(),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// A hand-made model: input `x` [1,3,4,4], the given nodes, one output.
pub fn tiny_model(nodes: Vec<NodeProto>, output: &str) -> ModelProto {
    ModelProto {
        ir_version: 8,
        producer_name: "cli_bad_input".into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            node: nodes,
            name: "tiny".into(),
            input: vec![float_input("x", &[1, 3, 4, 4])],
            output: vec![ValueInfoProto {
                name: output.into(),
                r#type: None,
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Moves the vgg fixture's `features.0.weight` out of `m` into external data at `location`
/// (offset 0, its whole length); returns the bytes the data file must hold.
pub fn externalize(m: &mut ModelProto, location: &str) -> Vec<u8> {
    let w = graph_mut(m)
        .initializer
        .iter_mut()
        .find(|t| t.name == "features.0.weight")
        .expect("the vgg fixture has features.0.weight");
    let bytes = std::mem::take(&mut w.raw_data);
    w.data_location = 1;
    w.external_data = [
        ("location", location.to_string()),
        ("offset", "0".to_string()),
        ("length", bytes.len().to_string()),
    ]
    .map(|(key, value)| StringStringEntryProto {
        key: key.into(),
        value,
    })
    .to_vec();
    bytes.to_vec()
}
