//! How the process keeps the memory its passes free (glibc's allocator settings), and gives it
//! back when it idles.

/// Keeps freed memory in the process. A forward and backward pass allocate and free hundreds
/// of MB of activations; glibc's defaults return each large block to the kernel when it is
/// freed (`munmap`, with a TLB shootdown on every core) and fault it in again, page by page,
/// on the next allocation: half of VGG16's max-pool backward time in `perf`. So no block is
/// mapped on its own (`M_MMAP_MAX` 0: raising the threshold stops at 32 MiB, and ResNet50's
/// first maps at batch 16 are 51 MB, which cost 9% of its deletion/insertion passes in page
/// faults), and the heap is never trimmed. Peak memory is unchanged; the resident size stays
/// at the peak until [`give_back_freed_memory`]. Call before starting threads.
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

/// Hands the memory the passes freed back to the system: for a long-lived process going idle
/// after a computation (the interface between maps), never inside one, where the next pass
/// would fault the pages in again. After SmoothGrad and integrated gradients on ResNet50 the
/// interface idled at 660 MB resident, 400 MB of it in use. About 8 ms for 200 MB free;
/// nothing where the C library has no `malloc_trim`.
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers; it releases pages of free blocks only.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// This process's resident bytes (`/proc/self/statm`: pages).
    fn resident() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split(' ').nth(1).unwrap().parse().unwrap();
        // SAFETY: sysconf reads a constant.
        pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
    }

    /// With the process keeping freed memory, 256 MB of freed blocks stay resident until given
    /// back, and then go. It runs in a child process, this test binary run again for this test
    /// alone, so that no other test's allocations move the figures.
    #[test]
    fn freed_memory_stays_until_given_back() {
        const NAME: &str = "exec::cpu::heap::tests::freed_memory_stays_until_given_back";
        if std::env::var_os("CONVSCOPE_HEAP_CHILD").is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--test-threads=1", "--nocapture"])
                .env("CONVSCOPE_HEAP_CHILD", "1")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && text.contains("1 passed"), "{text}");
            return;
        }
        const MB: usize = 1 << 20;
        keep_freed_memory();
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 4 * MB]).collect();
        // In use above the freed blocks, as an interface's results are.
        let pin = std::hint::black_box(vec![1u8; 64]);
        let full = resident();
        drop(std::hint::black_box(blocks));
        let freed = resident();
        let t = std::time::Instant::now();
        give_back_freed_memory();
        let took = t.elapsed();
        let given = resident();
        eprintln!(
            "resident: {} MB full, {} MB freed, {} MB given back in {took:?}",
            full / MB,
            freed / MB,
            given / MB
        );
        assert!(
            freed + 16 * MB > full,
            "the freed blocks left by themselves"
        );
        assert!(given + 200 * MB < freed, "the freed blocks stayed");
        drop(pin);
    }
}
