//! Sliding windows as index tables: `unfold` gathers every window's elements into a
//! `[N, C, L, K]` tensor (L output positions, K kernel taps) and `fold_add` scatters a gradient
//! of that shape back onto the input. Pure index arithmetic on top of candle's gather/scatter,
//! so it runs on every device and handles any pads, strides, dilations and ceil mode.
//!
//! Padding positions point at one extra "sentinel" column appended to the flattened input,
//! which holds the pad value (-inf for max, 0 for average) and absorbs gradient that is dropped.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::model::Window;

/// The index table for one window geometry over one input size.
pub struct Taps {
    pub in_hw: (usize, usize),
    pub out_hw: (usize, usize),
    pub k: usize,
    /// `[L * K]` indices into the flattened `H*W` input, `H*W` meaning padding.
    pub index: Vec<u32>,
}

impl Taps {
    pub fn new(w: &Window, in_hw: (usize, usize), out_hw: (usize, usize)) -> Taps {
        let (h, wd) = in_hw;
        let (oh, ow) = out_hw;
        let (kh, kw) = (w.kernel[0], w.kernel[1]);
        let sentinel = (h * wd) as u32;
        let mut index = Vec::with_capacity(oh * ow * kh * kw);
        for oy in 0..oh {
            for ox in 0..ow {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let y =
                            (oy * w.strides[0] + ky * w.dilation[0]) as isize - w.pads[0] as isize;
                        let x =
                            (ox * w.strides[1] + kx * w.dilation[1]) as isize - w.pads[1] as isize;
                        let inside = (0..h as isize).contains(&y) && (0..wd as isize).contains(&x);
                        index.push(if inside {
                            (y as usize * wd + x as usize) as u32
                        } else {
                            sentinel
                        });
                    }
                }
            }
        }
        Taps {
            in_hw,
            out_hw,
            k: kh * kw,
            index,
        }
    }

    pub fn positions(&self) -> usize {
        self.out_hw.0 * self.out_hw.1
    }

    fn index_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(&self.index, self.index.len(), device)?)
    }

    /// `[N, C, H, W]` -> `[N, C, L, K]`, padding positions filled with `pad`.
    pub fn unfold(&self, x: &Tensor, pad: f32) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let flat = x.reshape((n, c, h * w))?;
        let sentinel = Tensor::full(pad, (n, c, 1), x.device())?.to_dtype(x.dtype())?;
        let padded = Tensor::cat(&[&flat, &sentinel], 2)?;
        let taps = padded.index_select(&self.index_tensor(x.device())?, 2)?;
        Ok(taps.reshape((n, c, self.positions(), self.k))?)
    }

    /// Adds `[N, C, L, K]` values back onto their input positions: the adjoint of `unfold`.
    pub fn fold_add(&self, grad: &Tensor) -> Result<Tensor> {
        let (n, c, l, k) = grad.dims4()?;
        let (h, w) = self.in_hw;
        let flat = grad.reshape((n, c, l * k))?.contiguous()?;
        let index = self
            .index_tensor(grad.device())?
            .reshape((1, 1, l * k))?
            .broadcast_as((n, c, l * k))?
            .contiguous()?;
        let zeros = Tensor::zeros((n, c, h * w + 1), grad.dtype(), grad.device())?;
        let summed = zeros.scatter_add(&index, &flat, 2)?;
        Ok(summed.narrow(2, 0, h * w)?.reshape((n, c, h, w))?)
    }

    /// For each output position, how many of its taps fall inside the input (for averages that
    /// exclude padding), or inside input plus explicit padding (`count_include_pad`).
    pub fn divisors(&self, w: &Window, include_pad: bool, device: &Device) -> Result<Tensor> {
        let (h, wd) = self.in_hw;
        let (oh, ow) = self.out_hw;
        let mut div = Vec::with_capacity(oh * ow);
        for oy in 0..oh {
            for ox in 0..ow {
                let count = |o: usize, axis: usize, len: usize| {
                    let (lo, hi) = if include_pad {
                        (-(w.pads[axis] as isize), (len + w.pads[axis + 2]) as isize)
                    } else {
                        (0, len as isize)
                    };
                    (0..w.kernel[axis])
                        .map(|k| {
                            (o * w.strides[axis] + k * w.dilation[axis]) as isize
                                - w.pads[axis] as isize
                        })
                        .filter(|p| (lo..hi).contains(p))
                        .count()
                };
                div.push((count(oy, 0, h) * count(ox, 1, wd)).max(1) as f32);
            }
        }
        Ok(Tensor::from_vec(div, (1, 1, oh * ow, 1), device)?)
    }
}

/// Turns `[N, C, L]` argmax positions (u32, over K) into input positions and routes `grad`
/// (`[N, C, L]`) there: max-pool backward.
pub fn route_to_argmax(taps: &Taps, argmax: &Tensor, grad: &Tensor) -> Result<Tensor> {
    let (n, c, l) = grad.dims3()?;
    let device = grad.device();
    let table = Tensor::from_slice(&taps.index, (1, 1, l, taps.k), device)?
        .broadcast_as((n, c, l, taps.k))?
        .contiguous()?;
    let chosen = table
        .gather(&argmax.unsqueeze(3)?.contiguous()?, 3)?
        .squeeze(3)?;
    let (h, w) = taps.in_hw;
    let zeros = Tensor::zeros((n, c, h * w + 1), grad.dtype(), device)?;
    let summed = zeros.scatter_add(&chosen.contiguous()?, &grad.contiguous()?, 2)?;
    Ok(summed.narrow(2, 0, h * w)?.reshape((n, c, h, w))?)
}
