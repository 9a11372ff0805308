//! Occlusion (Zeiler & Fergus 2014), as captum's `Occlusion` defines it: a window slides over
//! every input dim (channels included) from index 0 in steps of the stride, the last window cut
//! at the edge (⌈(D − w)/s⌉ + 1 positions per dim). Each occluded input replaces the window with
//! the baseline; every element it covers gains F(x) − F(x_occluded) for the target score, and
//! each element's total is divided by the number of windows covering it. Evaluated in batches.

use candle_core::Tensor;

use super::context::{attribution, Cx};
use super::ig::baseline;
use super::{LayerNeed, Method, MethodInfo, Output};
use crate::error::{Error, Result};

pub struct Occlusion;

impl Method for Occlusion {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "occlusion",
            name: "Occlusion",
            layer: LayerNeed::None,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let dims = cx.input.dims()[1..].to_vec();
        let (window, stride) = geometry(cx, &dims)?;
        let windows = windows(&dims, &window, &stride);
        let x: Vec<f32> = cx.input.flatten_all()?.to_vec1()?;
        let base: Vec<f32> = baseline(cx)?.flatten_all()?.to_vec1()?;
        let reference = cx.target_scores(&cx.input)?[0];
        let (mut total, mut count) = (vec![0f32; x.len()], vec![0f32; x.len()]);
        let mut done = 0;
        for chunk in windows.chunks(cx.knobs.batch.max(1)) {
            cx.control.check()?;
            let mut batch = Vec::with_capacity(chunk.len() * x.len());
            for start in chunk {
                let mut occluded = x.clone();
                for i in covered(&dims, start, &window) {
                    occluded[i] = base[i];
                }
                batch.extend_from_slice(&occluded);
            }
            let shape: Vec<usize> = [vec![chunk.len()], dims.clone()].concat();
            let scores = cx.target_scores(&Tensor::from_vec(batch, shape, cx.input.device())?)?;
            for (start, score) in chunk.iter().zip(scores) {
                for i in covered(&dims, start, &window) {
                    total[i] += reference - score;
                    count[i] += 1.0;
                }
            }
            done += chunk.len();
            cx.control.step(done, windows.len(), "windows")?;
        }
        let attr: Vec<f32> = total
            .iter()
            .zip(&count)
            .map(|(t, c)| t / c.max(1.0))
            .collect();
        let attr = Tensor::from_vec(attr, cx.input.dims(), cx.input.device())?;
        let mut out: Output = attribution(&attr)?.into();
        out.extras.insert("windows".into(), windows.len().into());
        Ok(out)
    }
}

/// The window and stride over the input dims; `H,W` forms cover every channel.
fn geometry(cx: &Cx<'_>, dims: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
    let expand = |v: &[usize], what: &str| -> Result<Vec<usize>> {
        let full = match v.len() {
            n if n == dims.len() => v.to_vec(),
            n if n + 1 == dims.len() => [vec![dims[0]], v.to_vec()].concat(),
            _ => {
                return Err(Error::Usage(format!(
                    "--{what} {v:?} must give {} or {} sizes for an input of shape {dims:?}",
                    dims.len() - 1,
                    dims.len()
                )))
            }
        };
        if full.contains(&0) {
            return Err(Error::Usage(format!(
                "--{what} sizes must be positive, got {v:?}"
            )));
        }
        Ok(full)
    };
    let window = expand(&cx.knobs.window, "window")?;
    let stride = expand(&cx.knobs.stride, "stride")?;
    if let Some(i) = (0..dims.len()).find(|&i| window[i] > dims[i]) {
        return Err(Error::Usage(format!(
            "--window {window:?} is larger than the input {dims:?} along dim {i}"
        )));
    }
    // A stride beyond the window would leave elements no window covers, with no attribution.
    if let Some(i) = (0..dims.len()).find(|&i| stride[i] > window[i]) {
        return Err(Error::Usage(format!(
            "--stride {stride:?} is larger than the window {window:?} along dim {i}: some inputs would never be occluded"
        )));
    }
    Ok((window, stride))
}

/// Every window's start, the first dim varying fastest (captum's feature order).
fn windows(dims: &[usize], window: &[usize], stride: &[usize]) -> Vec<Vec<usize>> {
    let counts: Vec<usize> = (0..dims.len())
        .map(|i| (dims[i] - window[i]).div_ceil(stride[i]) + 1)
        .collect();
    let n: usize = counts.iter().product();
    (0..n)
        .map(|mut k| {
            (0..dims.len())
                .map(|i| {
                    let start = (k % counts[i]) * stride[i];
                    k /= counts[i];
                    start
                })
                .collect()
        })
        .collect()
}

/// Flat indices (C order) of the elements a window starting at `start` covers, cut at the edge.
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
    fn windows_follow_captum() {
        // 1-D length 10, window 4, stride 3: ⌈6/3⌉ + 1 = 3 starts at 0, 3, 6.
        let w = windows(&[10], &[4], &[3]);
        assert_eq!(w, vec![vec![0], vec![3], vec![6]]);
        // Length 10, window 4, stride 4: ⌈6/4⌉ + 1 = 3 starts; the last (8..12) is cut to 8..10.
        let w = windows(&[10], &[4], &[4]);
        assert_eq!(w.last().unwrap(), &vec![8]);
        assert_eq!(covered(&[10], &[8], &[4]), vec![8, 9]);
        // 2-D: the first dim varies fastest.
        let w = windows(&[2, 3], &[1, 3], &[1, 1]);
        assert_eq!(w, vec![vec![0, 0], vec![1, 0]]);
        assert_eq!(covered(&[2, 3], &[1, 1], &[1, 2]), vec![4, 5]);
    }
}
