//! Dense and grouped 2-D convolution on the CPU: im2col in bands of output rows, then one GEMM
//! per band; the input gradient as the adjoint (GEMM, then col2im), or for stride 1 as the
//! forward convolution of the flipped, transposed kernel. Depthwise convolutions go to
//! `depthwise.rs`.
//!
//! Threads: each thread takes whole images, for as many images as the threads divide (no
//! synchronisation inside an image); the images left over run one after another, each band's
//! im2col, GEMM and col2im split across the threads.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

use super::columns::{col2im_channel, im2col_channel};
use super::depthwise;
use super::geometry::ConvGeometry;
use super::images::{per_image, per_image_output, Finish, Then};
use super::matmul::{matmul, matmul_raw, MatRef, SharedOut};
use super::scratch::{floats, with_reused};
use super::winograd;

/// How many floats of im2col columns one band may hold: small enough to stay in L2 while the
/// GEMM packs it, large enough that the GEMM sees a few hundred columns.
const BAND_FLOATS: usize = 1 << 19;

/// The kernels a pass derives from one convolution's weights, kept while the model is loaded
/// (its weights never change) from the second pass that needs them: Winograd's transformed
/// kernels for the forward pass and for the input gradient, and the flipped, transposed kernel
/// of the stride-1 input gradient. Re-deriving them on every pass cost 60 of VGG16's ~440 ms
/// per saliency map. Each costs memory once kept: the Winograd ones 16/9 of the weights, the
/// flipped one as much as the weights.
#[derive(Default)]
pub struct Derived {
    winograd: Kept<winograd::Weights>,
    winograd_adjoint: Kept<winograd::Weights>,
    adjoint: Kept<Vec<f32>>,
}

/// One derived kernel: made afresh and dropped on its first use, kept from the second. A
/// one-off pass (a prediction, one saliency map from the command line) then holds no more
/// memory than it did without the cache: keeping VGG16's forward kernels on the first pass put
/// 43 MB on top of its 31 MB peak, for a cache that pass never reads.
struct Kept<T> {
    value: OnceLock<T>,
    used: AtomicBool,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept {
            value: OnceLock::new(),
            used: AtomicBool::new(false),
        }
    }
}

/// `run` on the kernel that `make` derives: the one kept in `slot` when there is one (see
/// [`Kept`]), else made for this call.
fn with_derived<T, R>(
    slot: Option<&Kept<T>>,
    make: impl FnOnce() -> T,
    run: impl FnOnce(&T) -> R,
) -> R {
    match slot {
        Some(kept) if kept.used.swap(true, Ordering::Relaxed) => run(kept.value.get_or_init(make)),
        _ => run(&make()),
    }
}

/// `conv(x, w) + bias`, then `then` on each image. `x` is `[N, C, H, W]`, `w`
/// `[O, C/groups, kh, kw]`, both dense; `derived`, where given, holds kernels derived from
/// this `w`.
pub fn forward(
    g: &ConvGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    derived: Option<&Derived>,
    then: Option<Then<'_>>,
) -> Vec<f32> {
    assert_eq!(w.len(), g.weight_len(), "conv2d: weight length");
    if g.is_depthwise() {
        assert_eq!(x.len(), g.input_len(), "conv2d: input length");
        let mut y = depthwise::forward(g, x, w, bias);
        if then.is_some() {
            let (plane, channels) = (g.out_plane(), g.out_channels);
            let finish = |n: usize, y: &mut [f32], threads: usize| {
                // SAFETY: the whole image, written by the depthwise kernel and borrowed here.
                unsafe {
                    Finish::new(then, n).runs(y.as_mut_ptr(), plane, 0..channels, 0..plane, threads)
                }
            };
            let (threads, image) = (rayon::current_num_threads(), channels * plane);
            if g.batch >= threads {
                let images = y.par_chunks_exact_mut(image).enumerate();
                images.for_each(|(n, y)| finish(n, y, 1));
            } else {
                let images = y.chunks_exact_mut(image).enumerate();
                images.for_each(|(n, y)| finish(n, y, threads));
            }
        }
        return y;
    }
    if winograd::pays(g) {
        let make = || winograd_weights(g, winograd::Kernel::Forward(w));
        return with_derived(derived.map(|d| &d.winograd), make, |u| {
            forward_winograd(g, x, u, bias, then)
        });
    }
    forward_with(g, x, Kernel::Dense(w), bias, then)
}

#[cfg(test)]
impl Derived {
    /// Which kernels are kept: Winograd's forward and adjoint, and the flipped one.
    pub(super) fn kept(&self) -> [bool; 3] {
        [
            self.winograd.value.get().is_some(),
            self.winograd_adjoint.value.get().is_some(),
            self.adjoint.value.get().is_some(),
        ]
    }
}

fn winograd_weights(g: &ConvGeometry, kernel: winograd::Kernel<'_>) -> winograd::Weights {
    winograd::Weights::new(g.out_channels, g.in_channels, kernel)
}

/// [`forward`] by Winograd F(2x2, 3x3), for a geometry it [applies](winograd::applies) to
/// (for tests: the dispatch takes it only for large layers).
#[cfg(test)]
pub(super) fn winograd_forward(
    g: &ConvGeometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let u = winograd_weights(g, winograd::Kernel::Forward(w));
    forward_winograd(g, x, &u, bias, None)
}

/// [`input_grad`] by Winograd F(2x2, 3x3), for a geometry whose stride-1 adjoint it
/// [applies](winograd::applies) to (for tests).
#[cfg(test)]
pub(super) fn winograd_input_grad(g: &ConvGeometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let adj = adjoint_geometry(g);
    let u = winograd_weights(&adj, winograd::Kernel::Adjoint(w));
    forward_winograd(&adj, dy, &u, None, None)
}

fn forward_winograd(
    g: &ConvGeometry,
    x: &[f32],
    u: &winograd::Weights,
    bias: Option<&[f32]>,
    then: Option<Then<'_>>,
) -> Vec<f32> {
    let group = winograd::images_per_call(g, rayon::current_num_threads());
    per_image_output(g, x, bias, then, group, |yi, xi, finish, threads| {
        winograd::image(g, xi, u, bias, yi, finish, threads)
    })
}

/// How the kernel is laid out.
#[derive(Clone, Copy)]
enum Kernel<'a> {
    /// The convolution's own `[O, C/groups, kh, kw]`.
    Dense(&'a [f32]),
    /// A 1x1 kernel given as the kernel of the convolution this one is the adjoint of,
    /// `[C, O/groups, 1, 1]`, and read transposed in place by the GEMM: the input gradient of
    /// a pointwise layer. Copying the transpose out cost more than the GEMM on 7x7 maps (2.4
    /// against 0.7 ms for MobileNetV2's 320→1280 layer).
    Transposed(&'a [f32]),
}

impl Kernel<'_> {
    /// Group `grp`'s weights as a `(O/groups) × (C/groups · taps)` matrix.
    fn group(&self, g: &ConvGeometry, grp: usize) -> MatRef<'_> {
        let (cog, k) = (g.out_per_group(), g.patch_len());
        match *self {
            Kernel::Dense(w) => MatRef::dense(&w[grp * cog * k..][..cog * k], cog, k),
            Kernel::Transposed(w) => MatRef::dense(&w[grp * k * cog..][..k * cog], k, cog).t(),
        }
    }
}

fn forward_with(
    g: &ConvGeometry,
    x: &[f32],
    w: Kernel<'_>,
    bias: Option<&[f32]>,
    then: Option<Then<'_>>,
) -> Vec<f32> {
    per_image_output(g, x, bias, then, 1, |yi, xi, finish, threads| {
        // The GEMM adds to the bias where there is one, else it writes every element.
        if let Some(b) = bias {
            for (plane, &v) in yi.chunks_exact_mut(g.out_plane()).zip(b) {
                plane.fill(MaybeUninit::new(v));
            }
        }
        forward_image(g, xi, w, bias.is_some(), yi, finish, threads)
    })
}

/// Output rows per band.
fn band_rows(g: &ConvGeometry) -> usize {
    let per_row = (g.patch_len() * g.out_hw[1]).max(1);
    (BAND_FLOATS / per_row).clamp(1, g.out_hw[0].max(1))
}

fn bands(g: &ConvGeometry) -> impl Iterator<Item = std::ops::Range<usize>> {
    let (rows, step) = (g.out_hw[0], band_rows(g));
    (0..rows)
        .step_by(step)
        .map(move |r| r..(r + step).min(rows))
}

/// One image: every (group, band) block of the output. With enough blocks, each thread takes
/// whole blocks (its own columns, a one-thread GEMM); otherwise blocks run in turn and each is
/// split across the threads.
fn forward_image(
    g: &ConvGeometry,
    x: &[f32],
    w: Kernel<'_>,
    accumulate: bool,
    y: &mut [MaybeUninit<f32>],
    finish: Finish<'_>,
    threads: usize,
) {
    assert_eq!(
        y.len(),
        g.out_channels * g.out_plane(),
        "conv2d: output length"
    );
    // The GEMMs read `y` only to accumulate, which callers ask for once they have written it.
    let y = y.as_mut_ptr().cast::<f32>();
    let blocks: Vec<Block> = (0..g.groups)
        .flat_map(|grp| bands(g).map(move |band| Block { grp, band }))
        .collect();
    if threads > 1 && blocks.len() >= threads {
        let out = SharedOut(y);
        // Each thread's own columns, kept from call to call (not fresh, zero-filled ones for
        // every piece rayon splits the blocks into).
        blocks.into_par_iter().for_each(|block| {
            with_reused(&COLUMNS, |cols| {
                // SAFETY: blocks are disjoint parts of `y` (distinct groups' channels or distinct
                // output rows), `y` is borrowed mutably for the whole loop, and each block is
                // written by one task only.
                unsafe { forward_block(g, x, w, accumulate, out.ptr(), &block, cols, finish, 1) }
            })
        });
    } else {
        with_reused(&COLUMNS, |cols| {
            for block in &blocks {
                // SAFETY: one block at a time, inside `y` (checked above).
                unsafe { forward_block(g, x, w, accumulate, y, block, cols, finish, threads) }
            }
        })
    }
}

thread_local! {
    /// The im2col columns of the images a thread convolves one after another (see `scratch`).
    static COLUMNS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// One group's output channels over one band of output rows, handed to `finish` once computed.
struct Block {
    grp: usize,
    band: std::ops::Range<usize>,
}

/// # Safety
/// `y` points at one image's output (`out_channels × out_plane` floats), and no other thread
/// touches the block's elements during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn forward_block(
    g: &ConvGeometry,
    x: &[f32],
    w: Kernel<'_>,
    accumulate: bool,
    y: *mut f32,
    block: &Block,
    cols: &mut Vec<f32>,
    finish: Finish<'_>,
    threads: usize,
) {
    let (cig, cog, k) = (g.in_per_group(), g.out_per_group(), g.patch_len());
    let (ow, oplane, iplane) = (g.out_hw[1], g.out_plane(), g.in_plane());
    let (grp, band) = (block.grp, &block.band);
    let xg = &x[grp * cig * iplane..][..cig * iplane];
    let wg = w.group(g, grp);
    let dst = y.add(grp * cog * oplane + band.start * ow);
    let len = band.len() * ow;
    if g.is_pointwise() {
        // The columns are the input rows themselves.
        let rhs = MatRef {
            data: &xg[band.start * ow..],
            rows: cig,
            cols: len,
            rs: iplane,
            cs: 1,
        };
        matmul_raw(dst, oplane, wg, rhs, accumulate, threads);
    } else {
        let cols = floats(cols, k * len);
        let per_channel = g.taps() * len;
        let fill = |(ci, c): (usize, &mut [f32])| {
            im2col_channel(g, &xg[ci * iplane..][..iplane], band.clone(), c)
        };
        if threads > 1 {
            cols.par_chunks_exact_mut(per_channel)
                .enumerate()
                .for_each(fill);
        } else {
            cols.chunks_exact_mut(per_channel)
                .enumerate()
                .for_each(fill);
        }
        let cols = MatRef::dense(cols, k, len);
        matmul_raw(dst, oplane, wg, cols, accumulate, threads);
    }
    let channels = grp * cog..(grp + 1) * cog;
    finish.runs(y, oplane, channels, band.start * ow..band.end * ow, threads);
}

/// d(loss)/d(x) given `dy` = d(loss)/d(conv(x, w)), `[N, O, OH, OW]`; `derived` as in
/// [`forward`].
pub fn input_grad(g: &ConvGeometry, dy: &[f32], w: &[f32], derived: Option<&Derived>) -> Vec<f32> {
    assert_eq!(
        dy.len(),
        g.output_len(),
        "conv2d grad: output gradient length"
    );
    assert_eq!(w.len(), g.weight_len(), "conv2d grad: weight length");
    if g.is_depthwise() {
        return depthwise::input_grad(g, dy, w);
    }
    if g.stride == [1, 1] && g.kernel == [1, 1] {
        // The flip is the identity; only the transpose remains, and the GEMM reads it.
        return forward_with(&adjoint_geometry(g), dy, Kernel::Transposed(w), None, None);
    }
    if g.stride == [1, 1] {
        let adj = adjoint_geometry(g);
        if winograd::pays(&adj) {
            let make = || winograd_weights(&adj, winograd::Kernel::Adjoint(w));
            return with_derived(derived.map(|d| &d.winograd_adjoint), make, |u| {
                forward_winograd(&adj, dy, u, None, None)
            });
        }
        // `forward` without `derived`: those are this layer's kernels, not the adjoint's, and
        // the adjoint is not Winograd's (checked above).
        let make = || flipped_transposed(g, w);
        return with_derived(derived.map(|d| &d.adjoint), make, |wt| {
            forward(&adj, dy, wt, None, None, None)
        });
    }
    let mut dx = vec![0f32; g.input_len()];
    let (image_in, image_out) = (g.in_channels * g.in_plane(), g.out_channels * g.out_plane());
    per_image(
        &mut dx,
        image_in,
        dy,
        image_out,
        1,
        |dxi, dyi, _, threads| input_grad_image(g, dyi, w, dxi, threads),
    );
    dx
}

/// One image's input gradient: per band, `dcols = W_gᵀ · dy_band`, then col2im.
fn input_grad_image(g: &ConvGeometry, dy: &[f32], w: &[f32], dx: &mut [f32], threads: usize) {
    let (cig, cog, k) = (g.in_per_group(), g.out_per_group(), g.patch_len());
    let (ow, oplane, iplane) = (g.out_hw[1], g.out_plane(), g.in_plane());
    let mut dcols = Vec::new();
    for grp in 0..g.groups {
        let wgt = MatRef::dense(&w[grp * cog * k..][..cog * k], cog, k).t();
        let dyg = &dy[grp * cog * oplane..][..cog * oplane];
        let dxg = &mut dx[grp * cig * iplane..][..cig * iplane];
        for band in bands(g) {
            let len = band.len() * ow;
            let rhs = MatRef {
                data: &dyg[band.start * ow..],
                rows: cog,
                cols: len,
                rs: oplane,
                cs: 1,
            };
            dcols.resize(k * len, 0.0);
            matmul(&mut dcols, len, wgt, rhs, false, threads);
            let per_channel = g.taps() * len;
            let scatter =
                |(plane, c): (&mut [f32], &[f32])| col2im_channel(g, c, band.clone(), plane);
            if threads > 1 {
                dxg.par_chunks_exact_mut(iplane)
                    .zip(dcols.par_chunks_exact(per_channel))
                    .for_each(scatter);
            } else {
                dxg.chunks_exact_mut(iplane)
                    .zip(dcols.chunks_exact(per_channel))
                    .for_each(scatter);
            }
        }
    }
}

/// The kernel of the stride-1 adjoint: the convolution of the output gradient with the
/// spatially flipped, in/out-transposed kernel, padded by `(k − 1)·d − pad` so that it lands
/// on the input grid ([`adjoint_geometry`]).
fn flipped_transposed(g: &ConvGeometry, w: &[f32]) -> Vec<f32> {
    let (cig, cog) = (g.in_per_group(), g.out_per_group());
    let [kh, kw] = g.kernel;
    // Written in destination order, one (group, input channel) block per task: the kernel
    // of a late VGG layer is 2.4M weights, re-laid out on every backward pass.
    let taps = kh * kw;
    let mut wt = vec![0f32; w.len()];
    wt.par_chunks_exact_mut(cog * taps)
        .enumerate()
        .for_each(|(row, dst)| {
            let (grp, ci) = (row / cig, row % cig);
            for (co, d) in dst.chunks_exact_mut(taps).enumerate() {
                let src = &w[((grp * cog + co) * cig + ci) * taps..][..taps];
                for (d, s) in d.iter_mut().zip(src.iter().rev()) {
                    *d = *s;
                }
            }
        });
    wt
}

/// The geometry of the stride-1 adjoint convolution (see [`flipped_transposed`]).
fn adjoint_geometry(g: &ConvGeometry) -> ConvGeometry {
    let span = |axis: usize| ((g.kernel[axis] - 1) * g.dilation[axis]) as isize;
    ConvGeometry {
        in_channels: g.out_channels,
        in_hw: g.out_hw,
        out_channels: g.in_channels,
        out_hw: g.in_hw,
        pad: [span(0) - g.pad[0], span(1) - g.pad[1]],
        ..*g
    }
}
