//! Backward rules of the layers decoders add (transposed convolution, upsampling, element-wise
//! maximum and minimum) against central finite differences, with `backward_fd.rs`'s machinery
//! and tolerance (its header says why 2e-2 of max(1, max |fd|)).

use crate::backward_fd::{check, check_with, input_len, one_layer, random_weight, win, Net, Rng};
use convscope::model::{
    BinaryConfig, BinaryOp, ConvTranspose2dConfig, Interpolation, LayerKind, UpsampleConfig,
    WeightRole, Window,
};

/// One transposed convolution on a batch-1 input, random kernel `[in, filters, kh, kw]` (and
/// bias).
fn conv_transpose(
    seed: u64,
    in_shape: [usize; 4],
    filters: usize,
    window: Window,
    output_padding: [usize; 2],
    bias: bool,
) {
    let mut rng = Rng::new(seed);
    let [kh, kw] = window.kernel;
    let mut weights = vec![random_weight(
        &mut rng,
        WeightRole::Kernel,
        &[in_shape[1], filters, kh, kw],
    )];
    if bias {
        weights.push(random_weight(&mut rng, WeightRole::Bias, &[filters]));
    }
    let kind = LayerKind::ConvTranspose2d(ConvTranspose2dConfig {
        filters,
        in_channels: in_shape[1],
        window,
        output_padding,
        use_bias: bias,
    });
    check(&one_layer(&in_shape, kind, weights), &mut rng);
}

#[test]
fn conv_transpose_stride2_valid_with_bias() {
    conv_transpose(
        201,
        [1, 3, 4, 5],
        2,
        win([3, 3], [2, 2], [1, 1], [0; 4]),
        [0, 0],
        true,
    );
}

#[test]
fn conv_transpose_same_cropped_asymmetric() {
    // Keras's `same` for an odd kernel and an even stride drops the odd pixel at the end.
    conv_transpose(
        202,
        [1, 2, 3, 4],
        3,
        win([3, 3], [2, 2], [1, 1], [0, 0, 1, 1]),
        [0, 0],
        false,
    );
}

#[test]
fn conv_transpose_per_axis_strides_output_padding_dilation() {
    conv_transpose(
        203,
        [1, 2, 4, 3],
        2,
        win([2, 3], [1, 3], [2, 1], [1, 0, 0, 1]),
        [0, 2],
        true,
    );
}

#[test]
fn conv_transpose_kernel_smaller_than_stride() {
    // Rows and columns no input reaches (output_padding 1 on a 1x1 kernel, stride 2).
    conv_transpose(
        204,
        [1, 2, 3, 3],
        2,
        win([1, 1], [2, 2], [1, 1], [0; 4]),
        [1, 1],
        true,
    );
}

fn upsample(seed: u64, scale: [usize; 2], interpolation: Interpolation) {
    let mut rng = Rng::new(seed);
    let kind = LayerKind::Upsample(UpsampleConfig {
        scale,
        interpolation,
    });
    check(&one_layer(&[1, 2, 3, 4], kind, vec![]), &mut rng);
}

#[test]
fn upsample_nearest() {
    upsample(211, [2, 3], Interpolation::Nearest);
}

#[test]
fn upsample_bilinear() {
    upsample(212, [2, 2], Interpolation::Bilinear);
    upsample(213, [3, 1], Interpolation::Bilinear);
}

/// max/min(A, B) with A = channels 0..3 ([1, 3, 3, 4]) and B either channels 3..6 (same shape)
/// or one pixel of them ([1, 3, 1, 1], broadcast). The inputs are distinct values at least 0.05
/// apart in each plane pair, so no ±h step swaps which operand wins.
#[test]
fn maximum_and_minimum_with_and_without_broadcasting() {
    let mut rng = Rng::new(220);
    for op in [BinaryOp::Max, BinaryOp::Min] {
        for broadcast in [false, true] {
            let mut net = Net::new(&[1, 6, 3, 4]);
            let a = net.crop(0, &[(0, 0), (0, -3), (0, 0), (0, 0)]);
            let b = if broadcast {
                net.crop(0, &[(0, 0), (-3, 0), (0, -2), (0, -3)])
            } else {
                net.crop(0, &[(0, 0), (-3, 0), (0, 0), (0, 0)])
            };
            net.add(
                LayerKind::Binary(BinaryConfig { op, constant: None }),
                &[a, b],
                vec![],
            );
            let g = net.graph();
            // Shuffled distinct values: every pair of elements differs by >= 0.05.
            let n = input_len(&g);
            let mut x: Vec<f32> = (0..n).map(|i| -1.0 + 0.05 * i as f32).collect();
            for i in (1..n).rev() {
                x.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
            check_with(&g, &x, &mut rng);
        }
    }
}
