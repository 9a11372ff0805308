//! lucid's (and lucent's) recipe for feature visualization (Olah et al. 2017): the image is a
//! Fourier spectrum scaled by 1/frequency, inverse-transformed, colour-decorrelated and squashed
//! by a sigmoid; every step sees it through random transforms (pad 12 with 0.5, jitter 8, scale
//! 0.9–1.1, rotate ±10°, jitter 4) and Adam (lr 0.05) climbs the objective.
//!
//! One difference from lucent, because convscope's graphs have a fixed input size: lucent feeds
//! the transformed image at whatever size the transforms leave; here the model sees the centred
//! `H`×`W` window of it (regions outside the picture read the pad value 0.5). The transforms
//! compose into one affine map, resampled bilinearly, whose adjoint carries the gradient back.

use super::fft::Irfft2;
use super::warp::{Affine, Warp};
use super::{Optimized, Settings};
use crate::error::Result;
use crate::methods::Objective;
use crate::methods::Progress;
use crate::model::build::Rng;

/// lucid's `color_correlation_svd_sqrt`, rows = output RGB; divided by its largest column norm
/// when used (`_linear_decorrelate_color`).
const COLOR_SVD_SQRT: [[f32; 3]; 3] =
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];
/// lucid's `fft_image`: initial spectrum scale and the `magic` divisor of the image.
const INIT_SD: f32 = 0.01;
const MAGIC: f32 = 4.0;
pub const LR: f32 = 0.05;
pub const STEPS: usize = 512;
/// The pad value of `pad(12, mode="constant", constant_value=0.5)`.
const PAD_VALUE: f32 = 0.5;

/// The Fourier-parameterized picture: spectrum (re, im) per channel.
struct FourierImage {
    channels: usize,
    size: (usize, usize),
    fft: Irfft2,
    /// `[h, w/2+1]`: 1 / max(frequency, 1/max(h, w)).
    scale: Vec<f32>,
    re: Vec<f32>,
    im: Vec<f32>,
    color: [[f32; 3]; 3],
}

impl FourierImage {
    fn new(channels: usize, size: (usize, usize), rng: &mut Rng) -> Result<Self> {
        let fft = Irfft2::new(size.0, size.1);
        let floor = 1.0 / size.0.max(size.1) as f32;
        let scale = fft
            .magnitudes()
            .iter()
            .map(|f| 1.0 / f.max(floor))
            .collect();
        let n = channels * size.0 * fft.freqs();
        let mut draw = || (0..n).map(|_| rng.normal() * INIT_SD).collect::<Vec<f32>>();
        let (re, im) = (draw(), draw());
        let norm = (0..3)
            .map(|k| {
                (0..3)
                    .map(|c| COLOR_SVD_SQRT[c][k].powi(2))
                    .sum::<f32>()
                    .sqrt()
            })
            .fold(0f32, f32::max);
        let color = COLOR_SVD_SQRT.map(|row| row.map(|v| v / norm));
        Ok(FourierImage {
            channels,
            size,
            fft,
            scale,
            re,
            im,
            color,
        })
    }

    /// `v` (a spectrum, or its gradient) times the 1/frequency scale and 1/`MAGIC`: the map is
    /// diagonal, so it is its own adjoint.
    fn scaled(&self, v: &[f32]) -> Vec<f32> {
        v.iter()
            .enumerate()
            .map(|(i, x)| x * self.scale[i % self.scale.len()] / MAGIC)
            .collect()
    }

    /// The picture in (0, 1), planar `[C, h, w]`.
    fn render(&self) -> Result<Vec<f32>> {
        let img = self
            .fft
            .forward(&self.scaled(&self.re), &self.scaled(&self.im));
        Ok(self
            .decorrelate(&img, false)
            .into_iter()
            .map(|v| 1.0 / (1.0 + (-v).exp()))
            .collect())
    }

    /// Mixes the channels with the colour matrix (or its transpose); gray pictures pass.
    fn decorrelate(&self, img: &[f32], transpose: bool) -> Vec<f32> {
        if self.channels != 3 {
            return img.to_vec();
        }
        let hw = self.size.0 * self.size.1;
        let mut out = vec![0f32; img.len()];
        for c in 0..3 {
            for k in 0..3 {
                let m = if transpose {
                    self.color[k][c]
                } else {
                    self.color[c][k]
                };
                for p in 0..hw {
                    out[c * hw + p] += m * img[k * hw + p];
                }
            }
        }
        out
    }

    /// The gradient with respect to (re, im) from one with respect to the rendered picture.
    fn backward(&self, rgb: &[f32], g_rgb: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let g_pre: Vec<f32> = g_rgb
            .iter()
            .zip(rgb)
            .map(|(g, s)| g * s * (1.0 - s))
            .collect();
        let g_img = self.decorrelate(&g_pre, true);
        let (gr, gi) = self.fft.adjoint(&g_img);
        Ok((self.scaled(&gr), self.scaled(&gi)))
    }
}

/// Adam (torch defaults β = 0.9, 0.999, ε = 1e-8) ascending one parameter vector.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One step along `grad` (the gradient of the objective: ascent).
    fn ascend(&mut self, param: &mut [f32], grad: &[f32]) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        for i in 0..param.len() {
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * grad[i];
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * grad[i] * grad[i];
            param[i] += LR * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

/// lucent's `standard_transforms`, drawn for one step, as the map from model-input pixels to
/// picture pixels.
///
/// lucid's pad and jitters (12, 8 and 4 pixels) were chosen for pictures of 128 pixels and more;
/// on a model whose input is smaller they would move the picture by a third of its side, so
/// there they shrink in proportion to the model's shorter side over 128 (see [`reach`]).
fn random_view(rng: &mut Rng, picture: (usize, usize), model: (usize, usize)) -> Affine {
    let f = reach(model);
    let (pad, j1, j2) = (
        12.0 * f,
        (8.0 * f).round().max(1.0),
        (4.0 * f).round().max(1.0),
    );
    let mut pick = |n: f64| (rng.next_u64() % n as u64) as f64;
    let (jy, jx) = (pick(j1), pick(j1));
    let s = 1.0 + (pick(11.0) - 5.0) / 50.0;
    // list(range(-10, 11)) + 5 * [0]: 26 choices, 0° six times.
    let deg = match pick(26.0) {
        k if k <= 20.0 => k - 10.0,
        _ => 0.0,
    };
    let (ey, ex) = (pick(j2), pick(j2));
    let (h, w) = (model.0 as f64, model.1 as f64);
    let fit = Affine::scale(h / picture.0 as f64, w / picture.1 as f64);
    let padded = Affine::shift(pad - jy, pad - jx).after(&fit);
    let scaled = Affine::scale(s, s).after(&padded);
    // The canvas after the pad and the first jitter's crop (`jitter(d)` keeps side − d), scaled.
    let (ly, lx) = ((h + 2.0 * pad - j1) * s, (w + 2.0 * pad - j1) * s);
    let rotated = Affine::rotate_about(deg, ly / 2.0, lx / 2.0).after(&scaled);
    // The second jitter's crop, then the model's centred window of it.
    let (cy, cx) = (ly - j2, lx - j2);
    let window = Affine::shift(-ey - (cy - h) / 2.0, -ex - (cx - w) / 2.0);
    window.after(&rotated).inverse()
}

/// How far lucid's pixel-sized transforms reach on a model input of this size: 1 from 128
/// pixels up, proportionally less below.
fn reach(model: (usize, usize)) -> f64 {
    (model.0.min(model.1) as f64 / 128.0).min(1.0)
}

pub fn optimize(
    exec: &crate::exec::Executor<'_>,
    objective: &Objective,
    s: &Settings<'_>,
) -> Result<Optimized> {
    let spec = s.pixels.spec;
    let (model, nc) = ((spec.height, spec.width), spec.channels);
    let device = s.device;
    let mut rng = Rng::new(s.seed);
    let mut image = FourierImage::new(nc, s.size, &mut rng)?;
    let plain = Warp::new(
        s.size,
        model,
        &Affine::scale(
            model.0 as f64 / s.size.0 as f64,
            model.1 as f64 / s.size.1 as f64,
        )
        .inverse(),
        PAD_VALUE,
    );
    let evaluate = |rgb: &[f32]| -> Result<f32> {
        let px: Vec<f32> = plain.apply(rgb, nc).iter().map(|v| v * 255.0).collect();
        objective.value(exec, &s.pixels.input_tensor(&px, device)?)
    };
    let start = evaluate(&image.render()?)?;
    let (mut adam_re, mut adam_im) = (Adam::new(image.re.len()), Adam::new(image.im.len()));
    for step in 0..s.steps {
        s.control.check()?;
        let rgb = image.render()?;
        let warp = Warp::new(
            s.size,
            model,
            &random_view(&mut rng, s.size, model),
            PAD_VALUE,
        );
        let px: Vec<f32> = warp.apply(&rgb, nc).iter().map(|v| v * 255.0).collect();
        let (value, gx) = objective.value_and_grad(exec, &s.pixels.input_tensor(&px, device)?)?;
        let gx: Vec<f32> = gx.flatten_all()?.to_vec1()?;
        let g_px: Vec<f32> = s
            .pixels
            .grad_to_pixels(&gx)
            .iter()
            .map(|g| g * 255.0)
            .collect();
        let (g_re, g_im) = image.backward(&rgb, &warp.adjoint(&g_px, nc))?;
        adam_re.ascend(&mut image.re, &g_re);
        adam_im.ascend(&mut image.im, &g_im);
        s.control.report(Progress {
            done: step + 1,
            total: s.steps,
            unit: "steps",
            objective: Some(value),
        })?;
    }
    let rgb = image.render()?;
    Ok(Optimized {
        objective_start: start,
        objective_end: evaluate(&rgb)?,
        size: s.size,
        pixels: rgb.iter().map(|v| v * 255.0).collect(),
        display: rgb
            .iter()
            .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_view_of_a_same_size_picture_is_the_identity() {
        let m = Affine::scale(1.0, 1.0).inverse();
        assert_eq!(m, Affine::IDENTITY);
    }

    #[test]
    fn random_views_stay_near_the_picture() {
        // Whatever is drawn, the model's centre pixel reads near the picture's centre: the
        // transforms move it by at most the jitters and the scale's change of the padding.
        let mut rng = Rng::new(7);
        for _ in 0..100 {
            let v = random_view(&mut rng, (64, 64), (64, 64));
            let [y, x] = v.apply([32.0, 32.0]);
            assert!(
                (y - 32.0).abs() < 12.0 && (x - 32.0).abs() < 12.0,
                "{y} {x}"
            );
        }
    }

    /// The picture's gradient through the sigmoid, colour mixing and FFT agrees with finite
    /// differences of ⟨render(re, im), g⟩.
    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(2);
        let mut img = FourierImage::new(3, (6, 5), &mut rng).unwrap();
        for v in img.re.iter_mut().chain(img.im.iter_mut()) {
            *v *= 30.0; // away from the sigmoid's linear middle
        }
        let g: Vec<f32> = (0..3 * 30).map(|_| rng.normal()).collect();
        let f = |img: &FourierImage| -> f64 {
            img.render()
                .unwrap()
                .iter()
                .zip(&g)
                .map(|(a, b)| (a * b) as f64)
                .sum()
        };
        let rgb = img.render().unwrap();
        let (gr, _) = img.backward(&rgb, &g).unwrap();
        for i in [0, 7, 20, 41] {
            let e = 1e-2;
            img.re[i] += e;
            let up = f(&img);
            img.re[i] -= 2.0 * e;
            let down = f(&img);
            img.re[i] += e;
            let fd = (up - down) / (2.0 * e as f64);
            assert!(
                (fd - gr[i] as f64).abs() < 1e-3 + 1e-2 * fd.abs(),
                "{i}: {fd} vs {}",
                gr[i]
            );
        }
    }
}
