//! Gemm and MatMul (dense layers), the normalizations, softmax and reductions.

use super::super::attrs::{node_label, Attrs};
use super::super::builder::{axis, Builder, Value};
use super::super::proto::NodeProto;
use crate::error::{Error, Result};
use crate::model::{
    BatchNormConfig, LayerKind, LayerNormConfig, LinearConfig, ParamCount, WeightRole,
};

pub fn gemm(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let w = b.const_input(node, 1)?.clone();
    let bias = b.opt_const_input(node, 2)?.cloned();
    if a.int("transA", 0)? != 0 {
        // transA would transpose the batch dimension into the features.
        return Err(Error::graph(
            node_label(node),
            "Gemm with transA=1 mixes the batch into the features; re-export with transA=0",
        ));
    }
    let trans_b = a.int("transB", 0)? != 0;
    if w.shape.len() != 2 {
        return Err(Error::graph(
            node_label(node),
            format!("Gemm weight must be 2-D, got {:?}", w.shape),
        ));
    }
    let (units, in_features) = if trans_b {
        (w.shape[0], w.shape[1])
    } else {
        (w.shape[1], w.shape[0])
    };
    linear(
        b,
        node,
        x,
        w,
        bias,
        units,
        in_features,
        trans_b,
        a.float("alpha", 1.0)?,
        a.float("beta", 1.0)?,
    )
}

pub fn matmul(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    match (b.input(node, 0)?.clone(), b.input(node, 1)?.clone()) {
        (Value::Layer(x), Value::Const(w)) if w.shape.len() == 2 => {
            let (in_features, units) = (w.shape[0], w.shape[1]);
            linear(b, node, x, w, None, units, in_features, false, 1.0, 1.0)
        }
        (Value::Layer(x), Value::Layer(y)) => b.add(node, LayerKind::MatMul, vec![x, y], vec![]),
        _ => Err(Error::graph(
            node_label(node),
            "MatMul is supported between two computed tensors or with a 2-D constant on the right",
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn linear(
    b: &mut Builder,
    node: &NodeProto,
    x: crate::model::LayerId,
    w: super::super::tensor::Const,
    bias: Option<super::super::tensor::Const>,
    units: usize,
    in_features: usize,
    weight_out_in: bool,
    alpha: f32,
    beta: f32,
) -> Result<Value> {
    let mut weights = vec![w.to_weight(WeightRole::Kernel, ParamCount::Trainable)];
    if let Some(bias) = &bias {
        if bias.numel() != units && bias.numel() != 1 {
            return Err(Error::graph(
                node_label(node),
                format!("bias of shape {:?} does not fit {units} units", bias.shape),
            ));
        }
        weights.push(bias.to_weight(WeightRole::Bias, ParamCount::Trainable));
    }
    let kind = LayerKind::Linear(LinearConfig {
        units,
        in_features,
        use_bias: bias.is_some(),
        weight_out_in,
        alpha,
        beta,
    });
    b.add(node, kind, vec![x], weights)
}

pub fn batch_norm(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let roles = [
        (WeightRole::Gamma, ParamCount::Trainable),
        (WeightRole::Beta, ParamCount::Trainable),
        (WeightRole::MovingMean, ParamCount::NonTrainable),
        (WeightRole::MovingVariance, ParamCount::NonTrainable),
    ];
    let channels = b.shape(x).get(1).copied().unwrap_or(0);
    let mut weights = Vec::new();
    for (i, (role, count)) in roles.into_iter().enumerate() {
        let c = b.const_input(node, i + 1)?;
        if c.numel() != channels {
            return Err(Error::graph(
                node_label(node),
                format!(
                    "{} has {} values for {channels} channels",
                    role.label(),
                    c.numel()
                ),
            ));
        }
        weights.push(c.to_weight(role, count));
    }
    let kind = LayerKind::BatchNorm(BatchNormConfig {
        channels,
        epsilon: a.float("epsilon", 1e-5)?,
        momentum: a.float("momentum", 0.9)?,
    });
    b.add(node, kind, vec![x], weights)
}

pub fn layer_norm(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let shape = b.shape(x).to_vec();
    let ax = axis(node, a.int("axis", -1)?, shape.len())?;
    let normalized: usize = shape[ax..].iter().product();
    let mut weights = Vec::new();
    for (i, role) in [(1, WeightRole::Gamma), (2, WeightRole::Beta)] {
        if let Some(c) = b.opt_const_input(node, i)? {
            if c.numel() != normalized {
                return Err(Error::graph(
                    node_label(node),
                    format!(
                        "{} has shape {:?}; the normalized dims are {:?}",
                        role.label(),
                        c.shape,
                        &shape[ax..]
                    ),
                ));
            }
            weights.push(c.to_weight(role, ParamCount::Trainable));
        }
    }
    if weights.is_empty() {
        return Err(Error::graph(
            node_label(node),
            "LayerNormalization needs a Scale input",
        ));
    }
    let kind = LayerKind::LayerNorm(LayerNormConfig {
        axis: ax,
        epsilon: a.float("epsilon", 1e-5)?,
        use_bias: weights.len() == 2,
    });
    b.add(node, kind, vec![x], weights)
}

pub fn softmax(b: &mut Builder, node: &NodeProto, log: bool) -> Result<Value> {
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let shape = b.shape(x).to_vec();
    let default = if b.opset < 13 { 1 } else { -1 };
    let ax = axis(node, a.int("axis", default)?, shape.len())?;
    // Before opset 13, softmax ran over all dims from `axis` on, flattened; that equals ours
    // only when the trailing dims are 1.
    if b.opset < 13 && shape[ax + 1..].iter().any(|&d| d != 1) {
        return Err(Error::graph(
            node_label(node),
            format!(
                "opset-{} softmax over the flattened dims {ax}.. of {shape:?} is not supported",
                b.opset
            ),
        ));
    }
    b.add(node, LayerKind::Softmax { axis: ax, log }, vec![x], vec![])
}

pub fn reduce_mean(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let rank = b.shape(x).len();
    let raw = match a.ints("axes")? {
        Some(v) => v,
        None => match b.opt_const_input(node, 1)? {
            Some(c) => c.ints()?,
            None => Vec::new(),
        },
    };
    if raw.is_empty() {
        return Err(Error::graph(
            node_label(node),
            "ReduceMean over all dims would average the batch; give explicit axes",
        ));
    }
    let mut axes = raw
        .iter()
        .map(|&v| axis(node, v, rank))
        .collect::<Result<Vec<_>>>()?;
    axes.sort_unstable();
    axes.dedup();
    let keepdims = a.int("keepdims", 1)? != 0;
    b.add(
        node,
        LayerKind::ReduceMean { axes, keepdims },
        vec![x],
        vec![],
    )
}
