//! The inverse real 2-D FFT of lucid's Fourier parameterization (`torch.fft.irfftn(s=(h, w),
//! norm="ortho")`) and its adjoint, written as dense matrix products. They are linear, so the
//! adjoint (the transposed products) is exactly the gradient the optimizer needs; at image sizes
//! (≤ 512) the products cost a few milliseconds through candle's GEMM, well below one forward
//! pass of the model.

use std::f64::consts::PI;

use candle_core::{Device, Tensor};

use crate::error::Result;

/// irfft2 for `channels` planes of `h`×`w`, spectra of `h`×(`w`/2 + 1) complex values.
pub struct Irfft2 {
    h: usize,
    w: usize,
    /// `[h, h]`: cos(2π·u·y/h) and sin(2π·u·y/h), the complex inverse DFT along the rows.
    cos_h: Tensor,
    sin_h: Tensor,
    /// `[w/2+1, w]`: c_f·cos(2π·f·x/w) and c_f·sin(2π·f·x/w) / √(h·w), the real inverse
    /// along the columns (c_f = 1 for the zero and Nyquist frequencies, 2 for the others whose
    /// conjugates the half spectrum leaves out), with the orthonormal scale folded in.
    cos_w: Tensor,
    sin_w: Tensor,
}

impl Irfft2 {
    pub fn new(h: usize, w: usize) -> Result<Self> {
        let f = w / 2 + 1;
        let table = |n: usize, m: usize, arg: &dyn Fn(usize, usize) -> f64| -> Result<Tensor> {
            let v: Vec<f32> = (0..n * m).map(|i| arg(i / m, i % m) as f32).collect();
            Ok(Tensor::from_vec(v, (n, m), &Device::Cpu)?)
        };
        let angle_h = |y: usize, u: usize| 2.0 * PI * ((u * y) % h) as f64 / h as f64;
        let norm = 1.0 / ((h * w) as f64).sqrt();
        let weight = |k: usize| {
            let edge = k == 0 || (w.is_multiple_of(2) && k == w / 2);
            (if edge { 1.0 } else { 2.0 }) * norm
        };
        let angle_w = |k: usize, x: usize| 2.0 * PI * ((k * x) % w) as f64 / w as f64;
        Ok(Irfft2 {
            h,
            w,
            cos_h: table(h, h, &|y, u| angle_h(y, u).cos())?,
            sin_h: table(h, h, &|y, u| angle_h(y, u).sin())?,
            cos_w: table(f, w, &|k, x| weight(k) * angle_w(k, x).cos())?,
            sin_w: table(f, w, &|k, x| weight(k) * angle_w(k, x).sin())?,
        })
    }

    /// The number of complex frequencies along a row.
    pub fn freqs(&self) -> usize {
        self.w / 2 + 1
    }

    /// Spectra (`re`, `im`, each `[C, h, w/2+1]`) to images `[C, h, w]`.
    pub fn forward(&self, re: &Tensor, im: &Tensor) -> Result<Tensor> {
        // Z = F_h · X (complex), then x = Re(Z · G_w).
        let zr = (self.cos_h.broadcast_matmul(re)? - self.sin_h.broadcast_matmul(im)?)?;
        let zi = (self.sin_h.broadcast_matmul(re)? + self.cos_h.broadcast_matmul(im)?)?;
        Ok((zr.broadcast_matmul(&self.cos_w)? - zi.broadcast_matmul(&self.sin_w)?)?)
    }

    /// The adjoint: the gradient with respect to (`re`, `im`) of ⟨forward(re, im), `g`⟩.
    pub fn adjoint(&self, g: &Tensor) -> Result<(Tensor, Tensor)> {
        let gzr = g.broadcast_matmul(&self.cos_w.t()?)?;
        let gzi = g.broadcast_matmul(&self.sin_w.t()?)?.neg()?;
        let (ch, sh) = (self.cos_h.t()?, self.sin_h.t()?);
        let re = (ch.broadcast_matmul(&gzr)? + sh.broadcast_matmul(&gzi)?)?;
        let im = (ch.broadcast_matmul(&gzi)? - sh.broadcast_matmul(&gzr)?)?;
        Ok((re, im))
    }

    /// lucid's `rfft2d_freqs`: the frequency magnitude √(f_y² + f_x²) of each spectrum entry,
    /// `[h, w/2+1]`, with numpy's `fftfreq` (negative frequencies in the second half of rows).
    pub fn magnitudes(&self) -> Vec<f32> {
        let fy = |u: usize| {
            let u = if u < self.h.div_ceil(2) {
                u as f64
            } else {
                u as f64 - self.h as f64
            };
            u / self.h as f64
        };
        let f = self.freqs();
        (0..self.h * f)
            .map(|i| {
                let (y, x) = (fy(i / f), (i % f) as f64 / self.w as f64);
                (y * y + x * x).sqrt() as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], shape: (usize, usize, usize)) -> Tensor {
        Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
    }

    /// numpy.fft.irfft2(X, s=(3, 4), norm="ortho") for X[u][f] = (u + 1.5)·cos(u·f) + i·(f − 1)·u,
    /// f < 3, printed by numpy 2.x and pasted here.
    #[test]
    fn matches_numpy_irfft2_ortho() {
        let (u, f) = (|i: usize| (i / 3) as f32, |i: usize| (i % 3) as f32);
        let re: Vec<f32> = (0..9).map(|i| (u(i) + 1.5) * (u(i) * f(i)).cos()).collect();
        let im: Vec<f32> = (0..9).map(|i| (f(i) - 1.0) * u(i)).collect();
        let got: Vec<f32> = Irfft2::new(3, 4)
            .unwrap()
            .forward(&t(&re, (1, 3, 3)), &t(&im, (1, 3, 3)))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let want = [
            2.442_296_7,
            2.692_796_2,
            0.832_364_9,
            2.692_796_2, //
            1.376_927_9,
            -3.250_033,
            -0.416_182_45,
            -0.442_763_27, //
            1.376_927_9,
            0.557_236_7,
            -0.416_182_45,
            -2.250_033,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?}");
        }
    }

    /// ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ for random x, y: the adjoint is the gradient.
    #[test]
    fn adjoint_is_the_transpose() {
        let (h, w) = (5, 6);
        let f = Irfft2::new(h, w).unwrap();
        let n = f.freqs();
        let mut rng = crate::model::build::Rng::new(3);
        let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal()).collect() };
        let (re, im, y) = (draw(2 * h * n), draw(2 * h * n), draw(2 * h * w));
        let x = f.forward(&t(&re, (2, h, n)), &t(&im, (2, h, n))).unwrap();
        let lhs: f32 = x
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .zip(&y)
            .map(|(a, b)| a * b)
            .sum();
        let (gr, gi) = f.adjoint(&t(&y, (2, h, w))).unwrap();
        let dot = |a: &Tensor, b: &[f32]| -> f32 {
            a.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .zip(b)
                .map(|(p, q)| p * q)
                .sum()
        };
        let rhs = dot(&gr, &re) + dot(&gi, &im);
        assert!(
            (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
