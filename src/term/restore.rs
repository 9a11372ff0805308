//! Giving the terminal back when convscope cannot do it the usual way: on SIGINT, SIGTERM,
//! SIGHUP or SIGQUIT (`kill` of the interface; Ctrl-C reaches the interface as a key, raw mode
//! turns the signal off), and when memory runs out (`crate::alloc`). Both happen at any point,
//! on any thread, so the restore uses only async-signal-safe calls (`tcsetattr`, `write`) on
//! state saved beforehand, and allocates nothing.
//!
//! [`save`] records the terminal's modes before anything changes them (the graphics query
//! turns echo off too) and installs the handlers; [`entered`] and [`left`] track whether the
//! alternate screen is on. A handler restores, then re-raises the signal with its default
//! action, so the shell sees the conventional status (128 + the signal's number).

use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(unix)]
use std::sync::OnceLock;

/// The terminal's file descriptor and its modes before convscope changed them.
#[cfg(unix)]
static SAVED: OnceLock<(i32, libc::termios)> = OnceLock::new();
/// Whether the alternate screen (and hidden cursor) is on.
static ALTERNATE: AtomicBool = AtomicBool::new(false);
/// The descriptor the screen's escape sequences go to (stdout, as ratatui's backend).
#[cfg(unix)]
const SCREEN_FD: i32 = 1;

/// The signals that end the interface and must give the terminal back first.
#[cfg(unix)]
const SIGNALS: [i32; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Saves the terminal's current modes (from `/dev/tty`) and installs the signal handlers and
/// the out-of-memory cleanup. Call once, before the terminal is changed; later calls do nothing.
#[cfg(unix)]
pub fn save() {
    use std::os::fd::IntoRawFd;
    if SAVED.get().is_some() {
        return;
    }
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return;
    };
    // Kept open for the life of the process: the handlers need a descriptor to restore through.
    let fd = tty.into_raw_fd();
    // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill; fd is open.
    let mut modes: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut modes) } != 0 {
        return;
    }
    let _ = SAVED.set((fd, modes));
    for sig in SIGNALS {
        // SAFETY: `on_signal` is an extern "C" fn taking the signal number, as signal(2) needs.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    crate::alloc::set_cleanup(restore);
}

#[cfg(not(unix))]
pub fn save() {}

/// The alternate screen is on (the interface entered it).
pub fn entered() {
    ALTERNATE.store(true, Ordering::SeqCst);
}

/// The interface gave the terminal back the usual way.
pub fn left() {
    ALTERNATE.store(false, Ordering::SeqCst);
}

/// Leaves the alternate screen (if on), shows the cursor and puts the saved modes back.
/// Async-signal-safe; safe to call more than once.
pub fn restore() {
    #[cfg(unix)]
    {
        if ALTERNATE.swap(false, Ordering::SeqCst) {
            // Reset attributes, leave the alternate screen, show the cursor.
            let seq = b"\x1b[0m\x1b[?1049l\x1b[?25h";
            // SAFETY: writes a valid buffer; a failure (terminal gone) is of no consequence.
            unsafe { libc::write(SCREEN_FD, seq.as_ptr().cast(), seq.len()) };
        }
        if let Some((fd, modes)) = SAVED.get() {
            // SAFETY: restores modes read from the same open terminal.
            unsafe { libc::tcsetattr(*fd, libc::TCSANOW, modes) };
        }
    }
}

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    restore();
    // SAFETY: signal and raise are async-signal-safe; with the default action back, the
    // re-raised signal (blocked while this handler runs) ends the process once it returns.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}
