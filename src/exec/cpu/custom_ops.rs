//! The kernels as candle custom ops: each reads its operands' f32 elements in place (no copy)
//! and returns a new CPU storage. CPU only: other devices never reach them.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape};

/// The f32 elements of a contiguous CPU tensor, which must number `len`.
fn elements<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    name: &str,
    len: usize,
) -> candle_core::Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((from, to))) if to - from == len => Ok(&v[from..to]),
        (CpuStorage::F32(_), Some((from, to))) => {
            candle_core::bail!(
                "{name}: an operand has {} elements where {len} fit",
                to - from
            )
        }
        _ => candle_core::bail!("{name}: expected contiguous f32 operands"),
    }
}

/// A one-operand kernel as a candle op.
pub(super) struct Kernel1<F> {
    pub(super) name: &'static str,
    pub(super) len: usize,
    pub(super) out: Shape,
    pub(super) f: F,
}

impl<F: Fn(&[f32]) -> Vec<f32> + Send + Sync> CustomOp1 for Kernel1<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = elements(s, l, self.name, self.len)?;
        Ok((CpuStorage::F32((self.f)(x)), self.out.clone()))
    }
}

/// A two-operand kernel as a candle op.
pub(super) struct Kernel2<F> {
    pub(super) name: &'static str,
    pub(super) lens: [usize; 2],
    pub(super) out: Shape,
    pub(super) f: F,
}

impl<F: Fn(&[f32], &[f32]) -> Vec<f32> + Send + Sync> CustomOp2 for Kernel2<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = elements(s1, l1, self.name, self.lens[0])?;
        let b = elements(s2, l2, self.name, self.lens[1])?;
        Ok((CpuStorage::F32((self.f)(a, b)), self.out.clone()))
    }
}

/// A three-operand kernel as a candle op.
pub(super) struct Kernel3<F> {
    pub(super) name: &'static str,
    pub(super) lens: [usize; 3],
    pub(super) out: Shape,
    pub(super) f: F,
}

impl<F: Fn(&[f32], &[f32], &[f32]) -> Vec<f32> + Send + Sync> CustomOp3 for Kernel3<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = elements(s1, l1, self.name, self.lens[0])?;
        let b = elements(s2, l2, self.name, self.lens[1])?;
        let c = elements(s3, l3, self.name, self.lens[2])?;
        Ok((CpuStorage::F32((self.f)(a, b, c)), self.out.clone()))
    }
}
