//! Property tests of the element-wise kernels (`elementwise.rs`, `simd.rs`) against their
//! definitions: exact equality where the kernel computes the same expression, ULPs for `exp`.

use super::tests::Rng;

#[test]
fn exp_is_within_two_ulp_and_keeps_nan() {
    use super::simd::{exp, sigmoid};
    let n = 1_000_000;
    for i in 0..=n {
        let x = -87.0 + 175.0 * i as f32 / n as f32;
        let want = (x as f64).exp();
        let got = exp(x) as f64;
        // 2 ulp of an f32 is at most 2⁻²² of the value.
        assert!(
            ((got - want) / want).abs() <= 2.4e-7,
            "exp({x}) = {got}, expected {want}"
        );
        let s = sigmoid(x) as f64;
        let s_want = 1.0 / (1.0 + (-x as f64).exp());
        assert!(
            (s - s_want).abs() <= 3e-7 * s_want,
            "sigmoid({x}) = {s}, expected {s_want}"
        );
    }
    assert!(exp(f32::NAN).is_nan());
    // Below -88 the argument is clamped: e^-88 ≈ 6e-39 instead of 0.
    assert!((0.0..1e-38).contains(&sigmoid(-200.0)), "clamped below");
    assert_eq!(sigmoid(200.0), 1.0, "saturates above");
}

#[test]
fn maps_apply_their_function_to_every_element_serial_and_parallel() {
    use super::elementwise::{add, map, zip_map};
    let mut rng = Rng(23);
    // Empty, below and above the size where the work is split across threads.
    for n in [0, 1000, (1 << 20) + 17] {
        let mut a = rng.values(n);
        if n > 1 {
            a[1] = f32::NAN;
        }
        let b = rng.values(n);
        let relu = |v: f32| if v < 0.0 { 0.0 } else { v };
        let gate = |x: f32, g: f32| if x > 0.0 { g } else { 0.0 };
        let (r, z, s) = (map(&a, relu), zip_map(&a, &b, gate), add(&a, &b));
        assert_eq!((r.len(), z.len(), s.len()), (n, n, n));
        for i in 0..n {
            let same = |got: f32, want: f32| got == want || (got.is_nan() && want.is_nan());
            assert!(same(r[i], relu(a[i])), "map at {i}");
            assert!(same(z[i], gate(a[i], b[i])), "zip_map at {i}");
            assert!(same(s[i], a[i] + b[i]), "add at {i}");
        }
    }
}

#[test]
fn plane_affine_scales_per_channel_or_per_plane() {
    let plane_affine = |x: &[f32], plane, scale: &[f32], shift: Option<&[f32]>| {
        super::elementwise::plane_map(x, plane, scale, shift, |v| v)
    };
    let mut rng = Rng(29);
    // Small planes, and planes large enough to be split across threads.
    for (n, c, plane) in [(2, 3, 5), (2, 3, 200_003)] {
        let x = rng.values(n * c * plane);
        let (scale, shift) = (rng.values(c), rng.values(c));
        let per_plane = rng.values(n * c);
        let with = plane_affine(&x, plane, &scale, Some(&shift));
        let without = plane_affine(&x, plane, &scale, None);
        let gated = plane_affine(&x, plane, &per_plane, None);
        for (i, &v) in x.iter().enumerate() {
            let (p, ch) = (i / plane, (i / plane) % c);
            assert_eq!(with[i], v * scale[ch] + shift[ch], "with shift at {i}");
            assert_eq!(without[i], v * scale[ch], "without shift at {i}");
            assert_eq!(gated[i], v * per_plane[p], "per plane at {i}");
        }
    }
}

/// The fused batch norm + activation passes: `f(x·s + t)` forward and `f(a, b)·s` backward,
/// per channel, at sizes run on one thread and split across threads.
#[test]
fn plane_maps_apply_their_function_after_or_before_the_affine_map() {
    use super::elementwise::{plane_map, plane_zip_map};
    let mut rng = Rng(31);
    let f = |v: f32| v.max(0.0) - 0.5 * v;
    let f2 = |a: f32, b: f32| if a > 0.0 { b } else { -2.0 * b };
    for (n, c, plane) in [(2, 3, 5), (2, 3, 200_003)] {
        let (x, dy) = (rng.values(n * c * plane), rng.values(n * c * plane));
        let (scale, shift) = (rng.values(c), rng.values(c));
        let forward = plane_map(&x, plane, &scale, Some(&shift), f);
        let backward = plane_zip_map(&x, &dy, plane, &scale, f2);
        for i in 0..x.len() {
            let ch = (i / plane) % c;
            assert_eq!(
                forward[i],
                f(x[i] * scale[ch] + shift[ch]),
                "forward at {i}"
            );
            assert_eq!(backward[i], f2(x[i], dy[i]) * scale[ch], "backward at {i}");
        }
    }
}

#[test]
fn plane_dots_and_fills_match_their_definitions() {
    use super::elementwise::{plane_dots, plane_fill};
    let mut rng = Rng(31);
    for (planes, plane) in [(6, 1), (6, 13), (7, 3136), (5, 300_007)] {
        let (a, b) = (rng.values(planes * plane), rng.values(planes * plane));
        let dots = plane_dots(&a, &b, plane);
        assert_eq!(dots.len(), planes);
        for (p, &got) in dots.iter().enumerate() {
            let range = p * plane..(p + 1) * plane;
            let terms = a[range.clone()].iter().zip(&b[range]);
            let (want, scale) = terms.fold((0f64, 0f64), |(s, m), (&x, &y)| {
                (s + x as f64 * y as f64, m + (x as f64 * y as f64).abs())
            });
            let tol = 1e-5 * scale + 1e-6;
            assert!((got as f64 - want).abs() <= tol, "plane {p} of {plane}");
        }
        let fill = plane_fill(&dots, plane, 0.5);
        assert_eq!(fill.len(), planes * plane);
        for (i, &v) in fill.iter().enumerate() {
            assert_eq!(v, dots[i / plane] * 0.5, "fill at {i}");
        }
    }
}
