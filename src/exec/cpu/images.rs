//! How a convolution's batch is spread over the threads: whole images per thread where the
//! threads divide the batch, the rest with every thread; its output written image by image
//! into memory that is never zeroed first, and finished there, run by run as the kernel writes
//! it, by the layers fused after it.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::elementwise::PARALLEL_FROM;
use super::geometry::ConvGeometry;
use super::matmul::SharedOut;

/// A run of one output channel's plane that a kernel has just written: `values` are the
/// elements `at..at + values.len()` of channel `channel`'s plane in image `image` of the batch.
pub struct Run<'a> {
    pub image: usize,
    pub channel: usize,
    pub at: usize,
    pub values: &'a mut [f32],
}

/// What runs on each [`Run`] in place as soon as the kernel has written it, while it is still
/// in cache: the layers after a convolution that a partial pass runs with it (a batch norm,
/// its activation, a residual sum). Runs rather than whole images because the kernels finish
/// their output in parts: Winograd one channel's rows at a time (then still in L1), im2col
/// one band of rows of every channel, and a kernel taking several images at once finishes
/// parts of each.
pub type Then<'a> = &'a (dyn Fn(Run<'_>) + Sync);

/// Where a kernel hands the runs it finishes of one image: [`Then`] (if any) and the image's
/// index in the batch.
#[derive(Clone, Copy)]
pub struct Finish<'a> {
    then: Option<Then<'a>>,
    image: usize,
}

impl<'a> Finish<'a> {
    pub fn new(then: Option<Then<'a>>, image: usize) -> Self {
        Finish { then, image }
    }

    /// The same for the image `k` places after this one (a kernel that takes several images).
    pub fn image(&self, k: usize) -> Self {
        Finish::new(self.then, self.image + k)
    }

    /// Hands over `values`, the elements from `at` of channel `channel`'s plane.
    pub fn run(&self, channel: usize, at: usize, values: &mut [f32]) {
        if let Some(then) = self.then {
            then(Run {
                image: self.image,
                channel,
                at,
                values,
            });
        }
    }

    /// Hands over the elements `elems` of the planes (`plane` elements each) of `channels`,
    /// across `threads` where there are enough of them.
    ///
    /// # Safety
    /// `y` points at the image's output, which holds the planes of `channels`; the caller has
    /// written those elements, and no other thread touches them during the call.
    pub unsafe fn runs(
        &self,
        y: *mut f32,
        plane: usize,
        channels: Range<usize>,
        elems: Range<usize>,
        threads: usize,
    ) {
        if self.then.is_none() || elems.is_empty() {
            return;
        }
        let out = SharedOut(y);
        let one = |ch: usize| {
            // SAFETY: inside the image and written (the caller's promise); one channel's run
            // per task.
            let values = unsafe {
                std::slice::from_raw_parts_mut(out.ptr().add(ch * plane + elems.start), elems.len())
            };
            self.run(ch, elems.start, values);
        };
        if threads > 1 && channels.len() * elems.len() >= PARALLEL_FROM {
            channels.into_par_iter().for_each(one);
        } else {
            channels.for_each(one);
        }
    }
}

/// A convolution's output over a batch (input `x`, checked against `g` with `bias`), each
/// image written whole by `each` (output images, input images, where to hand their finished
/// runs, threads; see [`per_image`], which says how many images a call takes: `group`) on the
/// thread that computes it.
/// Not zeroed first: `vec![0; len]` zeroed it on one thread while the other waited, ~8% of
/// ResNet50's time at batch 16, for values the GEMM and Winograd's output transform overwrite.
/// `each` must write every element of its image; the unit tests fill the buffer with a
/// sentinel first and check that none is left.
pub(super) fn per_image_output(
    g: &ConvGeometry,
    x: &[f32],
    bias: Option<&[f32]>,
    then: Option<Then<'_>>,
    group: usize,
    each: impl Fn(&mut [MaybeUninit<f32>], &[f32], Finish<'_>, usize) + Sync,
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
    per_image(out, out_len, x, in_len, group, |yi, xi, image, threads| {
        each(yi, xi, Finish::new(then, image), threads)
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

/// Runs `each(output images, input images, the first one's index, threads)` over a batch:
/// `group` whole images a call, each call on one thread, for as many images as the threads
/// divide evenly (no synchronisation inside an image), and each image left over alone with
/// every thread. Five images on two threads as whole images took three
/// image-times with one thread idle for the last (SmoothGrad's batches of five: 1.06x
/// captum's time on ResNet50 while batches of ten ran at 0.85x).
pub(super) fn per_image<T: Send>(
    out: &mut [T],
    out_len: usize,
    input: &[f32],
    in_len: usize,
    group: usize,
    each: impl Fn(&mut [T], &[f32], usize, usize) + Sync,
) {
    let threads = rayon::current_num_threads();
    let (outs, ins) = (out.len() / out_len.max(1), input.len() / in_len.max(1));
    let group = group.max(1);
    let unit = threads * group;
    let whole = if unit > 1 {
        outs.min(ins) / unit * unit
    } else {
        0
    };
    let (out_whole, out_rest) = out.split_at_mut(whole * out_len);
    let (in_whole, in_rest) = input.split_at(whole * in_len);
    out_whole
        .par_chunks_exact_mut((out_len * group).max(1))
        .zip(in_whole.par_chunks_exact((in_len * group).max(1)))
        .enumerate()
        .for_each(|(call, (o, i))| each(o, i, call * group, 1));
    for (n, (o, i)) in out_rest
        .chunks_exact_mut(out_len.max(1))
        .zip(in_rest.chunks_exact(in_len.max(1)))
        .enumerate()
    {
        each(o, i, whole + n, threads);
    }
}
