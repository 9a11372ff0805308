//! The inverse real 2-D FFT of lucid's Fourier parameterization (`torch.fft.irfftn(s=(h, w),
//! norm="ortho")`) and its adjoint, by FFTs (rustfft, realfft): first a complex DFT of length
//! `h` down each frequency column, then a real inverse DFT of length `w` along each row. The
//! transform is linear, so its adjoint (a forward real DFT along the rows, then a forward
//! complex DFT down the columns) is exactly the gradient the optimizer needs. Written as dense
//! matrix products through candle's GEMM, the two took about 7 ms of each 224x224 step.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

/// irfft2 for planes of `h`×`w`, from spectra of `h`×(`w`/2 + 1) complex values (`[C, h, f]`,
/// real and imaginary parts apart).
pub struct Irfft2 {
    h: usize,
    w: usize,
    /// Down the columns: e^{+2πi·u·y/h} for the transform, e^{−2πi·u·y/h} for its adjoint.
    columns_inverse: Arc<dyn Fft<f32>>,
    columns_forward: Arc<dyn Fft<f32>>,
    /// Along the rows: the half spectrum to `w` reals, and back.
    rows_inverse: Arc<dyn ComplexToReal<f32>>,
    rows_forward: Arc<dyn RealToComplex<f32>>,
}

impl Irfft2 {
    pub fn new(h: usize, w: usize) -> Self {
        let mut complex = FftPlanner::new();
        let mut real = RealFftPlanner::new();
        Irfft2 {
            h,
            w,
            columns_inverse: complex.plan_fft_inverse(h),
            columns_forward: complex.plan_fft_forward(h),
            rows_inverse: real.plan_fft_inverse(w),
            rows_forward: real.plan_fft_forward(w),
        }
    }

    /// The number of complex frequencies along a row.
    pub fn freqs(&self) -> usize {
        self.w / 2 + 1
    }

    /// numpy's "ortho" scale, 1/√(h·w).
    fn norm(&self) -> f32 {
        1.0 / ((self.h * self.w) as f32).sqrt()
    }

    /// How often frequency `k` of a row stands in its real signal: once for the zero and
    /// Nyquist frequencies, twice for the others, whose conjugates the half spectrum leaves out.
    fn multiplicity(&self, k: usize) -> f32 {
        let edge = k == 0 || (self.w.is_multiple_of(2) && k == self.w / 2);
        if edge {
            1.0
        } else {
            2.0
        }
    }

    /// Spectra (`re`, `im`, each `[C, h, w/2+1]` flat) to pictures `[C, h, w]` flat.
    pub fn forward(&self, re: &[f32], im: &[f32]) -> Vec<f32> {
        let (h, w, f) = (self.h, self.w, self.freqs());
        let channels = re.len() / (h * f);
        assert!(
            re.len() == channels * h * f && im.len() == re.len(),
            "irfft2: spectra of {} and {} values are not [C, {h}, {f}]",
            re.len(),
            im.len()
        );
        let norm = self.norm();
        let mut out = vec![0f32; channels * h * w];
        let mut columns = vec![Complex::default(); f * h];
        let mut row = vec![Complex::default(); f];
        let mut column_scratch =
            vec![Complex::default(); self.columns_inverse.get_inplace_scratch_len()];
        let mut row_scratch = self.rows_inverse.make_scratch_vec();
        for ((re, im), out) in re
            .chunks_exact(h * f)
            .zip(im.chunks_exact(h * f))
            .zip(out.chunks_exact_mut(h * w))
        {
            for (y, (re, im)) in re.chunks_exact(f).zip(im.chunks_exact(f)).enumerate() {
                for (k, (&a, &b)) in re.iter().zip(im).enumerate() {
                    columns[k * h + y] = Complex::new(a, b);
                }
            }
            // Every column of length h in one call.
            self.columns_inverse
                .process_with_scratch(&mut columns, &mut column_scratch);
            for (y, out) in out.chunks_exact_mut(w).enumerate() {
                for (k, z) in row.iter_mut().enumerate() {
                    *z = columns[k * h + y] * norm;
                }
                // A real signal's zero and Nyquist frequencies are real: their imaginary parts
                // do not reach it (numpy ignores them too).
                row[0].im = 0.0;
                if w.is_multiple_of(2) {
                    row[f - 1].im = 0.0;
                }
                self.rows_inverse
                    .process_with_scratch(&mut row, out, &mut row_scratch)
                    .expect("lengths planned in new, edge frequencies real");
            }
        }
        out
    }

    /// The adjoint: the gradient with respect to (`re`, `im`) of ⟨forward(re, im), `g`⟩, for
    /// `g` `[C, h, w]` flat.
    pub fn adjoint(&self, g: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (h, w, f) = (self.h, self.w, self.freqs());
        let channels = g.len() / (h * w);
        assert_eq!(
            g.len(),
            channels * h * w,
            "irfft2 adjoint: not [C, {h}, {w}]"
        );
        let norm = self.norm();
        let (mut re, mut im) = (vec![0f32; channels * h * f], vec![0f32; channels * h * f]);
        let mut columns = vec![Complex::default(); f * h];
        let mut signal = vec![0f32; w];
        let mut spectrum = vec![Complex::default(); f];
        let mut column_scratch =
            vec![Complex::default(); self.columns_forward.get_inplace_scratch_len()];
        let mut row_scratch = self.rows_forward.make_scratch_vec();
        let weights: Vec<f32> = (0..f).map(|k| self.multiplicity(k) * norm).collect();
        for ((g, re), im) in g
            .chunks_exact(h * w)
            .zip(re.chunks_exact_mut(h * f))
            .zip(im.chunks_exact_mut(h * f))
        {
            for (y, g) in g.chunks_exact(w).enumerate() {
                signal.copy_from_slice(g); // the transform uses its input as scratch
                self.rows_forward
                    .process_with_scratch(&mut signal, &mut spectrum, &mut row_scratch)
                    .expect("lengths planned in new");
                for (k, (z, c)) in spectrum.iter().zip(&weights).enumerate() {
                    columns[k * h + y] = z * *c;
                }
            }
            self.columns_forward
                .process_with_scratch(&mut columns, &mut column_scratch);
            for (y, (re, im)) in re
                .chunks_exact_mut(f)
                .zip(im.chunks_exact_mut(f))
                .enumerate()
            {
                for (k, (a, b)) in re.iter_mut().zip(im.iter_mut()).enumerate() {
                    let z = columns[k * h + y];
                    (*a, *b) = (z.re, z.im);
                }
            }
        }
        (re, im)
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

    /// numpy.fft.irfft2(X, s=(3, 4), norm="ortho") for X[u][f] = (u + 1.5)·cos(u·f) + i·(f − 1)·u,
    /// f < 3, printed by numpy 2.x and pasted here.
    #[test]
    fn matches_numpy_irfft2_ortho() {
        let (u, f) = (|i: usize| (i / 3) as f32, |i: usize| (i % 3) as f32);
        let re: Vec<f32> = (0..9).map(|i| (u(i) + 1.5) * (u(i) * f(i)).cos()).collect();
        let im: Vec<f32> = (0..9).map(|i| (f(i) - 1.0) * u(i)).collect();
        let got = Irfft2::new(3, 4).forward(&re, &im);
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

    /// The transform against its definition in f64, x[y, x] = Σ_u Σ_k c_k (re cos θ − im sin θ)
    /// / √(h·w) with θ = 2π(u·y/h + k·x/w), at odd, even, prime and degenerate sizes and two
    /// channels (f32 FFTs of these lengths round to ~1e-6 of the values' scale).
    #[test]
    fn matches_the_definition_at_any_size() {
        let mut rng = crate::model::build::Rng::new(5);
        for (h, w) in [(7, 9), (8, 8), (1, 6), (5, 1), (11, 2), (12, 13)] {
            let fft = Irfft2::new(h, w);
            let f = fft.freqs();
            let mut draw = |n: usize| (0..n).map(|_| rng.normal()).collect::<Vec<f32>>();
            let (re, im) = (draw(2 * h * f), draw(2 * h * f));
            let got = fft.forward(&re, &im);
            for c in 0..2 {
                for y in 0..h {
                    for x in 0..w {
                        let mut want = 0f64;
                        for u in 0..h {
                            for k in 0..f {
                                let i = (c * h + u) * f + k;
                                let theta = 2.0
                                    * std::f64::consts::PI
                                    * ((u * y) as f64 / h as f64 + (k * x) as f64 / w as f64);
                                let m = fft.multiplicity(k) as f64;
                                want +=
                                    m * (re[i] as f64 * theta.cos() - im[i] as f64 * theta.sin());
                            }
                        }
                        want /= ((h * w) as f64).sqrt();
                        let g = got[(c * h + y) * w + x] as f64;
                        assert!(
                            (g - want).abs() < 1e-5,
                            "{h}x{w} at {c},{y},{x}: {g} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ for random x, y: the adjoint is the gradient.
    #[test]
    fn adjoint_is_the_transpose() {
        for (h, w) in [(5, 6), (6, 7), (1, 4)] {
            let f = Irfft2::new(h, w);
            let n = f.freqs();
            let mut rng = crate::model::build::Rng::new(3);
            let mut draw = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal()).collect() };
            let (re, im, y) = (draw(2 * h * n), draw(2 * h * n), draw(2 * h * w));
            let dot = |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(p, q)| p * q).sum() };
            let lhs = dot(&f.forward(&re, &im), &y);
            let (gr, gi) = f.adjoint(&y);
            let rhs = dot(&gr, &re) + dot(&gi, &im);
            assert!(
                (lhs - rhs).abs() < 1e-4 * lhs.abs().max(1.0),
                "{h}x{w}: {lhs} vs {rhs}"
            );
        }
    }
}
