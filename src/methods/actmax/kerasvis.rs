//! keras-vis's `visualize_activation` recipe: the picture's pixels themselves (0–255, seeded
//! from N(127.5, 0.05·255)) minimize −objective + 10·LPNorm(p=6) + 10·TotalVariation(β=2), both
//! regularizers divided by C·H·W, with RMSProp (decay 0.95, no learning rate) on the L2-normalized
//! gradient, optionally seeing the picture rolled by a random jitter each step; the picture with
//! the lowest loss is returned. The regularizers act on the model's input, as keras-vis's do; the
//! picture and its steps are in pixel units, as keras-vis's are with `input_range=(0, 255)` (its
//! steps are about one unit per element, so they need that scale).
//!
//! Two details differ from keras-vis, both for consistency: the RMSProp cache follows the
//! pixels when the picture is jittered (keras-vis keeps it in the rolled frame), and the best
//! picture is the one the lowest loss was measured on (keras-vis stores the next one).

use super::{Optimized, Settings};
use crate::error::Result;
use crate::exec::Executor;
use crate::methods::Objective;
use crate::methods::Progress;
use crate::model::build::Rng;

pub const STEPS: usize = 200;
const LP_WEIGHT: f64 = 10.0;
const TV_WEIGHT: f64 = 10.0;
const DECAY: f32 = 0.95;
/// Keras' `K.epsilon()`.
const EPSILON: f32 = 1e-7;

pub fn optimize(exec: &Executor<'_>, objective: &Objective, s: &Settings<'_>) -> Result<Optimized> {
    let spec = s.pixels.spec;
    let (nc, h, w) = (spec.channels, spec.height, spec.width);
    let n = nc * h * w;
    let mut rng = Rng::new(s.seed);
    let mut p: Vec<f32> = (0..n)
        .map(|_| 127.5 + 0.05 * 255.0 * rng.normal())
        .collect();
    let jitter = s.jitter.map(|j| {
        let amount = |dim: usize| {
            if j < 1.0 {
                (dim as f32 * j) as i64
            } else {
                j as i64
            }
        };
        (amount(h), amount(w))
    });
    let value = |p: &[f32]| objective.value(exec, &s.pixels.input_tensor(p, s.device)?);
    let start = value(&p)?;
    let mut cache = vec![0f32; n];
    let (mut best, mut best_loss) = (p.clone(), f64::INFINITY);
    for step in 0..s.steps {
        s.control.check()?;
        let (oy, ox) = match jitter {
            Some((jy, jx)) => (draw(&mut rng, jy), draw(&mut rng, jx)),
            None => (0, 0),
        };
        let seen = roll(&p, (nc, h, w), oy, ox);
        let (obj, gx) = objective.value_and_grad(exec, &s.pixels.input_tensor(&seen, s.device)?)?;
        // The regularizers act on the model's input (as keras-vis's do); the step is in pixels.
        let x = s.pixels.planar(&seen);
        let gx = s.pixels.unlayout(&gx.flatten_all()?.to_vec1()?);
        let mut grad: Vec<f64> = gx.iter().map(|&g| -g as f64).collect();
        let norm = n as f64;
        let lp = lp_norm(&x, 6.0, LP_WEIGHT / norm, &mut grad);
        let tv = total_variation(&x, (nc, h, w), TV_WEIGHT / norm, &mut grad);
        let grad: Vec<f32> = grad.iter().map(|&g| g as f32).collect();
        let grad: Vec<f64> = s
            .pixels
            .planar_grad_to_pixels(&grad)
            .iter()
            .map(|&g| g as f64)
            .collect();
        let loss = -obj as f64 + lp + tv;
        if loss < best_loss {
            (best, best_loss) = (p.clone(), loss);
        }
        let l2 = grad.iter().map(|g| g * g).sum::<f64>().max(1e-12).sqrt();
        let grad: Vec<f32> = grad.iter().map(|g| (g / l2) as f32).collect();
        let grad = roll(&grad, (nc, h, w), -oy, -ox);
        for i in 0..n {
            cache[i] = DECAY * cache[i] + (1.0 - DECAY) * grad[i] * grad[i];
            p[i] -= grad[i] / (cache[i] + EPSILON).sqrt();
        }
        s.control.report(Progress {
            done: step + 1,
            total: s.steps,
            unit: "steps",
            objective: Some(obj),
        })?;
    }
    Ok(Optimized {
        objective_start: start,
        objective_end: value(&best)?,
        size: (h, w),
        display: deprocess(&best),
        pixels: best,
    })
}

/// A jitter offset in −j..=j.
fn draw(rng: &mut Rng, j: i64) -> i64 {
    (rng.next_u64() % (2 * j as u64 + 1)) as i64 - j
}

/// `np.roll` of planar `[C, H, W]` by (dy, dx) over the spatial axes.
fn roll<T: Copy + Default>(v: &[T], (nc, h, w): (usize, usize, usize), dy: i64, dx: i64) -> Vec<T> {
    let mut out = vec![T::default(); v.len()];
    let wrap = |i: usize, d: i64, n: usize| (i as i64 + d).rem_euclid(n as i64) as usize;
    for c in 0..nc {
        for y in 0..h {
            for x in 0..w {
                out[(c * h + wrap(y, dy, h)) * w + wrap(x, dx, w)] = v[(c * h + y) * w + x];
            }
        }
    }
    out
}

/// weight·‖p‖_q, adding its gradient to `grad`.
fn lp_norm(p: &[f32], q: f64, weight: f64, grad: &mut [f64]) -> f64 {
    let sum: f64 = p.iter().map(|&v| (v as f64).abs().powf(q)).sum();
    let norm = sum.powf(1.0 / q);
    if norm > 0.0 {
        for (g, &v) in grad.iter_mut().zip(p) {
            let v = v as f64;
            *g += weight * v.abs().powf(q - 1.0) * v.signum() / norm.powf(q - 1.0);
        }
    }
    weight * norm
}

/// weight·Σ (Δ_y² + Δ_x²) over the (H−1)×(W−1) pixels with both neighbours (keras-vis's
/// `TotalVariation` with β = 2, per channel), adding its gradient to `grad`.
fn total_variation(
    p: &[f32],
    (nc, h, w): (usize, usize, usize),
    weight: f64,
    grad: &mut [f64],
) -> f64 {
    let mut tv = 0.0;
    for c in 0..nc {
        for y in 0..h.saturating_sub(1) {
            for x in 0..w.saturating_sub(1) {
                let i = (c * h + y) * w + x;
                let (dy, dx) = ((p[i + w] - p[i]) as f64, (p[i + 1] - p[i]) as f64);
                tv += dy * dy + dx * dx;
                grad[i + w] += weight * 2.0 * dy;
                grad[i + 1] += weight * 2.0 * dx;
                grad[i] -= weight * 2.0 * (dy + dx);
            }
        }
    }
    weight * tv
}

/// keras-vis's `deprocess_input` for display: centred, scaled to std 0.1 around 0.5, clipped
/// to [0, 1], then 0–255.
fn deprocess(p: &[f32]) -> Vec<u8> {
    let n = p.len() as f64;
    let mean = p.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (p.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    p.iter()
        .map(|&v| {
            let u = ((v as f64 - mean) / (std + EPSILON as f64) * 0.1 + 0.5).clamp(0.0, 1.0);
            (u * 255.0).round() as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_wraps_and_undoes() {
        let v: Vec<i32> = (0..6).collect();
        let r = roll(&v, (1, 2, 3), 1, -1);
        assert_eq!(r, vec![4, 5, 3, 1, 2, 0]);
        assert_eq!(roll(&r, (1, 2, 3), -1, 1), v);
    }

    fn fd_check(f: &dyn Fn(&[f32], &mut [f64]) -> f64, p: &[f32]) {
        let mut grad = vec![0.0; p.len()];
        f(p, &mut grad);
        for i in 0..p.len() {
            let mut q = p.to_vec();
            let e = 1e-2;
            q[i] += e;
            let up = f(&q, &mut vec![0.0; p.len()]);
            q[i] -= 2.0 * e;
            let down = f(&q, &mut vec![0.0; p.len()]);
            let fd = (up - down) / (2.0 * e as f64);
            assert!(
                (fd - grad[i]).abs() < 1e-3 * (1.0 + fd.abs()),
                "{i}: {fd} vs {}",
                grad[i]
            );
        }
    }

    #[test]
    fn regularizer_gradients_match_finite_differences() {
        let p = [
            1.0f32, -2.0, 3.5, 0.5, -1.5, 2.0, 0.25, 4.0, -3.0, 1.0, 2.0, -0.5,
        ];
        fd_check(&|p, g| lp_norm(p, 6.0, 0.7, g), &p);
        fd_check(&|p, g| total_variation(p, (2, 2, 3), 0.7, g), &p);
    }

    #[test]
    fn total_variation_by_hand() {
        // One channel [[0, 1], [3, 7]]: only pixel (0,0) has both neighbours: 3² + 1².
        let mut g = vec![0.0; 4];
        assert_eq!(
            total_variation(&[0.0, 1.0, 3.0, 7.0], (1, 2, 2), 1.0, &mut g),
            10.0
        );
    }
}
