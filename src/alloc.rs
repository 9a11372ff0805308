//! What happens when memory runs out. Rust aborts the process when an allocation fails (exit
//! 134, "memory allocation of N bytes failed", a core dump), which for a user reads as a crash
//! and, in the interface, leaves the terminal in raw mode. The binary installs
//! [`ErrorOnOom`] as its global allocator instead: a failed allocation gives the terminal back
//! (through the cleanup the interface registers), prints one `error:` line and exits with
//! status 1.
//!
//! Allocations that are *meant* to fail gracefully (`Vec::try_reserve` of a file's size) run
//! inside [`fallible`], where a failure is returned to the caller as usual.
//!
//! Everything on the failure path avoids allocating: the message is formatted on the stack
//! and written with `write(2)`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    /// Set while this thread runs a [`fallible`] section.
    static FALLIBLE: Cell<bool> = const { Cell::new(false) };
}

/// The cleanup to run before exiting (restoring the terminal); 0 when none.
static CLEANUP: AtomicUsize = AtomicUsize::new(0);

/// Registers `f` to run before an out-of-memory exit. It must not allocate.
pub fn set_cleanup(f: fn()) {
    CLEANUP.store(f as usize, Ordering::SeqCst);
}

/// Runs `f` with allocation failures returned to it (for `try_reserve`), not fatal.
pub fn fallible<T>(f: impl FnOnce() -> T) -> T {
    let before = FALLIBLE.with(|c| c.replace(true));
    let out = f();
    FALLIBLE.with(|c| c.set(before));
    out
}

/// The system allocator, with a failed allocation turned into an `error:` line and exit 1.
pub struct ErrorOnOom;

// SAFETY: every call is forwarded to `System` with the same arguments; only a null result is
// acted on.
unsafe impl GlobalAlloc for ErrorOnOom {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(System.alloc(layout), layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(System.alloc_zeroed(layout), layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(System.realloc(ptr, layout, new_size), new_size)
    }
}

fn check(ptr: *mut u8, size: usize) -> *mut u8 {
    if ptr.is_null() && !FALLIBLE.try_with(Cell::get).unwrap_or(false) {
        out_of_memory(size);
    }
    ptr
}

#[cold]
fn out_of_memory(size: usize) -> ! {
    let cleanup = CLEANUP.load(Ordering::SeqCst);
    if cleanup != 0 {
        // SAFETY: only `set_cleanup` stores here, always a `fn()`.
        let f: fn() = unsafe { std::mem::transmute::<usize, fn()>(cleanup) };
        f();
    }
    let mut line = [0u8; 256];
    let n = message(size, &mut line);
    write_stderr(&line[..n]);
    exit(1)
}

/// `error: out of memory: …` for an allocation of `size` bytes, into `buf`; returns its length.
fn message(size: usize, buf: &mut [u8]) -> usize {
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        let k = bytes.len().min(buf.len() - n);
        buf[n..n + k].copy_from_slice(&bytes[..k]);
        n += k;
    };
    put(b"error: out of memory: an allocation of ");
    let mut digits = [0u8; 20];
    let (mut v, mut i) = (size >> 20, digits.len());
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(&digits[i..]);
    put(b" MB failed; free memory, use a smaller --batch or input, or raise the memory limit\n");
    n
}

#[cfg(unix)]
fn write_stderr(bytes: &[u8]) {
    // SAFETY: writes a valid buffer to fd 2; the result does not matter on the way out.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

#[cfg(not(unix))]
fn write_stderr(bytes: &[u8]) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(bytes);
}

#[cfg(unix)]
fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process without running destructors or atexit handlers, which
    // could allocate.
    unsafe { libc::_exit(code) }
}

#[cfg(not(unix))]
fn exit(code: i32) -> ! {
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_one_line_in_megabytes() {
        let mut buf = [0u8; 256];
        let n = message(3 << 30, &mut buf);
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("error: out of memory: an allocation of 3072 MB failed"));
        assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
    }

    #[test]
    fn fallible_sections_nest_and_restore() {
        assert!(!FALLIBLE.with(Cell::get));
        fallible(|| {
            assert!(FALLIBLE.with(Cell::get));
            fallible(|| ());
            assert!(FALLIBLE.with(Cell::get));
        });
        assert!(!FALLIBLE.with(Cell::get));
    }
}
