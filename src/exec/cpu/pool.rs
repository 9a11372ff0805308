//! Max pooling and its backward rule, plane by plane (any kernel, stride, dilation and padding;
//! ceil mode is in the given output size). Padding never wins a window. The forward pass runs
//! on the phase planes the depthwise kernels use ([`super::phases`]), the backward pass as
//! direct loops over the windows. The backward pass routes each output's gradient to the first maximum of its window, as
//! PyTorch does; candle had no max-pool backward for overlapping windows (ResNet's stem), and
//! the index tables we used instead cost 77 ms of VGG16's backward pass.

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::phases::{for_each_tap_run, scatter_input, Phases};
use super::simd::vectorized;

/// No maximum: a window of padding (or NaN) only.
const NONE: usize = usize::MAX;

/// For each tap row `a` and column `b` of output row `oy`'s windows that reads inside the
/// input: `f(offset of the input row, b, outputs ox whose tap (a, b) is inside)`. Taps come in
/// the window's row-major order, so that a first maximum is PyTorch's.
#[inline(always)]
fn for_each_tap(
    g: &ConvGeometry,
    oy: usize,
    cols: &[(usize, usize)],
    mut f: impl FnMut(usize, usize, std::ops::Range<usize>),
) {
    for a in 0..g.kernel[0] {
        let (y_lo, y_hi) = g.valid(0, a);
        if oy < y_lo || oy >= y_hi {
            continue;
        }
        let row = g.source(0, oy, a) * g.in_hw[1];
        for (b, &(x_lo, x_hi)) in cols.iter().enumerate() {
            f(row, b, x_lo..x_hi);
        }
    }
}

/// Each tap column's range of outputs inside the input, for [`for_each_tap`].
fn tap_columns(g: &ConvGeometry) -> Vec<(usize, usize)> {
    (0..g.kernel[1]).map(|b| g.valid(1, b)).collect()
}

/// For each output of one plane, the first largest element of its window: its value in
/// `best` and its index in `at` (`NONE` where there is none).
fn window_maxima(g: &ConvGeometry, plane: &[f32], best: &mut [f32], at: &mut [usize]) {
    let ow = g.out_hw[1];
    best.fill(f32::NEG_INFINITY);
    at.fill(NONE);
    let cols = tap_columns(g);
    for (oy, (best, at)) in best
        .chunks_exact_mut(ow)
        .zip(at.chunks_exact_mut(ow))
        .enumerate()
    {
        for_each_tap(g, oy, &cols, |row, b, outputs| {
            for ox in outputs {
                let i = row + g.source(1, ox, b);
                let v = plane[i];
                // A branch: selects (always storing both) measured 1.5x slower here.
                if v > best[ox] || (at[ox] == NONE && !v.is_nan()) {
                    best[ox] = v;
                    at[ox] = i;
                }
            }
        });
    }
}

/// Each output's window maximum alone, for the forward pass at any window, stride, dilation
/// and padding: the value [`window_maxima`] finds, without tracking where it is. The plane is
/// laid out once as the depthwise kernels' phase planes ([`Phases`]), padded with −∞ (`planes` comes
/// filled with it: padding never wins, and a window of padding only stays −∞), where each tap
/// is one contiguous `max` over every output; `f32::max` skips NaN. `acc` holds `span` flat
/// outputs laid out `W` wide. Looping per window row and column instead ran scalar (strided
/// reads): at batch 16, a 3x3 stride-1 pool over 192x28x28 took 11.1 ms that way and takes
/// 2.3 here; ResNet's stem pool (3x3, stride 2, 64x112x112) takes 6.6 ms, as a special case for
/// stride 2 did before.
fn window_max(
    g: &ConvGeometry,
    ph: &Phases,
    offsets: &[usize],
    plane: &[f32],
    planes: &mut [f32],
    acc: &mut [f32],
    out: &mut [f32],
) {
    scatter_input(g, ph, plane, planes);
    acc.fill(f32::NEG_INFINITY);
    for_each_tap_run(
        acc,
        planes,
        offsets,
        #[inline(always)]
        |block, _, src| {
            for (a, &s) in block.iter_mut().zip(src) {
                *a = a.max(s);
            }
        },
    );
    let ow = g.out_hw[1];
    for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
        row.copy_from_slice(&acc[oy * ph.width..][..ow]);
    }
}

/// VGG's pooling: 2x2 windows at stride 2, no padding or dilation, and no ceil-mode window
/// hanging over the input's last row or column, so a window never leaves the input and needs
/// no bounds checks.
fn is_2x2(g: &ConvGeometry) -> bool {
    g.kernel == [2, 2]
        && g.stride == [2, 2]
        && g.dilation == [1, 1]
        && g.pad == [0, 0]
        && 2 * g.out_hw[0] <= g.in_hw[0]
        && 2 * g.out_hw[1] <= g.in_hw[1]
}

/// `y[n, c, oy, ox]` = the window's maximum (−∞ for a window of padding only).
pub fn max_forward(g: &ConvGeometry, x: &[f32]) -> Vec<f32> {
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let mut y = vec![f32::NEG_INFINITY; g.output_len()];
    if oplane == 0 {
        return y;
    }
    let planes = y
        .par_chunks_exact_mut(oplane)
        .zip(x.par_chunks_exact(iplane.max(1)));
    if is_2x2(g) {
        planes.for_each(|(out, plane)| max_2x2(g, plane, out));
    } else {
        let ph = Phases::new(g);
        let (offsets, span) = (ph.taps(g), ph.span(g));
        planes.for_each_init(
            || (vec![f32::NEG_INFINITY; ph.len()], vec![0f32; span]),
            |(buffer, acc), (out, plane)| window_max(g, &ph, &offsets, plane, buffer, acc, out),
        );
    }
    y
}

/// The 2x2 forward as plain maxima, which vectorize; `f32::max` ignores NaN as the general
/// path does.
fn max_2x2(g: &ConvGeometry, plane: &[f32], out: &mut [f32]) {
    let (in_w, ow) = (g.in_hw[1], g.out_hw[1]);
    vectorized(
        #[inline(always)]
        || {
            for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
                let top = &plane[2 * oy * in_w..][..2 * ow];
                let bottom = &plane[(2 * oy + 1) * in_w..][..2 * ow];
                for ((o, t), b) in row
                    .iter_mut()
                    .zip(top.chunks_exact(2))
                    .zip(bottom.chunks_exact(2))
                {
                    *o = t[0].max(t[1]).max(b[0]).max(b[1]);
                }
            }
        },
    )
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
                if is_2x2(g) {
                    return max_2x2_backward(g, plane, grad_out, grad_in);
                }
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

/// The 2x2 backward pass without index tables: each window's gradient goes to the first
/// element equal to its maximum in row-major order, which is the first maximum as
/// [`window_maxima`] finds it (`f32::max` skips NaN, and NaN equals nothing, so a NaN never
/// wins and a window of NaN only passes nothing). Windows do not overlap, so each input
/// element is written at most once. Branch-free (`&`, not `&&`, and selects) so that it
/// vectorizes: with branches, random data mispredicted on most windows and the general path
/// and this one both took 12 ms on VGG16's 64x224x224 map.
fn max_2x2_backward(g: &ConvGeometry, plane: &[f32], grad_out: &[f32], grad_in: &mut [f32]) {
    let (in_w, ow) = (g.in_hw[1], g.out_hw[1]);
    let pick = |hit: bool, d: f32| if hit { d } else { 0.0 };
    vectorized(
        #[inline(always)]
        || {
            for (oy, dy) in grad_out.chunks_exact(ow).enumerate() {
                let top = &plane[2 * oy * in_w..][..2 * ow];
                let bottom = &plane[(2 * oy + 1) * in_w..][..2 * ow];
                let (d_top, d_bottom) = grad_in[2 * oy * in_w..][..2 * in_w].split_at_mut(in_w);
                let windows = top
                    .chunks_exact(2)
                    .zip(bottom.chunks_exact(2))
                    .zip(d_top[..2 * ow].chunks_exact_mut(2))
                    .zip(d_bottom[..2 * ow].chunks_exact_mut(2))
                    .zip(dy);
                for ((((t, b), dt), db), &d) in windows {
                    let m = t[0].max(t[1]).max(b[0]).max(b[1]);
                    let first = t[0] == m;
                    let second = (t[1] == m) & !first;
                    let third = (b[0] == m) & !(first | second);
                    let fourth = (b[1] == m) & !(first | second | third);
                    dt[0] = pick(first, d);
                    dt[1] = pick(second, d);
                    db[0] = pick(third, d);
                    db[1] = pick(fourth, d);
                }
            }
        },
    )
}
