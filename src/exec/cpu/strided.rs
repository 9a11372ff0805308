//! Copies between a contiguous run and every `step`-th element of another: the strided rows of
//! im2col/col2im and of the depthwise kernels' phase planes. Stride 1 is a `memcpy` and stride
//! 2 a loop over pairs that vectorizes: through `step_by`, both were one scalar load and store
//! per element (a third of the depthwise kernels' time; most of the im2col of ResNet's 7x7
//! stride-2 stem).
//!
//! Also the zero-padded rows Winograd's input transform reads, split into their even and odd
//! columns.

use super::simd::vectorized;

/// `dst[i] = src[i·step]` for every element of `dst`.
#[inline(always)]
pub fn gather(dst: &mut [f32], src: &[f32], step: usize) {
    match step {
        1 => dst.copy_from_slice(&src[..dst.len()]),
        2 => vectorized(
            #[inline(always)]
            || {
                let pairs = (src.len() / 2).min(dst.len());
                for (d, p) in dst[..pairs].iter_mut().zip(src.chunks_exact(2)) {
                    *d = p[0];
                }
                for (i, d) in dst.iter_mut().enumerate().skip(pairs) {
                    *d = src[2 * i];
                }
            },
        ),
        _ => {
            for (d, s) in dst.iter_mut().zip(src.iter().step_by(step)) {
                *d = *s;
            }
        }
    }
}

/// `dst[i·step] = src[i]` for every element of `src`.
#[inline(always)]
pub fn scatter(dst: &mut [f32], src: &[f32], step: usize) {
    if step == 1 {
        return dst[..src.len()].copy_from_slice(src);
    }
    scatter_with(dst, src, step, |d, s| *d = s)
}

/// `dst[i·step] += src[i]` for every element of `src`.
#[inline(always)]
pub fn scatter_add(dst: &mut [f32], src: &[f32], step: usize) {
    scatter_with(dst, src, step, |d, s| *d += s)
}

/// `put(&mut dst[i·step], src[i])` for every element of `src`, vectorized at strides 1 and 2.
#[inline(always)]
fn scatter_with(dst: &mut [f32], src: &[f32], step: usize, put: impl Fn(&mut f32, f32) + Copy) {
    match step {
        1 => vectorized(
            #[inline(always)]
            || {
                for (d, s) in dst[..src.len()].iter_mut().zip(src) {
                    put(d, *s);
                }
            },
        ),
        2 => vectorized(
            #[inline(always)]
            || {
                let pairs = (dst.len() / 2).min(src.len());
                for (p, s) in dst.chunks_exact_mut(2).zip(&src[..pairs]) {
                    put(&mut p[0], *s);
                }
                for (i, s) in src.iter().enumerate().skip(pairs) {
                    put(&mut dst[2 * i], *s);
                }
            },
        ),
        _ => {
            for (d, s) in dst.iter_mut().step_by(step).zip(src) {
                put(d, *s);
            }
        }
    }
}

/// The padded row whose column `c` is `row[c − left]` where that lies inside `row` and 0
/// elsewhere, `even.len() + odd.len()` columns wide, split into its even columns (`even`,
/// ⌈width/2⌉ of them) and its odd ones (`odd`, ⌊width/2⌋): where a kernel reads every other
/// column, each of its taps then reads a contiguous run of one half. Read straight from `row`,
/// with no padded copy staged first (the loads stalled on such a copy's stores).
#[inline(always)]
pub fn split_padded(row: &[f32], left: isize, even: &mut [f32], odd: &mut [f32]) {
    let width = even.len() + odd.len();
    debug_assert_eq!(even.len(), width.div_ceil(2), "split_padded: halves");
    // The columns `from..to` hold the input; `from − left` ≥ 0 wherever `from < to`.
    let from = left.clamp(0, width as isize) as usize;
    let to = (row.len() as isize + left).clamp(from as isize, width as isize) as usize;
    for c in (0..from).chain(to..width) {
        if c % 2 == 0 {
            even[c / 2] = 0.0;
        } else {
            odd[c / 2] = 0.0;
        }
    }
    if from == to {
        // No input column in the row (a leading pad wider than it reaches past it).
        return;
    }
    let mut src = &row[(from as isize - left) as usize..][..to - from];
    let mut c = from;
    // From an even column on, the input comes in (even, odd) pairs.
    if c % 2 == 1 {
        if let Some((&first, rest)) = src.split_first() {
            odd[c / 2] = first;
            (src, c) = (rest, c + 1);
        }
    }
    let pairs = src.chunks_exact(2);
    if let [last] = pairs.remainder() {
        even[(c + src.len() - 1) / 2] = *last;
    }
    let (even, odd) = (&mut even[c / 2..], &mut odd[c / 2..]);
    for ((pair, e), o) in pairs.zip(even).zip(odd) {
        *e = pair[0];
        *o = pair[1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every step and length, odd ones included, against the definitions.
    #[test]
    fn strided_copies_match_their_definitions() {
        for step in 1..=3 {
            for n in 0..40 {
                for extra in 0..step {
                    let len = if n == 0 {
                        extra
                    } else {
                        (n - 1) * step + 1 + extra
                    };
                    let src: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
                    let mut dst = vec![f32::NAN; n];
                    gather(&mut dst, &src, step);
                    let want: Vec<f32> = (0..n).map(|i| src[i * step]).collect();
                    assert_eq!(dst, want, "gather step {step} n {n} extra {extra}");

                    let vals: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
                    let base: Vec<f32> = (0..len).map(|i| -(i as f32)).collect();
                    let (mut put, mut add) = (base.clone(), base.clone());
                    scatter(&mut put, &vals, step);
                    scatter_add(&mut add, &vals, step);
                    let (mut want_put, mut want_add) = (base.clone(), base);
                    for (i, v) in vals.iter().enumerate() {
                        want_put[i * step] = *v;
                        want_add[i * step] += *v;
                    }
                    assert_eq!(put, want_put, "scatter step {step} n {n} extra {extra}");
                    assert_eq!(add, want_add, "scatter_add step {step} n {n} extra {extra}");
                }
            }
        }
    }

    /// Every width, leading pad (negative: a crop; past the row: padding only) and row length
    /// against the padded row built element by element; the halves start out holding garbage.
    #[test]
    fn padded_rows_split_as_defined() {
        for len in 0..7 {
            let row: Vec<f32> = (0..len).map(|i| 1.0 + i as f32).collect();
            for width in 0..12 {
                for left in -8..12isize {
                    let mut halves = vec![f32::NAN; width];
                    let (even, odd) = halves.split_at_mut(width.div_ceil(2));
                    split_padded(&row, left, even, odd);
                    let padded: Vec<f32> = (0..width as isize)
                        .map(|c| *row.get((c - left) as usize).unwrap_or(&0.0))
                        .collect();
                    let want: Vec<f32> = (0..width)
                        .step_by(2)
                        .chain((1..width).step_by(2))
                        .map(|c| padded[c])
                        .collect();
                    assert_eq!(halves, want, "len {len} width {width} left {left}");
                }
            }
        }
    }
}
