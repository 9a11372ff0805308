//! The shape of one 2-D convolution, and the index arithmetic every kernel shares.

use crate::error::{Error, Result};

/// One convolution's sizes, in elements, NCHW. Output row `o`, tap `t` reads input row
/// `o·stride + t·dilation − pad`; pads may be negative (a crop), which the adjoint of a
/// floor-rounded convolution needs. Bottom and right padding are implied by `out_hw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub in_hw: [usize; 2],
    pub out_channels: usize,
    pub out_hw: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Top and left.
    pub pad: [isize; 2],
    pub groups: usize,
}

impl ConvGeometry {
    /// Refuses sizes that would make the kernels index out of bounds.
    pub fn check(&self) -> Result<()> {
        let g = self.groups;
        let ok = g > 0
            && self.in_channels.is_multiple_of(g)
            && self.out_channels.is_multiple_of(g)
            && self.stride.iter().all(|&s| s > 0)
            && self.dilation.iter().all(|&d| d > 0)
            && self.kernel.iter().all(|&k| k > 0);
        if ok {
            Ok(())
        } else {
            Err(Error::Input(format!(
                "unsupported convolution geometry {self:?}"
            )))
        }
    }

    pub fn in_per_group(&self) -> usize {
        self.in_channels / self.groups
    }

    pub fn out_per_group(&self) -> usize {
        self.out_channels / self.groups
    }

    pub fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// Rows of the im2col matrix of one group: (input channel, tap row, tap column).
    pub fn patch_len(&self) -> usize {
        self.in_per_group() * self.taps()
    }

    pub fn in_plane(&self) -> usize {
        self.in_hw[0] * self.in_hw[1]
    }

    pub fn out_plane(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.in_plane()
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_plane()
    }

    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }

    /// A 1x1, stride-1, unpadded convolution: its im2col matrix is the input itself.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.out_hw == self.in_hw
    }

    /// One input channel per group: a depthwise convolution (with any channel multiplier).
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.in_per_group() == 1
    }

    /// Along `axis`, the output positions `[lo, hi)` whose tap `t` reads inside the input.
    pub fn valid(&self, axis: usize, t: usize) -> (usize, usize) {
        let (s, n_in, n_out) = (
            self.stride[axis] as isize,
            self.in_hw[axis] as isize,
            self.out_hw[axis] as isize,
        );
        let shift = (t * self.dilation[axis]) as isize - self.pad[axis];
        // o·s + shift ∈ [0, n_in)
        let lo = if shift >= 0 { 0 } else { (-shift + s - 1) / s };
        let last = n_in - 1 - shift;
        let hi = if last < 0 { 0 } else { last / s + 1 };
        let (lo, hi) = (lo.min(n_out), hi.clamp(0, n_out));
        (lo as usize, hi.max(lo) as usize)
    }

    /// The input index read by output position `o` at tap `t` (only inside [`Self::valid`]).
    pub fn source(&self, axis: usize, o: usize, t: usize) -> usize {
        ((o * self.stride[axis] + t * self.dilation[axis]) as isize - self.pad[axis]) as usize
    }
}
