//! One-pass element-wise kernels: an activation or its backward rule is a scalar function
//! mapped over one or two slices, and the per-plane maps of batch norm and of the
//! squeeze-excitation product. candle computed a ReLU6's backward rule as eight allocating
//! passes (two comparisons, two casts, three products and a ones tensor): 62 ms of
//! MobileNetV2's 116 ms backward pass at 224x224.
//!
//! Outputs are written into uninitialized memory: zero-filling first was ~6% of the time
//! (`memset`) and each fresh page is written once instead of twice.
//!
//! They are memory-bound: below [`PARALLEL_FROM`] elements they run on the calling thread, as
//! waking rayon's workers costs more than the work; above it, in chunks across the threads.
//! The threshold was 2²⁰ while these were candle's allocating passes (a parallel batch norm
//! took 0.17 ms on ResNet50's 1024x14x14 map against 0.05 ms serially); with one pass into
//! fresh memory, 2¹⁷ took MobileNetV2's batch norms and activations from 8.6 to 7.1 ms (batch
//! 1, 2 threads).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::simd::{dot, vectorized};

/// The smallest tensor worth splitting across threads.
pub(super) const PARALLEL_FROM: usize = 1 << 17;
/// Elements per parallel task.
const CHUNK: usize = 1 << 16;

/// A vector of `len` elements, each written once by `f(start, chunk)` over chunks of `chunk`
/// elements (the last may be short), in parallel for large vectors.
fn fill_chunks(
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut [MaybeUninit<f32>]) + Send + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    if len >= PARALLEL_FROM {
        spare
            .par_chunks_mut(chunk.max(1))
            .enumerate()
            .for_each(|(i, o)| f(i * chunk, o));
    } else if len > 0 {
        f(0, spare);
    }
    // SAFETY: the chunks cover `0..len` and `f` writes every element of its chunk (each
    // caller below zips its chunk with inputs at least as long).
    unsafe { out.set_len(len) };
    out
}

/// `f(x)` for each element. `f` is copied into each task so that what it captures lives in
/// registers: read through a reference, it was reloaded on every element and the loop stayed
/// scalar.
pub fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync + Send + Copy) -> Vec<f32> {
    fill_chunks(x.len(), CHUNK, |at, out| {
        let (x, f) = (&x[at..at + out.len()], f);
        vectorized(
            #[inline(always)]
            || {
                for (o, &x) in out.iter_mut().zip(x) {
                    o.write(f(x));
                }
            },
        )
    })
}

/// `f(a, b)` for each pair of elements (`f` copied as in [`map`]).
pub fn zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync + Send + Copy) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "element-wise: operand lengths differ");
    fill_chunks(a.len(), CHUNK, |at, out| {
        let (a, b, f) = (&a[at..at + out.len()], &b[at..at + out.len()], f);
        vectorized(
            #[inline(always)]
            || {
                for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                    o.write(f(a, b));
                }
            },
        )
    })
}

/// `f(x · scale[p] + shift[p])` over whole planes of `plane` elements, `p` the plane's index
/// modulo `scale.len()`. With `f` the identity and one value per channel, batch normalization
/// in inference form (with `shift`) and its input gradient (without); with one per (image,
/// channel), the squeeze-excitation product (candle needs one broadcast pass per operand).
/// With an activation as `f`, a batch norm and the activation after it in one pass.
pub fn plane_map(
    x: &[f32],
    plane: usize,
    scale: &[f32],
    shift: Option<&[f32]>,
    f: impl Fn(f32) -> f32 + Sync + Send + Copy,
) -> Vec<f32> {
    check_planes("plane map", x.len(), plane, scale.len());
    assert!(
        shift.is_none_or(|s| s.len() == scale.len()),
        "plane map: shift length"
    );
    let planes = scale.len();
    // Whole planes per task.
    let chunk = plane * (CHUNK / plane).max(1);
    fill_chunks(x.len(), chunk, |at, out| {
        vectorized(
            #[inline(always)]
            || {
                for (i, o) in out.chunks_mut(plane).enumerate() {
                    let first = at + i * plane;
                    let p = (first / plane) % planes;
                    let (a, b) = (scale[p], shift.map_or(0.0, |s| s[p]));
                    for (o, &x) in o.iter_mut().zip(&x[first..first + plane]) {
                        o.write(f(x * a + b));
                    }
                }
            },
        )
    })
}

/// `f(a, b) · scale[p]` over whole planes (see [`plane_map`]): an activation's backward rule
/// and the batch norm's before it in one pass.
pub fn plane_zip_map(
    a: &[f32],
    b: &[f32],
    plane: usize,
    scale: &[f32],
    f: impl Fn(f32, f32) -> f32 + Sync + Send + Copy,
) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "plane zip map: operand lengths differ");
    check_planes("plane zip map", a.len(), plane, scale.len());
    let planes = scale.len();
    let chunk = plane * (CHUNK / plane).max(1);
    fill_chunks(a.len(), chunk, |at, out| {
        vectorized(
            #[inline(always)]
            || {
                for (i, o) in out.chunks_mut(plane).enumerate() {
                    let first = at + i * plane;
                    let s = scale[(first / plane) % planes];
                    let (a, b) = (&a[first..first + plane], &b[first..first + plane]);
                    for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                        o.write(f(a, b) * s);
                    }
                }
            },
        )
    })
}

fn check_planes(what: &str, len: usize, plane: usize, planes: usize) {
    assert!(
        plane > 0 && planes > 0 && len.is_multiple_of(plane * planes),
        "{what}: {len} elements are not whole planes of {plane} for {planes} scales"
    );
}

/// `f(v · a + b)` over `values` in place, or `f(v · a + b + r)` with the `residual` run `r`
/// (as long as `values`): a batch norm's channel, the residual sum after it and the
/// activation, on a run of a convolution's output just written (see `images::Then`).
/// Evaluated in the order the separate passes evaluate it ([`plane_map`], then [`zip_map`]'s
/// sum), so the same to the bit.
pub fn affine_in_place(
    values: &mut [f32],
    a: f32,
    b: f32,
    residual: Option<&[f32]>,
    f: impl Fn(f32) -> f32 + Copy,
) {
    vectorized(
        #[inline(always)]
        || match residual {
            None => values.iter_mut().for_each(|v| *v = f(*v * a + b)),
            Some(r) => {
                assert_eq!(r.len(), values.len(), "affine: residual length");
                for (v, &r) in values.iter_mut().zip(r) {
                    *v = f(*v * a + b + r);
                }
            }
        },
    )
}

/// `Σ a·b` over each plane of `plane` elements: the gradient of a per-plane scale.
pub fn plane_dots(a: &[f32], b: &[f32], plane: usize) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "plane dots: operand lengths differ");
    assert!(
        plane > 0 && a.len().is_multiple_of(plane),
        "plane dots: {} elements are not whole planes of {plane}",
        a.len()
    );
    let plane_dot = |(a, b): (&[f32], &[f32])| -> f32 {
        vectorized(
            #[inline(always)]
            || dot(a, b),
        )
    };
    let pairs = a.chunks_exact(plane).zip(b.chunks_exact(plane));
    if a.len() >= PARALLEL_FROM {
        a.par_chunks_exact(plane)
            .zip(b.par_chunks_exact(plane))
            .map(plane_dot)
            .collect()
    } else {
        pairs.map(plane_dot).collect()
    }
}

/// Each of `values` repeated over a plane of `plane` elements and multiplied by `factor`: the
/// backward pass of a global average pool (`factor` = 1 / plane).
pub fn plane_fill(values: &[f32], plane: usize, factor: f32) -> Vec<f32> {
    let chunk = plane.max(1) * (CHUNK / plane.max(1)).max(1);
    fill_chunks(values.len() * plane, chunk, |at, out| {
        for (i, o) in out.chunks_mut(plane).enumerate() {
            let v = values[at / plane + i] * factor;
            o.iter_mut().for_each(|e| {
                e.write(v);
            });
        }
    })
}

/// `a + b`, same shapes.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    zip_map(a, b, |a, b| a + b)
}
