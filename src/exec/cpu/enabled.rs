//! Whether convscope's own CPU kernels are used, or candle's tensor ops as on every other
//! device. Off, a CPU run takes exactly the device-generic paths a CUDA run takes (only the
//! backend under candle's ops differs), so the CPU tests can prove those paths correct on a
//! machine without a GPU (`tests/it/device_generic.rs`), and a user who suspects a kernel can
//! compare (`CONVSCOPE_CPU_KERNELS=off`).

use std::cell::Cell;
use std::sync::OnceLock;

/// The environment's choice, read once: `CONVSCOPE_CPU_KERNELS=off` turns the kernels off in
/// every thread that has not chosen for itself.
fn from_environment() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("CONVSCOPE_CPU_KERNELS").map_or(true, |v| v != "off"))
}

thread_local! {
    // Per thread, not per process: each pass dispatches its ops from one thread, and tests that
    // compare both paths run side by side in one process.
    static ON: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Whether the passes this thread runs use the kernels.
pub fn kernels_on() -> bool {
    ON.with(|on| on.get()).unwrap_or_else(from_environment)
}

/// Runs `f` with the kernels on or off for this thread, restoring the previous choice after
/// (also when `f` panics).
pub fn with_kernels<R>(on: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            ON.with(|on| on.set(self.0));
        }
    }
    let _restore = Restore(ON.with(|cell| cell.replace(Some(on))));
    f()
}
