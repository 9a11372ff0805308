//! The padded, stride-phase-split layout of an input plane that the depthwise convolution and
//! max pooling compute on: row `r` and column `j` of the padded input go to phase plane
//! `(r mod sy, j mod sx)` at `(r / sy, j / sx)`, in rows of a common width `W`. Every tap then
//! reads its phase plane at a fixed offset from the output position, so over the flat index
//! `oy·W + ox` of an output laid out `W` wide (the extra columns are computed and dropped) each
//! tap is one contiguous run — for any stride, dilation and padding, and as long as the whole
//! plane (63 elements at 7x7, not 7). The padding is whatever the buffer was filled with: 0 for
//! a convolution, −∞ for a pool.

use super::geometry::ConvGeometry;
use super::simd::vectorized;
use super::strided::{gather, scatter};

/// Flat output positions per block: the accumulator stays in L1 across a block's taps.
pub(super) const BLOCK: usize = 1024;

/// How the padded, phase-split copy of one input plane is laid out.
pub(super) struct Phases {
    /// Phases along rows and columns: the strides.
    s: [usize; 2],
    /// Rows per phase plane and the common row width `W`.
    rows: usize,
    pub(super) width: usize,
    /// Padded extent actually read by some tap.
    padded: [usize; 2],
}

impl Phases {
    /// The layout for `g`, which must have outputs.
    pub(super) fn new(g: &ConvGeometry) -> Phases {
        let extent =
            |a: usize| (g.out_hw[a] - 1) * g.stride[a] + (g.kernel[a] - 1) * g.dilation[a] + 1;
        let padded = [extent(0), extent(1)];
        Phases {
            s: g.stride,
            rows: padded[0].div_ceil(g.stride[0]),
            width: padded[1].div_ceil(g.stride[1]),
            padded,
        }
    }

    fn plane(&self) -> usize {
        self.rows * self.width
    }

    pub(super) fn len(&self) -> usize {
        self.s[0] * self.s[1] * self.plane()
    }

    /// Where padded position (r, j) lives.
    fn index(&self, r: usize, j: usize) -> usize {
        let phase = (r % self.s[0]) * self.s[1] + j % self.s[1];
        phase * self.plane() + (r / self.s[0]) * self.width + j / self.s[1]
    }

    /// Each tap's offset, in the kernel's row-major order: output (oy, ox) reads tap (a, b)
    /// at `offset + oy·W + ox`.
    pub(super) fn taps(&self, g: &ConvGeometry) -> Vec<usize> {
        let [kh, kw] = g.kernel;
        (0..kh * kw)
            .map(|t| self.index((t / kw) * g.dilation[0], (t % kw) * g.dilation[1]))
            .collect()
    }

    /// Flat output positions computed: up to the last output of the last row.
    pub(super) fn span(&self, g: &ConvGeometry) -> usize {
        (g.out_hw[0] - 1) * self.width + g.out_hw[1]
    }

    /// For each padded row inside the input, `(padded row, input row, first padded column,
    /// input columns [lo, hi))`: the part of the padded plane that holds input values.
    fn for_each_input_row(
        &self,
        g: &ConvGeometry,
        mut f: impl FnMut(usize, usize, usize, usize, usize),
    ) {
        let inside = |a: usize, p: usize| {
            let v = p as isize - g.pad[a];
            (v >= 0 && v < g.in_hw[a] as isize).then_some(v as usize)
        };
        // Padded columns j with j - pad ∈ [0, in_w), clipped to the padded extent.
        let j_lo = g.pad[1].max(0) as usize;
        let j_hi = ((g.in_hw[1] as isize + g.pad[1]).max(0) as usize).min(self.padded[1]);
        if j_lo >= j_hi {
            return;
        }
        let ix_lo = (j_lo as isize - g.pad[1]) as usize;
        for r in 0..self.padded[0] {
            if let Some(iy) = inside(0, r) {
                f(r, iy, j_lo, ix_lo, ix_lo + (j_hi - j_lo));
            }
        }
    }
}

/// For padded row `r` and the padded columns `j0..j0 + len`: for each column phase, the first
/// element of the run that falls in it, where that run starts in the phase planes, and its
/// length. A phase's elements are every `sx`-th of the run and lie contiguously in their
/// phase plane, so the copies below are strided on one side only, with no division per
/// element.
fn phase_runs(
    ph: &Phases,
    r: usize,
    j0: usize,
    len: usize,
) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let sx = ph.s[1];
    (0..sx.min(len)).map(move |k| {
        let count = (len - k).div_ceil(sx);
        (k, ph.index(r, j0 + k), count)
    })
}

/// Copies input plane `x` into its phase planes, over the values of the previous plane: every
/// plane fills the same positions, so the padding, filled once when the buffer is made, keeps
/// its value (zeroing the whole buffer per plane was a tenth of the kernel's time).
pub(super) fn scatter_input(g: &ConvGeometry, ph: &Phases, x: &[f32], planes: &mut [f32]) {
    let sx = ph.s[1];
    ph.for_each_input_row(g, |r, iy, j0, lo, hi| {
        let row = &x[iy * g.in_hw[1]..][lo..hi];
        for (k, at, count) in phase_runs(ph, r, j0, row.len()) {
            gather(&mut planes[at..at + count], &row[k..], sx);
        }
    });
}

/// The adjoint of [`scatter_input`]: the input plane's values from the padded phase planes,
/// onto a zeroed plane (positions no tap reads keep their zero).
pub(super) fn gather_input(g: &ConvGeometry, ph: &Phases, planes: &[f32], dx: &mut [f32]) {
    let sx = ph.s[1];
    ph.for_each_input_row(g, |r, iy, j0, lo, hi| {
        let row = &mut dx[iy * g.in_hw[1]..][lo..hi];
        for (k, at, count) in phase_runs(ph, r, j0, row.len()) {
            scatter(&mut row[k..], &planes[at..at + count], sx);
        }
    });
}

/// For each block of the flat outputs `acc` (laid out `W` wide) and each tap `t` in order:
/// `f(block, t, the run of the phase planes that tap reads for the block)`. Vectorized.
#[inline(always)]
pub(super) fn for_each_tap_run(
    acc: &mut [f32],
    planes: &[f32],
    offsets: &[usize],
    mut f: impl FnMut(&mut [f32], usize, &[f32]),
) {
    vectorized(
        #[inline(always)]
        || {
            for (at, block) in acc.chunks_mut(BLOCK).enumerate() {
                let at = at * BLOCK;
                for (t, &off) in offsets.iter().enumerate() {
                    f(block, t, &planes[off + at..]);
                }
            }
        },
    )
}
