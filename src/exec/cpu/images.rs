//! How a convolution's batch is spread over the threads: whole images per thread where the
//! threads divide the batch, the rest with every thread; its output written image by image
//! into memory that is never zeroed first, and finished there by the layers fused after it.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::geometry::ConvGeometry;

/// What runs on each output image in place, with the threads that computed it (the second
/// argument), while the image is still in their caches: the layers after a convolution that a
/// partial pass runs with it (a batch norm and its activation).
pub type Then<'a> = &'a (dyn Fn(&mut [f32], usize) + Sync);

/// A convolution's output over a batch (input `x`, checked against `g` with `bias`), each
/// image written whole by `each` (output image, input image, threads; see [`per_image`]) on
/// the thread that computes it, then handed to `then`.
/// Not zeroed first: `vec![0; len]` zeroed it on one thread while the other waited, ~8% of
/// ResNet50's time at batch 16, for values the GEMM and Winograd's output transform overwrite.
/// `each` must write every element of its image; the unit tests fill the buffer with a
/// sentinel first and check that none is left.
pub(super) fn per_image_output(
    g: &ConvGeometry,
    x: &[f32],
    bias: Option<&[f32]>,
    then: Option<Then<'_>>,
    each: impl Fn(&mut [MaybeUninit<f32>], &[f32], usize) + Sync,
) -> Vec<f32> {
    assert_eq!(x.len(), g.input_len(), "conv2d: input length");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.out_channels, "conv2d: bias length");
    }
    let len = g.output_len();
    let (out_len, in_len) = (g.out_channels * g.out_plane(), g.in_channels * g.in_plane());
    let mut y = Vec::with_capacity(len);
    let out = &mut y.spare_capacity_mut()[..len];
    #[cfg(test)]
    out.fill(MaybeUninit::new(f32::from_bits(UNWRITTEN)));
    per_image(out, out_len, x, in_len, |yi, xi, threads| {
        each(yi, xi, threads);
        if let Some(then) = then {
            // SAFETY: `each` wrote every element of the image; `MaybeUninit<f32>` has `f32`'s
            // layout.
            then(
                unsafe { &mut *(yi as *mut [MaybeUninit<f32>] as *mut [f32]) },
                threads,
            );
        }
    });
    // SAFETY: `each` wrote every element of every image, and the images tile `len`.
    unsafe { y.set_len(len) };
    #[cfg(test)]
    assert!(
        y.iter().all(|v| v.to_bits() != UNWRITTEN),
        "conv2d: an output element was left unwritten"
    );
    y
}

/// A NaN payload no arithmetic produces from the tests' inputs: what an unwritten output holds.
#[cfg(test)]
const UNWRITTEN: u32 = 0x7fc0_dead;

/// Runs `each(output image, input image, threads)` over a batch: whole images per thread for
/// as many images as the threads divide evenly (no synchronisation inside an image), and each
/// image left over with every thread. Five images on two threads as whole images took three
/// image-times with one thread idle for the last (SmoothGrad's batches of five: 1.06x
/// captum's time on ResNet50 while batches of ten ran at 0.85x).
pub(super) fn per_image<T: Send>(
    out: &mut [T],
    out_len: usize,
    input: &[f32],
    in_len: usize,
    each: impl Fn(&mut [T], &[f32], usize) + Sync,
) {
    let threads = rayon::current_num_threads();
    let (outs, ins) = (out.len() / out_len.max(1), input.len() / in_len.max(1));
    let whole = if threads > 1 {
        outs.min(ins) / threads * threads
    } else {
        0
    };
    let (out_whole, out_rest) = out.split_at_mut(whole * out_len);
    let (in_whole, in_rest) = input.split_at(whole * in_len);
    out_whole
        .par_chunks_exact_mut(out_len.max(1))
        .zip(in_whole.par_chunks_exact(in_len.max(1)))
        .for_each(|(o, i)| each(o, i, 1));
    for (o, i) in out_rest
        .chunks_exact_mut(out_len.max(1))
        .zip(in_rest.chunks_exact(in_len.max(1)))
    {
        each(o, i, threads);
    }
}
