//! ROAD, RemOve And Debias (Rong et al., ICML 2022), as pytorch-grad-cam 1.5 scores it
//! (`metrics/road.py` and `perturbation_confidence.py`):
//!
//! - **MoRF** at percentile p: remove the pixels whose scaled map value is at or above the
//!   map's p-th percentile (the most relevant 100 − p %), fill them by noisy linear imputation
//!   ([`super::impute`]), and take the change in the target's probability from the clean
//!   input. A faithful map makes it fall: *lower* is better.
//! - **LeRF** at p: the same with `1 − map` (the least relevant 100 − p % removed): a faithful
//!   map keeps the probability: *higher* (nearer 0) is better.
//! - Each is averaged over p = 10, 20, …, 90; **combined** = (LeRF − MoRF) / 2: *higher* is
//!   better.
//!
//! The map is scaled to [0, 1] first, as pytorch-grad-cam scales a CAM; the percentile is
//! numpy's default (linear between the two nearest ranks) and the comparison float32, as
//! there. Where ties at the threshold would remove every pixel (a map that is 0 over more than
//! p % of the picture), that percentile has nothing to fill from: it is skipped and said so
//! (pytorch-grad-cam's `spsolve` would fail on the singular system).

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::impute::impute;
use super::planes::Planes;
use super::scorer::Scorer;
use crate::error::Result;
use crate::model::build::Rng;

/// pytorch-grad-cam's percentiles.
pub const PERCENTILES: [u32; 9] = [10, 20, 30, 40, 50, 60, 70, 80, 90];

/// The change in the target's probability at each percentile (`None` where skipped), the
/// means, and the combined score (NaN where every percentile was skipped).
#[derive(Clone, Debug, PartialEq)]
pub struct Road {
    pub percentiles: Vec<u32>,
    pub morf: Vec<Option<f32>>,
    pub lerf: Vec<Option<f32>>,
    pub morf_mean: f32,
    pub lerf_mean: f32,
    pub combined: f32,
    pub noise: f32,
}

/// Scores `scaled` (the map scaled to [0, 1], one value per pixel) on `input`, whose target
/// probability is `clean`.
pub fn road(
    scorer: &Scorer<'_>,
    input: &Planes,
    clean: f32,
    scaled: &[f32],
    noise: f32,
    seed: u64,
) -> Result<Road> {
    let inverse: Vec<f32> = scaled.iter().map(|&v| 1.0 - v).collect();
    // MoRF's nine masks, then LeRF's (true: kept).
    let mut masks: Vec<Vec<bool>> = Vec::with_capacity(2 * PERCENTILES.len());
    for values in [scaled, &inverse[..]] {
        let mut sorted = values.to_vec();
        sorted.sort_by(f32::total_cmp);
        for &p in &PERCENTILES {
            let threshold = percentile(&sorted, p);
            masks.push(values.iter().map(|&v| v < threshold).collect());
        }
    }
    // The fills are independent: one per core. Each has its own generator, seeded by the
    // seed and its place in the list, so the draws do not depend on the threads' order.
    let done = AtomicUsize::new(0);
    let filled: Vec<Option<Planes>> = masks
        .par_iter()
        .enumerate()
        .map(|(k, keep)| -> Result<Option<Planes>> {
            scorer.control.check()?;
            // `None` where every pixel would go.
            let out = match keep.iter().any(|&k| k) {
                true => Some(impute(
                    input,
                    keep,
                    noise,
                    &mut Rng::new(seed.wrapping_add(k as u64)),
                )?),
                false => None,
            };
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            scorer.control.step(n, masks.len(), "imputations")?;
            Ok(out)
        })
        .collect::<Result<_>>()?;
    let present: Vec<&Planes> = filled.iter().flatten().collect();
    let probs = scorer.probabilities(present.len(), "inputs", |i, out| {
        out.copy_from_slice(&present[i].data)
    })?;
    let mut probs = probs.into_iter();
    let changes: Vec<Option<f32>> = filled
        .iter()
        .map(|f| {
            f.as_ref()
                .map(|_| probs.next().expect("one a filled input") - clean)
        })
        .collect();
    let (morf, lerf) = changes.split_at(PERCENTILES.len());
    // NaN when every percentile was skipped: there is no score, and 0 would read as one.
    let mean = |v: &[Option<f32>]| {
        let got: Vec<f32> = v.iter().flatten().copied().collect();
        match got.len() {
            0 => f32::NAN,
            n => (got.iter().map(|&x| x as f64).sum::<f64>() / n as f64) as f32,
        }
    };
    let (morf_mean, lerf_mean) = (mean(morf), mean(lerf));
    Ok(Road {
        percentiles: PERCENTILES.to_vec(),
        morf: morf.to_vec(),
        lerf: lerf.to_vec(),
        morf_mean,
        lerf_mean,
        combined: (lerf_mean - morf_mean) / 2.0,
        noise,
    })
}

/// numpy's `percentile(a, p)` (method "linear") of ascending `sorted`, rounded to float32 as
/// numpy returns it for a float32 array.
fn percentile(sorted: &[f32], p: u32) -> f32 {
    let n = sorted.len();
    let virtual_index = (p as f64 / 100.0) * (n - 1) as f64;
    let below = (virtual_index.floor() as usize).min(n - 1);
    let above = (below + 1).min(n - 1);
    let t = virtual_index - below as f64;
    let (a, b) = (sorted[below] as f64, sorted[above] as f64);
    // numpy's `_lerp`: from the nearer end, so that t = 1 gives b exactly.
    let v = if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    };
    v as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks_as_numpy() {
        let sorted: Vec<f32> = (0..11).map(|v| v as f32).collect();
        assert_eq!(percentile(&sorted, 10), 1.0);
        assert_eq!(percentile(&sorted, 90), 9.0);
        // np.percentile([0, 1, 2, 3], 50) = 1.5; [0, 1, 2, 3, 4] at 30 = 1.2.
        assert_eq!(percentile(&[0.0, 1.0, 2.0, 3.0], 50), 1.5);
        assert!((percentile(&[0.0, 1.0, 2.0, 3.0, 4.0], 30) - 1.2).abs() < 1e-7);
        assert_eq!(percentile(&[5.0], 70), 5.0);
    }
}
