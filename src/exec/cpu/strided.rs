//! Copies between a contiguous run and every `step`-th element of another: the strided rows of
//! im2col/col2im and of the depthwise kernels' phase planes. Stride 1 is a `memcpy` and stride
//! 2 a loop over pairs that vectorizes: through `step_by`, both were one scalar load and store
//! per element (a third of the depthwise kernels' time; most of the im2col of ResNet's 7x7
//! stride-2 stem).

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
}
