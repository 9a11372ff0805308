//! Where a change spreads: the index arithmetic of incremental inference, and the crops it
//! reads (cached activation, overlaid with a changed patch, padding outside the map).

/// Along one axis: the output positions `[lo, hi]` whose window (kernel `k`, stride `s`,
/// dilation `d`, leading pad `p`) reads any input in `[a, a + len)`, clamped to `[0, out)`;
/// `None` when no window does (a strided window can step over a change).
pub fn affected(a: usize, len: usize, window: AxisWindow, out: usize) -> Option<(usize, usize)> {
    let AxisWindow { k, s, d, p } = window;
    if len == 0 || out == 0 {
        return None;
    }
    let span = ((k - 1) * d) as isize;
    // Output o reads [o·s − p, o·s − p + span]; it meets [a, a + len) when
    // o·s ≥ a − span + p and o·s ≤ a + len − 1 + p.
    let first = a as isize - span + p as isize;
    let lo = if first <= 0 {
        0
    } else {
        (first + s as isize - 1) / s as isize
    };
    let last = a as isize + len as isize - 1 + p as isize;
    if last < 0 {
        return None;
    }
    let hi = (last / s as isize).min(out as isize - 1);
    // Dilation leaves holes: the range may include windows whose taps all miss the change,
    // which only costs work (their values equal the cache).
    (lo <= hi).then_some((lo as usize, hi as usize))
}

/// One axis of a sliding window.
#[derive(Clone, Copy, Debug)]
pub struct AxisWindow {
    pub k: usize,
    pub s: usize,
    pub d: usize,
    pub p: usize,
}

impl AxisWindow {
    /// The first input row (may be negative: padding) read by `n` outputs from `origin`, and
    /// how many rows they read.
    pub fn reads(&self, origin: usize, n: usize) -> (isize, usize) {
        let start = (origin * self.s) as isize - self.p as isize;
        (start, (n - 1) * self.s + (self.k - 1) * self.d + 1)
    }
}

/// A rectangle of a feature map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub origin: [usize; 2],
    pub size: [usize; 2],
}

/// One changed region per batch element, all of one size.
#[derive(Clone, Debug)]
pub struct Changed {
    pub origins: Vec<[usize; 2]>,
    pub size: [usize; 2],
}

impl Changed {
    pub fn rect(&self, b: usize) -> Rect {
        Rect {
            origin: self.origins[b],
            size: self.size,
        }
    }
}

/// The per-element ranges `(lo, hi)` (inclusive; `None` = nothing) as one size for the batch
/// (the largest) and origins moved back where needed so that every range fits in `[0, out)`.
/// The extra positions are recomputed to values equal to the cache's.
pub fn uniform(ranges: &[[Option<(usize, usize)>; 2]], out: [usize; 2]) -> Changed {
    let mut size = [1, 1];
    for r in ranges {
        for axis in 0..2 {
            if let Some((lo, hi)) = r[axis] {
                size[axis] = size[axis].max(hi - lo + 1);
            }
        }
    }
    let size = [size[0].min(out[0]), size[1].min(out[1])];
    let origins = ranges
        .iter()
        .map(|r| {
            let at = |axis: usize| {
                let lo = r[axis].map_or(0, |(lo, _)| lo);
                lo.min(out[axis] - size[axis])
            };
            [at(0), at(1)]
        })
        .collect();
    Changed { origins, size }
}

/// Where one element's crop comes from: the cached activation plane by plane
/// (`[C, H, W]`), the patch over `rect` (`[C, h, w]`), and `pad` outside the map.
pub struct Source<'a> {
    pub cache: &'a [f32],
    pub hw: [usize; 2],
    pub patch: Option<(&'a [f32], Rect)>,
    pub pad: f32,
}

/// Appends to `out` the `[C, rows, cols]` crop of `src` whose top-left is `start` (map
/// coordinates, negative or past the end = padding).
pub fn crop(
    src: &Source<'_>,
    channels: usize,
    start: [isize; 2],
    len: [usize; 2],
    out: &mut Vec<f32>,
) {
    let [h, w] = src.hw;
    let inside = |v: isize, n: usize| v >= 0 && (v as usize) < n;
    // The columns of the crop that fall inside the map.
    let x0 = (-start[1]).clamp(0, len[1] as isize) as usize;
    let x1 = (w as isize - start[1]).clamp(x0 as isize, len[1] as isize) as usize;
    for c in 0..channels {
        let plane = &src.cache[c * h * w..][..h * w];
        for r in 0..len[0] {
            let y = start[0] + r as isize;
            if !inside(y, h) {
                out.extend(std::iter::repeat_n(src.pad, len[1]));
                continue;
            }
            let y = y as usize;
            let row_start = out.len();
            out.extend(std::iter::repeat_n(src.pad, x0));
            let from = (start[1] + x0 as isize) as usize;
            out.extend_from_slice(&plane[y * w + from..y * w + from + (x1 - x0)]);
            out.extend(std::iter::repeat_n(src.pad, len[1] - x1));
            if let Some((patch, rect)) = src.patch {
                overlay(&mut out[row_start..], start[1], y, c, patch, rect);
            }
        }
    }
}

/// Writes the patch's part of map row `y`, channel `c`, over a crop row starting at map
/// column `x_start`.
fn overlay(row: &mut [f32], x_start: isize, y: usize, c: usize, patch: &[f32], rect: Rect) {
    let ([py, px], [ph, pw]) = (rect.origin, rect.size);
    if y < py || y >= py + ph {
        return;
    }
    // Map columns covered by both the crop row and the patch.
    let lo = (px as isize).max(x_start);
    let hi = ((px + pw) as isize).min(x_start + row.len() as isize);
    if lo >= hi {
        return;
    }
    let src = &patch[(c * ph + (y - py)) * pw..][..pw];
    let (a, b) = ((lo - px as isize) as usize, (hi - px as isize) as usize);
    let at = (lo - x_start) as usize;
    row[at..at + (b - a)].copy_from_slice(&src[a..b]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `affected` against a brute-force scan of every output window.
    #[test]
    fn affected_outputs_are_those_whose_windows_meet_the_change() {
        for k in 1..5 {
            for s in 1..4 {
                for d in 1..3 {
                    for p in 0..3 {
                        let n_in = 13;
                        let span = (k - 1) * d + 1;
                        if n_in + 2 * p < span {
                            continue;
                        }
                        let out = (n_in + 2 * p - span) / s + 1;
                        let win = AxisWindow { k, s, d, p };
                        for a in 0..n_in {
                            for len in 1..=(n_in - a) {
                                let meets = |o: usize| {
                                    let first = (o * s) as isize - p as isize;
                                    (0..k).any(|t| {
                                        let i = first + (t * d) as isize;
                                        i >= a as isize && i < (a + len) as isize
                                    })
                                };
                                let hits: Vec<usize> = (0..out).filter(|&o| meets(o)).collect();
                                let got = affected(a, len, win, out);
                                match (hits.first(), hits.last()) {
                                    (Some(&lo), Some(&hi)) => {
                                        let (glo, ghi) = got.expect("a range");
                                        // Exact ends; dilation may leave holes inside.
                                        assert!(glo <= lo && ghi >= hi, "{win:?} a={a} len={len}");
                                        assert!(meets(glo) || d > 1, "{win:?} a={a} len={len}");
                                        assert!(meets(ghi) || d > 1, "{win:?} a={a} len={len}");
                                    }
                                    _ => assert!(
                                        got.is_none() || d > 1,
                                        "{win:?} a={a} len={len}: {got:?}"
                                    ),
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn crops_read_padding_cache_and_patch() {
        // One channel, a 3x4 map holding 0..12, a 1x2 patch of 100s at (1, 1).
        let cache: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let patch = [100.0, 101.0];
        let rect = Rect {
            origin: [1, 1],
            size: [1, 2],
        };
        let src = Source {
            cache: &cache,
            hw: [3, 4],
            patch: Some((&patch, rect)),
            pad: -1.0,
        };
        let mut out = Vec::new();
        crop(&src, 1, [-1, -1], [3, 4], &mut out);
        #[rustfmt::skip]
        let want = [
            -1.0, -1.0, -1.0, -1.0,
            -1.0,  0.0,  1.0,  2.0,
            -1.0,  4.0, 100.0, 101.0,
        ];
        assert_eq!(out, want);
    }
}
