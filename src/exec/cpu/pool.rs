//! Max pooling and its backward rule as direct loops over each plane (any kernel, stride,
//! dilation and padding; ceil mode is in the given output size). Padding never wins a window.
//! The backward pass routes each output's gradient to the first maximum of its window, as
//! PyTorch does; candle had no max-pool backward for overlapping windows (ResNet's stem), and
//! the index tables we used instead cost 77 ms of VGG16's backward pass.

use rayon::prelude::*;

use super::geometry::ConvGeometry;

/// No maximum: a window of padding (or NaN) only.
const NONE: usize = usize::MAX;

/// For each output of one plane, the first largest element of its window: its value in
/// `best` and its index in `at` (`NONE` where there is none). Taps are swept a whole output
/// row at a time, in the window's row-major order, so that "first" is PyTorch's.
fn window_maxima(g: &ConvGeometry, plane: &[f32], best: &mut [f32], at: &mut [usize]) {
    let (in_w, ow) = (g.in_hw[1], g.out_hw[1]);
    best.fill(f32::NEG_INFINITY);
    at.fill(NONE);
    let cols: Vec<(usize, usize)> = (0..g.kernel[1]).map(|b| g.valid(1, b)).collect();
    for (oy, (best, at)) in best
        .chunks_exact_mut(ow)
        .zip(at.chunks_exact_mut(ow))
        .enumerate()
    {
        for a in 0..g.kernel[0] {
            let (y_lo, y_hi) = g.valid(0, a);
            if oy < y_lo || oy >= y_hi {
                continue;
            }
            let row = g.source(0, oy, a) * in_w;
            for (b, &(x_lo, x_hi)) in cols.iter().enumerate() {
                for ox in x_lo..x_hi {
                    let i = row + g.source(1, ox, b);
                    let v = plane[i];
                    if v > best[ox] || (at[ox] == NONE && !v.is_nan()) {
                        best[ox] = v;
                        at[ox] = i;
                    }
                }
            }
        }
    }
}

/// VGG's pooling: 2x2 windows at stride 2, no padding or dilation, so a window never leaves
/// the input and needs no bounds checks.
fn is_2x2(g: &ConvGeometry) -> bool {
    g.kernel == [2, 2] && g.stride == [2, 2] && g.dilation == [1, 1] && g.pad == [0, 0]
}

/// `y[n, c, oy, ox]` = the window's maximum (−∞ for a window of padding only).
pub fn max_forward(g: &ConvGeometry, x: &[f32]) -> Vec<f32> {
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let mut y = vec![f32::NEG_INFINITY; g.output_len()];
    y.par_chunks_exact_mut(oplane.max(1))
        .zip(x.par_chunks_exact(iplane.max(1)))
        .for_each_init(
            || vec![NONE; oplane],
            |at, (out, plane)| {
                if is_2x2(g) {
                    max_2x2(g, plane, out)
                } else {
                    window_maxima(g, plane, out, at)
                }
            },
        );
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
        .for_each_init(
            || (vec![0f32; oplane], vec![NONE; oplane]),
            |(best, at), ((grad_in, plane), grad_out)| {
                window_maxima(g, plane, best, at);
                for (&i, &d) in at.iter().zip(grad_out) {
                    if i != NONE {
                        grad_in[i] += d;
                    }
                }
            },
        );
    dx
}
