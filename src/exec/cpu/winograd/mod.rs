//! Winograd F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped convolutions (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", CVPR 2016). Each 2x2 block of outputs
//! is read from a 4x4 input tile; in the transformed domain the 3x3 correlation becomes 16
//! element-wise products, so one block costs 16 multiply-adds per (input, output) channel
//! pair instead of 36. Summed over input channels those products are 16 independent GEMMs
//! (`U_ξ · V_ξ`, one per position ξ of the 4x4 tile), which keeps the arithmetic in the same
//! AVX-512 GEMM as the rest of the convolutions: 2.25x fewer multiplies for VGG's layers, the
//! input gradients of the stride-1 3x3 layers (the same convolution on the flipped kernel),
//! and ResNet's 3x3 bottleneck layers.
//!
//! Transforms (`d` a 4x4 input tile, `g` a 3x3 kernel, `m` the 4x4 product):
//! `U = G g Gᵀ`, `V = Bᵀ d B`, `y = Aᵀ m A` with
//! `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]`, `Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]`,
//! `Aᵀ = [1 1 1 0; 0 1 −1 −1]`. Only additions and halvings, so the rounding stays within the
//! tolerance of the direct sum (`tests.rs` checks it against the definition in f64).

use std::cell::Cell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::geometry::ConvGeometry;
use super::images::Finish;
use super::matmul::{matmul_raw, MatRef, SharedOut};
use super::scratch::{floats, with_reused};
use super::simd::vectorized;

mod tiles;

use tiles::{input_buffer_len, input_transform, output_transform, segments};

/// Below this many input or output channels the 16 GEMMs are too thin to beat im2col (the
/// RGB stem has 3).
const MIN_CHANNELS: usize = 32;

/// Below this many tiles per call (one image, or the images a thread takes at once: see
/// [`groups_images`]), each GEMM has too few columns: a 7x7 map has 16 tiles, 1.2x slower than
/// im2col image by image even at batch 16; eight images at once, 0.6x.
const MIN_TILES: usize = 36;

/// Below this much work per call (output channels × input channels × tiles × images), the
/// kernel transform and the thinner GEMMs cost more than the multiplies saved. Measured on 2
/// cores with AVX-512 at batch 1 (Winograd / im2col): 0.75 at 512 channels on 28x28 (50M)
/// and 256 on 56x56 (50M), 0.87 at 64 on 224x224; 1.2 at 512 on 14x14 (13M), 64 on 56x56
/// and 128 on 28x28 (3M); 64 on 56x56 stayed 1.1 at batch 10 (32M).
const MIN_WORK: usize = 1 << 25;

/// Wide layers also pay below [`MIN_WORK`] once a batch gives their GEMMs enough columns:
/// 256 channels on 14x14 ran 0.73 at batch 5 and 0.57 at batch 10, 512 on 14x14 0.78 at
/// batch 5 (and 1.2 at batch 1, 49 tiles).
const WIDE_CHANNELS: usize = 256;
const WIDE_MIN_TILES: usize = 196;

/// Bytes of transformed input and products one block of tiles may hold: large enough that the
/// GEMMs get many columns, small enough that the transforms' output is still in the caches
/// when the GEMMs read it. Measured on ResNet50's 3x3 layers at batch 16 on 2 threads with
/// AVX-512 (56x56, 28x28, 14x14, 7x7 maps, ms): 2 MB 16.5 / 14.2 / 12.2 / 13.6, 4 MB 17.2 /
/// 13.7 / 12.4 / 11.7, 8 MB 14.6 / 12.2 / 11.2 / 10.8, 16 MB 14.9 / 12.0 / 11.7 / 10.7, 64 MB
/// 16.1 / 14.0 / 12.6 / 11.9. At 8 MB a 56x56 image of 64 channels is one block that both
/// threads share, rather than two blocks a thread each.
const BLOCK_BYTES: usize = 8 << 20;

/// Whether [`image`] can compute this convolution.
pub fn applies(g: &ConvGeometry) -> bool {
    g.kernel == [3, 3] && g.stride == [1, 1] && g.dilation == [1, 1] && g.groups == 1
}

/// Whether it is also faster than im2col here (see the constants above).
pub fn pays(g: &ConvGeometry) -> bool {
    let images = images_per_call(g, rayon::current_num_threads());
    let tiles = g.out_hw[0].div_ceil(2) * g.out_hw[1].div_ceil(2);
    let channels = g.in_channels.min(g.out_channels);
    let work = g.out_channels * g.in_channels * tiles * g.batch;
    let wide = channels >= WIDE_CHANNELS && tiles * g.batch >= WIDE_MIN_TILES;
    let enough_tiles = tiles * images >= MIN_TILES;
    applies(g) && channels >= MIN_CHANNELS && enough_tiles && (work >= MIN_WORK || wide)
}

/// The kernel in the transformed domain, `[out][ξ][in]`: for each ξ a strided `out × in`
/// matrix, the left operand of that position's GEMM.
pub struct Weights {
    u: Vec<f32>,
    outs: usize,
    ins: usize,
}

/// Where a convolution's 3x3 kernels come from.
#[derive(Clone, Copy)]
pub enum Kernel<'a> {
    /// The convolution's own `[out, in, 3, 3]`.
    Forward(&'a [f32]),
    /// The stride-1 adjoint of a convolution with this `[in, out, 3, 3]` kernel (the adjoint's
    /// `in` is that convolution's `out`): read transposed and flipped in place, with no
    /// re-laid-out copy first. (Reading the forward `U` transposed instead, which the flip
    /// allows, made the GEMM's packing 1.6x slower at 512 channels.)
    Adjoint(&'a [f32]),
}

impl Weights {
    /// The convolution from `ins` to `outs` channels with `kernel`.
    pub fn new(outs: usize, ins: usize, kernel: Kernel<'_>) -> Self {
        let (Kernel::Forward(w) | Kernel::Adjoint(w)) = kernel;
        assert_eq!(w.len(), outs * ins * 9, "winograd: kernel length");
        let mut u = vec![0f32; outs * 16 * ins];
        u.par_chunks_exact_mut(16 * ins)
            .enumerate()
            .for_each(|(o, row)| kernel_transform(kernel, o, outs, ins, row));
        Weights { u, outs, ins }
    }

    /// Position ξ's `out × in` matrix.
    fn at(&self, xi: usize) -> MatRef<'_> {
        MatRef {
            data: &self.u[xi * self.ins..],
            rows: self.outs,
            cols: self.ins,
            rs: 16 * self.ins,
            cs: 1,
        }
    }
}

/// `G g Gᵀ` for output channel `o`'s kernels from every input channel, into `u` (`[16][ins]`).
/// Sixteen kernels at a time are loaded, transposed tap-major into fixed-size lanes and
/// transformed as whole vectors; one kernel at a time, in scalar code, took 40% of a
/// 512-channel 14x14 layer's forward and backward.
fn kernel_transform(kernel: Kernel<'_>, o: usize, outs: usize, ins: usize, u: &mut [f32]) {
    vectorized(
        #[inline(always)]
        || {
            const L: usize = 16;
            // `G·(a, b, c)`.
            let lift = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
            for i0 in (0..ins).step_by(L) {
                let len = L.min(ins - i0);
                let mut kernels = [[0f32; 9]; L];
                match kernel {
                    Kernel::Forward(w) => {
                        // Sixteen consecutive kernels: one contiguous run.
                        let src = &w[(o * ins + i0) * 9..][..len * 9];
                        for (k, s) in kernels.iter_mut().zip(src.chunks_exact(9)) {
                            k.copy_from_slice(s);
                        }
                    }
                    Kernel::Adjoint(w) => {
                        for (l, k) in kernels[..len].iter_mut().enumerate() {
                            k.copy_from_slice(&w[((i0 + l) * outs + o) * 9..][..9]);
                            k.reverse();
                        }
                    }
                }
                let mut taps = [[0f32; L]; 9];
                for (l, k) in kernels.iter().enumerate() {
                    for (t, &v) in k.iter().enumerate() {
                        taps[t][l] = v;
                    }
                }
                let mut out = [[0f32; L]; 16];
                for l in 0..L {
                    // G down the kernel's three columns, then across the four rows that gives.
                    let cols: [[f32; 4]; 3] =
                        std::array::from_fn(|c| lift(taps[c][l], taps[3 + c][l], taps[6 + c][l]));
                    for r in 0..4 {
                        for (j, v) in lift(cols[0][r], cols[1][r], cols[2][r])
                            .into_iter()
                            .enumerate()
                        {
                            out[4 * r + j][l] = v;
                        }
                    }
                }
                for (xi, lane) in out.iter().enumerate() {
                    u[xi * ins + i0..][..len].copy_from_slice(&lane[..len]);
                }
            }
        },
    )
}

/// Per-thread buffers: transformed input `[in][ξ][tile]`, products `[out][ξ][tile]`, and the
/// row buffer of whichever transform runs on this thread (padded input rows, or one tile
/// row's outputs before they are interleaved).
#[derive(Default)]
pub struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    rows: Vec<f32>,
}

/// One image or several: `y := conv(x, w) (+ bias)`, `x` `[G, C, H, W]`, `y` `[G, K, OH, OW]`,
/// each channel's rows handed to `finish` (`finish`'s image first) as the output transform
/// writes them. Several images' tiles share the GEMMs, as consecutive tile rows: on small maps
/// one image gives each GEMM too few columns (see [`groups_images`]).
#[allow(clippy::too_many_arguments)]
pub fn image(
    g: &ConvGeometry,
    x: &[f32],
    u: &Weights,
    bias: Option<&[f32]>,
    y: &mut [MaybeUninit<f32>],
    finish: Finish<'_>,
    threads: usize,
) {
    assert!(applies(g), "winograd: unsupported geometry {g:?}");
    assert_eq!((u.outs, u.ins), (g.out_channels, g.in_channels));
    let (image_in, image_out) = (g.in_channels * g.in_plane(), g.out_channels * g.out_plane());
    let count = x.len() / image_in.max(1);
    assert_eq!(x.len(), count * image_in, "winograd: input");
    assert_eq!(y.len(), count * image_out, "winograd: output");
    let (th, tw) = tiles(g);
    let per_row = 16 * (g.in_channels + g.out_channels) * tw * 4;
    let rows = count * th;
    let step = (BLOCK_BYTES / per_row).clamp(1, rows.max(1));
    let blocks: Vec<_> = (0..rows)
        .step_by(step)
        .map(|r| r..(r + step).min(rows))
        .collect();
    // The output transform writes every element (it never reads `y`).
    let out = SharedOut(y.as_mut_ptr().cast());
    if threads > 1 && blocks.len() >= threads {
        // Each thread's own buffers, kept from call to call: `for_each_init` made fresh ones
        // for every piece rayon split the blocks into, each zero-filled as it grew (up to 8 MB
        // a block): 4% of a VGG16 saliency map went to that `memset`.
        blocks.into_par_iter().for_each(|rows| {
            with_reused(&SCRATCH, |s| {
                // SAFETY: blocks write disjoint output rows of `y`, which is borrowed mutably
                // for the whole loop.
                unsafe { block(g, x, u, bias, out.ptr(), rows, s, finish, 1) }
            })
        });
    } else {
        with_reused(&SCRATCH, |s| {
            for rows in blocks {
                // SAFETY: one block at a time, inside `y` (checked above).
                unsafe { block(g, x, u, bias, out.ptr(), rows, s, finish, threads) }
            }
        })
    }
}

/// Whether a thread should take several images of this batch at once, rather than one image
/// after another: where one image has few tiles. Measured on ResNet50's 3x3 layers at batch 16
/// on 2 threads (eight images a call against one, means of three alternating pairs): 7x7 maps
/// 19.3 -> 11.4 ms (where one image a call had lost to im2col), 14x14 13.5 -> 13.2 ms, 28x28
/// 16.0 both ways; 56x56 maps (784 tiles) gain nothing either, and are left alone.
pub fn groups_images(g: &ConvGeometry) -> bool {
    let (th, tw) = tiles(g);
    th * tw < GROUP_BELOW_TILES
}

/// See [`groups_images`].
const GROUP_BELOW_TILES: usize = 400;

/// The images a kernel call takes at once under [`groups_images`] (the images the threads
/// divide evenly, one share a thread), else 1.
pub fn images_per_call(g: &ConvGeometry, threads: usize) -> usize {
    if groups_images(g) && threads > 0 {
        (g.batch / threads).max(1)
    } else {
        1
    }
}

thread_local! {
    /// The buffers of the images a thread convolves one after another (see `scratch`).
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Tile rows and columns: 2x2 outputs each, the last ones cut off by the output's edge.
fn tiles(g: &ConvGeometry) -> (usize, usize) {
    (g.out_hw[0].div_ceil(2), g.out_hw[1].div_ceil(2))
}

/// Tile rows `rows` of every output channel, counted through the images one after another:
/// transform the input tiles, 16 GEMMs, transform the products back.
///
/// # Safety
/// `y` points at the images' `[G, K, OH, OW]` output, and no other thread touches the output
/// rows of these tile rows during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    g: &ConvGeometry,
    x: &[f32],
    u: &Weights,
    bias: Option<&[f32]>,
    y: *mut f32,
    rows: std::ops::Range<usize>,
    s: &mut Scratch,
    finish: Finish<'_>,
    threads: usize,
) {
    let (c, k) = (g.in_channels, g.out_channels);
    let (th, tw) = tiles(g);
    let n = rows.len() * tw;
    let (iplane, oplane) = (g.in_plane(), g.out_plane());
    let parts = segments(rows, th, tw);
    // Every element is written below: the input transform fills `v`, the GEMMs `m`.
    let v = floats(&mut s.v, c * 16 * n);
    let m = floats(&mut s.m, k * 16 * n);

    let transform = |(ch, (v, buf)): (usize, (&mut [f32], &mut Vec<f32>))| {
        buf.resize(input_buffer_len(tw), 0.0);
        for part in &parts {
            let plane = &x[(part.image * c + ch) * iplane..][..iplane];
            input_transform(g, plane, part, tw, v, n, buf);
        }
    };
    if threads > 1 {
        v.par_chunks_exact_mut(16 * n)
            .enumerate()
            .for_each_init(Vec::new, |buf, (ch, v)| transform((ch, (v, buf))));
    } else {
        s.rows.resize(input_buffer_len(tw), 0.0);
        for (ch, v) in v.chunks_exact_mut(16 * n).enumerate() {
            transform((ch, (v, &mut s.rows)));
        }
    }

    let products = SharedOut(m.as_mut_ptr());
    let v = &*v;
    let gemm = |xi: usize| {
        let rhs = MatRef {
            data: &v[xi * n..],
            rows: c,
            cols: n,
            rs: 16 * n,
            cs: 1,
        };
        // SAFETY: position ξ's products are the columns ξ·n..(ξ+1)·n of every row of `m`
        // (row stride 16·n), which `m` holds and no other ξ writes.
        unsafe { matmul_raw(products.ptr().add(xi * n), 16 * n, u.at(xi), rhs, false, 1) }
    };
    if threads > 1 {
        (0..16).into_par_iter().for_each(gemm);
    } else {
        (0..16).for_each(gemm);
    }

    let (oh, ow) = (g.out_hw[0], g.out_hw[1]);
    let out = SharedOut(y);
    let back = |tmp: &mut Vec<f32>, (ch, m): (usize, &[f32])| {
        let b = bias.map_or(0.0, |b| b[ch]);
        for part in &parts {
            let (first, last) = (2 * part.rows.start, (2 * part.rows.end).min(oh));
            // SAFETY: output rows first..last of channel `ch` of the part's image, inside `y`;
            // this block alone writes them (see the function's contract), and each channel
            // goes to one task.
            let dst = unsafe {
                std::slice::from_raw_parts_mut(
                    out.ptr().add((part.image * k + ch) * oplane + first * ow),
                    (last - first) * ow,
                )
            };
            output_transform(m, part, tw, ow, n, b, dst, tmp);
            finish.image(part.image).run(ch, first * ow, dst);
        }
    };
    if threads > 1 {
        m.par_chunks_exact(16 * n)
            .enumerate()
            .for_each_init(Vec::new, |tmp, (ch, m)| back(tmp, (ch, m)));
    } else {
        let tmp = &mut s.rows;
        m.chunks_exact(16 * n)
            .enumerate()
            .for_each(|(ch, m)| back(tmp, (ch, m)));
    }
}
