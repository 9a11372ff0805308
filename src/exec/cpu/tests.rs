//! Property tests: the kernels against a naive f64 convolution written from the definition,
//! over random geometries (odd sizes, asymmetric and negative pads, strides, dilations, groups,
//! depthwise with multipliers, batches), on the default thread pool and on one thread.
//!
//! Tolerance, per element: 1e-5 · Σ|terms| + 1e-6. An f32 sum of K products carries a
//! relative error of at most ~K·2⁻²⁴ of Σ|terms| in the worst order and ~√K·2⁻²⁴ typically;
//! the largest K here is 600, so a wrong index (an error of one whole term) cannot hide.

use super::conv2d::{forward, input_grad, winograd_forward, winograd_input_grad};
use super::geometry::ConvGeometry;

/// SplitMix64: reproducible without a dependency.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, lo: isize, hi: isize) -> isize {
        lo + self.below((hi - lo + 1) as usize) as isize
    }

    pub(super) fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
}

/// Every (output element, input element, weight element) triple the convolution multiplies.
fn for_each_term(g: &ConvGeometry, mut f: impl FnMut(usize, usize, usize)) {
    let (cig, cog) = (g.in_per_group(), g.out_per_group());
    for n in 0..g.batch {
        for o in 0..g.out_channels {
            let grp = o / cog;
            for oy in 0..g.out_hw[0] {
                for ox in 0..g.out_hw[1] {
                    let out = ((n * g.out_channels + o) * g.out_hw[0] + oy) * g.out_hw[1] + ox;
                    for ci in 0..cig {
                        for a in 0..g.kernel[0] {
                            for b in 0..g.kernel[1] {
                                let iy = (oy * g.stride[0] + a * g.dilation[0]) as isize - g.pad[0];
                                let ix = (ox * g.stride[1] + b * g.dilation[1]) as isize - g.pad[1];
                                if iy < 0
                                    || ix < 0
                                    || iy >= g.in_hw[0] as isize
                                    || ix >= g.in_hw[1] as isize
                                {
                                    continue;
                                }
                                let c = grp * cig + ci;
                                let input = ((n * g.in_channels + c) * g.in_hw[0] + iy as usize)
                                    * g.in_hw[1]
                                    + ix as usize;
                                let weight = ((o * cig + ci) * g.kernel[0] + a) * g.kernel[1] + b;
                                f(out, input, weight);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn assert_close(what: &str, g: &ConvGeometry, got: &[f32], want: &[f64], scale: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length, {g:?}");
    for (i, ((&a, &e), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let tol = 1e-5 * s + 1e-6;
        assert!(
            (a as f64 - e).abs() <= tol,
            "{what}[{i}] = {a}, expected {e} (±{tol}), {g:?}"
        );
    }
}

fn check(g: &ConvGeometry, rng: &mut Rng, bias: bool) {
    let fwd: Forward = |g, x, w, b| forward(g, x, w, b, None, None);
    check_with(g, rng, bias, fwd, |g, dy, w| input_grad(g, dy, w, None));
}

/// A convolution kernel's forward: `(geometry, x, w, bias) -> y`.
type Forward = fn(&ConvGeometry, &[f32], &[f32], Option<&[f32]>) -> Vec<f32>;

/// [`check`] for a given forward and input-gradient kernel.
fn check_with(
    g: &ConvGeometry,
    rng: &mut Rng,
    bias: bool,
    forward: Forward,
    input_grad: fn(&ConvGeometry, &[f32], &[f32]) -> Vec<f32>,
) {
    let x = rng.values(g.input_len());
    let w = rng.values(g.weight_len());
    let b = bias.then(|| rng.values(g.out_channels));
    let dy = rng.values(g.output_len());

    let mut y = vec![0f64; g.output_len()];
    let mut y_scale = vec![0f64; g.output_len()];
    let mut dx = vec![0f64; g.input_len()];
    let mut dx_scale = vec![0f64; g.input_len()];
    for_each_term(g, |o, i, k| {
        y[o] += x[i] as f64 * w[k] as f64;
        y_scale[o] += (x[i] as f64 * w[k] as f64).abs();
        dx[i] += dy[o] as f64 * w[k] as f64;
        dx_scale[i] += (dy[o] as f64 * w[k] as f64).abs();
    });
    if let Some(b) = &b {
        let plane = g.out_plane();
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[(i / plane) % g.out_channels] as f64;
        }
    }
    assert_close(
        "forward",
        g,
        &forward(g, &x, &w, b.as_deref()),
        &y,
        &y_scale,
    );
    assert_close("input_grad", g, &input_grad(g, &dy, &w), &dx, &dx_scale);
}

/// A random geometry; `depthwise` forces one input channel per group.
fn random_geometry(rng: &mut Rng, depthwise: bool) -> ConvGeometry {
    loop {
        let groups = if depthwise {
            1 + rng.below(5)
        } else {
            [1, 1, 2, 3][rng.below(4)]
        };
        let cig = if depthwise { 1 } else { 1 + rng.below(4) };
        let cog = 1 + rng.below(3);
        let kernel = [1 + rng.below(4), 1 + rng.below(4)];
        let stride = [1 + rng.below(3), 1 + rng.below(3)];
        let dilation = [1 + rng.below(2), 1 + rng.below(2)];
        let in_hw = [1 + rng.below(12), 1 + rng.below(12)];
        let pad = [rng.range(-1, 3), rng.range(-1, 3)];
        let pad_end = [rng.range(-1, 3), rng.range(-1, 3)];
        let out = |a: usize| {
            let span = (dilation[a] * (kernel[a] - 1) + 1) as isize;
            let padded = in_hw[a] as isize + pad[a] + pad_end[a];
            (padded >= span).then(|| ((padded - span) / stride[a] as isize + 1) as usize)
        };
        let (Some(oh), Some(ow)) = (out(0), out(1)) else {
            continue;
        };
        return ConvGeometry {
            batch: 1 + rng.below(3),
            in_channels: groups * cig,
            in_hw,
            out_channels: groups * cog,
            out_hw: [oh, ow],
            kernel,
            stride,
            dilation,
            pad,
            groups,
        };
    }
}

#[test]
fn dense_and_grouped_convolutions_match_the_definition() {
    let mut rng = Rng(7);
    for _ in 0..300 {
        let g = random_geometry(&mut rng, false);
        let bias = rng.below(2) == 0;
        check(&g, &mut rng, bias);
    }
}

#[test]
fn depthwise_convolutions_match_the_definition() {
    let mut rng = Rng(11);
    for _ in 0..200 {
        let g = random_geometry(&mut rng, true);
        check(&g, &mut rng, true);
    }
}

#[test]
fn one_thread_takes_the_same_paths_correctly() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    pool.install(|| {
        let mut rng = Rng(13);
        for i in 0..100 {
            let g = random_geometry(&mut rng, i % 4 == 0);
            check(&g, &mut rng, true);
        }
    });
}

/// Real layer shapes that span several bands of columns (VGG's 3x3 at 64 channels), a pointwise
/// layer (the columns are the input itself), and ResNet's strided stem and downsampling.
#[test]
fn layer_sized_convolutions_match_the_definition() {
    let mut rng = Rng(17);
    let base = ConvGeometry {
        batch: 1,
        in_channels: 64,
        in_hw: [40, 64],
        out_channels: 8,
        out_hw: [40, 64],
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pad: [1, 1],
        groups: 1,
    };
    let pointwise = ConvGeometry {
        kernel: [1, 1],
        pad: [0, 0],
        ..base
    };
    let stem = ConvGeometry {
        in_channels: 3,
        in_hw: [37, 37],
        out_hw: [19, 19],
        kernel: [7, 7],
        stride: [2, 2],
        pad: [3, 3],
        ..base
    };
    let downsample = ConvGeometry {
        in_hw: [28, 28],
        out_hw: [14, 14],
        kernel: [1, 1],
        stride: [2, 2],
        pad: [0, 0],
        batch: 3,
        ..base
    };
    for g in [base, pointwise, stem, downsample] {
        check(&g, &mut rng, true);
    }
}

/// Depthwise layers with planes larger than the kernel's block of flat positions (so several
/// blocks, and a short last one): MobileNet's stride 1 and stride 2 3x3 layers, EfficientNet's
/// 5x5 with padding 2, a channel multiplier with dilation, and a 7x7 map.
#[test]
fn layer_sized_depthwise_convolutions_match_the_definition() {
    let mut rng = Rng(19);
    let base = ConvGeometry {
        batch: 2,
        in_channels: 3,
        in_hw: [45, 38],
        out_channels: 3,
        out_hw: [45, 38],
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pad: [1, 1],
        groups: 3,
    };
    let strided = ConvGeometry {
        out_hw: [23, 19],
        stride: [2, 2],
        ..base
    };
    let five = ConvGeometry {
        kernel: [5, 5],
        pad: [2, 2],
        ..base
    };
    let multiplier = ConvGeometry {
        out_channels: 6,
        out_hw: [43, 36],
        dilation: [2, 2],
        ..base
    };
    let small = ConvGeometry {
        in_hw: [7, 7],
        out_hw: [7, 7],
        batch: 1,
        ..base
    };
    for g in [base, strided, five, multiplier, small] {
        check(&g, &mut rng, true);
    }
}

/// Max pooling from the definition: the first largest non-NaN element of each window (padding
/// excluded), and its gradient routed there.
fn naive_max_pool(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![f32::NEG_INFINITY; g.output_len()];
    let mut dx = vec![0f32; g.input_len()];
    let [h, w] = g.in_hw;
    for plane in 0..g.batch * g.in_channels {
        for oy in 0..g.out_hw[0] {
            for ox in 0..g.out_hw[1] {
                let o = (plane * g.out_hw[0] + oy) * g.out_hw[1] + ox;
                let mut best: Option<usize> = None;
                for a in 0..g.kernel[0] {
                    for b in 0..g.kernel[1] {
                        let iy = (oy * g.stride[0] + a * g.dilation[0]) as isize - g.pad[0];
                        let ix = (ox * g.stride[1] + b * g.dilation[1]) as isize - g.pad[1];
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let i = (plane * h + iy as usize) * w + ix as usize;
                        if !x[i].is_nan() && best.is_none_or(|j| x[i] > x[j]) {
                            best = Some(i);
                        }
                    }
                }
                if let Some(i) = best {
                    y[o] = x[i];
                    dx[i] += dy[o];
                }
            }
        }
    }
    (y, dx)
}

#[test]
fn max_pooling_matches_the_definition() {
    use super::pool::{max_backward, max_forward};
    let mut rng = Rng(19);
    let vgg = ConvGeometry {
        batch: 2,
        in_channels: 3,
        in_hw: [8, 6],
        out_channels: 3,
        out_hw: [4, 3],
        kernel: [2, 2],
        stride: [2, 2],
        dilation: [1, 1],
        pad: [0, 0],
        groups: 3,
    };
    // Odd sizes: a floor-mode output leaves the last row and column out, and a ceil-mode one
    // has windows hanging over them (the general path).
    let odd = ConvGeometry {
        in_hw: [7, 5],
        out_hw: [3, 2],
        ..vgg
    };
    let ceil = ConvGeometry {
        out_hw: [4, 3],
        ..odd
    };
    // ResNet's stem pool: 3x3 windows at stride 2 over a padding of 1.
    let stem = ConvGeometry {
        in_hw: [9, 11],
        out_hw: [5, 6],
        kernel: [3, 3],
        pad: [1, 1],
        ..vgg
    };
    // A leading pad wider than the windows reach: every window is padding only.
    let past = ConvGeometry {
        in_hw: [5, 5],
        out_hw: [3, 2],
        kernel: [3, 3],
        pad: [1, 9],
        ..vgg
    };
    let mut cases = vec![vgg, odd, ceil, stem, past];
    for _ in 0..200 {
        let mut g = random_geometry(&mut rng, true);
        g.pad = [g.pad[0].max(0), g.pad[1].max(0)];
        g.out_channels = g.in_channels;
        cases.push(g);
    }
    for g in cases {
        // Small integers make ties (first maximum wins) common; a NaN must never win.
        let mut x: Vec<f32> = (0..g.input_len()).map(|_| rng.below(4) as f32).collect();
        if x.len() > 3 {
            let i = rng.below(x.len());
            x[i] = f32::NAN;
        }
        let dy = rng.values(g.output_len());
        let (y, dx) = naive_max_pool(&g, &x, &dy);
        assert_eq!(max_forward(&g, &x), y, "forward, {g:?}");
        assert_eq!(max_backward(&g, &x, &dy), dx, "backward, {g:?}");
    }
}

/// The Winograd path (3x3, stride 1, ungrouped; its input gradient too), called directly since
/// the dispatch takes it only for large layers: partial tiles at odd sizes, no padding,
/// asymmetric and negative pads, two images, and a map large enough for two blocks of tile
/// rows. Each runs on the default pool (blocks or positions across threads) and on one
/// thread.
#[test]
fn winograd_convolutions_match_the_definition() {
    let base = ConvGeometry {
        batch: 2,
        in_channels: 20,
        in_hw: [13, 11],
        out_channels: 17,
        out_hw: [13, 11],
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pad: [1, 1],
        groups: 1,
    };
    let unpadded = ConvGeometry {
        batch: 1,
        in_hw: [12, 9],
        out_hw: [10, 7],
        pad: [0, 0],
        ..base
    };
    // Top 2, bottom −1; left 0, right 1.
    let asymmetric = ConvGeometry {
        in_hw: [9, 10],
        out_hw: [8, 9],
        pad: [2, 0],
        ..base
    };
    // Top −1 (a crop), bottom 2; left and right 1.
    let cropped = ConvGeometry {
        in_hw: [10, 10],
        out_hw: [9, 10],
        pad: [-1, 1],
        ..base
    };
    // 36 tile rows of 32 tiles: blocks of 8 MB hold 32 such rows at 64 + 64 channels.
    let two_blocks = ConvGeometry {
        batch: 1,
        in_channels: 64,
        in_hw: [72, 64],
        out_channels: 64,
        out_hw: [72, 64],
        ..base
    };
    // Small maps: a thread takes several images at once (two at a time on two threads, the
    // fifth alone; all five on one thread, in two blocks of tile rows, the first ending in the
    // middle of the fifth image), and the last tile row and column fall off the edge.
    let several = ConvGeometry {
        batch: 5,
        in_channels: 40,
        in_hw: [29, 23],
        out_channels: 40,
        out_hw: [29, 23],
        ..base
    };
    assert!(super::winograd::groups_images(&several));
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let mut rng = Rng(23);
    let (fwd, grad) = (winograd_forward, winograd_input_grad);
    // A leading pad of 20 before 4 columns and 3 outputs: every tap reads padding (and the
    // input gradient's adjoint crops 18 columns off a row of 3).
    let past = ConvGeometry {
        batch: 1,
        in_hw: [6, 4],
        out_hw: [6, 3],
        pad: [1, 20],
        ..base
    };
    for g in [
        base, unpadded, asymmetric, cropped, two_blocks, several, past,
    ] {
        assert!(super::winograd::applies(&g), "{g:?}");
        check_with(&g, &mut rng, true, fwd, grad);
        one_thread.install(|| check_with(&g, &mut rng, false, fwd, grad));
    }
    // The dispatch takes it for a VGG-sized layer.
    let vgg = ConvGeometry {
        in_channels: 512,
        in_hw: [28, 28],
        out_channels: 512,
        out_hw: [28, 28],
        ..base
    };
    assert!(super::winograd::pays(&vgg));
}
