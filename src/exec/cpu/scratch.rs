//! Working memory that a kernel keeps on its thread from one call to the next: im2col's
//! columns, Winograd's transformed tiles. Made afresh for each image, these buffers were
//! zero-filled on every call (`Vec::resize`) before the kernel overwrote every element: 1.6% of
//! ResNet50's deletion/insertion passes went to that `memset` alone. A thread keeps at most
//! one band of columns (2 MB) and one Winograd block (8 MB) this way.

use std::cell::Cell;
use std::thread::LocalKey;

/// Runs `f` on this thread's value in `key`, which it may grow. The value is taken out for the
/// call, not borrowed: a rayon thread waiting inside `f` may run another kernel's task, which
/// then finds the slot empty and makes its own instead of failing on a borrow.
pub(super) fn with_reused<T: Default, R>(
    key: &'static LocalKey<Cell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut value = key.take();
    let result = f(&mut value);
    key.set(value);
    result
}

/// The first `len` floats of `buf`, which is grown (and the growth zero-filled) only when it is
/// shorter: for callers that overwrite every element they are given.
pub(super) fn floats(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}
