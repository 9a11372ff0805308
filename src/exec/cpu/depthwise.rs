//! Depthwise convolution (one input channel per group, any channel multiplier), forward and
//! input gradient, as one vectorized multiply-add per tap over a whole plane.
//!
//! Each input plane is first copied into a zero-padded plane split by stride phase
//! ([`super::phases`]), where each tap is one contiguous `acc += w · src` over the whole
//! plane. The gradient is the same in reverse: each tap scatters the (`W`-wide) output
//! gradient into the phase planes, which are then gathered back into the input's own layout.
//!
//! The previous kernel looped per tap per output row, with short strided rows at stride 2:
//! 19 ms of MobileNetV2's forward pass at 224x224 and 26 ms of its backward pass.
//!
//! Threads take whole input planes (with their `multiplier` output planes).

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::phases::{for_each_tap_run, gather_input, scatter_input, Phases, BLOCK};
use super::simd::vectorized;

/// `acc += w · src`, element by element.
#[inline(always)]
fn axpy(acc: &mut [f32], w: f32, src: &[f32]) {
    for (a, &s) in acc.iter_mut().zip(src) {
        *a += w * s;
    }
}

/// `y[n, o] = bias[o] + Σ_taps w[o, 0, a, b] · x[n, o / multiplier] (shifted)`.
pub fn forward(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (mult, taps) = (g.out_per_group(), g.taps());
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let mut y = vec![0f32; g.output_len()];
    if oplane == 0 {
        return y;
    }
    let ph = Phases::new(g);
    let (span, width, offsets) = (ph.span(g), ph.width, ph.taps(g));
    y.par_chunks_exact_mut(mult * oplane)
        .enumerate()
        .for_each_init(
            || (vec![0f32; ph.len()], vec![0f32; span]),
            |(planes, acc), (i, outs)| {
                let c = i % g.in_channels;
                scatter_input(g, &ph, &x[i * iplane..][..iplane], planes);
                for (k, out) in outs.chunks_exact_mut(oplane).enumerate() {
                    let o = c * mult + k;
                    let kernel = &w[o * taps..][..taps];
                    acc.fill(bias.map_or(0.0, |b| b[o]));
                    for_each_tap_run(
                        acc,
                        planes,
                        &offsets,
                        #[inline(always)]
                        |block, t, src| axpy(block, kernel[t], src),
                    );
                    for (oy, row) in out.chunks_exact_mut(g.out_hw[1]).enumerate() {
                        row.copy_from_slice(&acc[oy * width..][..g.out_hw[1]]);
                    }
                }
            },
        );
    y
}

/// The adjoint of [`forward`]: each input plane gathers from its `multiplier` output planes.
pub fn input_grad(g: &ConvGeometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (mult, taps) = (g.out_per_group(), g.taps());
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let mut dx = vec![0f32; g.input_len()];
    if oplane == 0 || iplane == 0 {
        return dx;
    }
    let ph = Phases::new(g);
    let (span, width, offsets) = (ph.span(g), ph.width, ph.taps(g));
    dx.par_chunks_exact_mut(iplane).enumerate().for_each_init(
        || (vec![0f32; ph.len()], vec![0f32; span]),
        |(planes, grad), (i, plane)| {
            let (n, c) = (i / g.in_channels, i % g.in_channels);
            planes.fill(0.0);
            for o in c * mult..(c + 1) * mult {
                // The output gradient laid out `W` wide. The extra columns are never written,
                // so they keep the buffer's initial zeros.
                let dy = &dy[(n * g.out_channels + o) * oplane..][..oplane];
                for (oy, row) in dy.chunks_exact(g.out_hw[1]).enumerate() {
                    grad[oy * width..][..g.out_hw[1]].copy_from_slice(row);
                }
                let kernel = &w[o * taps..][..taps];
                vectorized(
                    #[inline(always)]
                    || {
                        for (at, block) in grad.chunks(BLOCK).enumerate() {
                            let at = at * BLOCK;
                            for (&wv, &off) in kernel.iter().zip(&offsets) {
                                axpy(&mut planes[off + at..], wv, block);
                            }
                        }
                    },
                );
            }
            gather_input(g, &ph, planes, plane);
        },
    );
    dx
}
