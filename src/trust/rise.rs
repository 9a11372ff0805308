//! RISE's insertion substrate (Petsiuk et al., BMVC 2018, the authors' `evaluation.py`): the
//! input blurred per channel by `gkern(11, 5)`, a zero-padded 11×11 convolution.
//!
//! `gkern` is `scipy.ndimage.gaussian_filter` (σ 5, `mode='reflect'`, radius 20) applied to an
//! 11×11 impulse. The filter is 41 taps wide and the reflection folds its tails back into the
//! 11 cells, so the kernel is *not* a sampled Gaussian: it is nearly flat (corners 0.00774 against
//! the centre's 0.00883, where a sampled σ 5 Gaussian falls to 0.37 of its peak). It sums to 1, so the blur keeps the mean of a flat
//! region away from the borders, and darkens (moves toward 0) near them, as RISE's does.

use super::planes::Planes;

/// The kernel's side and the Gaussian's σ, as RISE's `klen` and `ksig`.
const SIDE: usize = 11;
const SIGMA: f64 = 5.0;
/// `scipy.ndimage` truncates the Gaussian at 4 σ: radius `int(4 * σ + 0.5)`.
const RADIUS: i64 = 20;

/// The 11 values of the filtered impulse along one axis (the 2-D kernel is their outer
/// product, as `gaussian_filter` filters one axis after the other).
fn axis_kernel() -> [f64; SIDE] {
    let taps: Vec<f64> = (-RADIUS..=RADIUS)
        .map(|t| (-0.5 * (t * t) as f64 / (SIGMA * SIGMA)).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    let n = SIDE as i64;
    // scipy's 'reflect': d c b a | a b c d | d c b a (the edge value repeated).
    let reflect = |j: i64| {
        let m = j.rem_euclid(2 * n);
        if m >= n {
            2 * n - 1 - m
        } else {
            m
        }
    };
    let centre = n / 2;
    let mut out = [0f64; SIDE];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (-RADIUS..=RADIUS)
            .filter(|&t| reflect(i as i64 + t) == centre)
            .map(|t| taps[(t + RADIUS) as usize] / total)
            .sum();
    }
    out
}

/// RISE's `gkern(11, 5)` as float32, row-major 11×11.
pub fn kernel() -> Vec<f32> {
    let k = axis_kernel();
    k.iter()
        .flat_map(|a| k.iter().map(move |b| (a * b) as f32))
        .collect()
}

/// Each channel convolved with [`kernel`], zero-padded to keep its size (`conv2d(x, kern,
/// padding=5)` with a diagonal kernel tensor).
pub fn blur(input: &Planes) -> Planes {
    let k = kernel();
    let (h, w) = (input.spec.height, input.spec.width);
    let r = SIDE / 2;
    let mut out = input.clone();
    for c in 0..input.spec.channels {
        let src = input.plane(c);
        let mut dst = vec![0f32; h * w];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0f32;
                for ky in 0..SIDE {
                    let Some(sy) = (y + ky).checked_sub(r).filter(|&sy| sy < h) else {
                        continue;
                    };
                    for kx in 0..SIDE {
                        if let Some(sx) = (x + kx).checked_sub(r).filter(|&sx| sx < w) {
                            acc += k[ky * SIDE + kx] * src[sy * w + sx];
                        }
                    }
                }
                dst[y * w + x] = acc;
            }
        }
        out.set_plane(c, &dst);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::preprocess::{InputSpec, Layout};

    /// `gaussian_filter(impulse, 5)`'s corner and centre from scipy 1.17 (the whole kernel is
    /// compared in tests/it/trust_reference.rs).
    #[test]
    fn the_kernel_is_the_reflected_gaussian() {
        let k = kernel();
        assert!((k.iter().map(|&v| v as f64).sum::<f64>() - 1.0).abs() < 1e-6);
        // Symmetric under both flips and the transpose.
        for y in 0..SIDE {
            for x in 0..SIDE {
                let v = k[y * SIDE + x];
                assert_eq!(v, k[(SIDE - 1 - y) * SIDE + x]);
                assert_eq!(v, k[x * SIDE + y]);
            }
        }
        assert!((k[0] - 0.007_736_635).abs() < 1e-8, "{}", k[0]);
        assert!((k[5 * SIDE + 5] - 0.008_832_628).abs() < 1e-8);
    }

    #[test]
    fn a_flat_plane_keeps_its_value_inside_and_fades_at_the_border() {
        let spec = InputSpec {
            layout: Layout::Nhwc,
            channels: 1,
            height: 23,
            width: 23,
        };
        let flat = Planes {
            spec,
            data: vec![2.0; 23 * 23],
        };
        let b = blur(&flat);
        assert!((b.data[11 * 23 + 11] - 2.0).abs() < 1e-5);
        assert!(b.data[0] < 1.0);
    }
}
