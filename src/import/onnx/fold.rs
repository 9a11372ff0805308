//! Constant folding of the shape arithmetic exporters emit around Flatten and Reshape
//! (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Cast, Slice, Equal/Where, …). Input shapes
//! are static, so these chains evaluate to constants at import and never become layers.
//! Values are tiny; they are computed in f64, which holds every integer they can contain exactly.

use super::tensor::{Const, ConstData};
use crate::error::{Error, Result};
use crate::model::shape::broadcast;
use crate::model::HostTensor;

/// A small dense array used while folding.
#[derive(Clone, Debug, PartialEq)]
pub struct Nd {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub is_int: bool,
}

/// Folding never needs large tensors; refuse rather than evaluate a huge constant expression.
const MAX_FOLD_ELEMENTS: usize = 1 << 24;

impl Nd {
    pub fn from_const(c: &Const) -> Result<Nd> {
        if c.numel() > MAX_FOLD_ELEMENTS {
            return Err(Error::graph(
                &c.name,
                "constant expression is too large to evaluate at import",
            ));
        }
        let nd = match &c.data {
            ConstData::Int(v) => Nd {
                shape: c.shape.clone(),
                data: v.iter().map(|&x| x as f64).collect(),
                is_int: true,
            },
            ConstData::Float { .. } => Nd {
                shape: c.shape.clone(),
                data: c.floats()?.data.iter().map(|&x| x as f64).collect(),
                is_int: false,
            },
        };
        // Every operation below indexes by the shape: the values must fill it.
        if checked_numel(&nd.shape) != Some(nd.data.len()) {
            return Err(Error::graph(
                &c.name,
                format!(
                    "constant of shape {:?} holds {} values",
                    nd.shape,
                    nd.data.len()
                ),
            ));
        }
        Ok(nd)
    }

    pub fn ints(shape: Vec<usize>, v: impl IntoIterator<Item = i64>) -> Nd {
        Nd {
            shape,
            data: v.into_iter().map(|x| x as f64).collect(),
            is_int: true,
        }
    }

    pub fn into_const(self, name: &str) -> Const {
        if self.is_int {
            Const::int(
                name,
                self.shape,
                self.data.iter().map(|&x| x as i64).collect(),
            )
        } else {
            Const::float(
                name,
                HostTensor {
                    shape: self.shape,
                    data: self.data.iter().map(|&x| x as f32).collect(),
                },
            )
        }
    }

    fn strides(shape: &[usize]) -> Vec<usize> {
        let mut s = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * shape[i + 1];
        }
        s
    }

    /// Element-wise binary op with numpy broadcasting.
    pub fn zip(&self, other: &Nd, f: impl Fn(f64, f64) -> f64) -> Result<Nd, String> {
        let shape = broadcast(&self.shape, &other.shape)?;
        let n = bounded(&shape)?;
        let index = |src: &Nd, flat: usize| -> usize {
            let off = shape.len() - src.shape.len();
            let strides = Self::strides(&src.shape);
            let out_strides = Self::strides(&shape);
            let mut idx = 0;
            for (d, &len) in src.shape.iter().enumerate() {
                let coord = (flat / out_strides[d + off]) % shape[d + off];
                if len != 1 {
                    idx += coord * strides[d];
                }
            }
            idx
        };
        let data = (0..n)
            .map(|i| f(self.data[index(self, i)], other.data[index(other, i)]))
            .collect();
        Ok(Nd {
            shape,
            data,
            is_int: self.is_int && other.is_int,
        })
    }

    /// numpy `take(indices, axis)`, negative indices counting from the end.
    pub fn gather(&self, indices: &Nd, axis: usize) -> Result<Nd, String> {
        let dim = *self.shape.get(axis).ok_or("gather axis out of range")?;
        let outer: usize = self.shape[..axis].iter().product();
        let inner: usize = self.shape[axis + 1..].iter().product();
        bounded(&[outer, indices.data.len(), inner])?;
        let mut data = Vec::with_capacity(outer * indices.data.len() * inner);
        for o in 0..outer {
            for &ix in &indices.data {
                let ix = if ix < 0.0 { ix + dim as f64 } else { ix };
                if ix < 0.0 || ix >= dim as f64 {
                    return Err(format!("gather index {ix} out of range for dim {dim}"));
                }
                let base = (o * dim + ix as usize) * inner;
                data.extend_from_slice(&self.data[base..base + inner]);
            }
        }
        let shape = [
            &self.shape[..axis],
            &indices.shape[..],
            &self.shape[axis + 1..],
        ]
        .concat();
        Ok(Nd {
            shape,
            data,
            is_int: self.is_int,
        })
    }

    /// Concatenation along `axis`.
    pub fn concat(parts: &[Nd], axis: usize) -> Result<Nd, String> {
        let first = parts.first().ok_or("concat of nothing")?;
        // Checked before any indexing: a file may join anything (found by fuzzing).
        for p in parts {
            if p.shape.len() != first.shape.len() || axis >= p.shape.len() {
                return Err("concat of tensors of different ranks, or past their rank".into());
            }
            let off_axis = |s: &[usize]| [&s[..axis], &s[axis + 1..]].concat();
            if off_axis(&p.shape) != off_axis(&first.shape) {
                return Err(format!(
                    "concat of shapes {:?} and {:?}, which differ off axis {axis}",
                    first.shape, p.shape
                ));
            }
            if p.shape.iter().product::<usize>() != p.data.len() {
                return Err("a constant's data does not fill its shape".into());
            }
        }
        let outer: usize = first.shape[..axis].iter().product();
        let mut shape = first.shape.clone();
        shape[axis] = parts.iter().map(|p| p.shape[axis]).sum();
        bounded(&shape)?;
        let mut data = Vec::new();
        for o in 0..outer {
            for p in parts {
                let chunk: usize = p.shape[axis..].iter().product();
                data.extend_from_slice(&p.data[o * chunk..(o + 1) * chunk]);
            }
        }
        Ok(Nd {
            shape,
            data,
            is_int: parts.iter().all(|p| p.is_int),
        })
    }

    /// Permutes the dims (numpy `transpose(perm)`); `perm` must be a permutation of the dims.
    pub fn transpose(&self, perm: &[usize]) -> Result<Nd, String> {
        if !is_permutation(perm, self.shape.len()) {
            return Err(format!(
                "perm {perm:?} is not a permutation of the {} dims",
                self.shape.len()
            ));
        }
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        let src_strides = Self::strides(&self.shape);
        let out_strides = Self::strides(&shape);
        let n = self.data.len();
        let data = (0..n)
            .map(|flat| {
                let mut idx = 0;
                for (d, &p) in perm.iter().enumerate() {
                    let coord = (flat / out_strides[d]) % shape[d];
                    idx += coord * src_strides[p];
                }
                self.data[idx]
            })
            .collect();
        Ok(Nd {
            shape,
            data,
            is_int: self.is_int,
        })
    }

    /// ONNX Slice on one axis (start/end already clamped by the caller's rules).
    pub fn slice(&self, axis: usize, start: i64, end: i64, step: i64) -> Result<Nd, String> {
        let dim = *self.shape.get(axis).ok_or("slice axis out of range")? as i64;
        let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (start, end) = if step > 0 {
            (clamp(norm(start), 0, dim), clamp(norm(end), 0, dim))
        } else {
            (
                clamp(norm(start), 0, dim - 1),
                clamp(norm(end), -1, dim - 1),
            )
        };
        if step == 0 {
            return Err("slice step 0".into());
        }
        let mut idx = Vec::new();
        let mut i = start;
        while (step > 0 && i < end) || (step < 0 && i > end) {
            idx.push(i);
            match i.checked_add(step) {
                Some(next) => i = next,
                None => break,
            }
        }
        let n = idx.len();
        self.gather(&Nd::ints(vec![n], idx), axis)
    }
}

/// The number of elements of `shape`, if it does not overflow.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// The number of elements of `shape`, refused past what folding evaluates.
fn bounded(shape: &[usize]) -> Result<usize, String> {
    checked_numel(shape)
        .filter(|&n| n <= MAX_FOLD_ELEMENTS)
        .ok_or_else(|| format!("a constant expression of shape {shape:?} is too large to evaluate"))
}

/// Whether `perm` holds each of `0..rank` once.
pub fn is_permutation(perm: &[usize], rank: usize) -> bool {
    let mut seen = vec![false; rank];
    perm.len() == rank
        && perm
            .iter()
            .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_chain_folds() {
        // Shape([1,8,4,4]) -> Gather(0) -> Unsqueeze -> Concat([-1]) gives [1, -1].
        let shape = Nd::ints(vec![4], [1, 8, 4, 4]);
        let n = shape.gather(&Nd::ints(vec![], [0]), 0).unwrap();
        assert_eq!(n.shape, Vec::<usize>::new());
        let n = Nd {
            shape: vec![1],
            ..n
        };
        let target = Nd::concat(&[n, Nd::ints(vec![1], [-1])], 0).unwrap();
        assert_eq!(target.data, vec![1.0, -1.0]);
    }

    #[test]
    fn broadcasting_zip_and_slice() {
        let a = Nd::ints(vec![2, 1], [1, 2]);
        let b = Nd::ints(vec![3], [10, 20, 30]);
        let c = a.zip(&b, |x, y| x * y).unwrap();
        assert_eq!(c.shape, vec![2, 3]);
        assert_eq!(c.data, vec![10.0, 20.0, 30.0, 20.0, 40.0, 60.0]);
        let s = Nd::ints(vec![4], [1, 8, 4, 4])
            .slice(0, 2, i64::MAX, 1)
            .unwrap();
        assert_eq!(s.data, vec![4.0, 4.0]);
        let r = Nd::ints(vec![4], [1, 8, 4, 4])
            .slice(0, -1, i64::MIN, -1)
            .unwrap();
        assert_eq!(r.data, vec![4.0, 4.0, 8.0, 1.0]);
        let t = Nd::ints(vec![2, 3], [1, 2, 3, 4, 5, 6])
            .transpose(&[1, 0])
            .unwrap();
        assert_eq!(
            (t.shape, t.data),
            (vec![3, 2], vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0])
        );
    }

    /// What fuzzing found, and its neighbours: errors, never panics.
    #[test]
    fn malformed_folds_are_errors() {
        let a = Nd::ints(vec![2, 3], [1, 2, 3, 4, 5, 6]);
        assert!(a.transpose(&[0, 0]).is_err());
        assert!(a.transpose(&[1]).is_err());
        assert!(a.transpose(&[0, 2]).is_err());
        assert!(a.slice(2, 0, 1, 1).is_err());
        assert_eq!(
            a.slice(1, 0, i64::MAX, i64::MAX).unwrap().data,
            vec![1.0, 4.0]
        );
        assert!(Nd::concat(&[a.clone(), Nd::ints(vec![2, 2], [1, 2, 3, 4])], 0).is_err());
        let long = Nd::ints(vec![1 << 13], vec![1; 1 << 13]);
        let tall = Nd::ints(vec![1 << 13, 1], vec![1; 1 << 13]);
        assert!(
            long.zip(&tall, |x, y| x + y).is_err(),
            "2^26 elements were evaluated"
        );
    }
}
