//! The ONNX op table: one entry per supported op type, dispatching to the file that converts
//! it. Op-type strings never leave the importer.

mod constants;
mod conv;
mod dense;
mod elementwise;
mod resample;
mod shape;

use super::attrs::node_label;
use super::builder::{Builder, Value};
use super::proto::NodeProto;
use crate::error::{Error, Result};

type Convert = fn(&mut Builder, &NodeProto) -> Result<Value>;

/// Every op convscope imports, with its converter. Sorted by name for the error message.
const OPS: &[(&str, Convert)] = &[
    ("Add", elementwise::binary),
    ("AveragePool", |b, n| conv::pool(b, n, false)),
    ("BatchNormalization", dense::batch_norm),
    ("Cast", constants::cast),
    ("Clip", elementwise::activation),
    ("Concat", shape::concat),
    ("Constant", constants::constant),
    ("ConstantOfShape", constants::constant_of_shape),
    ("Conv", conv::conv),
    ("ConvTranspose", resample::conv_transpose),
    ("Div", elementwise::binary),
    ("Dropout", shape::passthrough),
    ("Equal", constants::equal),
    ("Erf", elementwise::activation),
    ("Flatten", shape::flatten),
    ("Gather", constants::gather),
    ("Gelu", elementwise::activation),
    ("Gemm", dense::gemm),
    ("GlobalAveragePool", |b, n| conv::global_pool(b, n, false)),
    ("GlobalMaxPool", |b, n| conv::global_pool(b, n, true)),
    ("HardSigmoid", elementwise::activation),
    ("HardSwish", elementwise::activation),
    ("Identity", shape::passthrough),
    ("LayerNormalization", dense::layer_norm),
    ("LeakyRelu", elementwise::activation),
    ("LogSoftmax", |b, n| dense::softmax(b, n, true)),
    ("MatMul", dense::matmul),
    ("Max", elementwise::binary),
    ("MaxPool", |b, n| conv::pool(b, n, true)),
    ("Min", elementwise::binary),
    ("Mul", elementwise::binary),
    ("PRelu", elementwise::prelu),
    ("Pad", shape::pad),
    ("Range", constants::range),
    ("ReduceMean", dense::reduce_mean),
    ("Relu", elementwise::activation),
    ("Reshape", shape::reshape),
    ("Resize", resample::resize),
    ("Shape", constants::shape),
    ("Sigmoid", elementwise::activation),
    ("Slice", constants::slice),
    ("Softmax", |b, n| dense::softmax(b, n, false)),
    ("Squeeze", shape::squeeze),
    ("Sub", elementwise::binary),
    ("Tanh", elementwise::activation),
    ("Transpose", shape::transpose),
    ("Unsqueeze", shape::unsqueeze),
    ("Where", constants::where_),
];

pub fn supported_ops() -> String {
    OPS.iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Converts one node into a layer or a folded constant.
pub fn convert(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let domain_ok = node.domain.is_empty() || node.domain == "ai.onnx";
    let entry = OPS
        .iter()
        .find(|(name, _)| *name == node.op_type)
        .filter(|_| domain_ok);
    match entry {
        Some((_, f)) => f(b, node),
        None => Err(Error::UnsupportedOp {
            op: if domain_ok {
                node.op_type.clone()
            } else {
                format!("{}::{}", node.domain, node.op_type)
            },
            node: node_label(node),
            supported: supported_ops(),
        }),
    }
}
