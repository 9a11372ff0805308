//! Upsampling by whole factors (Keras's UpSampling2D). Nearest repeats each pixel; its
//! gradient sums each block back. Bilinear, with half-pixel centres, is linear and separable:
//! `Y = A_h · X · A_wᵀ` per plane with small interpolation matrices, so its gradient is
//! `A_hᵀ · G · A_w` — the same two products, exact, on any device.

use candle_core::{Device, Tensor};

use crate::error::Result;
use crate::model::{Interpolation, UpsampleConfig};

pub fn forward(x: &Tensor, c: &UpsampleConfig) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let [sh, sw] = c.scale;
    Ok(match c.interpolation {
        Interpolation::Nearest => x.upsample_nearest2d(h * sh, w * sw)?,
        Interpolation::Bilinear => {
            let (ah, aw) = (matrix(h, sh, x.device())?, matrix(w, sw, x.device())?);
            ah.broadcast_matmul(&x.contiguous()?.broadcast_matmul(&aw.t()?)?)?
        }
    })
}

pub fn backward(g: &Tensor, c: &UpsampleConfig, in_dims: &[usize]) -> Result<Tensor> {
    let [n, ch, h, w] = [in_dims[0], in_dims[1], in_dims[2], in_dims[3]];
    let [sh, sw] = c.scale;
    Ok(match c.interpolation {
        Interpolation::Nearest => g.reshape(&[n, ch, h, sh, w, sw][..])?.sum(5)?.sum(3)?,
        Interpolation::Bilinear => {
            let (ah, aw) = (matrix(h, sh, g.device())?, matrix(w, sw, g.device())?);
            ah.t()?
                .broadcast_matmul(&g.contiguous()?.broadcast_matmul(&aw)?)?
        }
    })
}

/// `[len·scale, len]`: row `o` holds the weights bilinear interpolation gives each input
/// sample at output `o`. The source coordinate is `(o + ½) / scale − ½`, clamped at 0 below
/// and at `len − 1` above (PyTorch's `align_corners=False`, TensorFlow's half-pixel centres).
fn matrix(len: usize, scale: usize, device: &Device) -> Result<Tensor> {
    let out = len * scale;
    let mut m = vec![0f32; out * len];
    for o in 0..out {
        let src = ((o as f64 + 0.5) / scale as f64 - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(len - 1);
        let i1 = (i0 + 1).min(len - 1);
        let frac = (src - i0 as f64) as f32;
        m[o * len + i0] += 1.0 - frac;
        m[o * len + i1] += frac;
    }
    Ok(Tensor::from_vec(m, (out, len), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's `F.interpolate(torch.arange(3.)[None, None, None], scale_factor=(1, 2),
    /// mode="bilinear", align_corners=False)`: [0, .25, .75, 1.25, 1.75, 2].
    #[test]
    fn bilinear_weights_match_half_pixel_centres() {
        let x = Tensor::new(&[[[[0f32, 1., 2.]]]], &Device::Cpu).unwrap();
        let c = UpsampleConfig {
            scale: [1, 2],
            interpolation: Interpolation::Bilinear,
        };
        let y: Vec<f32> = forward(&x, &c)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(y, [0.0, 0.25, 0.75, 1.25, 1.75, 2.0]);
    }
}
