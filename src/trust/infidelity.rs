//! Infidelity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations", NeurIPS
//! 2019) as captum's `metrics.infidelity` computes it with `normalize=True`: the expected
//! squared error between what the map predicts a perturbation does to the score,
//! Σ attribution · I, and what it does, f(x) − f(x − I), after scaling the map by the β that
//! fits best (so a map is judged by its shape, not its units: CAMs and gradients compare).
//!
//! f is the target's raw score (the logit the methods explain); I is Gaussian noise on every
//! input value, σ 0.003 in the model's input space (captum's documented perturbation for
//! local attributions), 10 draws (captum's `n_perturb_samples`), seeded. The map is taken per
//! input value: an attribution as it is, a per-pixel map (a CAM, at the input's size) the same
//! on every channel.

use super::scorer::Scorer;
use crate::error::Result;
use crate::model::build::Rng;

/// captum's default number of perturbations.
pub const SAMPLES: usize = 10;
/// σ of the Gaussian perturbation, in the model's input space.
pub const SIGMA: f32 = 0.003;

/// `n` perturbations of `len` values, N(0, `sigma`), from `seed`.
pub fn perturbations(n: usize, len: usize, sigma: f32, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed ^ 0x1f1d_e117);
    (0..n)
        .map(|_| rng.normals(len).into_iter().map(|v| v * sigma).collect())
        .collect()
}

/// Infidelity of `attribution` (one value per input value, in the model's layout) for the
/// input `x`, whose target score is `clean`, under `perturbations` (each the size of `x`).
pub fn infidelity(
    scorer: &Scorer,
    x: &[f32],
    clean: f32,
    attribution: &[f32],
    perturbations: &[Vec<f32>],
) -> Result<f32> {
    let perturbed = scorer.scores(perturbations.len(), "perturbed inputs", |i, out| {
        for ((o, v), p) in out.iter_mut().zip(x).zip(&perturbations[i]) {
            *o = v - p;
        }
    })?;
    let (mut aa, mut ad, mut dd) = (0.0f64, 0.0f64, 0.0f64);
    for (p, score) in perturbations.iter().zip(&perturbed) {
        let a: f64 = attribution
            .iter()
            .zip(p)
            .map(|(&m, &v)| f64::from(m) * f64::from(v))
            .sum();
        let d = f64::from(clean) - f64::from(*score);
        (aa, ad, dd) = (aa + a * a, ad + a * d, dd + d * d);
    }
    // captum's `safe_div`: a zero denominator counts as 1.
    let beta = ad / if aa == 0.0 { 1.0 } else { aa };
    let n = perturbations.len().max(1) as f64;
    Ok(((beta * beta * aa - 2.0 * beta * ad + dd) / n) as f32)
}
