//! One forward function and one backward rule per layer kind, on candle tensors. Backward rules
//! return the gradient with respect to each layer input, never the weights.

mod activation;
mod arith;
pub mod conv;
mod layout;
mod norm;
mod pool;
mod upsample;
pub mod window;

use candle_core::Tensor;

use super::{LayerWeights, ReluRule};
use crate::error::{Error, Result};
use crate::model::{Conv2dConfig, Layer, LayerKind, PaddingMode, PoolConfig, Side, Window};

/// The layer's output shape at the batch size of `x`.
fn runtime_shape(layer: &Layer, x: &Tensor) -> Result<Vec<usize>> {
    let mut s = layer.out_shape.clone();
    s[0] = x.dim(0)?;
    Ok(s)
}

/// The two operands of a binary layer, placing a constant on its side.
fn operands<'a>(side: Option<Side>, p: &'a [Tensor], x: &[&'a Tensor]) -> (&'a Tensor, &'a Tensor) {
    match side {
        None => (x[0], x[1]),
        Some(Side::Left) => (&p[0], x[0]),
        Some(Side::Right) => (x[0], &p[0]),
    }
}

pub fn forward(layer: &Layer, p: LayerWeights<'_>, x: &[&Tensor]) -> Result<Tensor> {
    let first = x
        .first()
        .ok_or_else(|| Error::graph(&layer.name, "layer has no input"))?;
    Ok(match &layer.kind {
        LayerKind::Input => (*first).clone(),
        LayerKind::Conv2d(c) => conv::forward(first, &p[0], p.get(1), c, p.conv_cache)?,
        LayerKind::ConvTranspose2d(c) => {
            let out = runtime_shape(layer, first)?;
            conv::transposed_forward(first, &p[0], p.get(1), c, &out, p.conv_cache)?
        }
        LayerKind::Upsample(c) => upsample::forward(first, c)?,
        LayerKind::BatchNorm(_) => norm::batch_norm(first, &p[0], &p[1])?,
        LayerKind::Activation(a) => activation::forward(first, a)?,
        LayerKind::PRelu => arith::prelu_forward(first, &p[0])?,
        LayerKind::Binary(b) => {
            let (l, r) = operands(b.constant, &p, x);
            arith::forward(b.op, l, r)?
        }
        LayerKind::MaxPool2d(c) => pool::max_forward(first, c, &layer.out_shape)?,
        LayerKind::AvgPool2d(c) => pool::avg_forward(first, c, &layer.out_shape)?,
        LayerKind::GlobalAvgPool => pool::global_avg_forward(first)?,
        LayerKind::GlobalMaxPool => pool::global_max_forward(first)?,
        LayerKind::Reshape(_) => first.reshape(runtime_shape(layer, first)?)?,
        LayerKind::Linear(_) => layout::linear(first, &p[0], p.get(1))?,
        LayerKind::MatMul => x[0].broadcast_matmul(x[1])?,
        LayerKind::Softmax { axis, log } => layout::softmax(first, *axis, *log)?,
        LayerKind::Dropout { .. } | LayerKind::Identity => (*first).clone(),
        LayerKind::Concat { axis } => Tensor::cat(x, *axis)?,
        LayerKind::Transpose { perm } => layout::transpose(first, perm)?,
        LayerKind::Pad(c) => layout::pad(first, c)?,
        LayerKind::ReduceMean { axes, keepdims } => {
            layout::reduce_mean(first, axes, *keepdims, &runtime_shape(layer, first)?)?
        }
        LayerKind::LayerNorm(c) => norm::layer_norm(first, c.axis, c.epsilon, &p[0], p.get(1))?,
    })
}

/// A batch norm (parameters `bn`) and the activation layer `act` reading its output, run as
/// one pass over the batch norm's input `x`: the same values as the two layers one after the
/// other, without the batch norm's output. `None` where there is no such pass (see
/// `activation::forward_after_batch_norm`).
pub fn forward_batch_norm_activation(
    bn: &[Tensor],
    act: &Layer,
    x: &Tensor,
) -> Option<Result<Tensor>> {
    let LayerKind::Activation(a) = &act.kind else {
        return None;
    };
    activation::forward_after_batch_norm(x, &bn[0], &bn[1], a)
}

/// The convolution layer `conv` (weights `p`), the batch norm after it (parameters `bn`), the
/// residual sum with `residual` after that where given, and the activation layer after those,
/// or none, in one pass over the convolution's input `x` (see `conv::forward_batch_norm`);
/// `None` where there is no such pass.
pub fn forward_convolution_batch_norm(
    conv: &Layer,
    p: LayerWeights<'_>,
    bn: &[Tensor],
    residual: Option<&Tensor>,
    act: Option<&Layer>,
    x: &Tensor,
) -> Option<Result<Tensor>> {
    let LayerKind::Conv2d(c) = &conv.kind else {
        return None;
    };
    let act = match act.map(|l| &l.kind) {
        None => None,
        Some(LayerKind::Activation(a)) => Some(a),
        Some(_) => return None,
    };
    conv::forward_batch_norm(x, p, c, bn, residual, act)
}

/// The activation layer `act` of the sum of `x` and `y` (a residual join), in one pass over
/// the two: the same values as the two layers one after the other, without the sum. `None`
/// where there is no such pass (see `activation::forward_after_sum`).
pub fn forward_sum_activation(act: &Layer, x: &Tensor, y: &Tensor) -> Option<Result<Tensor>> {
    let LayerKind::Activation(a) = &act.kind else {
        return None;
    };
    activation::forward_after_sum(x, y, a)
}

/// The gradient at the input of a batch norm (parameters `bn`) through it and the activation
/// layer `act` reading its output, in one pass: `x` and `y` are the activation's input (the
/// batch norm's output) and output, `g` the gradient of its output.
pub fn backward_activation_batch_norm(
    bn: &[Tensor],
    act: &Layer,
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
    rule: ReluRule,
) -> Option<Result<Tensor>> {
    let LayerKind::Activation(a) = &act.kind else {
        return None;
    };
    activation::backward_through_batch_norm(x, y, g, a, rule, &bn[0])
}

/// `a + b`, for gradients that meet where a layer's output feeds several layers (residual
/// joins); on the CPU one threaded pass.
pub fn accumulate(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    arith::forward(crate::model::BinaryOp::Add, a, b)
}

/// A windowed layer (convolution, pooling) over a crop that already holds its padding: the
/// same op unpadded, floor-rounded. Incremental inference computes regions of a map this way.
pub fn forward_unpadded(layer: &Layer, p: LayerWeights<'_>, x: &Tensor) -> Result<Tensor> {
    let unpadded = |w: &Window| Window {
        pads: [0; 4],
        mode: PaddingMode::Explicit,
        ..w.clone()
    };
    let out_shape = |w: &Window| -> Result<Vec<usize>> {
        let len = |axis: usize| {
            w.out_len(axis, x.dims()[2 + axis], false)
                .ok_or_else(|| Error::graph(&layer.name, "a crop smaller than the window"))
        };
        Ok(vec![x.dim(0)?, x.dim(1)?, len(0)?, len(1)?])
    };
    let pool = |c: &PoolConfig| PoolConfig {
        window: unpadded(&c.window),
        ceil_mode: false,
        ..c.clone()
    };
    match &layer.kind {
        LayerKind::Conv2d(c) => {
            let c = Conv2dConfig {
                window: unpadded(&c.window),
                ..c.clone()
            };
            conv::forward(x, &p[0], p.get(1), &c, p.conv_cache)
        }
        LayerKind::MaxPool2d(c) => {
            let c = pool(c);
            pool::max_forward(x, &c, &out_shape(&c.window)?)
        }
        LayerKind::AvgPool2d(c) => {
            let c = pool(c);
            pool::avg_forward(x, &c, &out_shape(&c.window)?)
        }
        _ => Err(Error::graph(&layer.name, "not a windowed layer")),
    }
}

/// Which values a layer's backward rule reads besides the gradient and the weights. Every rule
/// may read its inputs' shapes; only these read what they hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reads {
    pub inputs: bool,
    pub output: bool,
}

/// What [`backward`] reads for `layer`, under every [`ReluRule`]: a pass for gradients keeps
/// these values and drops the rest (a convolution's output before its batch norm and ReLU, say).
pub fn backward_reads(layer: &Layer) -> Reads {
    use crate::model::BinaryOp;
    let (inputs, output) = match &layer.kind {
        LayerKind::Activation(a) => (activation::reads_input(a), true),
        LayerKind::Softmax { .. } => (false, true),
        LayerKind::Binary(b) => (!matches!(b.op, BinaryOp::Add | BinaryOp::Sub), false),
        LayerKind::PRelu
        | LayerKind::MaxPool2d(_)
        | LayerKind::GlobalMaxPool
        | LayerKind::MatMul
        | LayerKind::LayerNorm(_) => (true, false),
        LayerKind::Input
        | LayerKind::Conv2d(_)
        | LayerKind::ConvTranspose2d(_)
        | LayerKind::Upsample(_)
        | LayerKind::BatchNorm(_)
        | LayerKind::AvgPool2d(_)
        | LayerKind::GlobalAvgPool
        | LayerKind::Reshape(_)
        | LayerKind::Linear(_)
        | LayerKind::Dropout { .. }
        | LayerKind::Identity
        | LayerKind::Concat { .. }
        | LayerKind::Transpose { .. }
        | LayerKind::Pad(_)
        | LayerKind::ReduceMean { .. } => (false, false),
    };
    Reads { inputs, output }
}

/// Gradients with respect to each of the layer's inputs, given the gradient `g` of its output
/// `y`. `None` where an input receives no gradient. It reads what [`backward_reads`] says.
pub fn backward(
    layer: &Layer,
    p: LayerWeights<'_>,
    x: &[&Tensor],
    y: &Tensor,
    g: &Tensor,
    rule: ReluRule,
) -> Result<Vec<Option<Tensor>>> {
    let first = x[0];
    let one = |t: Tensor| Ok(vec![Some(t)]);
    match &layer.kind {
        LayerKind::Input => Ok(vec![]),
        LayerKind::Conv2d(c) => one(conv::input_grad(g, &p[0], c, first.dims(), p.conv_cache)?),
        LayerKind::ConvTranspose2d(c) => {
            one(conv::transposed_input_grad(g, &p[0], c, p.conv_cache)?)
        }
        LayerKind::Upsample(c) => one(upsample::backward(g, c, first.dims())?),
        LayerKind::BatchNorm(_) => one(norm::batch_norm_backward(g, &p[0])?),
        LayerKind::Activation(a) => one(activation::backward(first, y, g, a, rule)?),
        LayerKind::PRelu => one(arith::prelu_backward(first, &p[0], g)?),
        LayerKind::Binary(b) => {
            let (l, r) = operands(b.constant, &p, x);
            let (gl, gr) = arith::backward(b.op, l, r, g)?;
            // When both operands are the same layer, the caller adds the two gradients.
            Ok(match b.constant {
                None => vec![Some(gl), Some(gr)],
                Some(Side::Left) => vec![Some(gr)],
                Some(Side::Right) => vec![Some(gl)],
            })
        }
        LayerKind::MaxPool2d(c) => one(pool::max_backward(first, g, c, &layer.out_shape)?),
        LayerKind::AvgPool2d(c) => one(pool::avg_backward(first, g, c, &layer.out_shape)?),
        LayerKind::GlobalAvgPool => one(pool::global_avg_backward(first, g)?),
        LayerKind::GlobalMaxPool => one(pool::global_max_backward(first, g)?),
        LayerKind::Reshape(_) => one(g.reshape(first.shape())?),
        LayerKind::Linear(_) => one(layout::linear_backward(g, &p[0], first.dims())?),
        LayerKind::MatMul => {
            let (ga, gb) = layout::matmul_backward(x[0], x[1], g)?;
            Ok(vec![Some(ga), Some(gb)])
        }
        LayerKind::Softmax { axis, log } => one(layout::softmax_backward(y, g, *axis, *log)?),
        LayerKind::Dropout { .. } | LayerKind::Identity => one(g.clone()),
        LayerKind::Concat { axis } => {
            let sizes = x
                .iter()
                .map(|t| t.dim(*axis))
                .collect::<candle_core::Result<Vec<_>>>()?;
            Ok(layout::concat_backward(g, *axis, &sizes)?
                .into_iter()
                .map(Some)
                .collect())
        }
        LayerKind::Transpose { perm } => one(layout::transpose_backward(g, perm)?),
        LayerKind::Pad(c) => one(layout::pad_backward(g, c, first.dims())?),
        LayerKind::ReduceMean { axes, .. } => one(layout::reduce_mean_backward(first, g, axes)?),
        LayerKind::LayerNorm(c) => one(norm::layer_norm_backward(
            first, g, c.axis, c.epsilon, &p[0],
        )?),
    }
}
