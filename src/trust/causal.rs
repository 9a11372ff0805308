//! Deletion and insertion (Petsiuk et al., "RISE", BMVC 2018), as the authors' `CausalMetric`
//! plays them:
//!
//! - **Deletion**: from the input, replace the pixels the map ranks highest, `step` at a time,
//!   by the zero of the model's input space (the mean colour, for ImageNet-normalized inputs),
//!   until none is left. A faithful map makes the target's probability fall fast: *lower* area
//!   is better.
//! - **Insertion**: from the input blurred by RISE's kernel ([`super::rise`]), restore the
//!   pixels the map ranks highest, `step` at a time, until the input is whole again. A faithful
//!   map makes the probability rise fast: *higher* area is better.
//!
//! The curve is the target's softmax probability after 0, 1, …, n steps (n = ⌈H·W / step⌉);
//! its area is the trapezoid rule over [0, 1] (RISE's `auc`). A "pixel" is every channel of one
//! place. The points equal to the clean input (deletion's first, insertion's last) take the
//! clean pass's probability instead of a pass of their own.

use super::planes::Planes;
use super::rise;
use super::scorer::Scorer;
use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Game {
    Deletion,
    Insertion,
}

/// One game's curve and area.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub game: Game,
    /// Pixels changed per step.
    pub step: usize,
    /// The target's probability after 0, 1, …, n steps.
    pub probs: Vec<f32>,
    pub auc: f32,
}

/// Pixels a step for `steps` steps over `pixels` pixels: ⌈pixels / steps⌉ (RISE's `step` is
/// 224 at 224², i.e. 224 steps).
pub fn pixels_per_step(pixels: usize, steps: usize) -> usize {
    pixels.div_ceil(steps.max(1)).max(1)
}

/// Plays `game` over `input`, ranked by `order` (most important first), in `steps` steps.
/// `clean` is the target's probability for the input itself.
pub fn play(
    scorer: &Scorer<'_>,
    input: &Planes,
    clean: f32,
    order: &[u32],
    game: Game,
    steps: usize,
) -> Result<Curve> {
    let pixels = input.pixels();
    let step = pixels_per_step(pixels, steps);
    let n = pixels.div_ceil(step);
    let (start, finish) = match game {
        Game::Deletion => (input.clone(), Planes::zeros(input.spec)),
        Game::Insertion => (rise::blur(input), input.clone()),
    };
    // The points to compute: deletion's 1..=n, insertion's 0..n.
    let first = match game {
        Game::Deletion => 1,
        Game::Insertion => 0,
    };
    let mut current = start;
    let mut changed = 0;
    let computed = scorer.probabilities(n, "steps", |k, out| {
        let upto = ((first + k) * step).min(pixels);
        for &p in &order[changed..upto] {
            current.copy_pixel(p as usize, &finish);
        }
        changed = upto;
        out.copy_from_slice(&current.data);
    })?;
    let probs: Vec<f32> = match game {
        Game::Deletion => std::iter::once(clean).chain(computed).collect(),
        Game::Insertion => computed.into_iter().chain(std::iter::once(clean)).collect(),
    };
    Ok(Curve {
        game,
        step,
        auc: auc(&probs),
        probs,
    })
}

/// The trapezoid rule over evenly spaced points on [0, 1] (RISE's `auc`).
pub fn auc(curve: &[f32]) -> f32 {
    let n = curve.len();
    if n < 2 {
        return curve.first().copied().unwrap_or(0.0);
    }
    let sum: f64 = curve.iter().map(|&v| v as f64).sum();
    ((sum - (curve[0] as f64 + curve[n - 1] as f64) / 2.0) / (n - 1) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_cover_every_pixel_and_the_last_may_be_short() {
        assert_eq!(pixels_per_step(224 * 224, 224), 224);
        assert_eq!(pixels_per_step(1024, 224), 5); // 205 steps, the last of 4 pixels
        assert_eq!(pixels_per_step(10, 100), 1);
        assert_eq!(1024usize.div_ceil(5), 205);
    }

    #[test]
    fn the_area_is_the_trapezoid_rule_on_the_unit_interval() {
        assert_eq!(auc(&[1.0, 1.0, 1.0]), 1.0);
        assert_eq!(auc(&[1.0, 0.0]), 0.5);
        // RISE: (sum - a0/2 - an/2) / (len - 1) = (1.5 - 0.5 - 0.25) / 2.
        assert_eq!(auc(&[1.0, 0.0, 0.5]), 0.375);
    }
}
