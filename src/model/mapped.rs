//! Weights left in their file (safetensors, PyTorch checkpoints, ONNX initializers): where a
//! view lies in the file's map, and decoding it into f32 values when a pass needs them.

use std::io;
use std::sync::Arc;

use super::weights::{decode_le, decode_le_into, StoredType};
use crate::files::ReadMap;

/// How many bytes of a contiguous view are copied out of the file at a time: the buffer is all
/// that is held besides the values (VGG16's first dense kernel is 411 MB).
const PIECE: usize = 4 << 20;

/// Values inside a memory-mapped file: `offset` in bytes, `strides` in elements (PyTorch
/// tensors may be views; safetensors are contiguous). The importer checks the extent.
#[derive(Clone, Debug)]
pub struct Mapped {
    pub map: Arc<ReadMap>,
    pub offset: usize,
    pub strides: Vec<usize>,
}

/// Row-major strides, in elements, of a tensor of `shape` stored without gaps.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

impl Mapped {
    /// The `bytes` of a tensor of `shape` stored row-major without gaps, if they are a slice of
    /// `map` (a protobuf field decoded from the map without a copy).
    pub fn slice_of(map: &Arc<ReadMap>, bytes: &[u8], shape: &[usize]) -> Option<Mapped> {
        let offset = (bytes.as_ptr() as usize).checked_sub(map.as_ptr() as usize)?;
        (offset.checked_add(bytes.len())? <= map.len()).then(|| Mapped {
            map: map.clone(),
            offset,
            strides: contiguous_strides(shape),
        })
    }

    /// Whether the view is row-major over `shape` with no gaps (strides of size-1 dims do not
    /// matter), so that its values are one slice of the map.
    pub fn is_contiguous(&self, shape: &[usize]) -> bool {
        let mut expect = 1;
        let mut contiguous = self.strides.len() == shape.len();
        for (&n, &s) in shape.iter().zip(&self.strides).rev() {
            contiguous &= n <= 1 || s == expect;
            expect *= n;
        }
        contiguous
    }

    /// Decodes the view (row-major over `shape`), copying it out of the file a piece at a time
    /// (see `files::ReadMap` for why not through the map). An error when the view reaches
    /// outside the file, or the file changed since it was opened.
    pub(crate) fn read(&self, shape: &[usize], stored: StoredType) -> io::Result<Vec<f32>> {
        let size = stored.size();
        let numel: usize = shape.iter().product();
        let outside = || io::Error::other("a tensor lies outside the file");
        if numel == 0 {
            return Ok(Vec::new());
        }
        if self.is_contiguous(shape) {
            let len = numel.checked_mul(size).ok_or_else(outside)?;
            let mut values = Vec::with_capacity(numel);
            let mut piece = vec![0u8; len.min(PIECE)];
            for start in (0..len).step_by(PIECE) {
                let n = (len - start).min(PIECE);
                let at = self.offset.checked_add(start).ok_or_else(outside)?;
                self.map.copy_at(at, &mut piece[..n])?;
                decode_le_into(&piece[..n], stored, &mut values);
            }
            return Ok(values);
        }
        // A strided view (a PyTorch tensor that is a view of a larger storage): its extent is
        // copied out and decoded, then gathered element by element in row-major order.
        let last = shape
            .iter()
            .zip(&self.strides)
            .try_fold(0usize, |acc, (&n, &s)| {
                acc.checked_add((n - 1).checked_mul(s)?)
            })
            .ok_or_else(outside)?;
        let extent = last
            .checked_add(1)
            .and_then(|n| n.checked_mul(size))
            .filter(|&e| {
                self.offset
                    .checked_add(e)
                    .is_some_and(|end| end <= self.map.len())
            })
            .ok_or_else(outside)?;
        let mut bytes = vec![0u8; extent];
        self.map.copy_at(self.offset, &mut bytes)?;
        let extent_values = decode_le(&bytes, stored);
        let mut values = Vec::with_capacity(numel);
        let mut index = vec![0usize; shape.len()];
        for _ in 0..numel {
            let at: usize = index.iter().zip(&self.strides).map(|(i, s)| i * s).sum();
            values.push(extent_values[at]);
            for d in (0..shape.len()).rev() {
                index[d] += 1;
                if index[d] < shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(values)
    }
}
