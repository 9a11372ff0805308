//! Where occlusion's windows go: `--window`/`--stride` read as `H,W` (every channel) or `C,H,W`
//! whatever the model's layout, checked in those terms, then placed over the input dims in the
//! model's layout (`[C,H,W]` for NCHW, `[H,W,C]` for NHWC). Starts follow captum's `Occlusion`:
//! from index 0 in steps of the stride, the last window cut at the edge, ⌈(D − w)/s⌉ + 1
//! positions per dim, the first dim varying fastest.

use crate::error::{Error, Result};
use crate::input::preprocess::Layout;

/// The windows over one input (dims without the batch, in the model's layout).
#[derive(Clone, Debug)]
pub struct Windows {
    pub dims: Vec<usize>,
    pub window: Vec<usize>,
    pub stride: Vec<usize>,
    /// Positions along each dim.
    pub counts: Vec<usize>,
    /// Where H and W are in `dims`.
    pub h_axis: usize,
    pub w_axis: usize,
    /// Every window's start, the first dim varying fastest (captum's feature order).
    pub starts: Vec<Vec<usize>>,
}

impl Windows {
    /// Checks `window` and `stride` (2 or 3 sizes, `H,W` or `C,H,W`) against an image input of
    /// `dims` in `layout`.
    pub fn new(window: &[usize], stride: &[usize], dims: &[usize], layout: Layout) -> Result<Self> {
        let [d0, d1, d2] = <[usize; 3]>::try_from(dims).map_err(|_| {
            Error::Usage(format!(
                "occlusion needs an image input (C,H,W or H,W,C), not one of shape {dims:?}"
            ))
        })?;
        // The input in C,H,W terms, whatever the layout.
        let chw = match layout {
            Layout::Nchw => [d0, d1, d2],
            Layout::Nhwc => [d2, d0, d1],
        };
        let w = expand(window, chw[0], "window")?;
        let s = expand(stride, chw[0], "stride")?;
        if let Some(i) = (0..3).find(|&i| w[i] > chw[i]) {
            return Err(Error::Usage(format!(
                "--window {} is larger than the input (C,H,W = {}) along {}: a window must fit inside the input",
                show(&w),
                show(&chw),
                AXES[i]
            )));
        }
        // A stride beyond the window would leave elements no window covers, with no attribution.
        if let Some(i) = (0..3).find(|&i| s[i] > w[i]) {
            return Err(Error::Usage(format!(
                "--stride {} is larger than the window {} along {}: some inputs would never be occluded; use a stride no larger than the window",
                show(&s),
                show(&w),
                AXES[i]
            )));
        }
        let place = |v: [usize; 3]| match layout {
            Layout::Nchw => v.to_vec(),
            Layout::Nhwc => vec![v[1], v[2], v[0]],
        };
        let (window, stride) = (place(w), place(s));
        let counts: Vec<usize> = (0..3)
            .map(|i| (dims[i] - window[i]).div_ceil(stride[i]) + 1)
            .collect();
        let (h_axis, w_axis) = match layout {
            Layout::Nchw => (1, 2),
            Layout::Nhwc => (0, 1),
        };
        Ok(Windows {
            starts: starts(&counts, &stride),
            dims: dims.to_vec(),
            window,
            stride,
            counts,
            h_axis,
            w_axis,
        })
    }

    /// Flat indices (C order) of the elements the window starting at `start` covers.
    pub fn covered(&self, start: &[usize]) -> Vec<usize> {
        covered(&self.dims, start, &self.window)
    }

    /// The rows and columns of the window grid over H and W.
    pub fn grid(&self) -> (usize, usize) {
        (self.counts[self.h_axis], self.counts[self.w_axis])
    }

    /// A window's cell in the H×W grid.
    pub fn cell(&self, start: &[usize]) -> (usize, usize) {
        (
            start[self.h_axis] / self.stride[self.h_axis],
            start[self.w_axis] / self.stride[self.w_axis],
        )
    }

    /// The pixel rows and columns a window covers, cut at the edge.
    pub fn footprint(&self, start: &[usize]) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let span = |a: usize| start[a]..(start[a] + self.window[a]).min(self.dims[a]);
        (span(self.h_axis), span(self.w_axis))
    }

    /// Input height and width.
    pub fn hw(&self) -> (usize, usize) {
        (self.dims[self.h_axis], self.dims[self.w_axis])
    }
}

const AXES: [&str; 3] = ["C", "H", "W"];

fn show(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `H,W` covers every channel; `C,H,W` as given.
fn expand(v: &[usize], channels: usize, what: &str) -> Result<[usize; 3]> {
    let full = match *v {
        [h, w] => [channels, h, w],
        [c, h, w] => [c, h, w],
        _ => {
            return Err(Error::Usage(format!(
                "--{what} {}: expected H,W or C,H,W",
                show(v)
            )))
        }
    };
    if full.contains(&0) {
        return Err(Error::Usage(format!(
            "--{what} sizes must be positive, got {}",
            show(v)
        )));
    }
    Ok(full)
}

fn starts(counts: &[usize], stride: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = counts.iter().product();
    (0..n)
        .map(|mut k| {
            (0..counts.len())
                .map(|i| {
                    let start = (k % counts[i]) * stride[i];
                    k /= counts[i];
                    start
                })
                .collect()
        })
        .collect()
}

fn covered(dims: &[usize], start: &[usize], window: &[usize]) -> Vec<usize> {
    let mut idx = vec![0usize];
    for i in 0..dims.len() {
        let end = (start[i] + window[i]).min(dims[i]);
        idx = idx
            .iter()
            .flat_map(|&base| (start[i]..end).map(move |j| base * dims[i] + j))
            .collect();
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_follow_captum() {
        // 1-D length 10, window 4, stride 3: ⌈6/3⌉ + 1 = 3 starts at 0, 3, 6.
        assert_eq!(starts(&[3], &[3]), vec![vec![0], vec![3], vec![6]]);
        // Length 10, window 4, stride 4: ⌈6/4⌉ + 1 = 3 starts; the last (8..12) is cut to 8..10.
        assert_eq!(covered(&[10], &[8], &[4]), vec![8, 9]);
        // The first dim varies fastest.
        assert_eq!(starts(&[2, 1], &[1, 1]), vec![vec![0, 0], vec![1, 0]]);
        assert_eq!(covered(&[2, 3], &[1, 1], &[1, 2]), vec![4, 5]);
    }

    #[test]
    fn windows_are_given_in_chw_and_placed_in_the_layout() {
        let w = Windows::new(&[5, 5], &[4, 4], &[3, 16, 16], Layout::Nchw).unwrap();
        assert_eq!(
            (w.window.clone(), w.counts.clone()),
            (vec![3, 5, 5], vec![1, 4, 4])
        );
        assert_eq!(w.footprint(&[0, 12, 4]), (12..16, 4..9));
        let w = Windows::new(&[1, 8, 4], &[1, 4, 2], &[32, 32, 3], Layout::Nhwc).unwrap();
        assert_eq!(w.window, vec![8, 4, 1]);
        assert_eq!((w.grid(), w.counts[2]), ((7, 15), 3));
        assert_eq!(w.cell(&[8, 6, 2]), (2, 3));
    }

    #[test]
    fn bad_geometry_names_the_axis() {
        let e = |w: &[usize], s: &[usize]| {
            Windows::new(w, s, &[3, 16, 16], Layout::Nchw)
                .unwrap_err()
                .to_string()
        };
        assert!(e(&[4, 4, 4], &[1, 1]).contains("larger than the input (C,H,W = 3,16,16) along C"));
        assert!(e(&[4, 17], &[1, 1]).contains("along W"));
        assert!(
            e(&[4, 4], &[4, 5]).contains("--stride 3,4,5 is larger than the window 3,4,4 along W")
        );
    }
}
