//! Output-shape inference per layer kind, at batch 1. Importers call it for every layer, so a
//! model whose shapes do not fit together is refused at load time with the layer named.

use super::kind::*;
use super::weights::Weight;
use crate::error::{Error, Result};

/// Largest activation we accept (elements of one layer output at batch 1): 2^31, i.e. 8 GiB of
/// f32. Protects against files that declare absurd input sizes.
pub const MAX_ACTIVATION_ELEMENTS: usize = 1 << 31;

/// Infers the output shape of `kind` from its inputs' shapes (and weights, for their shapes).
pub fn infer(
    name: &str,
    kind: &LayerKind,
    inputs: &[&[usize]],
    weights: &[Weight],
) -> Result<Vec<usize>> {
    let err = |detail: String| Error::graph(name, detail);
    let first = || -> Result<&[usize]> {
        inputs
            .first()
            .copied()
            .ok_or_else(|| err("has no input".into()))
    };
    let rank4 = |what: &str| -> Result<[usize; 4]> {
        let s = first()?;
        <[usize; 4]>::try_from(s)
            .map_err(|_| err(format!("{what} needs a 4-D NCHW input, got shape {s:?}")))
    };
    let shape = match kind {
        LayerKind::Input => return Err(err("input layers have no inferred shape".into())),
        LayerKind::Conv2d(c) => {
            let [n, ch, h, w] = rank4("convolution")?;
            if ch != c.in_channels {
                return Err(err(format!(
                    "expects {} input channels but receives {ch}",
                    c.in_channels
                )));
            }
            let (oh, ow) = spatial(&c.window, h, w, false).ok_or_else(|| {
                err(format!(
                    "kernel {:?} does not fit the {h}x{w} input",
                    c.window.kernel
                ))
            })?;
            vec![n, c.filters, oh, ow]
        }
        LayerKind::ConvTranspose2d(c) => {
            let [n, ch, h, w] = rank4("transposed convolution")?;
            if ch != c.in_channels {
                return Err(err(format!(
                    "expects {} input channels but receives {ch}",
                    c.in_channels
                )));
            }
            let too_small = || err(format!("crops more than its {h}x{w} input makes"));
            let oh = c.out_len(0, h).ok_or_else(too_small)?;
            let ow = c.out_len(1, w).ok_or_else(too_small)?;
            vec![n, c.filters, oh, ow]
        }
        LayerKind::Upsample(u) => {
            let [n, ch, h, w] = rank4("upsampling")?;
            let scaled = h.checked_mul(u.scale[0]).zip(w.checked_mul(u.scale[1]));
            let (oh, ow) = scaled.ok_or_else(|| err("upsamples beyond any size".into()))?;
            vec![n, ch, oh, ow]
        }
        LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p) => {
            let [n, ch, h, w] = rank4("pooling")?;
            let (oh, ow) = spatial(&p.window, h, w, p.ceil_mode).ok_or_else(|| {
                err(format!(
                    "window {:?} does not fit the {h}x{w} input",
                    p.window.kernel
                ))
            })?;
            vec![n, ch, oh, ow]
        }
        LayerKind::GlobalAvgPool | LayerKind::GlobalMaxPool => {
            let s = first()?;
            if s.len() < 3 {
                return Err(err(format!(
                    "global pooling needs a spatial input, got {s:?}"
                )));
            }
            let mut out = s.to_vec();
            out[2..].iter_mut().for_each(|d| *d = 1);
            out
        }
        LayerKind::BatchNorm(b) => {
            let s = first()?;
            if s.len() < 2 || s[1] != b.channels {
                return Err(err(format!(
                    "normalizes {} channels but its input has shape {s:?}",
                    b.channels
                )));
            }
            s.to_vec()
        }
        LayerKind::Activation(_) | LayerKind::Dropout { .. } | LayerKind::Identity => {
            first()?.to_vec()
        }
        LayerKind::PRelu => broadcast(first()?, &weights[0].shape).map_err(err)?,
        LayerKind::LayerNorm(c) => {
            let s = first()?;
            if c.axis == 0 || c.axis >= s.len() {
                return Err(err(format!(
                    "axis {} is out of range for shape {s:?}",
                    c.axis
                )));
            }
            s.to_vec()
        }
        LayerKind::Binary(b) => {
            let (a, bshape) = match b.constant {
                None => (
                    first()?,
                    *inputs
                        .get(1)
                        .ok_or_else(|| err("needs two inputs".into()))?,
                ),
                Some(_) => (first()?, weights[0].shape.as_slice()),
            };
            let out = broadcast(a, bshape).map_err(err)?;
            if out.first() != a.first() && !a.is_empty() {
                return Err(err(format!(
                    "operand of shape {bshape:?} would change the batch dim"
                )));
            }
            out
        }
        LayerKind::Linear(c) => {
            let s = first()?;
            if s.last() != Some(&c.in_features) {
                return Err(err(format!(
                    "expects {} input features but its input has shape {s:?}",
                    c.in_features
                )));
            }
            let mut out = s.to_vec();
            *out.last_mut().expect("non-empty") = c.units;
            out
        }
        LayerKind::MatMul => {
            let (a, b) = (
                first()?,
                *inputs
                    .get(1)
                    .ok_or_else(|| err("needs two inputs".into()))?,
            );
            matmul_shape(a, b).map_err(err)?
        }
        LayerKind::Softmax { axis, .. } => {
            let s = first()?;
            check_axis(*axis, s).map_err(err)?;
            s.to_vec()
        }
        LayerKind::Concat { axis } => {
            let s = first()?;
            check_axis(*axis, s).map_err(err)?;
            let mut out = s.to_vec();
            out[*axis] = 0;
            for other in inputs {
                let same = other.len() == s.len()
                    && other
                        .iter()
                        .zip(s)
                        .enumerate()
                        .all(|(i, (a, b))| i == *axis || a == b);
                if !same {
                    return Err(err(format!(
                        "cannot concatenate {other:?} with {s:?} on axis {axis}"
                    )));
                }
                out[*axis] += other[*axis];
            }
            out
        }
        LayerKind::Transpose { perm } => {
            let s = first()?;
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..s.len()).collect::<Vec<_>>() || perm.first() != Some(&0) {
                return Err(err(format!(
                    "permutation {perm:?} must reorder the {} dims of {s:?} and keep the batch first",
                    s.len()
                )));
            }
            perm.iter().map(|&p| s[p]).collect()
        }
        LayerKind::Pad(p) => {
            let s = first()?;
            if p.pads.len() != s.len() {
                return Err(err(format!(
                    "has {} pad pairs for a rank-{} input",
                    p.pads.len(),
                    s.len()
                )));
            }
            let mut out = Vec::with_capacity(s.len());
            for (&d, &(b, e)) in s.iter().zip(&p.pads) {
                let len = d as i64 + b + e;
                if len <= 0 {
                    return Err(err(format!(
                        "pads {:?} remove the whole input {s:?}",
                        p.pads
                    )));
                }
                if matches!(p.mode, PadMode::Reflect) && (b >= d as i64 || e >= d as i64) {
                    return Err(err(format!(
                        "reflect padding {b},{e} needs a dim longer than {d}"
                    )));
                }
                out.push(len as usize);
            }
            out
        }
        LayerKind::ReduceMean { axes, keepdims } => {
            let s = first()?;
            for &a in axes {
                check_axis(a, s).map_err(err)?;
            }
            let mut out = Vec::new();
            for (i, &d) in s.iter().enumerate() {
                if !axes.contains(&i) {
                    out.push(d);
                } else if *keepdims {
                    out.push(1);
                }
            }
            out
        }
        LayerKind::Reshape(op) => reshape_shape(op, first()?).map_err(err)?,
    };
    let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match numel {
        // A zero-sized output (a convolution with no filters) has nothing to run or draw, and
        // the kernels divide by its sizes.
        Some(0) => Err(err(format!(
            "output shape {shape:?} has a dimension of size 0; convscope runs no empty tensors"
        ))),
        Some(n) if n <= MAX_ACTIVATION_ELEMENTS => Ok(shape),
        _ => Err(err(format!(
            "output shape {shape:?} is absurdly large (over {MAX_ACTIVATION_ELEMENTS} elements)"
        ))),
    }
}

fn spatial(w: &Window, h: usize, wd: usize, ceil: bool) -> Option<(usize, usize)> {
    Some((w.out_len(0, h, ceil)?, w.out_len(1, wd, ceil)?))
}

fn check_axis(axis: usize, s: &[usize]) -> std::result::Result<(), String> {
    if axis == 0 || axis >= s.len() {
        Err(format!(
            "axis {axis} is out of range for shape {s:?} (axis 0 is the batch)"
        ))
    } else {
        Ok(())
    }
}

/// Numpy broadcasting of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> std::result::Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        let off = rank - s.len();
        if i < off {
            1
        } else {
            s[i - off]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect()
}

fn matmul_shape(a: &[usize], b: &[usize]) -> std::result::Result<Vec<usize>, String> {
    if a.len() < 2 || b.len() < 2 || a[a.len() - 1] != b[b.len() - 2] {
        return Err(format!(
            "cannot multiply matrices of shapes {a:?} and {b:?}"
        ));
    }
    let batch = broadcast(&a[..a.len() - 2], &b[..b.len() - 2])?;
    Ok([batch, vec![a[a.len() - 2], b[b.len() - 1]]].concat())
}

fn reshape_shape(op: &ReshapeOp, s: &[usize]) -> std::result::Result<Vec<usize>, String> {
    match op {
        ReshapeOp::Flatten { axis } => {
            if *axis == 0 || *axis > s.len() {
                return Err(format!("flatten axis {axis} is out of range for {s:?}"));
            }
            // Dim 0 stays the batch only if nothing else is merged into it.
            if s[1..*axis].iter().any(|&d| d != 1) {
                return Err(format!(
                    "flatten axis {axis} of {s:?} would merge the batch with other dims; only axis=1 is supported"
                ));
            }
            Ok(vec![
                s[..*axis].iter().product(),
                s[*axis..].iter().product(),
            ])
        }
        ReshapeOp::Squeeze { axes } => {
            if axes.iter().any(|&a| a == 0 || a >= s.len() || s[a] != 1) {
                return Err(format!("cannot squeeze axes {axes:?} of {s:?}"));
            }
            Ok(s.iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect())
        }
        ReshapeOp::Unsqueeze { axes } => {
            let rank = s.len() + axes.len();
            if axes.iter().any(|&a| a == 0 || a >= rank) {
                return Err(format!("cannot unsqueeze axes {axes:?} of {s:?}"));
            }
            let mut dims = s.iter();
            Ok((0..rank)
                .map(|i| {
                    if axes.contains(&i) {
                        1
                    } else {
                        *dims.next().expect("rank checked")
                    }
                })
                .collect())
        }
        // Reshape targets are resolved by the importer, which sets the layer's shape itself.
        ReshapeOp::Reshape => Err("reshape target must be resolved by the importer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(k: usize, s: usize, p: usize) -> Window {
        Window {
            kernel: [k, k],
            strides: [s, s],
            dilation: [1, 1],
            pads: [p; 4],
            mode: PaddingMode::Explicit,
        }
    }

    #[test]
    fn pool_ceil_mode_matches_pytorch() {
        // torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True): 7 -> 4, 8 -> 5 (floor: 4).
        let w = window(3, 2, 1);
        assert_eq!(w.out_len(0, 7, true), Some(4));
        assert_eq!(w.out_len(0, 8, true), Some(5));
        assert_eq!(w.out_len(0, 8, false), Some(4));
        // torch.nn.MaxPool2d(3, 2, 0, ceil_mode=True) on 6: ceil(3/2)+1 = 3, the third window
        // starts at 4 < 6 so it stays.
        assert_eq!(window(3, 2, 0).out_len(0, 6, true), Some(3));
        // MaxPool(2, 2, ceil) on 5 -> 3 (torch), floor -> 2.
        let w = window(2, 2, 0);
        assert_eq!(w.out_len(0, 5, true), Some(3));
        assert_eq!(w.out_len(0, 5, false), Some(2));
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast(&[1, 8, 4, 4], &[8, 1, 1]).unwrap(),
            vec![1, 8, 4, 4]
        );
        assert!(broadcast(&[1, 8, 4, 4], &[3, 1, 1]).is_err());
    }

    #[test]
    fn flatten_keeps_the_batch_first() {
        let f = |axis| reshape_shape(&ReshapeOp::Flatten { axis }, &[1, 3, 2, 4]);
        assert_eq!(f(1).unwrap(), vec![1, 24]);
        assert!(
            f(2).is_err(),
            "axis 2 would merge the batch with the channels"
        );
        let g = reshape_shape(&ReshapeOp::Flatten { axis: 2 }, &[1, 1, 2, 4]).unwrap();
        assert_eq!(g, vec![1, 8]);
    }

    #[test]
    fn squeeze_and_unsqueeze() {
        let sq = ReshapeOp::Squeeze { axes: vec![2, 3] };
        assert_eq!(reshape_shape(&sq, &[1, 8, 1, 1]).unwrap(), vec![1, 8]);
        let un = ReshapeOp::Unsqueeze { axes: vec![2, 3] };
        assert_eq!(reshape_shape(&un, &[1, 8]).unwrap(), vec![1, 8, 1, 1]);
    }
}
