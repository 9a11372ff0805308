//! Weights read in place from a memory-mapped file (safetensors, PyTorch checkpoints): where a
//! view lies in the map, and decoding it into f32 values while letting the map's pages go, so
//! that a checkpoint is resident once, as tensors, and not also as the file's pages.

use std::sync::Arc;

use super::weights::{decode_le, decode_le_into, StoredType};
use crate::files::ReadMap;

/// How much of a contiguous view is decoded before its pages are released: VGG16's first
/// dense kernel is 411 MB, which would otherwise all be resident twice at the end of its read.
const RELEASE_EVERY: usize = 4 << 20;

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

    /// Decodes the view (row-major over `shape`), releasing the map's pages under it once
    /// read: a later read (weight statistics) faults them back from the page cache. None when
    /// the view reaches outside the map.
    pub(crate) fn read(&self, shape: &[usize], stored: StoredType) -> Option<Vec<f32>> {
        let size = stored.size();
        let numel: usize = shape.iter().product();
        if self.is_contiguous(shape) {
            let end = self.offset.checked_add(numel.checked_mul(size)?)?;
            let bytes = self.map.get(self.offset..end)?;
            let mut values = Vec::with_capacity(numel);
            // A multiple of every element size, so no value straddles two pieces.
            for (i, piece) in bytes.chunks(RELEASE_EVERY).enumerate() {
                decode_le_into(piece, stored, &mut values);
                let start = self.offset + i * RELEASE_EVERY;
                self.map.release(start..start + piece.len());
            }
            return Some(values);
        }
        let values = self.gather(shape, stored, numel)?;
        if numel > 0 {
            let last: usize = shape
                .iter()
                .zip(&self.strides)
                .map(|(n, s)| (n - 1) * s)
                .sum();
            self.map
                .release(self.offset..self.offset + (last + 1) * size);
        }
        Some(values)
    }

    /// A strided view's values, element by element.
    fn gather(&self, shape: &[usize], stored: StoredType, numel: usize) -> Option<Vec<f32>> {
        let size = stored.size();
        let mut bytes = Vec::with_capacity(numel * size);
        let mut index = vec![0usize; shape.len()];
        for _ in 0..numel {
            let at = self.offset
                + index
                    .iter()
                    .zip(&self.strides)
                    .map(|(i, s)| i * s)
                    .sum::<usize>()
                    * size;
            bytes.extend_from_slice(self.map.get(at..at + size)?);
            for d in (0..shape.len()).rev() {
                index[d] += 1;
                if index[d] < shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Some(decode_le(&bytes, stored))
    }
}
