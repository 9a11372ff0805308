//! Max pooling and its backward rule as direct loops over each plane (any kernel, stride,
//! dilation and padding; ceil mode is in the given output size). Padding never wins a window.
//! The backward pass routes each output's gradient to the first maximum of its window, as
//! PyTorch does; candle had no max-pool backward for overlapping windows (ResNet's stem), and
//! the index tables we used instead cost 77 ms of VGG16's backward pass.

use rayon::prelude::*;

use super::geometry::ConvGeometry;

/// The first position of the largest element in each window of one plane, or `None` where
/// the window holds only padding or NaN.
fn argmax_windows(g: &ConvGeometry, plane: &[f32], mut each: impl FnMut(usize, Option<usize>)) {
    if is_2x2(g) {
        return argmax_2x2(g, plane, each);
    }
    let (in_w, [oh, ow]) = (g.in_hw[1], g.out_hw);
    let rows: Vec<(usize, usize)> = (0..g.kernel[0]).map(|a| g.valid(0, a)).collect();
    let cols: Vec<(usize, usize)> = (0..g.kernel[1]).map(|b| g.valid(1, b)).collect();
    for oy in 0..oh {
        for ox in 0..ow {
            let mut best: Option<(usize, f32)> = None;
            for (a, &(y_lo, y_hi)) in rows.iter().enumerate() {
                if oy < y_lo || oy >= y_hi {
                    continue;
                }
                let row = g.source(0, oy, a) * in_w;
                for (b, &(x_lo, x_hi)) in cols.iter().enumerate() {
                    if ox < x_lo || ox >= x_hi {
                        continue;
                    }
                    let i = row + g.source(1, ox, b);
                    let v = plane[i];
                    if !v.is_nan() && best.is_none_or(|(_, m)| v > m) {
                        best = Some((i, v));
                    }
                }
            }
            each(oy * ow + ox, best.map(|(i, _)| i));
        }
    }
}

/// VGG's pooling: 2x2 windows at stride 2, no padding or dilation, so a window never leaves
/// the input and needs no bounds checks.
fn is_2x2(g: &ConvGeometry) -> bool {
    g.kernel == [2, 2] && g.stride == [2, 2] && g.dilation == [1, 1] && g.pad == [0, 0]
}

fn argmax_2x2(g: &ConvGeometry, plane: &[f32], mut each: impl FnMut(usize, Option<usize>)) {
    let (in_w, [oh, ow]) = (g.in_hw[1], g.out_hw);
    for oy in 0..oh {
        let (top, bottom) = (2 * oy * in_w, (2 * oy + 1) * in_w);
        for ox in 0..ow {
            let mut best: Option<(usize, f32)> = None;
            for i in [
                top + 2 * ox,
                top + 2 * ox + 1,
                bottom + 2 * ox,
                bottom + 2 * ox + 1,
            ] {
                let v = plane[i];
                if !v.is_nan() && best.is_none_or(|(_, m)| v > m) {
                    best = Some((i, v));
                }
            }
            each(oy * ow + ox, best.map(|(i, _)| i));
        }
    }
}

/// `y[n, c, oy, ox]` = the window's maximum (−∞ for a window of padding only).
pub fn max_forward(g: &ConvGeometry, x: &[f32]) -> Vec<f32> {
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let mut y = vec![f32::NEG_INFINITY; g.output_len()];
    y.par_chunks_exact_mut(oplane.max(1))
        .zip(x.par_chunks_exact(iplane.max(1)))
        .for_each(|(out, plane)| {
            if is_2x2(g) {
                return max_2x2(g, plane, out);
            }
            argmax_windows(g, plane, |o, i| {
                if let Some(i) = i {
                    out[o] = plane[i];
                }
            })
        });
    y
}

/// The 2x2 forward as plain maxima, which vectorize; `f32::max` ignores NaN as the general
/// path does.
fn max_2x2(g: &ConvGeometry, plane: &[f32], out: &mut [f32]) {
    let (in_w, ow) = (g.in_hw[1], g.out_hw[1]);
    for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
        let top = &plane[2 * oy * in_w..][..in_w];
        let bottom = &plane[(2 * oy + 1) * in_w..][..in_w];
        for (ox, o) in row.iter_mut().enumerate() {
            *o = top[2 * ox]
                .max(top[2 * ox + 1])
                .max(bottom[2 * ox])
                .max(bottom[2 * ox + 1]);
        }
    }
}

/// d(loss)/d(x): each output gradient lands on its window's first maximum.
pub fn max_backward(g: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let mut dx = vec![0f32; g.input_len()];
    dx.par_chunks_exact_mut(iplane.max(1))
        .zip(x.par_chunks_exact(iplane.max(1)))
        .zip(dy.par_chunks_exact(oplane.max(1)))
        .for_each(|((grad_in, plane), grad_out)| {
            argmax_windows(g, plane, |o, i| {
                if let Some(i) = i {
                    grad_in[i] += grad_out[o];
                }
            })
        });
    dx
}
