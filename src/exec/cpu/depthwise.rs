//! Depthwise convolution (one input channel per group, any channel multiplier) as a direct
//! loop: per output channel, per tap, one scaled input row added to one output row. A GEMM
//! with one row per group would spend its time packing; candle runs one convolution per
//! group. Each thread owns whole planes of the destination, so nothing is shared.

use rayon::prelude::*;

use super::geometry::ConvGeometry;

/// `y[n, o] = bias[o] + Σ_taps w[o, 0, a, b] · x[n, o / multiplier] (shifted)`.
pub fn forward(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (mult, taps) = (g.out_per_group(), g.taps());
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let mut y = vec![0f32; g.output_len()];
    y.par_chunks_exact_mut(oplane.max(1))
        .enumerate()
        .for_each(|(i, out)| {
            let (n, o) = (i / g.out_channels, i % g.out_channels);
            let plane = &x[(n * g.in_channels + o / mult) * iplane..][..iplane];
            out.fill(bias.map_or(0.0, |b| b[o]));
            let kernel = &w[o * taps..][..taps];
            for a in 0..g.kernel[0] {
                let (y_lo, y_hi) = g.valid(0, a);
                for b in 0..g.kernel[1] {
                    let (x_lo, x_hi) = g.valid(1, b);
                    let wv = kernel[a * g.kernel[1] + b];
                    if x_lo >= x_hi {
                        continue;
                    }
                    for oy in y_lo..y_hi {
                        let src = &plane[g.source(0, oy, a) * g.in_hw[1]..][..g.in_hw[1]];
                        let dst = &mut out[oy * g.out_hw[1]..][x_lo..x_hi];
                        let x0 = g.source(1, x_lo, b);
                        if g.stride[1] == 1 {
                            for (d, s) in dst.iter_mut().zip(&src[x0..]) {
                                *d += wv * *s;
                            }
                        } else {
                            let step = g.stride[1];
                            for (d, s) in dst.iter_mut().zip(src[x0..].iter().step_by(step)) {
                                *d += wv * *s;
                            }
                        }
                    }
                }
            }
        });
    y
}

/// The adjoint of [`forward`]: each input plane gathers from its `multiplier` output planes.
pub fn input_grad(g: &ConvGeometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (mult, taps) = (g.out_per_group(), g.taps());
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let mut dx = vec![0f32; g.input_len()];
    dx.par_chunks_exact_mut(iplane.max(1))
        .enumerate()
        .for_each(|(i, plane)| {
            let (n, c) = (i / g.in_channels, i % g.in_channels);
            for o in c * mult..(c + 1) * mult {
                let grad = &dy[(n * g.out_channels + o) * oplane..][..oplane];
                let kernel = &w[o * taps..][..taps];
                for a in 0..g.kernel[0] {
                    let (y_lo, y_hi) = g.valid(0, a);
                    for b in 0..g.kernel[1] {
                        let (x_lo, x_hi) = g.valid(1, b);
                        let wv = kernel[a * g.kernel[1] + b];
                        if x_lo >= x_hi {
                            continue;
                        }
                        for oy in y_lo..y_hi {
                            let src = &grad[oy * g.out_hw[1]..][x_lo..x_hi];
                            let dst = &mut plane[g.source(0, oy, a) * g.in_hw[1]..][..g.in_hw[1]];
                            let x0 = g.source(1, x_lo, b);
                            let step = g.stride[1];
                            for (d, s) in dst[x0..].iter_mut().step_by(step).zip(src) {
                                *d += wv * *s;
                            }
                        }
                    }
                }
            }
        });
    dx
}
