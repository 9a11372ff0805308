//! Layer kinds with typed configurations: what each layer computes, independent of any file
//! format. Importers translate their ops into these; the executor runs them.
//!
//! Conventions: shapes are NCHW-style with dim 0 the batch everywhere; axes stored here are
//! non-negative and never 0 (the batch), which importers check.

/// Which side of a binary op a constant operand sits on (it matters for Sub and Div).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Element-wise maximum and minimum (Keras's Maximum/Minimum, ONNX's two-input Max/Min).
    Max,
    Min,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BinaryConfig {
    pub op: BinaryOp,
    /// `Some(side)` when one operand is a constant held as this layer's weight 0.
    pub constant: Option<Side>,
}

/// Element-wise activations. The ReLU family (Relu, LeakyRelu, Clip) has selectable backward rules.
#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    /// `Clip(0, 6)` is ReLU6. Bounds are `f32::NEG_INFINITY`/`INFINITY` when absent.
    Clip {
        min: f32,
        max: f32,
    },
    Sigmoid,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    /// `x * sigmoid(x)` (Keras calls it swish).
    Silu,
    Tanh,
    Erf,
    Gelu {
        tanh_approximation: bool,
    },
    /// `x` above 0, `alpha (e^x - 1)` below.
    Elu {
        alpha: f32,
    },
    /// Keras's `selu`: `scale · elu(x, alpha)` with the self-normalizing constants.
    Selu,
    /// `ln(1 + e^x)`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `e^x`.
    Exp,
    /// `x · tanh(softplus(x))`.
    Mish,
}

/// SELU's constants (Klambauer et al. 2017, as Keras and PyTorch use them).
pub const SELU_ALPHA: f32 = 1.673_263_2;
pub const SELU_SCALE: f32 = 1.050_701;

impl Activation {
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Clip { min, max } if *min == 0.0 && *max == 6.0 => "relu6",
            Activation::Clip { .. } => "clip",
            Activation::Sigmoid => "sigmoid",
            Activation::HardSigmoid { .. } => "hard_sigmoid",
            Activation::HardSwish => "hard_swish",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
            Activation::Erf => "erf",
            Activation::Gelu { .. } => "gelu",
            Activation::Elu { .. } => "elu",
            Activation::Selu => "selu",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::Exp => "exponential",
            Activation::Mish => "mish",
        }
    }

    /// True for the kinds whose backward rule can be swapped (guided, deconvnet).
    pub fn is_relu_family(&self) -> bool {
        matches!(
            self,
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Clip { .. }
        )
    }
}

/// How the file asked for padding; the pads themselves are always resolved to explicit numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaddingMode {
    Explicit,
    SameUpper,
    SameLower,
    Valid,
}

/// Spatial window geometry shared by convolutions and pools.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub dilation: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    pub mode: PaddingMode,
}

impl Window {
    /// Output length along one spatial axis (0 = H, 1 = W), floor or ceil rounding.
    /// Ceil follows PyTorch/onnxruntime: a last window that would start inside the end padding
    /// is dropped.
    pub fn out_len(&self, axis: usize, input: usize, ceil: bool) -> Option<usize> {
        let (k, s, d) = (self.kernel[axis], self.strides[axis], self.dilation[axis]);
        let (pb, pe) = (self.pads[axis], self.pads[axis + 2]);
        let span = d * (k - 1) + 1;
        let padded = input + pb + pe;
        if padded < span || s == 0 {
            return None;
        }
        let mut out = if ceil {
            (padded - span).div_ceil(s) + 1
        } else {
            (padded - span) / s + 1
        };
        if ceil && (out - 1) * s >= input + pb {
            out -= 1;
        }
        Some(out)
    }

    pub fn padding_label(&self) -> String {
        match self.mode {
            PaddingMode::SameUpper | PaddingMode::SameLower => "same".into(),
            PaddingMode::Valid => "valid".into(),
            PaddingMode::Explicit if self.pads == [0; 4] => "valid".into(),
            PaddingMode::Explicit => format!("{:?}", self.pads),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dConfig {
    pub filters: usize,
    pub in_channels: usize,
    pub window: Window,
    pub groups: usize,
    pub use_bias: bool,
}

/// A transposed convolution (Keras's Conv2DTranspose), held as the convolution it transposes:
/// `window` maps the output back to the input (same kernel, strides, dilation; `pads` are what
/// the transposed output drops at each edge), and `output_padding` adds rows and columns at the
/// bottom and right (fewer than the stride) that no input reaches. The kernel is held as
/// `[in_channels, filters, kh, kw]`, the weight of that convolution (PyTorch's and ONNX's layout).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose2dConfig {
    pub filters: usize,
    pub in_channels: usize,
    pub window: Window,
    pub output_padding: [usize; 2],
    pub use_bias: bool,
}

impl ConvTranspose2dConfig {
    /// Output length along one spatial axis (0 = H, 1 = W).
    pub fn out_len(&self, axis: usize, input: usize) -> Option<usize> {
        let w = &self.window;
        let span = w.dilation[axis] * (w.kernel[axis].checked_sub(1)?) + 1;
        let full = (input.checked_sub(1)?)
            .checked_mul(w.strides[axis])?
            .checked_add(span)?
            .checked_add(self.output_padding[axis])?;
        full.checked_sub(w.pads[axis] + w.pads[axis + 2])
            .filter(|&n| n > 0)
    }

    /// The convolution this one transposes (from the output's channels to the input's).
    pub fn transposed(&self) -> Conv2dConfig {
        Conv2dConfig {
            filters: self.in_channels,
            in_channels: self.filters,
            window: self.window.clone(),
            groups: 1,
            use_bias: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    Nearest,
    /// Half-pixel centres (TensorFlow's `half_pixel_centers`, PyTorch's `align_corners=False`).
    Bilinear,
}

/// Upsampling by whole factors (Keras's UpSampling2D).
#[derive(Clone, Debug, PartialEq)]
pub struct UpsampleConfig {
    pub scale: [usize; 2],
    pub interpolation: Interpolation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    pub window: Window,
    pub ceil_mode: bool,
    /// AveragePool only: whether padded positions count in the divisor.
    pub count_include_pad: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormConfig {
    pub channels: usize,
    pub epsilon: f32,
    pub momentum: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// Normalization runs over dims `axis..rank`.
    pub axis: usize,
    pub epsilon: f32,
    pub use_bias: bool,
}

/// A dense layer `y = alpha * x·W + beta * b` on the last dim (Gemm, or MatMul with a constant).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearConfig {
    pub units: usize,
    pub in_features: usize,
    pub use_bias: bool,
    /// Weight stored as [out, in] in the file (Gemm transB=1, PyTorch's layout) or [in, out].
    pub weight_out_in: bool,
    pub alpha: f32,
    pub beta: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PadMode {
    Constant(f32),
    Reflect,
    Edge,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PadConfig {
    /// Per-dim (begin, end); may be negative (a crop). Dim 0 is always (0, 0).
    pub pads: Vec<(i64, i64)>,
    pub mode: PadMode,
}

/// Ops that only change the shape; at run time the output takes the layer's inferred shape
/// with the batch dim replaced.
#[derive(Clone, Debug, PartialEq)]
pub enum ReshapeOp {
    Flatten { axis: usize },
    Reshape,
    Squeeze { axes: Vec<usize> },
    Unsqueeze { axes: Vec<usize> },
}

#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    Input,
    Conv2d(Conv2dConfig),
    ConvTranspose2d(ConvTranspose2dConfig),
    Upsample(UpsampleConfig),
    BatchNorm(BatchNormConfig),
    Activation(Activation),
    /// Parametric ReLU; weight 0 is the slope, broadcast against the input.
    PRelu,
    Binary(BinaryConfig),
    MaxPool2d(PoolConfig),
    AvgPool2d(PoolConfig),
    GlobalAvgPool,
    GlobalMaxPool,
    Reshape(ReshapeOp),
    Linear(LinearConfig),
    /// Matrix product of two layer outputs (a constant right operand becomes `Linear`).
    MatMul,
    Softmax {
        axis: usize,
        log: bool,
    },
    Dropout {
        ratio: f32,
    },
    Identity,
    Concat {
        axis: usize,
    },
    Transpose {
        perm: Vec<usize>,
    },
    Pad(PadConfig),
    ReduceMean {
        axes: Vec<usize>,
        keepdims: bool,
    },
    LayerNorm(LayerNormConfig),
}

impl LayerKind {
    /// The type name shown in the summary's "Layer (type)" column.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerKind::Input => "InputLayer",
            LayerKind::Conv2d(c) if c.groups > 1 && c.groups == c.in_channels => "DepthwiseConv2D",
            LayerKind::Conv2d(_) => "Conv2D",
            LayerKind::ConvTranspose2d(_) => "Conv2DTranspose",
            LayerKind::Upsample(_) => "UpSampling2D",
            LayerKind::BatchNorm(_) => "BatchNormalization",
            LayerKind::Activation(_) => "Activation",
            LayerKind::PRelu => "PReLU",
            LayerKind::Binary(b) => match b.op {
                BinaryOp::Add => "Add",
                BinaryOp::Sub => "Subtract",
                BinaryOp::Mul => "Multiply",
                BinaryOp::Div => "Divide",
                BinaryOp::Max => "Maximum",
                BinaryOp::Min => "Minimum",
            },
            LayerKind::MaxPool2d(_) => "MaxPooling2D",
            LayerKind::AvgPool2d(_) => "AveragePooling2D",
            LayerKind::GlobalAvgPool => "GlobalAveragePooling2D",
            LayerKind::GlobalMaxPool => "GlobalMaxPooling2D",
            LayerKind::Reshape(r) => match r {
                ReshapeOp::Flatten { .. } => "Flatten",
                ReshapeOp::Reshape => "Reshape",
                ReshapeOp::Squeeze { .. } => "Squeeze",
                ReshapeOp::Unsqueeze { .. } => "Unsqueeze",
            },
            LayerKind::Linear(_) => "Dense",
            LayerKind::MatMul => "MatMul",
            LayerKind::Softmax { log: false, .. } => "Softmax",
            LayerKind::Softmax { log: true, .. } => "LogSoftmax",
            LayerKind::Dropout { .. } => "Dropout",
            LayerKind::Identity => "Identity",
            LayerKind::Concat { .. } => "Concatenate",
            LayerKind::Transpose { .. } => "Permute",
            LayerKind::Pad(_) => "Padding",
            LayerKind::ReduceMean { .. } => "ReduceMean",
            LayerKind::LayerNorm(_) => "LayerNormalization",
        }
    }

    /// The spatial window, for kinds that have one.
    pub fn window(&self) -> Option<&Window> {
        match self {
            LayerKind::Conv2d(c) => Some(&c.window),
            LayerKind::ConvTranspose2d(c) => Some(&c.window),
            LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p) => Some(&p.window),
            _ => None,
        }
    }
}
