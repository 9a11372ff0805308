//! im2col and its adjoint, one input channel at a time (so that callers can split the
//! channels across threads without sharing a destination).
//!
//! The columns of one channel are `taps` rows (tap row, tap column), each holding one band of
//! output rows: `[taps, band·out_w]`. Rows are built from whole runs of the input row (a
//! `memcpy` at stride 1, a vectorized pair loop at stride 2) rather than element by element,
//! which is what made candle's own unfold slow on large maps.

use std::ops::Range;

use super::geometry::ConvGeometry;
use super::strided::{gather, scatter_add};

/// Fills one channel's columns for the output rows `band` from its input plane.
pub fn im2col_channel(g: &ConvGeometry, plane: &[f32], band: Range<usize>, cols: &mut [f32]) {
    let (in_w, out_w) = (g.in_hw[1], g.out_hw[1]);
    let len = band.len() * out_w;
    for a in 0..g.kernel[0] {
        let (y_lo, y_hi) = g.valid(0, a);
        for b in 0..g.kernel[1] {
            let (x_lo, x_hi) = g.valid(1, b);
            let row = &mut cols[(a * g.kernel[1] + b) * len..][..len];
            for (dst, oy) in row.chunks_exact_mut(out_w).zip(band.clone()) {
                if oy < y_lo || oy >= y_hi || x_lo >= x_hi {
                    dst.fill(0.0);
                    continue;
                }
                let src = &plane[g.source(0, oy, a) * in_w..][..in_w];
                dst[..x_lo].fill(0.0);
                dst[x_hi..].fill(0.0);
                gather(
                    &mut dst[x_lo..x_hi],
                    &src[g.source(1, x_lo, b)..],
                    g.stride[1],
                );
            }
        }
    }
}

/// Adds one channel's column gradients for the output rows `band` onto its input plane: the
/// adjoint of [`im2col_channel`].
pub fn col2im_channel(g: &ConvGeometry, cols: &[f32], band: Range<usize>, plane: &mut [f32]) {
    let (in_w, out_w) = (g.in_hw[1], g.out_hw[1]);
    let len = band.len() * out_w;
    for a in 0..g.kernel[0] {
        let (y_lo, y_hi) = g.valid(0, a);
        for b in 0..g.kernel[1] {
            let (x_lo, x_hi) = g.valid(1, b);
            if x_lo >= x_hi {
                continue;
            }
            let row = &cols[(a * g.kernel[1] + b) * len..][..len];
            for (src, oy) in row.chunks_exact(out_w).zip(band.clone()) {
                if oy < y_lo || oy >= y_hi {
                    continue;
                }
                let dst = &mut plane[g.source(0, oy, a) * in_w..][..in_w];
                scatter_add(
                    &mut dst[g.source(1, x_lo, b)..],
                    &src[x_lo..x_hi],
                    g.stride[1],
                );
            }
        }
    }
}
