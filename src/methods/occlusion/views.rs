//! The pictures occlusion's one pass over the windows gives besides captum's attribution: the
//! target probability per window position (the Zeiler & Fergus map), and the input masked down
//! to the pixels whose occlusion costs the target the most probability.

use super::windows::Windows;

/// The mean target probability per cell of the H×W window grid, `[rows, cols]` row-major.
/// Windows that cover only some channels (`--window 1,8,8`) share a cell with the other channel
/// positions at the same place; the cell is their mean, so the grid stays one value per place.
pub fn probability_grid(w: &Windows, probs: &[f32]) -> Vec<f32> {
    let (rows, cols) = w.grid();
    let (mut sum, mut count) = (vec![0f64; rows * cols], vec![0u32; rows * cols]);
    for (start, &p) in w.starts.iter().zip(probs) {
        let (r, c) = w.cell(start);
        sum[r * cols + c] += p as f64;
        count[r * cols + c] += 1;
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &n)| (s / n.max(1) as f64) as f32)
        .collect()
}

/// Per pixel, the mean of `drops` (one per window) over the windows whose H×W footprint covers
/// it, `[H, W]` row-major: the attribution's averaging, with each window counted once per pixel
/// whatever channels it covers.
pub fn drop_map(w: &Windows, drops: &[f32]) -> Vec<f32> {
    let (h, wd) = w.hw();
    let (mut sum, mut count) = (vec![0f64; h * wd], vec![0u32; h * wd]);
    for (start, &d) in w.starts.iter().zip(drops) {
        let (ys, xs) = w.footprint(start);
        for y in ys {
            for x in xs.clone() {
                sum[y * wd + x] += d as f64;
                count[y * wd + x] += 1;
            }
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &n)| (s / n.max(1) as f64) as f32)
        .collect()
}

/// Which pixels a drop map keeps at `threshold` (in (0, 1]).
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub keep: Vec<bool>,
    pub max_drop: f32,
    /// `threshold × max_drop`: pixels with at least this drop are kept.
    pub cutoff: f32,
}

/// Keeps the pixels whose drop is at least `threshold` times the largest. When no window lowers
/// the probability (largest drop ≤ 0) nothing is kept: a relative cutoff of a rise is no answer.
pub fn mask(drop: &[f32], threshold: f32) -> Mask {
    let max_drop = drop.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let cutoff = threshold * max_drop;
    let keep = drop
        .iter()
        .map(|&d| max_drop > 0.0 && d >= cutoff)
        .collect();
    Mask {
        keep,
        max_drop,
        cutoff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::preprocess::Layout;

    #[test]
    fn channel_positions_average_into_one_cell() {
        // 2 channels, 4x4, window 1,2,2 stride 1,2,2: 2 channel positions x 2 x 2 cells.
        let w = Windows::new(&[1, 2, 2], &[1, 2, 2], &[2, 4, 4], Layout::Nchw).unwrap();
        let probs: Vec<f32> = (0..8).map(|k| k as f32).collect();
        // Window k: channel k % 2, row (k / 2) % 2, column k / 4 (the first dim varies fastest),
        // so each cell averages windows k and k + 1; the grid is row-major.
        assert_eq!(probability_grid(&w, &probs), vec![0.5, 4.5, 2.5, 6.5]);
    }

    #[test]
    fn overlapping_windows_average_per_pixel() {
        // 1x1x3 input, window 2 stride 1 along W: windows cover {0,1} and {1,2}.
        let w = Windows::new(&[1, 2], &[1, 1], &[1, 1, 3], Layout::Nchw).unwrap();
        assert_eq!(drop_map(&w, &[0.2, 0.6]), vec![0.2, 0.4, 0.6]);
        let m = mask(&[0.2, 0.4, 0.6], 0.5);
        assert_eq!(m.keep, vec![false, true, true]);
        assert!((m.cutoff - 0.3).abs() < 1e-7);
        assert_eq!(mask(&[0.2, 0.4, 0.6], 1.0).keep, vec![false, false, true]);
        // Occlusion only ever raised the probability: nothing to keep.
        assert_eq!(mask(&[-0.1, 0.0], 0.5).keep, vec![false, false]);
    }
}
