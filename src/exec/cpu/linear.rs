//! Fully connected layers at small batches, where the work is reading the weight matrix once:
//! VGG16's fc1 is 25088x4096 floats (411 MB) and its forward and backward passes at batch 1 are
//! each one matrix-vector product. The `gemm` crate (candle's matmul) read it at ~10 GB/s on
//! this VM, half of what one streaming pass reaches (PyTorch's `W @ x`: ~22 GB/s), and that
//! was 45 ms of VGG16's forward pass and as much of its backward pass.
//!
//! Both kernels stream the weights in storage order, `[in, out]` row by row: the forward pass
//! as a sum of scaled rows (each thread a contiguous range of rows into its own partial sums,
//! added at the end), the input gradient as one dot product per row.

use rayon::prelude::*;

use super::simd::{dot, vectorized};

/// Up to this many rows (images), a pass over the weights per product is cheapest; beyond it
/// the GEMM's reuse of each weight across rows wins.
pub const SMALL_BATCH: usize = 8;

/// Weight rows per parallel task of the input gradient (1 MB of weights for 4096 outputs):
/// enough work that rayon's per-task cost vanishes.
const ROWS_PER_TASK: usize = 64;

/// `x · w + bias` for `x` `[rows, ins]` and `w` `[ins, outs]`, both row-major.
pub fn forward(x: &[f32], w: &[f32], ins: usize, outs: usize, bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(w.len(), ins * outs, "linear: weight length");
    assert!(
        ins > 0 && x.len().is_multiple_of(ins),
        "linear: input length"
    );
    let rows = x.len() / ins;
    // Each part sums a contiguous range of the weights' rows; one per thread, so that every
    // thread streams its own half of the matrix front to back.
    let parts = rayon::current_num_threads().clamp(1, ins.div_ceil(64));
    let partial = |p: usize| {
        let (lo, hi) = (p * ins / parts, (p + 1) * ins / parts);
        let mut acc = vec![0f32; rows * outs];
        vectorized(
            #[inline(always)]
            || accumulate_rows(x, w, ins, outs, lo..hi, &mut acc),
        );
        acc
    };
    let partials: Vec<Vec<f32>> = if parts > 1 {
        (0..parts).into_par_iter().map(partial).collect()
    } else {
        vec![partial(0)]
    };
    let mut y = partials.into_iter().reduce(add_into).unwrap_or_default();
    if let Some(b) = bias {
        assert_eq!(b.len(), outs, "linear: bias length");
        for row in y.chunks_exact_mut(outs) {
            row.iter_mut().zip(b).for_each(|(y, b)| *y += b);
        }
    }
    y
}

fn add_into(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
    a
}

/// `acc[r, :] += Σ_{i ∈ range} x[r, i] · w[i, :]`, four weight rows per sweep over `acc` so
/// that the partial sums are loaded and stored a quarter as often.
#[inline(always)]
fn accumulate_rows(
    x: &[f32],
    w: &[f32],
    ins: usize,
    outs: usize,
    range: std::ops::Range<usize>,
    acc: &mut [f32],
) {
    let row = |i: usize| &w[i * outs..][..outs];
    let mut i = range.start;
    while i + 4 <= range.end {
        let (w0, w1, w2, w3) = (row(i), row(i + 1), row(i + 2), row(i + 3));
        for (xr, a) in x.chunks_exact(ins).zip(acc.chunks_exact_mut(outs)) {
            let (x0, x1, x2, x3) = (xr[i], xr[i + 1], xr[i + 2], xr[i + 3]);
            for j in 0..outs {
                a[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j];
            }
        }
        i += 4;
    }
    for i in i..range.end {
        let wi = row(i);
        for (xr, a) in x.chunks_exact(ins).zip(acc.chunks_exact_mut(outs)) {
            let xi = xr[i];
            a.iter_mut().zip(wi).for_each(|(a, w)| *a += xi * w);
        }
    }
}

/// `g · wᵀ` for `g` `[rows, outs]` and `w` `[ins, outs]`: the input gradient, `[rows, ins]`.
pub fn input_grad(g: &[f32], w: &[f32], ins: usize, outs: usize) -> Vec<f32> {
    assert_eq!(w.len(), ins * outs, "linear grad: weight length");
    assert!(
        outs > 0 && g.len().is_multiple_of(outs),
        "linear grad: gradient length"
    );
    let rows = g.len() / outs;
    // Computed as `[ins, rows]` so that each task writes one contiguous block, then laid out.
    let mut by_input = vec![0f32; ins * rows];
    by_input
        .par_chunks_mut(ROWS_PER_TASK * rows.max(1))
        .enumerate()
        .for_each(|(task, out)| {
            vectorized(
                #[inline(always)]
                || {
                    for (k, o) in out.chunks_exact_mut(rows.max(1)).enumerate() {
                        let wi = &w[(task * ROWS_PER_TASK + k) * outs..][..outs];
                        for (o, gr) in o.iter_mut().zip(g.chunks_exact(outs)) {
                            *o = dot(wi, gr);
                        }
                    }
                },
            )
        });
    if rows == 1 {
        return by_input;
    }
    let mut dx = vec![0f32; rows * ins];
    for (i, v) in by_input.chunks_exact(rows).enumerate() {
        for (r, &v) in v.iter().enumerate() {
            dx[r * ins + i] = v;
        }
    }
    dx
}

/// Both kernels against f64 sums from the definition, over batches up to [`SMALL_BATCH`],
/// sizes that leave remainders (rows not a multiple of four, outputs not of sixteen), one
/// input, and 4096 outputs (VGG16's classifier); on the default pool and on one thread. Tolerance per
/// element: 1e-5 · Σ|terms| + 1e-6, as the convolution tests (an f32 sum of K products errs
/// by at most ~K·2⁻²⁴ of Σ|terms|; K ≤ 4096 here, 2.4e-4 in the worst order, typically ~√K).
#[cfg(test)]
mod tests {
    use super::super::tests::Rng;
    use super::{forward, input_grad, SMALL_BATCH};

    fn close(got: &[f32], want: &[(f64, f64)], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &(v, mag))) in got.iter().zip(want).enumerate() {
            let tol = 1e-5 * mag + 1e-6;
            assert!(
                (g as f64 - v).abs() <= tol,
                "{what}[{i}]: {g} vs {v} (tolerance {tol})"
            );
        }
    }

    fn check(rng: &mut Rng, rows: usize, ins: usize, outs: usize) {
        let (x, w, b, dy) = (
            rng.values(rows * ins),
            rng.values(ins * outs),
            rng.values(outs),
            rng.values(rows * outs),
        );
        let mut y = vec![(0f64, 0f64); rows * outs];
        let mut dx = vec![(0f64, 0f64); rows * ins];
        for r in 0..rows {
            for i in 0..ins {
                for o in 0..outs {
                    let t = x[r * ins + i] as f64 * w[i * outs + o] as f64;
                    y[r * outs + o].0 += t;
                    y[r * outs + o].1 += t.abs();
                    let t = dy[r * outs + o] as f64 * w[i * outs + o] as f64;
                    dx[r * ins + i].0 += t;
                    dx[r * ins + i].1 += t.abs();
                }
            }
        }
        let what = format!("{rows}x{ins} -> {outs}");
        close(&forward(&x, &w, ins, outs, None), &y, &what);
        for (y, b) in y.iter_mut().zip(b.iter().cycle()) {
            y.0 += *b as f64;
            y.1 += b.abs() as f64;
        }
        close(&forward(&x, &w, ins, outs, Some(&b)), &y, &what);
        close(
            &input_grad(&dy, &w, ins, outs),
            &dx,
            &format!("{what} grad"),
        );
    }

    #[test]
    fn streaming_dense_products_match_the_definition() {
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut rng = Rng(41);
        for (rows, ins, outs) in [(1, 1, 1), (1, 300, 4096), (SMALL_BATCH, 4096, 10)] {
            check(&mut rng, rows, ins, outs);
        }
        for _ in 0..30 {
            let rows = 1 + rng.below(SMALL_BATCH);
            let (ins, outs) = (1 + rng.below(300), 1 + rng.below(70));
            check(&mut rng, rows, ins, outs);
            one_thread.install(|| check(&mut rng, rows, ins, outs));
        }
    }
}
