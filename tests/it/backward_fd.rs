//! Every layer kind's backward rule (`src/exec/ops/*.rs`) against central finite differences.
//!
//! Each test builds a tiny graph (an `Input` layer, sometimes a crop that splits it into two
//! operands, then the layer under test), takes the objective L = sum(output · R) for a fixed
//! random R, runs the executor's reverse pass from the last layer with seed R and compares the
//! gradient at the input with (L(x + h·e_i) − L(x − h·e_i)) / 2h for every input element —
//! with convscope's CPU kernels and again without them (the device-generic paths).
//!
//! Tolerance: max |analytic − fd| <= 2e-2 · max(1, max |fd|). The forward passes run in float32,
//! so L carries a rounding error of roughly 1e-7 · Σ|y·R| (~1e-5 here), which the division by
//! 2h = 2e-2 turns into up to ~1e-3; the step h = 1e-2 adds the central-difference truncation
//! error h²/6 · |L'''|, largest for Div (|b| >= 0.5, so |d³(a/b)/db³| <= 96) and LayerNorm. The
//! largest error seen is ~3e-3 (most layers ~1e-5), so 2e-2 clears both with margin, while a
//! wrong rule (a missing factor, a swapped operand, a misplaced tap) is off by O(1).
//!
//! Inputs are drawn in [-1, 1] unless noted: Clip, HardSigmoid and HardSwish use a wider range
//! to reach their kinks, the smooth activations and softmax [-2, 2] or [-3, 3], and Binary ops
//! magnitudes in [0.5, 1] so that Div is smooth. Piecewise-linear layers (the ReLU family,
//! PRelu, Clip, HardSigmoid, HardSwish) get inputs at least 0.05 from every kink, and max-pooling
//! layers get inputs whose values within each channel plane differ pairwise by at least 0.05,
//! so that no ±h step crosses a kink or changes which element of a window is the maximum.

use candle_core::{Device, Tensor};
use convscope::exec::cpu::with_kernels;
use convscope::exec::{Executor, NoHook, Params, ReluRule};
use convscope::model::shape::infer;
use convscope::model::{
    Activation, BatchNormConfig, BinaryConfig, BinaryOp, Conv2dConfig, Graph, Layer, LayerId,
    LayerKind, LayerNormConfig, LinearConfig, PadConfig, PadMode, PaddingMode, ParamCount,
    PoolConfig, ReshapeOp, Side, Weight, WeightRole, Window,
};

const H: f32 = 1e-2;
const TOL: f64 = 2e-2;
const BATCH: usize = 2;

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers (SplitMix64).

#[derive(Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }

    pub(crate) fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    /// Values in [lo, hi], each at least 0.05 from every kink.
    pub(crate) fn away_from(&mut self, n: usize, lo: f32, hi: f32, kinks: &[f32]) -> Vec<f32> {
        (0..n)
            .map(|_| loop {
                let v = self.uniform(lo, hi);
                if kinks.iter().all(|k| (v - k).abs() >= 0.05) {
                    break v;
                }
            })
            .collect()
    }

    /// Values with magnitude in [0.5, 1] and random sign (safe divisors).
    pub(crate) fn nonzero(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v = self.uniform(0.5, 1.0);
                if self.next_u64() & 1 == 0 {
                    v
                } else {
                    -v
                }
            })
            .collect()
    }

    /// `planes` blocks of `plane` values, each block a shuffle of a grid with step 0.05 centred
    /// on 0: no two values of a plane are within 0.05 of each other (no max-pool near-ties).
    pub(crate) fn distinct(&mut self, planes: usize, plane: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(planes * plane);
        for _ in 0..planes {
            let mut grid: Vec<f32> = (0..plane)
                .map(|k| (k as f32 - (plane as f32 - 1.0) / 2.0) * 0.05)
                .collect();
            for i in (1..plane).rev() {
                grid.swap(i, (self.next_u64() % (i as u64 + 1)) as usize);
            }
            out.extend(grid);
        }
        out
    }
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// `shape` with the batch dim (dim 0) set to `BATCH`.
fn batched(shape: &[usize]) -> Vec<usize> {
    let mut s = shape.to_vec();
    s[0] = BATCH;
    s
}

// ---------------------------------------------------------------------------------------------
// Graph building.

fn weight(role: WeightRole, shape: &[usize], data: Vec<f32>) -> Weight {
    assert_eq!(
        numel(shape),
        data.len(),
        "weight data does not fit its shape"
    );
    Weight::loaded(
        format!("{}_{shape:?}", role.label()),
        role,
        shape,
        data,
        ParamCount::Trainable,
    )
}

pub(crate) fn random_weight(rng: &mut Rng, role: WeightRole, shape: &[usize]) -> Weight {
    weight(role, shape, rng.vec(numel(shape), -1.0, 1.0))
}

/// A graph under construction: layer 0 is the input (batch-1 shape), the last layer the output.
pub(crate) struct Net {
    layers: Vec<Layer>,
}

impl Net {
    pub(crate) fn new(input_shape: &[usize]) -> Net {
        Net {
            layers: vec![Layer::new(
                "input".into(),
                "Input".into(),
                LayerKind::Input,
                vec![],
                input_shape.to_vec(),
                vec![],
            )],
        }
    }

    /// Appends a layer reading the given layers; its batch-1 output shape comes from `infer`.
    pub(crate) fn add(&mut self, kind: LayerKind, inputs: &[usize], weights: Vec<Weight>) -> usize {
        let name = format!("layer{}", self.layers.len());
        let shapes: Vec<&[usize]> = inputs
            .iter()
            .map(|&i| self.layers[i].out_shape.as_slice())
            .collect();
        let out_shape = infer(&name, &kind, &shapes, &weights).unwrap_or_else(|e| panic!("{e}"));
        self.layers.push(Layer::new(
            name,
            kind.type_name().into(),
            kind,
            inputs.iter().map(|&i| LayerId(i)).collect(),
            out_shape,
            weights,
        ));
        self.layers.len() - 1
    }

    /// A constant-mode Pad layer with the given (begin, end) pairs, used with negative values to
    /// crop one operand out of the input.
    pub(crate) fn crop(&mut self, from: usize, pads: &[(i64, i64)]) -> usize {
        let kind = LayerKind::Pad(PadConfig {
            pads: pads.to_vec(),
            mode: PadMode::Constant(0.0),
        });
        self.add(kind, &[from], vec![])
    }

    pub(crate) fn graph(self) -> Graph {
        let last = LayerId(self.layers.len() - 1);
        let g = Graph {
            name: "fd".into(),
            layers: self.layers,
            inputs: vec![LayerId(0)],
            outputs: vec![last],
            labels: None,
            sample_image: None,
            origin: None,
            crop_resize: None,
            channels_last: false,
            preprocess: None,
        };
        g.validate().unwrap();
        g
    }
}

/// Input of batch-1 shape `in_shape` followed by one layer of `kind`.
pub(crate) fn one_layer(in_shape: &[usize], kind: LayerKind, weights: Vec<Weight>) -> Graph {
    let mut net = Net::new(in_shape);
    net.add(kind, &[0], weights);
    net.graph()
}

// ---------------------------------------------------------------------------------------------
// The check.

/// L(x) = Σ output · R, accumulated in f64 from the f32 forward pass.
fn objective(exec: &Executor, x: &[f32], shape: &[usize], r: &[f32]) -> f64 {
    let input = Tensor::from_vec(x.to_vec(), shape, &crate::common::device()).unwrap();
    let acts = exec.forward(&input, &mut NoHook).unwrap();
    let y: Vec<f32> = acts
        .get(exec.graph.outputs[0])
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(y.len(), r.len());
    y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Compares the reverse pass's input gradient with central differences at `x` (batch-first
/// data of the graph input's shape at batch `BATCH`), both with convscope's CPU kernels and
/// without them (candle's tensor ops: the paths every other device takes), from the same
/// random draws. Returns the larger max abs error.
pub(crate) fn check_with(graph: &Graph, x: &[f32], rng: &mut Rng) -> f64 {
    let mut generic_rng = rng.clone();
    let kernels = with_kernels(true, || check_path(graph, x, rng));
    let generic = with_kernels(false, || check_path(graph, x, &mut generic_rng));
    kernels.max(generic)
}

fn check_path(graph: &Graph, x: &[f32], rng: &mut Rng) -> f64 {
    let shape = batched(&graph.layer(LayerId(0)).out_shape);
    assert_eq!(numel(&shape), x.len(), "input data does not fit {shape:?}");
    let params = Params::load(graph, &crate::common::device()).unwrap();
    let exec = Executor::new(graph, &params);
    let out = *graph.outputs.first().unwrap();
    let label = format!("{:?}", graph.layer(out).kind);

    let input = Tensor::from_vec(x.to_vec(), shape.as_slice(), &crate::common::device()).unwrap();
    let acts = exec.forward(&input, &mut NoHook).unwrap();
    let out_dims = acts.get(out).dims().to_vec();
    assert_eq!(
        out_dims,
        batched(&graph.layer(out).out_shape),
        "{label}: output shape"
    );
    let r = rng.vec(numel(&out_dims), -1.0, 1.0);
    let seed_of = |r: &[f32]| {
        Tensor::from_vec(r.to_vec(), out_dims.as_slice(), &crate::common::device()).unwrap()
    };
    let seed = seed_of(&r);
    let grads = exec.backward(&acts, out, seed, ReluRule::Normal).unwrap();
    let g = grads
        .get(LayerId(0))
        .unwrap_or_else(|| panic!("{label}: no gradient at the input"));
    assert_eq!(g.dims(), shape.as_slice(), "{label}: gradient shape");
    let g: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
    // A pass for gradients keeps only the values the rules read, the rest stand-ins that hold
    // NaN: a rule that read one would show here.
    let lean = exec.forward_for_gradients(&input, &[out]).unwrap();
    let lean_g = exec
        .backward_to(&lean, out, seed_of(&r), ReluRule::Normal, &[LayerId(0)])
        .unwrap();
    let lean_g: Vec<f32> = lean_g
        .get(LayerId(0))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(
        lean_g
            .iter()
            .zip(&g)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "{label}: the pass for gradients changed the gradient"
    );

    let mut fd = Vec::with_capacity(x.len());
    let mut xs = x.to_vec();
    for i in 0..x.len() {
        let (plus, minus) = (x[i] + H, x[i] - H);
        xs[i] = plus;
        let lp = objective(&exec, &xs, &shape, &r);
        xs[i] = minus;
        let lm = objective(&exec, &xs, &shape, &r);
        xs[i] = x[i];
        fd.push((lp - lm) / (plus as f64 - minus as f64));
    }

    let scale = fd.iter().fold(1f64, |m, v| m.max(v.abs()));
    let (worst, err) = g
        .iter()
        .zip(&fd)
        .map(|(&a, &f)| (a as f64 - f).abs())
        .enumerate()
        .fold(
            (0, 0f64),
            |best, (i, e)| if e > best.1 { (i, e) } else { best },
        );
    println!("{label}: max |analytic - fd| = {err:.2e} (scale {scale:.2})");
    assert!(
        err <= TOL * scale,
        "{label}: max |analytic - fd| = {err:.4} at flat index {worst} of {shape:?} \
         (analytic {:.5}, fd {:.5}); tolerance {:.4}",
        g[worst],
        fd[worst],
        TOL * scale
    );
    err
}

/// `check_with` on inputs uniform in [-1, 1].
pub(crate) fn check(graph: &Graph, rng: &mut Rng) -> f64 {
    let n = BATCH * numel(&graph.layer(LayerId(0)).out_shape[1..]);
    let x = rng.vec(n, -1.0, 1.0);
    check_with(graph, &x, rng)
}

/// Number of input elements at batch `BATCH`.
pub(crate) fn input_len(graph: &Graph) -> usize {
    numel(&batched(&graph.layer(LayerId(0)).out_shape))
}

// ---------------------------------------------------------------------------------------------
// Convolution.

pub(crate) fn win(
    kernel: [usize; 2],
    strides: [usize; 2],
    dilation: [usize; 2],
    pads: [usize; 4],
) -> Window {
    Window {
        kernel,
        strides,
        dilation,
        pads,
        mode: PaddingMode::Explicit,
    }
}

/// One Conv2d layer on a batch-1 input shape, with random kernel (and bias).
fn conv(
    rng: &mut Rng,
    in_shape: [usize; 4],
    filters: usize,
    window: Window,
    groups: usize,
    bias: bool,
) -> Graph {
    let in_channels = in_shape[1];
    let [kh, kw] = window.kernel;
    let mut weights = vec![random_weight(
        rng,
        WeightRole::Kernel,
        &[filters, in_channels / groups, kh, kw],
    )];
    if bias {
        weights.push(random_weight(rng, WeightRole::Bias, &[filters]));
    }
    let kind = LayerKind::Conv2d(Conv2dConfig {
        filters,
        in_channels,
        window,
        groups,
        use_bias: bias,
    });
    one_layer(&in_shape, kind, weights)
}

#[test]
fn conv_plain_3x3_pad1_with_bias() {
    let mut rng = Rng::new(1);
    let g = conv(
        &mut rng,
        [1, 3, 5, 5],
        4,
        win([3, 3], [1, 1], [1, 1], [1; 4]),
        1,
        true,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_plain_3x3_pad1_no_bias() {
    let mut rng = Rng::new(2);
    let g = conv(
        &mut rng,
        [1, 2, 4, 6],
        3,
        win([3, 3], [1, 1], [1, 1], [1; 4]),
        1,
        false,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_stride2_asymmetric_pads() {
    let mut rng = Rng::new(3);
    // pads top 0, left 1, bottom 1, right 0; 6x5 leaves rows/cols the last window misses.
    let g = conv(
        &mut rng,
        [1, 3, 6, 5],
        4,
        win([3, 3], [2, 2], [1, 1], [0, 1, 1, 0]),
        1,
        true,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_dilation2() {
    let mut rng = Rng::new(4);
    let g = conv(
        &mut rng,
        [1, 2, 6, 6],
        3,
        win([3, 3], [1, 1], [2, 2], [1, 2, 1, 0]),
        1,
        false,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_groups2_rect_kernel() {
    let mut rng = Rng::new(5);
    let g = conv(
        &mut rng,
        [1, 4, 5, 5],
        6,
        win([3, 2], [1, 1], [1, 1], [1, 0, 1, 1]),
        2,
        true,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_depthwise() {
    let mut rng = Rng::new(6);
    // groups = C = 3, channel multiplier 2.
    let g = conv(
        &mut rng,
        [1, 3, 5, 5],
        6,
        win([3, 3], [2, 2], [1, 1], [1; 4]),
        3,
        false,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_nonsquare_stride_general_path() {
    let mut rng = Rng::new(7);
    let g = conv(
        &mut rng,
        [1, 3, 5, 6],
        4,
        win([3, 3], [1, 2], [1, 1], [1; 4]),
        1,
        true,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_nonsquare_dilation_groups_general_path() {
    let mut rng = Rng::new(8);
    let g = conv(
        &mut rng,
        [1, 4, 6, 6],
        4,
        win([2, 3], [2, 1], [1, 2], [0, 2, 1, 1]),
        2,
        false,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_stride2_dilation2() {
    let mut rng = Rng::new(9);
    let g = conv(
        &mut rng,
        [1, 2, 7, 7],
        3,
        win([3, 3], [2, 2], [2, 2], [2, 1, 2, 2]),
        1,
        true,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_stride_larger_than_kernel() {
    let mut rng = Rng::new(14);
    // Kernel 2, stride 3: some input rows and columns feed no output (zero gradient there).
    let g = conv(
        &mut rng,
        [1, 2, 7, 8],
        3,
        win([2, 2], [3, 3], [1, 1], [1, 0, 0, 1]),
        1,
        false,
    );
    check(&g, &mut rng);
}

#[test]
fn conv_pad_wider_than_kernel() {
    let mut rng = Rng::new(15);
    // A 1x1 kernel with pad 1 (and a 3x3 with pad 2): the adjoint crops instead of padding.
    let g = conv(
        &mut rng,
        [1, 3, 4, 4],
        2,
        win([1, 1], [1, 1], [1, 1], [1, 2, 1, 0]),
        1,
        true,
    );
    check(&g, &mut rng);
    let g = conv(
        &mut rng,
        [1, 2, 4, 5],
        2,
        win([3, 3], [2, 2], [1, 1], [2, 3, 2, 1]),
        1,
        false,
    );
    check(&g, &mut rng);
}

// ---------------------------------------------------------------------------------------------
// Normalization.

#[test]
fn batch_norm() {
    let mut rng = Rng::new(10);
    let c = 3;
    let weights = vec![
        random_weight(&mut rng, WeightRole::Gamma, &[c]),
        random_weight(&mut rng, WeightRole::Beta, &[c]),
        random_weight(&mut rng, WeightRole::MovingMean, &[c]),
        weight(WeightRole::MovingVariance, &[c], rng.vec(c, 0.2, 2.0)),
    ];
    let kind = LayerKind::BatchNorm(BatchNormConfig {
        channels: c,
        epsilon: 1e-3,
        momentum: 0.9,
    });
    check(&one_layer(&[1, c, 4, 3], kind, weights), &mut rng);
}

fn layer_norm(rng: &mut Rng, in_shape: &[usize], axis: usize, bias: bool) -> Graph {
    let normalized = &in_shape[axis..];
    let mut weights = vec![weight(
        WeightRole::Gamma,
        normalized,
        rng.vec(numel(normalized), 0.5, 1.5),
    )];
    if bias {
        weights.push(random_weight(rng, WeightRole::Beta, normalized));
    }
    let kind = LayerKind::LayerNorm(LayerNormConfig {
        axis,
        epsilon: 1e-5,
        use_bias: bias,
    });
    one_layer(in_shape, kind, weights)
}

#[test]
fn layer_norm_last_axis_with_bias() {
    let mut rng = Rng::new(11);
    check(&layer_norm(&mut rng, &[1, 3, 6], 2, true), &mut rng);
}

#[test]
fn layer_norm_last_axis_no_bias() {
    let mut rng = Rng::new(12);
    check(&layer_norm(&mut rng, &[1, 4, 5], 2, false), &mut rng);
}

#[test]
fn layer_norm_over_two_trailing_dims() {
    let mut rng = Rng::new(13);
    check(&layer_norm(&mut rng, &[1, 2, 3, 4], 2, true), &mut rng);
}

// ---------------------------------------------------------------------------------------------
// Activations.

/// One activation on a [1, 3, 4, 4] input drawn in [lo, hi], 0.05 clear of `kinks`.
fn check_activation(seed: u64, a: Activation, lo: f32, hi: f32, kinks: &[f32]) {
    let mut rng = Rng::new(seed);
    let g = one_layer(&[1, 3, 4, 4], LayerKind::Activation(a), vec![]);
    let x = rng.away_from(input_len(&g), lo, hi, kinks);
    check_with(&g, &x, &mut rng);
}

#[test]
fn activation_relu() {
    check_activation(20, Activation::Relu, -1.0, 1.0, &[0.0]);
}

#[test]
fn activation_leaky_relu() {
    check_activation(21, Activation::LeakyRelu { alpha: 0.1 }, -1.0, 1.0, &[0.0]);
}

#[test]
fn activation_leaky_relu_negative_slope() {
    // Its output is positive on both sides of 0, so its rule must read the input.
    check_activation(41, Activation::LeakyRelu { alpha: -0.5 }, -1.0, 1.0, &[0.0]);
}

#[test]
fn activation_clip_0_6() {
    // [-2, 8] to reach both bounds.
    check_activation(
        22,
        Activation::Clip { min: 0.0, max: 6.0 },
        -2.0,
        8.0,
        &[0.0, 6.0],
    );
}

#[test]
fn activation_clip_lower_bound_only() {
    let a = Activation::Clip {
        min: -0.5,
        max: f32::INFINITY,
    };
    check_activation(23, a, -1.0, 1.0, &[-0.5]);
}

#[test]
fn activation_sigmoid() {
    check_activation(24, Activation::Sigmoid, -3.0, 3.0, &[]);
}

#[test]
fn activation_hard_sigmoid() {
    // Kinks where 0.2 x + 0.5 is 0 or 1: x = ±2.5.
    let a = Activation::HardSigmoid {
        alpha: 0.2,
        beta: 0.5,
    };
    check_activation(25, a, -4.0, 4.0, &[-2.5, 2.5]);
}

#[test]
fn activation_hard_swish() {
    check_activation(26, Activation::HardSwish, -5.0, 5.0, &[-3.0, 3.0]);
}

#[test]
fn activation_silu() {
    check_activation(41, Activation::Silu, -4.0, 4.0, &[]);
}

#[test]
fn activation_tanh() {
    check_activation(27, Activation::Tanh, -2.0, 2.0, &[]);
}

#[test]
fn activation_erf() {
    check_activation(28, Activation::Erf, -2.0, 2.0, &[]);
}

#[test]
fn activation_gelu_exact() {
    check_activation(
        29,
        Activation::Gelu {
            tanh_approximation: false,
        },
        -3.0,
        3.0,
        &[],
    );
}

#[test]
fn activation_gelu_tanh() {
    check_activation(
        30,
        Activation::Gelu {
            tanh_approximation: true,
        },
        -3.0,
        3.0,
        &[],
    );
}

/// Keras's activations beyond ONNX's set (ELU and SELU have a kink at 0, kept away from).
#[test]
fn activation_keras_extras() {
    check_activation(71, Activation::Elu { alpha: 0.7 }, -3.0, 3.0, &[0.0]);
    check_activation(72, Activation::Selu, -3.0, 3.0, &[0.0]);
    check_activation(73, Activation::Softplus, -4.0, 4.0, &[]);
    check_activation(74, Activation::Softsign, -3.0, 3.0, &[0.0]);
    check_activation(75, Activation::Exp, -2.0, 2.0, &[]);
    check_activation(76, Activation::Mish, -4.0, 4.0, &[]);
}

#[test]
fn prelu_per_channel_slope() {
    let mut rng = Rng::new(31);
    let slope = random_weight(&mut rng, WeightRole::Slope, &[3, 1, 1]);
    let g = one_layer(&[1, 3, 4, 4], LayerKind::PRelu, vec![slope]);
    let x = rng.away_from(input_len(&g), -1.0, 1.0, &[0.0]);
    check_with(&g, &x, &mut rng);
}

// ---------------------------------------------------------------------------------------------
// Binary ops.

const OPS: [BinaryOp; 4] = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];

/// Input [1, 6, 3, 4] cropped into A = channels 0..3 ([1, 3, 3, 4]) and B = channels 3..6 at
/// (0, 0) ([1, 3, 1, 1]); the layer computes `op(A, B)` or, swapped, `op(B, A)`. Inputs have
/// magnitude >= 0.5 so that Div is smooth.
#[test]
fn binary_between_layers_with_broadcasting() {
    let mut rng = Rng::new(40);
    for op in OPS {
        for swapped in [false, true] {
            let mut net = Net::new(&[1, 6, 3, 4]);
            let a = net.crop(0, &[(0, 0), (0, -3), (0, 0), (0, 0)]);
            let b = net.crop(0, &[(0, 0), (-3, 0), (0, -2), (0, -3)]);
            let inputs = if swapped { [b, a] } else { [a, b] };
            net.add(
                LayerKind::Binary(BinaryConfig { op, constant: None }),
                &inputs,
                vec![],
            );
            let g = net.graph();
            let x = rng.nonzero(input_len(&g));
            check_with(&g, &x, &mut rng);
        }
    }
}

/// Both operands are the input itself: the two gradients must be accumulated.
#[test]
fn binary_same_layer_both_operands() {
    let mut rng = Rng::new(41);
    for op in OPS {
        let mut net = Net::new(&[1, 2, 3, 3]);
        net.add(
            LayerKind::Binary(BinaryConfig { op, constant: None }),
            &[0, 0],
            vec![],
        );
        let g = net.graph();
        let x = rng.nonzero(input_len(&g));
        check_with(&g, &x, &mut rng);
    }
}

/// A constant operand on either side: [3, 1, 1] on the left, [1, 3, 2, 4] (batch-1, broadcast
/// over the batch) on the right.
#[test]
fn binary_with_constant() {
    let mut rng = Rng::new(42);
    for op in OPS {
        for side in [Side::Left, Side::Right] {
            let shape: &[usize] = if side == Side::Left {
                &[3, 1, 1]
            } else {
                &[1, 3, 2, 4]
            };
            let operand = weight(WeightRole::Operand, shape, rng.nonzero(numel(shape)));
            let kind = LayerKind::Binary(BinaryConfig {
                op,
                constant: Some(side),
            });
            let g = one_layer(&[1, 3, 2, 4], kind, vec![operand]);
            let x = rng.nonzero(input_len(&g));
            check_with(&g, &x, &mut rng);
        }
    }
}

/// The layer input is the broadcast side: [1, 3, 1, 1] against a constant [1, 3, 2, 2], so the
/// input gradient sums over the spatial dims.
#[test]
fn binary_with_constant_broadcasting_the_input() {
    let mut rng = Rng::new(43);
    for op in OPS {
        for side in [Side::Left, Side::Right] {
            let operand = weight(WeightRole::Operand, &[1, 3, 2, 2], rng.nonzero(12));
            let kind = LayerKind::Binary(BinaryConfig {
                op,
                constant: Some(side),
            });
            let g = one_layer(&[1, 3, 1, 1], kind, vec![operand]);
            let x = rng.nonzero(input_len(&g));
            check_with(&g, &x, &mut rng);
        }
    }
}

#[test]
fn prelu_scalar_slope() {
    let mut rng = Rng::new(32);
    let slope = weight(WeightRole::Slope, &[1], vec![0.3]);
    let g = one_layer(&[1, 2, 5], LayerKind::PRelu, vec![slope]);
    let x = rng.away_from(input_len(&g), -1.0, 1.0, &[0.0]);
    check_with(&g, &x, &mut rng);
}

// ---------------------------------------------------------------------------------------------
// Pooling.

fn pool_config(
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    ceil: bool,
    include_pad: bool,
) -> PoolConfig {
    PoolConfig {
        window: Window {
            kernel: [kernel; 2],
            strides: [stride; 2],
            dilation: [dilation; 2],
            pads: [pad; 4],
            mode: PaddingMode::Explicit,
        },
        ceil_mode: ceil,
        count_include_pad: include_pad,
    }
}

/// Max pooling over distinct-valued planes (no near-ties).
fn check_max_pool(seed: u64, in_shape: &[usize], p: PoolConfig) {
    let mut rng = Rng::new(seed);
    let g = one_layer(in_shape, LayerKind::MaxPool2d(p), vec![]);
    let x = rng.distinct(BATCH * in_shape[1], in_shape[2] * in_shape[3]);
    check_with(&g, &x, &mut rng);
}

#[test]
fn max_pool_k3_s2_p1() {
    check_max_pool(50, &[1, 2, 6, 5], pool_config(3, 2, 1, 1, false, false));
}

#[test]
fn max_pool_k2_s2() {
    check_max_pool(51, &[1, 3, 4, 6], pool_config(2, 2, 1, 0, false, false));
}

#[test]
fn max_pool_dilation2_ceil_mode() {
    // 6x6, kernel 2 dilation 2 stride 2, ceil: 3 windows per axis, the last one half outside.
    let p = pool_config(2, 2, 2, 0, true, false);
    assert_eq!(p.window.out_len(0, 6, true), Some(3));
    check_max_pool(52, &[1, 2, 6, 6], p);
}

fn check_avg_pool(seed: u64, in_shape: &[usize], p: PoolConfig) {
    let mut rng = Rng::new(seed);
    check(
        &one_layer(in_shape, LayerKind::AvgPool2d(p), vec![]),
        &mut rng,
    );
}

#[test]
fn avg_pool_count_include_pad() {
    check_avg_pool(53, &[1, 2, 5, 5], pool_config(3, 2, 1, 1, false, true));
}

#[test]
fn avg_pool_exclude_pad() {
    check_avg_pool(54, &[1, 2, 5, 5], pool_config(3, 2, 1, 1, false, false));
}

#[test]
fn avg_pool_ceil_mode() {
    // 6x6, kernel 3 stride 2 pad 1, ceil: 4 windows per axis, the last one partly outside.
    let p = pool_config(3, 2, 1, 1, true, true);
    assert_eq!(p.window.out_len(0, 6, true), Some(4));
    check_avg_pool(55, &[1, 2, 6, 6], p.clone());
    check_avg_pool(
        56,
        &[1, 2, 6, 6],
        PoolConfig {
            count_include_pad: false,
            ..p
        },
    );
}

#[test]
fn global_avg_pool() {
    let mut rng = Rng::new(57);
    check(
        &one_layer(&[1, 3, 4, 5], LayerKind::GlobalAvgPool, vec![]),
        &mut rng,
    );
}

#[test]
fn global_max_pool() {
    check_max_pool_kind(58, &[1, 3, 4, 5], LayerKind::GlobalMaxPool);
}

#[test]
fn max_pool_rect_window_stride_gaps() {
    // Kernel 2x3, strides 3x1, asymmetric pads: gaps between windows and overlapping windows.
    let p = PoolConfig {
        window: win([2, 3], [3, 1], [1, 1], [1, 0, 0, 2]),
        ceil_mode: false,
        count_include_pad: false,
    };
    check_max_pool(59, &[1, 2, 7, 5], p.clone());
    check_avg_pool(60, &[1, 2, 7, 5], p);
}

fn check_max_pool_kind(seed: u64, in_shape: &[usize], kind: LayerKind) {
    let mut rng = Rng::new(seed);
    let g = one_layer(in_shape, kind, vec![]);
    let x = rng.distinct(BATCH * in_shape[1], in_shape[2] * in_shape[3]);
    check_with(&g, &x, &mut rng);
}

// ---------------------------------------------------------------------------------------------
// Shape and layout ops.

#[test]
fn reshape_flatten() {
    let mut rng = Rng::new(60);
    let kind = LayerKind::Reshape(ReshapeOp::Flatten { axis: 1 });
    check(&one_layer(&[1, 3, 2, 4], kind, vec![]), &mut rng);
}

#[test]
fn reshape_squeeze_unsqueeze() {
    let mut rng = Rng::new(59);
    let kind = LayerKind::Reshape(ReshapeOp::Squeeze { axes: vec![2] });
    check(&one_layer(&[1, 3, 1, 4], kind, vec![]), &mut rng);
    let kind = LayerKind::Reshape(ReshapeOp::Unsqueeze { axes: vec![1, 3] });
    check(&one_layer(&[1, 3, 4], kind, vec![]), &mut rng);
}

fn linear(rng: &mut Rng, weight_out_in: bool, bias: bool, alpha: f32, beta: f32) -> Graph {
    let (units, in_features) = (4, 5);
    let shape: &[usize] = if weight_out_in {
        &[units, in_features]
    } else {
        &[in_features, units]
    };
    let mut weights = vec![random_weight(rng, WeightRole::Kernel, shape)];
    if bias {
        weights.push(random_weight(rng, WeightRole::Bias, &[units]));
    }
    let kind = LayerKind::Linear(LinearConfig {
        units,
        in_features,
        use_bias: bias,
        weight_out_in,
        alpha,
        beta,
    });
    one_layer(&[1, 3, in_features], kind, weights)
}

#[test]
fn linear_weight_out_in() {
    let mut rng = Rng::new(61);
    check(&linear(&mut rng, true, true, 0.7, 1.3), &mut rng);
}

#[test]
fn linear_weight_in_out() {
    let mut rng = Rng::new(62);
    check(&linear(&mut rng, false, true, 1.5, 0.5), &mut rng);
}

#[test]
fn linear_no_bias_unit_scales() {
    let mut rng = Rng::new(63);
    check(&linear(&mut rng, false, false, 1.0, 1.0), &mut rng);
}

/// Input [1, 4, 4]: A = rows 0..3 ([1, 3, 4]), B = cols 0..2 ([1, 4, 2]), overlapping in the
/// input so the two operand gradients accumulate; MatMul(A, B) is [1, 3, 2].
#[test]
fn matmul_of_two_layers() {
    let mut rng = Rng::new(64);
    let mut net = Net::new(&[1, 4, 4]);
    let a = net.crop(0, &[(0, 0), (0, -1), (0, 0)]);
    let b = net.crop(0, &[(0, 0), (0, 0), (0, -2)]);
    net.add(LayerKind::MatMul, &[a, b], vec![]);
    check(&net.graph(), &mut rng);
}

/// Batch-broadcast MatMul: A [1, 2, 3, 4] (rows 0..3) times B [1, 1, 4, 3] (channel 0, cols
/// 0..3) of an input [1, 2, 4, 4]; B's gradient is summed over A's channel dim.
#[test]
fn matmul_broadcast_batch_dims() {
    let mut rng = Rng::new(77);
    let mut net = Net::new(&[1, 2, 4, 4]);
    let a = net.crop(0, &[(0, 0), (0, 0), (0, -1), (0, 0)]);
    let b = net.crop(0, &[(0, 0), (0, -1), (0, 0), (0, -1)]);
    net.add(LayerKind::MatMul, &[a, b], vec![]);
    check(&net.graph(), &mut rng);
}

#[test]
fn matmul_input_with_itself() {
    let mut rng = Rng::new(65);
    let mut net = Net::new(&[1, 2, 3, 3]);
    net.add(LayerKind::MatMul, &[0, 0], vec![]);
    check(&net.graph(), &mut rng);
}

#[test]
fn softmax() {
    let mut rng = Rng::new(66);
    for axis in [1, 2] {
        let g = one_layer(&[1, 4, 5], LayerKind::Softmax { axis, log: false }, vec![]);
        let x = rng.vec(input_len(&g), -2.0, 2.0);
        check_with(&g, &x, &mut rng);
    }
}

#[test]
fn log_softmax() {
    let mut rng = Rng::new(67);
    for axis in [1, 2] {
        let g = one_layer(&[1, 4, 5], LayerKind::Softmax { axis, log: true }, vec![]);
        let x = rng.vec(input_len(&g), -2.0, 2.0);
        check_with(&g, &x, &mut rng);
    }
}

/// Concat of a crop of the input (channels 0..2) with the whole input, on channels and on width.
#[test]
fn concat() {
    let mut rng = Rng::new(68);
    for (axis, crop) in [
        (1, [(0, 0), (0, -1), (0, 0), (0, 0)]),
        (3, [(0, 0), (0, 0), (0, 0), (-1, -1)]),
    ] {
        let mut net = Net::new(&[1, 3, 2, 4]);
        let part = net.crop(0, &crop);
        net.add(LayerKind::Concat { axis }, &[part, 0], vec![]);
        check(&net.graph(), &mut rng);
    }
}

#[test]
fn transpose_nchw_to_nhwc() {
    let mut rng = Rng::new(69);
    let kind = LayerKind::Transpose {
        perm: vec![0, 2, 3, 1],
    };
    check(&one_layer(&[1, 2, 3, 4], kind, vec![]), &mut rng);
}

fn pad(pads: &[(i64, i64)], mode: PadMode) -> Graph {
    let kind = LayerKind::Pad(PadConfig {
        pads: pads.to_vec(),
        mode,
    });
    one_layer(&[1, 2, 4, 5], kind, vec![])
}

#[test]
fn pad_constant_with_value() {
    let mut rng = Rng::new(70);
    check(
        &pad(&[(0, 0), (1, 0), (1, 2), (2, 1)], PadMode::Constant(0.5)),
        &mut rng,
    );
}

#[test]
fn pad_reflect() {
    let mut rng = Rng::new(71);
    check(
        &pad(&[(0, 0), (0, 0), (2, 3), (3, 1)], PadMode::Reflect),
        &mut rng,
    );
}

#[test]
fn pad_edge() {
    let mut rng = Rng::new(72);
    check(
        &pad(&[(0, 0), (1, 1), (0, 3), (2, 2)], PadMode::Edge),
        &mut rng,
    );
}

#[test]
fn pad_negative_crops() {
    let mut rng = Rng::new(73);
    // Crop and pad mixed on the same dims.
    check(
        &pad(
            &[(0, 0), (0, -1), (-1, 2), (1, -2)],
            PadMode::Constant(-0.25),
        ),
        &mut rng,
    );
    check(
        &pad(&[(0, 0), (0, 0), (-1, 2), (2, -1)], PadMode::Edge),
        &mut rng,
    );
    check(
        &pad(&[(0, 0), (0, 0), (1, -2), (-1, 2)], PadMode::Reflect),
        &mut rng,
    );
}

#[test]
fn reduce_mean_keepdims() {
    let mut rng = Rng::new(74);
    let kind = LayerKind::ReduceMean {
        axes: vec![2, 3],
        keepdims: true,
    };
    check(&one_layer(&[1, 3, 2, 4], kind, vec![]), &mut rng);
}

#[test]
fn reduce_mean_no_keepdims() {
    let mut rng = Rng::new(75);
    let kind = LayerKind::ReduceMean {
        axes: vec![1, 3],
        keepdims: false,
    };
    check(&one_layer(&[1, 3, 2, 4], kind, vec![]), &mut rng);
}

#[test]
fn identity_and_dropout_pass_through() {
    let mut rng = Rng::new(76);
    check(
        &one_layer(&[1, 3, 4], LayerKind::Identity, vec![]),
        &mut rng,
    );
    check(
        &one_layer(&[1, 3, 4], LayerKind::Dropout { ratio: 0.5 }, vec![]),
        &mut rng,
    );
}

// ---------------------------------------------------------------------------------------------
// Guided backpropagation and deconvnet rules, checked exactly on hand-made tensors.

/// Forward `x` ([1, 6]) through one activation and back with `seed` under `rule`.
fn relu_rule_grad(a: Activation, x: &[f32], seed: &[f32], rule: ReluRule) -> Vec<f32> {
    let g = one_layer(&[1, x.len()], LayerKind::Activation(a), vec![]);
    let params = Params::load(&g, &Device::Cpu).unwrap();
    let exec = Executor::new(&g, &params);
    let input = Tensor::from_vec(x.to_vec(), (1, x.len()), &Device::Cpu).unwrap();
    let acts = exec.forward(&input, &mut NoHook).unwrap();
    let seed = Tensor::from_vec(seed.to_vec(), (1, seed.len()), &Device::Cpu).unwrap();
    let grads = exec.backward(&acts, LayerId(1), seed, rule).unwrap();
    grads
        .get(LayerId(0))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

const X: [f32; 6] = [-1.0, 2.0, -3.0, 4.0, 0.5, 7.0];
const G: [f32; 6] = [1.0, -1.0, -2.0, 3.0, 0.25, 2.0];

#[test]
fn relu_guided_rule() {
    // grad · [x > 0] · [grad > 0]
    let got = relu_rule_grad(Activation::Relu, &X, &G, ReluRule::Guided);
    assert_eq!(got, vec![0.0, 0.0, 0.0, 3.0, 0.25, 2.0]);
}

#[test]
fn relu_deconvnet_rule() {
    // relu(grad), whatever x was.
    let got = relu_rule_grad(Activation::Relu, &X, &G, ReluRule::Deconvnet);
    assert_eq!(got, vec![1.0, 0.0, 0.0, 3.0, 0.25, 2.0]);
}

#[test]
fn relu_normal_rule() {
    let got = relu_rule_grad(Activation::Relu, &X, &G, ReluRule::Normal);
    assert_eq!(got, vec![0.0, -1.0, 0.0, 3.0, 0.25, 2.0]);
}

#[test]
fn relu6_guided_rule() {
    // Active means strictly inside (0, 6): x = 7 is clipped, so its gradient is dropped.
    let relu6 = Activation::Clip { min: 0.0, max: 6.0 };
    let got = relu_rule_grad(relu6.clone(), &X, &G, ReluRule::Guided);
    assert_eq!(got, vec![0.0, 0.0, 0.0, 3.0, 0.25, 0.0]);
    let got = relu_rule_grad(relu6, &X, &G, ReluRule::Deconvnet);
    assert_eq!(got, vec![1.0, 0.0, 0.0, 3.0, 0.25, 2.0]);
}
