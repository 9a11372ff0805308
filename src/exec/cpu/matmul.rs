//! A bounds-checked front to the `gemm` crate (the same GEMM candle uses, here built with its
//! AVX-512 kernels): strided row-major views in, `dst (+)= lhs · rhs` out.

use gemm::Parallelism;
use rayon::prelude::*;

/// One output buffer written by several threads at disjoint parts (GEMM blocks, bands of rows,
/// channels), which no `&mut` split can express: the callers of [`matmul_raw`] and the
/// convolution kernels hand its pointer to rayon tasks.
pub struct SharedOut(pub *mut f32);

// SAFETY: only used to hand disjoint parts of one buffer to rayon tasks; every use states why
// its parts are disjoint.
unsafe impl Sync for SharedOut {}
unsafe impl Send for SharedOut {}

impl SharedOut {
    /// A method, so that closures capture the wrapper (which is `Sync`), not the raw field.
    pub fn ptr(&self) -> *mut f32 {
        self.0
    }
}

/// A strided matrix view over a slice: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major `rows × cols` matrix at the start of `data`.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The same elements read as the transpose.
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst := lhs · rhs`, or `dst += lhs · rhs` with `accumulate`. `dst` is `lhs.rows ×
/// rhs.cols` with row stride `dst_rs` and unit column stride. Runs on `threads` of rayon's
/// pool (1 = the calling thread only).
pub fn matmul(
    dst: &mut [f32],
    dst_rs: usize,
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
    threads: usize,
) {
    let (m, n) = (lhs.rows, rhs.cols);
    if m > 0 && n > 0 {
        assert!(
            (m - 1) * dst_rs + n <= dst.len(),
            "matmul: destination view out of bounds"
        );
    }
    // SAFETY: the destination view lies inside `dst` (checked above), which is borrowed
    // mutably, so nothing else reads or writes it.
    unsafe { matmul_raw(dst.as_mut_ptr(), dst_rs, lhs, rhs, accumulate, threads) }
}

/// [`matmul`] into a raw destination, for threads that each write a disjoint block (a band
/// of columns) of one output matrix, where no `&mut` slice can be split off for each.
///
/// # Safety
/// `dst` must be valid for writes at `i·dst_rs + j` for every `i < lhs.rows`, `j < rhs.cols`,
/// and no other thread may touch those elements during the call.
pub unsafe fn matmul_raw(
    dst: *mut f32,
    dst_rs: usize,
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
    threads: usize,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "matmul: inner dimensions differ");
    assert!(
        lhs.in_bounds() && rhs.in_bounds(),
        "matmul: operand view out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                std::ptr::write_bytes(dst.add(i * dst_rs), 0, n);
            }
        }
        return;
    }
    if threads > 1 && n < ROW_SPLIT_MAX_COLS && m >= threads * ROW_BLOCK {
        // Few columns (the late, small maps of a network at batch 1): each thread takes a
        // block of rows with a one-thread GEMM. Each then packs all of `rhs`, cheap at this
        // width; measured against the GEMM's own threading on 2 threads, 512x49x4608 went
        // from 144 to 173 GFLOP/s and 256x196x2304 from 155 to 207 (column slices: 170, 194).
        let per = m.div_ceil(threads).div_ceil(ROW_BLOCK) * ROW_BLOCK;
        // SAFETY: row blocks of the destination are disjoint.
        unsafe {
            gemm_blocks(dst, dst_rs, accumulate, m, per, |r0, r1| {
                let lhs = MatRef {
                    data: &lhs.data[r0 * lhs.rs..],
                    rows: r1 - r0,
                    ..lhs
                };
                (r0 * dst_rs, lhs, rhs)
            })
        };
        return;
    }
    if threads > 1 && n >= threads * MIN_SPLIT_COLS {
        // Each thread takes a slice of the columns with a one-thread GEMM: on this machine that
        // beat the GEMM's own threading on ResNet's small late maps.
        let per = n.div_ceil(threads);
        // SAFETY: column blocks of the destination are disjoint.
        unsafe {
            gemm_blocks(dst, dst_rs, accumulate, n, per, |c0, c1| {
                let rhs = MatRef {
                    data: &rhs.data[c0 * rhs.cs..],
                    cols: c1 - c0,
                    ..rhs
                };
                (c0, lhs, rhs)
            })
        };
        return;
    }
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    gemm_call(dst, dst_rs, lhs, rhs, accumulate, parallelism);
}

/// The product as one-thread GEMMs over the blocks `[start, start + per)` of `0..len` (rows or
/// columns), in parallel: `block(start, end)` gives a block's offset in `dst` and its operands.
///
/// # Safety
/// As [`matmul_raw`], for every block; the blocks' parts of `dst` must be disjoint.
unsafe fn gemm_blocks<'a>(
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    len: usize,
    per: usize,
    block: impl Fn(usize, usize) -> (usize, MatRef<'a>, MatRef<'a>) + Sync,
) {
    let out = SharedOut(dst);
    (0..len)
        .step_by(per)
        .collect::<Vec<_>>()
        .into_par_iter()
        .for_each(|start| {
            let (offset, lhs, rhs) = block(start, (start + per).min(len));
            // SAFETY: each task writes its own block (disjoint, the caller's promise).
            unsafe {
                gemm_call(
                    out.ptr().add(offset),
                    dst_rs,
                    lhs,
                    rhs,
                    accumulate,
                    Parallelism::None,
                )
            }
        });
}

/// Below this many columns per thread, the GEMM's own threading is used instead.
const MIN_SPLIT_COLS: usize = 48;

/// Below this many columns, threads split the rows instead (each packs the whole `rhs`).
const ROW_SPLIT_MAX_COLS: usize = 1024;

/// Row blocks are multiples of this (the GEMM's micro-kernel height on AVX-512).
const ROW_BLOCK: usize = 16;

/// # Safety
/// As [`matmul_raw`], with the operand views already checked.
unsafe fn gemm_call(
    dst: *mut f32,
    dst_rs: usize,
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
    parallelism: Parallelism,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    // SAFETY: the operands' indices lie inside their slices (checked by the callers); the
    // caller vouches for the destination.
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs.data.as_ptr(),
        lhs.cs as isize,
        lhs.rs as isize,
        rhs.data.as_ptr(),
        rhs.cs as isize,
        rhs.rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        parallelism,
    );
}
