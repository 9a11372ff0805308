//! The kernels derived from a convolution's weights and kept between passes
//! (`conv2d::Derived`, `ConvCache`): they change no value, are kept where used from the second
//! use on, and serve only their own weights.

use super::conv2d::{forward, input_grad};
use super::geometry::ConvGeometry;
use super::tests::Rng;

/// A 3x3, stride-1, "same"-padded convolution of one image.
fn same_size_3x3(ins: usize, outs: usize, hw: [usize; 2]) -> ConvGeometry {
    ConvGeometry {
        batch: 1,
        in_channels: ins,
        in_hw: hw,
        out_channels: outs,
        out_hw: hw,
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pad: [1, 1],
        groups: 1,
    }
}

/// The kernels a pass derives from the weights and keeps for the next (`conv2d::Derived`):
/// nothing is kept by the first pass, each kind used is kept by the second, and passes that
/// make them afresh, fill the cache, read it or have none agree bit for bit, for each kind:
/// Winograd's forward and adjoint kernels (at a size the dispatch gives Winograd) and the
/// flipped kernel of an im2col input gradient.
#[test]
fn derived_kernels_are_kept_from_the_second_pass_and_change_nothing() {
    use super::conv2d::Derived;
    let wide = same_size_3x3(256, 256, [28, 28]);
    assert!(super::winograd::pays(&wide));
    let small = same_size_3x3(8, 6, [9, 7]);
    let mut rng = Rng(29);
    for (g, kept) in [(wide, [true, true, false]), (small, [false, false, true])] {
        let (x, w) = (rng.values(g.input_len()), rng.values(g.weight_len()));
        let dy = rng.values(g.output_len());
        let (y, dx) = (
            forward(&g, &x, &w, None, None, None),
            input_grad(&g, &dy, &w, None),
        );
        let cache = Derived::default();
        for (pass, kept_after) in [
            ("first pass, not keeping", [false; 3]),
            ("second pass, filling", kept),
            ("third pass, reading", kept),
        ] {
            let cached = forward(&g, &x, &w, None, Some(&cache), None);
            assert!(cached == y, "forward, {pass}, {g:?}");
            let cached = input_grad(&g, &dy, &w, Some(&cache));
            assert!(cached == dx, "input gradient, {pass}, {g:?}");
            assert_eq!(cache.kept(), kept_after, "after the {pass}, {g:?}");
        }
    }
}

/// A cache offered with weights other than its own is ignored: the result is the other
/// weights' convolution.
#[test]
fn a_conv_cache_serves_only_its_own_weights() {
    use candle_core::{Device, Tensor};
    let g = same_size_3x3(4, 3, [6, 5]);
    let mut rng = Rng(31);
    let tensor = |v: Vec<f32>, dims: &[usize]| Tensor::from_vec(v, dims, &Device::Cpu).unwrap();
    let x = tensor(rng.values(g.input_len()), &[1, 4, 6, 5]);
    let dy = tensor(rng.values(g.output_len()), &[1, 3, 6, 5]);
    let (w1, w2) = (
        tensor(rng.values(g.weight_len()), &[3, 4, 3, 3]),
        tensor(rng.values(g.weight_len()), &[3, 4, 3, 3]),
    );
    let cache = super::ConvCache::new(&w1);
    let values = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let grad = |w: &Tensor, c| values(super::conv2d_input_grad(&dy, w, &g, c).unwrap());
    assert_eq!(grad(&w1, Some(&cache)), grad(&w1, None));
    assert_eq!(
        grad(&w2, Some(&cache)),
        grad(&w2, None),
        "w2 through w1's cache"
    );
    let fwd = |w: &Tensor| values(super::conv2d(&x, w, None, &g, Some(&cache)).unwrap());
    assert_eq!(
        fwd(&w2),
        values(super::conv2d(&x, &w2, None, &g, None).unwrap())
    );
}
