//! How the process keeps the memory its passes free (glibc's allocator settings).

/// Keeps freed memory in the process. A forward and backward pass allocate and free hundreds
/// of MB of activations; glibc's defaults return each large block to the kernel when it is
/// freed (`munmap`, with a TLB shootdown on every core) and fault it in again, page by page,
/// on the next allocation: half of VGG16's max-pool backward time in `perf`. So no block is
/// mapped on its own (`M_MMAP_MAX` 0: raising the threshold stops at 32 MiB, and ResNet50's
/// first maps at batch 16 are 51 MB, which cost 9% of its deletion/insertion passes in page
/// faults), and the heap is never trimmed. Peak memory is unchanged; the resident size stays
/// at the peak. Call before starting threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator thresholds.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}
