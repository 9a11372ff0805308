//! How alike two maps are, as the randomization checks report it: Spearman's rank correlation
//! (scipy's `spearmanr`: ties take their average rank) and the structural similarity index
//! (scikit-image's `structural_similarity` with its defaults: a 7×7 uniform window, K1 0.01,
//! K2 0.03, sample covariances, the mean over the pixels whose window fits inside the map;
//! here with data range 1, for maps scaled to [0, 1]).

/// Spearman's ρ of `a` and `b`; `None` when either is constant (ρ is undefined).
pub fn spearman(a: &[f32], b: &[f32]) -> Option<f32> {
    pearson(&ranks(a), &ranks(b))
}

/// 1-based ranks, ties sharing the mean of the ranks they span.
fn ranks(v: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut out = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        let mean = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            out[i] = mean;
        }
        start = end;
    }
    out
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f32> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| (sab / (saa * sbb).sqrt()) as f32)
}

/// SSIM window side and constants (scikit-image's defaults).
const WIN: usize = 7;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// The structural similarity of two `h`×`w` maps with values in [0, 1]; `None` when a map is
/// smaller than the 7×7 window.
pub fn ssim(a: &[f32], b: &[f32], h: usize, w: usize) -> Option<f32> {
    if h < WIN || w < WIN {
        return None;
    }
    let (c1, c2) = (K1 * K1, K2 * K2);
    let np = (WIN * WIN) as f64;
    let cov_norm = np / (np - 1.0);
    let mut total = 0.0;
    let pad = (WIN - 1) / 2;
    for y in pad..h - pad {
        for x in pad..w - pad {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for yy in y - pad..=y + pad {
                for xx in x - pad..=x + pad {
                    let (p, q) = (a[yy * w + xx] as f64, b[yy * w + xx] as f64);
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let (ua, ub) = (sa / np, sb / np);
            let va = cov_norm * (saa / np - ua * ua);
            let vb = cov_norm * (sbb / np - ub * ub);
            let vab = cov_norm * (sab / np - ua * ub);
            total += ((2.0 * ua * ub + c1) * (2.0 * vab + c2))
                / ((ua * ua + ub * ub + c1) * (va + vb + c2));
        }
    }
    Some((total / ((h - 2 * pad) * (w - 2 * pad)) as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_ranks_ties_by_their_mean() {
        // scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]) = 0.9486832980505138
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((r - 0.948_683_3).abs() < 1e-6, "{r}");
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0]), Some(-1.0));
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(ranks(&[0.5, -1.0, 0.5, 0.5]), vec![3.0, 1.0, 3.0, 3.0]);
    }

    #[test]
    fn ssim_is_one_for_equal_maps_and_falls_with_noise() {
        let (h, w) = (9, 10);
        let a: Vec<f32> = (0..h * w).map(|i| (i % 7) as f32 / 6.0).collect();
        assert!((ssim(&a, &a, h, w).unwrap() - 1.0).abs() < 1e-6);
        let b: Vec<f32> = a.iter().rev().copied().collect();
        // skimage.metrics.structural_similarity(a, b, data_range=1.0) = -0.24506040693561962
        let got = ssim(&a, &b, h, w).unwrap();
        assert!((got + 0.245_060_4).abs() < 1e-6, "{got}");
        assert_eq!(ssim(&a[..36], &a[..36], 6, 6), None);
    }
}
