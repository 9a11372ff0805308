//! Building graphs in code, with seeded random weights (He-uniform kernels, small random
//! BatchNorm statistics). Used by the benchmarks, tests, and the architectures convscope knows.

use super::kind::*;
use super::shape;
use super::weights::{ParamCount, StoredType, Weight, WeightData, WeightRole};
use super::{Graph, Layer, LayerId};
use crate::error::Result;

pub use super::rng::{fnv1a, Rng};

/// A square convolution's geometry: `ConvSpec::new(64, 3).stride(2).bias(true)`.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub filters: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub groups: usize,
    pub bias: bool,
}

impl ConvSpec {
    /// Stride 1, "same" padding for odd kernels, one group, no bias.
    pub fn new(filters: usize, kernel: usize) -> Self {
        ConvSpec {
            filters,
            kernel,
            stride: 1,
            pad: kernel / 2,
            groups: 1,
            bias: false,
        }
    }

    pub fn stride(self, stride: usize) -> Self {
        ConvSpec { stride, ..self }
    }

    pub fn pad(self, pad: usize) -> Self {
        ConvSpec { pad, ..self }
    }

    pub fn groups(self, groups: usize) -> Self {
        ConvSpec { groups, ..self }
    }

    pub fn bias(self, bias: bool) -> Self {
        ConvSpec { bias, ..self }
    }
}

/// A square pooling window: `PoolSpec::max(3, 2, 1)`, `PoolSpec::avg(2, 2, 0).ceil()`.
#[derive(Clone, Copy, Debug)]
pub struct PoolSpec {
    pub average: bool,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

impl PoolSpec {
    pub fn max(kernel: usize, stride: usize, pad: usize) -> Self {
        PoolSpec {
            average: false,
            kernel,
            stride,
            pad,
            ceil_mode: false,
            count_include_pad: false,
        }
    }

    /// PyTorch's `AvgPool2d` defaults: padding counts in the divisor.
    pub fn avg(kernel: usize, stride: usize, pad: usize) -> Self {
        PoolSpec {
            average: true,
            count_include_pad: true,
            ..PoolSpec::max(kernel, stride, pad)
        }
    }

    pub fn ceil(self) -> Self {
        PoolSpec {
            ceil_mode: true,
            ..self
        }
    }
}

pub struct GraphBuilder {
    name: String,
    layers: Vec<Layer>,
    /// Seeds every weight, mixed with the weight's name.
    seed: u64,
}

impl GraphBuilder {
    /// Starts a graph whose input has `shape` (batch first, batch 1).
    pub fn new(name: &str, input: &str, shape: &[usize], seed: u64) -> (Self, LayerId) {
        let b = GraphBuilder {
            name: name.into(),
            layers: vec![Layer::new(
                input.into(),
                "input".into(),
                LayerKind::Input,
                vec![],
                shape.to_vec(),
                vec![],
            )],
            seed,
        };
        (b, LayerId(0))
    }

    pub fn shape(&self, id: LayerId) -> &[usize] {
        &self.layers[id.0].out_shape
    }

    /// Adds a layer, inferring its output shape.
    pub fn add(
        &mut self,
        name: &str,
        kind: LayerKind,
        inputs: Vec<LayerId>,
        weights: Vec<Weight>,
    ) -> Result<LayerId> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|i| self.shape(*i)).collect();
        let out_shape = shape::infer(name, &kind, &shapes, &weights)?;
        self.layers.push(Layer::new(
            name.into(),
            kind.type_name().into(),
            kind,
            inputs,
            out_shape,
            weights,
        ));
        Ok(LayerId(self.layers.len() - 1))
    }

    /// A weight whose values are drawn from `[center - bound, center + bound)` when first read,
    /// seeded by the graph's seed and the weight's name (so one layer's values do not depend on
    /// the others, or on the order they were built in).
    fn weight(
        &mut self,
        name: String,
        role: WeightRole,
        shape: Vec<usize>,
        (center, bound): (f32, f32),
        count: ParamCount,
    ) -> Weight {
        let seed = self.seed ^ fnv1a(name.as_bytes());
        Weight {
            name,
            role,
            stored: StoredType::F32,
            count,
            data: WeightData::Random {
                seed,
                center,
                bound,
            },
            shape,
        }
    }

    /// A square convolution with He-uniform weights.
    pub fn conv(&mut self, name: &str, x: LayerId, spec: ConvSpec) -> Result<LayerId> {
        let ConvSpec {
            filters,
            kernel: k,
            stride,
            pad,
            groups,
            bias,
        } = spec;
        let in_ch = self.shape(x)[1];
        let fan_in = (in_ch / groups * k * k) as f32;
        let mut weights = vec![self.weight(
            format!("{name}.weight"),
            WeightRole::Kernel,
            vec![filters, in_ch / groups, k, k],
            (0.0, (6.0 / fan_in).sqrt()),
            ParamCount::Trainable,
        )];
        if bias {
            weights.push(self.weight(
                format!("{name}.bias"),
                WeightRole::Bias,
                vec![filters],
                (0.0, 0.1),
                ParamCount::Trainable,
            ));
        }
        let kind = LayerKind::Conv2d(Conv2dConfig {
            filters,
            in_channels: in_ch,
            window: Window {
                kernel: [k, k],
                strides: [stride, stride],
                dilation: [1, 1],
                pads: [pad; 4],
                mode: PaddingMode::Explicit,
            },
            groups,
            use_bias: bias,
        });
        self.add(name, kind, vec![x], weights)
    }

    /// BatchNorm with PyTorch's default epsilon.
    pub fn batch_norm(&mut self, name: &str, x: LayerId) -> Result<LayerId> {
        self.batch_norm_eps(name, x, 1e-5)
    }

    pub fn batch_norm_eps(&mut self, name: &str, x: LayerId, epsilon: f32) -> Result<LayerId> {
        let c = self.shape(x)[1];
        let mut weights = self.scale_and_shift(name, c);
        weights.extend([
            self.weight(
                format!("{name}.running_mean"),
                WeightRole::MovingMean,
                vec![c],
                (0.0, 0.1),
                ParamCount::NonTrainable,
            ),
            self.weight(
                format!("{name}.running_var"),
                WeightRole::MovingVariance,
                vec![c],
                (1.0, 0.5),
                ParamCount::NonTrainable,
            ),
        ]);
        let kind = LayerKind::BatchNorm(BatchNormConfig {
            channels: c,
            epsilon,
            momentum: 0.9,
        });
        self.add(name, kind, vec![x], weights)
    }

    /// A normalization's learned gamma and beta over `c` channels.
    fn scale_and_shift(&mut self, name: &str, c: usize) -> Vec<Weight> {
        let t = ParamCount::Trainable;
        vec![
            self.weight(
                format!("{name}.weight"),
                WeightRole::Gamma,
                vec![c],
                (1.0, 0.2),
                t,
            ),
            self.weight(
                format!("{name}.bias"),
                WeightRole::Beta,
                vec![c],
                (0.0, 0.1),
                t,
            ),
        ]
    }

    /// LayerNorm over the last dim, with scale and bias (PyTorch's `nn.LayerNorm(C)`).
    pub fn layer_norm(&mut self, name: &str, x: LayerId, epsilon: f32) -> Result<LayerId> {
        let shape = self.shape(x);
        let (rank, c) = (shape.len(), shape[shape.len() - 1]);
        let weights = self.scale_and_shift(name, c);
        let kind = LayerKind::LayerNorm(LayerNormConfig {
            axis: rank - 1,
            epsilon,
            use_bias: true,
        });
        self.add(name, kind, vec![x], weights)
    }

    /// `x * w` with a learned operand `w` of `shape` (ConvNeXt's layer scale), stored under
    /// `key`.
    pub fn scale(
        &mut self,
        name: &str,
        x: LayerId,
        key: &str,
        shape: Vec<usize>,
    ) -> Result<LayerId> {
        let w = self.weight(
            key.to_string(),
            WeightRole::Operand,
            shape,
            (0.5, 0.1),
            ParamCount::Trainable,
        );
        let kind = LayerKind::Binary(BinaryConfig {
            op: BinaryOp::Mul,
            constant: Some(Side::Left),
        });
        self.add(name, kind, vec![x], vec![w])
    }

    pub fn activation(&mut self, name: &str, x: LayerId, a: Activation) -> Result<LayerId> {
        self.add(name, LayerKind::Activation(a), vec![x], vec![])
    }

    pub fn relu(&mut self, name: &str, x: LayerId) -> Result<LayerId> {
        self.activation(name, x, Activation::Relu)
    }

    pub fn max_pool(
        &mut self,
        name: &str,
        x: LayerId,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Result<LayerId> {
        self.pool(name, x, PoolSpec::max(k, stride, pad))
    }

    /// A square max or average pool.
    pub fn pool(&mut self, name: &str, x: LayerId, spec: PoolSpec) -> Result<LayerId> {
        let window = Window {
            kernel: [spec.kernel; 2],
            strides: [spec.stride; 2],
            dilation: [1, 1],
            pads: [spec.pad; 4],
            mode: PaddingMode::Explicit,
        };
        let config = PoolConfig {
            window,
            ceil_mode: spec.ceil_mode,
            count_include_pad: spec.count_include_pad,
        };
        let kind = if spec.average {
            LayerKind::AvgPool2d(config)
        } else {
            LayerKind::MaxPool2d(config)
        };
        self.add(name, kind, vec![x], vec![])
    }

    /// PyTorch's `AdaptiveAvgPool2d(out)` at this graph's (fixed) input size: nothing when the
    /// map already has that size (the identity; Keras's VGG16 has no such layer either), a
    /// global pool for 1, an even average window when the map divides, else an error naming
    /// the sizes.
    pub fn adaptive_avg_pool(&mut self, name: &str, x: LayerId, out: usize) -> Result<LayerId> {
        let shape = self.shape(x).to_vec();
        let (h, w) = (shape[2], shape[3]);
        if out == 1 {
            return self.global_avg_pool(name, x);
        }
        if h == out && w == out {
            return Ok(x);
        }
        if h != w || h % out != 0 {
            return Err(crate::error::Error::graph(
                name,
                format!("adaptive average pooling of a {h}x{w} map to {out}x{out} needs a map that is a multiple of {out}; use the architecture's input size"),
            ));
        }
        let k = h / out;
        self.pool(name, x, PoolSpec::avg(k, k, 0))
    }

    pub fn global_avg_pool(&mut self, name: &str, x: LayerId) -> Result<LayerId> {
        self.add(name, LayerKind::GlobalAvgPool, vec![x], vec![])
    }

    pub fn flatten(&mut self, name: &str, x: LayerId) -> Result<LayerId> {
        self.add(
            name,
            LayerKind::Reshape(ReshapeOp::Flatten { axis: 1 }),
            vec![x],
            vec![],
        )
    }

    pub fn concat(&mut self, name: &str, xs: Vec<LayerId>) -> Result<LayerId> {
        self.add(name, LayerKind::Concat { axis: 1 }, xs, vec![])
    }

    pub fn transpose(&mut self, name: &str, x: LayerId, perm: &[usize]) -> Result<LayerId> {
        let kind = LayerKind::Transpose {
            perm: perm.to_vec(),
        };
        self.add(name, kind, vec![x], vec![])
    }

    pub fn dropout(&mut self, name: &str, x: LayerId, ratio: f32) -> Result<LayerId> {
        self.add(name, LayerKind::Dropout { ratio }, vec![x], vec![])
    }

    pub fn mul_layers(&mut self, name: &str, a: LayerId, b: LayerId) -> Result<LayerId> {
        let kind = LayerKind::Binary(BinaryConfig {
            op: BinaryOp::Mul,
            constant: None,
        });
        self.add(name, kind, vec![a, b], vec![])
    }

    pub fn add_layers(&mut self, name: &str, a: LayerId, b: LayerId) -> Result<LayerId> {
        let kind = LayerKind::Binary(BinaryConfig {
            op: BinaryOp::Add,
            constant: None,
        });
        self.add(name, kind, vec![a, b], vec![])
    }

    /// A dense layer with PyTorch's `[out, in]` weight layout.
    pub fn linear(&mut self, name: &str, x: LayerId, units: usize) -> Result<LayerId> {
        let in_features = *self.shape(x).last().expect("rank >= 1");
        let bound = (6.0 / in_features as f32).sqrt();
        let weights = vec![
            self.weight(
                format!("{name}.weight"),
                WeightRole::Kernel,
                vec![units, in_features],
                (0.0, bound),
                ParamCount::Trainable,
            ),
            self.weight(
                format!("{name}.bias"),
                WeightRole::Bias,
                vec![units],
                (0.0, 0.1),
                ParamCount::Trainable,
            ),
        ];
        let kind = LayerKind::Linear(LinearConfig {
            units,
            in_features,
            use_bias: true,
            weight_out_in: true,
            alpha: 1.0,
            beta: 1.0,
        });
        self.add(name, kind, vec![x], weights)
    }

    pub fn finish(self, output: LayerId) -> Result<Graph> {
        let g = Graph {
            name: self.name,
            layers: self.layers,
            inputs: vec![LayerId(0)],
            outputs: vec![output],
            labels: None,
            sample_image: None,
            origin: None,
            crop_resize: None,
            channels_last: false,
            preprocess: None,
        };
        g.validate()?;
        Ok(g)
    }
}
