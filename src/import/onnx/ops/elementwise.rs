//! Activations and the arithmetic ops. Arithmetic on two constants folds at import; with one
//! constant operand, the constant becomes the layer's weight.

use super::super::attrs::{node_label, Attrs};
use super::super::builder::{Builder, Value};
use super::super::fold::Nd;
use super::super::proto::NodeProto;
use super::super::tensor::Const;
use crate::error::{Error, Result};
use crate::model::{
    Activation, BinaryConfig, BinaryOp, LayerId, LayerKind, ParamCount, Side, WeightRole,
};

pub fn activation(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let a = Attrs::new(node);
    let act = match node.op_type.as_str() {
        "Relu" => Activation::Relu,
        "LeakyRelu" => Activation::LeakyRelu {
            alpha: a.float("alpha", 0.01)?,
        },
        "Sigmoid" => Activation::Sigmoid,
        "HardSigmoid" => Activation::HardSigmoid {
            alpha: a.float("alpha", 0.2)?,
            beta: a.float("beta", 0.5)?,
        },
        "HardSwish" => Activation::HardSwish,
        "Tanh" => Activation::Tanh,
        "Erf" => Activation::Erf,
        "Gelu" => Activation::Gelu {
            tanh_approximation: a.string("approximate")?.as_deref() == Some("tanh"),
        },
        "Clip" => clip_bounds(b, node, &a)?,
        other => unreachable!("activation() called for {other}"),
    };
    let x = b.layer_input(node, 0)?;
    b.add(node, LayerKind::Activation(act), vec![x], vec![])
}

/// Clip bounds: attributes before opset 11, optional constant inputs from 11 on.
fn clip_bounds(b: &Builder, node: &NodeProto, a: &Attrs) -> Result<Activation> {
    let scalar = |i: usize, default: f32| -> Result<f32> {
        match b.opt_const_input(node, i)? {
            None => Ok(default),
            Some(c) if c.numel() == 1 => Ok(c.floats()?.data[0]),
            Some(_) => Err(Error::graph(
                node_label(node),
                "Clip bounds must be scalars",
            )),
        }
    };
    if b.opset < 11 {
        Ok(Activation::Clip {
            min: a.float("min", f32::NEG_INFINITY)?,
            max: a.float("max", f32::INFINITY)?,
        })
    } else {
        Ok(Activation::Clip {
            min: scalar(1, f32::NEG_INFINITY)?,
            max: scalar(2, f32::INFINITY)?,
        })
    }
}

pub fn prelu(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let x = b.layer_input(node, 0)?;
    let slope = b
        .const_input(node, 1)?
        .to_weight(WeightRole::Slope, ParamCount::Trainable);
    b.add(node, LayerKind::PRelu, vec![x], vec![slope])
}

pub fn binary(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let op = match node.op_type.as_str() {
        "Add" => BinaryOp::Add,
        "Sub" => BinaryOp::Sub,
        "Mul" => BinaryOp::Mul,
        "Div" => BinaryOp::Div,
        "Max" => BinaryOp::Max,
        "Min" => BinaryOp::Min,
        other => unreachable!("binary() called for {other}"),
    };
    // Max and Min take any number of inputs in ONNX; two is what exporters write.
    if node.input.len() != 2 {
        return Err(Error::graph(
            node_label(node),
            format!(
                "is a {} of {} inputs; convscope runs it on two",
                node.op_type,
                node.input.len()
            ),
        ));
    }
    let (lhs, rhs) = (b.input(node, 0)?.clone(), b.input(node, 1)?.clone());
    match (lhs, rhs) {
        (Value::Const(x), Value::Const(y)) => {
            let (x, y) = (Nd::from_const(&x)?, Nd::from_const(&y)?);
            let int = x.is_int && y.is_int;
            let out = x
                .zip(&y, |p, q| match op {
                    BinaryOp::Add => p + q,
                    BinaryOp::Sub => p - q,
                    BinaryOp::Mul => p * q,
                    // Integer division in ONNX truncates toward zero.
                    BinaryOp::Div if int => (p / q).trunc(),
                    BinaryOp::Div => p / q,
                    BinaryOp::Max => p.max(q),
                    BinaryOp::Min => p.min(q),
                })
                .map_err(|e| Error::graph(node_label(node), e))?;
            Ok(Value::Const(out.into_const(&node.output[0])))
        }
        (Value::Layer(x), Value::Layer(y)) => {
            let kind = LayerKind::Binary(BinaryConfig { op, constant: None });
            b.add(node, kind, vec![x, y], vec![])
        }
        (Value::Layer(x), Value::Const(c)) | (Value::Const(c), Value::Layer(x)) => {
            if op == BinaryOp::Add && fuse_linear_bias(b, node, x, &c) {
                return Ok(Value::Layer(x));
            }
            let side = if matches!(b.input(node, 0)?, Value::Const(_)) {
                Side::Left
            } else {
                Side::Right
            };
            // A learned tensor (ConvNeXt's layer scale, a Linear's bias after MatMul) is a
            // parameter; scalars such as GELU's 0.5 and folded constants are not.
            let count = if c.initializer && c.numel() > 1 {
                ParamCount::Trainable
            } else {
                ParamCount::NotCounted
            };
            let role = match (count, op) {
                (ParamCount::Trainable, BinaryOp::Add) => WeightRole::Bias,
                (ParamCount::Trainable, _) => WeightRole::Operand,
                _ => WeightRole::Constant,
            };
            let kind = LayerKind::Binary(BinaryConfig {
                op,
                constant: Some(side),
            });
            b.add(node, kind, vec![x], vec![c.to_weight(role, count)])
        }
    }
}

/// `nn.Linear` on a 4-D tensor exports as MatMul followed by an Add of the bias: fold the bias
/// into the dense layer, as the module it came from has it. Only when the MatMul output feeds
/// nothing else.
fn fuse_linear_bias(b: &mut Builder, node: &NodeProto, x: LayerId, c: &Const) -> bool {
    let single_use = node
        .input
        .iter()
        .find(|name| matches!(b.values.get(*name), Some(Value::Layer(id)) if *id == x))
        .is_some_and(|name| b.uses.get(name) == Some(&1));
    let layer = &mut b.layers[x.0];
    let LayerKind::Linear(cfg) = &mut layer.kind else {
        return false;
    };
    if !single_use || cfg.use_bias || !c.initializer || c.shape != [cfg.units] {
        return false;
    }
    cfg.use_bias = true;
    layer
        .weights
        .push(c.to_weight(WeightRole::Bias, ParamCount::Trainable));
    layer.source_op = format!("{}+Add", layer.source_op);
    layer.source_name = node.name.clone();
    true
}
