//! The interface in a pseudo-terminal that the test plays the terminal of, byte for byte: it
//! decides which queries get answers (none, for a silent or slow link; xterm's, for graphics
//! detection), sends keys and signals, and reads the tty's modes after the process ends. tmux
//! (tests/tui_tmux.rs) answers every query like a good terminal, so these cases need a pty of
//! their own.
#![cfg(unix)]

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the fake terminal answers the graphics query.
#[derive(Clone, Copy, PartialEq)]
enum Terminal {
    /// Answers nothing at all (a link that drops or delays every reply).
    Silent,
    /// xterm -ti vt340 with default resources: DA1 with sixel (4) and the status report, but
    /// no cell size (`CSI 16t` needs allowWindowOps).
    Xterm,
}

struct Pty {
    master: Arc<OwnedFd>,
    /// A descriptor of the terminal side kept by the test, to read its modes at the end.
    slave: OwnedFd,
    child: Child,
    /// The terminal's modes before the program started (read later, they race with its
    /// graphics query, which turns echo off for half a second).
    before: libc::termios,
    output: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Pty {
    fn spawn(args: &[&str], terminal: Terminal) -> Pty {
        // SAFETY: plain libc calls on descriptors this function owns.
        let (master, slave_path) = unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(m >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(m), 0);
            assert_eq!(libc::unlockpt(m), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
            let ws = libc::winsize {
                ws_row: 40,
                ws_col: 120,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            libc::ioctl(m, libc::TIOCSWINSZ, &ws);
            let path = CStr::from_ptr(name.as_ptr()).to_str().unwrap().to_string();
            (OwnedFd::from_raw_fd(m), path)
        };
        let open_slave = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&slave_path)
                .unwrap()
        };
        let slave: OwnedFd = open_slave().into();
        let before = modes_of(&slave);
        let mut cmd = Command::new(crate::common::e2e_bin());
        cmd.args(args)
            .env("TERM", "xterm-256color")
            .env_remove("TMUX")
            .env_remove("TERM_PROGRAM")
            .env_remove("WEZTERM_EXECUTABLE")
            .env_remove("KONSOLE_VERSION")
            .stdin(Stdio::from(open_slave()))
            .stdout(Stdio::from(open_slave()))
            .stderr(Stdio::from(open_slave()));
        // SAFETY: setsid and ioctl are async-signal-safe; the child takes the pty as its
        // controlling terminal, so /dev/tty is the pty.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                // SIGQUIT's default action dumps core: none in the test's folder.
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &none);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("the binary starts");
        let master = Arc::new(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (master, output, stop) = (master.clone(), output.clone(), stop.clone());
            std::thread::spawn(move || play_terminal(&master, &output, &stop, terminal))
        };
        Pty {
            master,
            slave,
            child,
            before,
            output,
            stop,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    fn wait_for(&self, what: &str, secs: u64) {
        let start = Instant::now();
        while !self.text().contains(what) {
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what:?}; the output:\n{:?}",
                tail(&self.text())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, bytes: &[u8]) {
        write_fd(self.master.as_raw_fd(), bytes);
    }

    fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader take the last bytes.
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                let _ = self.child.kill();
                panic!(
                    "the process did not exit within {secs} s; output:\n{:?}",
                    tail(&self.text())
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The terminal's modes now.
    fn modes(&self) -> libc::termios {
        modes_of(&self.slave)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn modes_of(fd: &OwnedFd) -> libc::termios {
    // SAFETY: a zeroed termios is a valid buffer; the fd is open.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) }, 0);
    t
}

fn tail(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    chars[chars.len().saturating_sub(1500)..].iter().collect()
}

fn write_fd(fd: i32, bytes: &[u8]) {
    // SAFETY: writes a valid buffer.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n, bytes.len() as isize);
}

/// Reads everything the program writes, answering the graphics query as `terminal` would.
fn play_terminal(master: &OwnedFd, output: &Mutex<Vec<u8>>, stop: &AtomicBool, t: Terminal) {
    let fd = master.as_raw_fd();
    let mut buf = [0u8; 4096];
    let mut answered = false;
    while !stop.load(Ordering::SeqCst) {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; reads into a buffer of its length.
        if unsafe { libc::poll(&mut p, 1, 50) } <= 0 {
            continue;
        }
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let mut out = output.lock().unwrap();
        out.extend_from_slice(&buf[..n as usize]);
        let asked = out.windows(4).any(|w| w == b"\x1b[5n");
        if t == Terminal::Xterm && asked && !answered {
            answered = true;
            write_fd(fd, b"\x1b[?63;1;2;4;6;9;15;16;22;28c\x1b[0n");
        }
    }
}

fn has(modes: &libc::termios, lflag: libc::tcflag_t) -> bool {
    modes.c_lflag & lflag == lflag
}

/// The interface draws its header (the demo model, the device) once it is up.
const DRAWN: &str = "demo";

#[test]
fn a_terminal_that_never_answers_still_gets_the_interface_and_its_modes_back() {
    let mut pty = Pty::spawn(&[], Terminal::Silent);
    let before = pty.before;
    pty.wait_for("\x1b[?1049h", 60);
    pty.wait_for(DRAWN, 60);
    pty.keys(b"q");
    let status = pty.wait_exit(20);
    let out = pty.text();
    assert!(
        status.success(),
        "{status:?}; output tail: {:?}",
        tail(&out)
    );
    assert!(
        !out.contains("could not be read"),
        "asked the terminal something it must answer: {:?}",
        tail(&out)
    );
    let (enter, leave) = (out.rfind("\x1b[?1049h").unwrap(), out.rfind("\x1b[?1049l"));
    assert!(
        leave.is_some_and(|l| l > enter),
        "the alternate screen was left on"
    );
    let after = pty.modes();
    assert!(has(&after, libc::ICANON | libc::ECHO | libc::ISIG));
    assert_eq!(after.c_lflag, before.c_lflag, "local modes not restored");
    assert_eq!(after.c_iflag, before.c_iflag, "input modes not restored");
    assert_eq!(after.c_oflag, before.c_oflag, "output modes not restored");
}

#[test]
fn each_terminating_signal_gives_the_terminal_back_and_exits_as_signalled() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
        let mut pty = Pty::spawn(&[], Terminal::Silent);
        let before = pty.before;
        pty.wait_for(DRAWN, 60);
        // Open the Grad-CAM view, so a job may be running when the signal comes.
        pty.keys(b"7");
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: signals the child this test spawned.
        assert_eq!(unsafe { libc::kill(pty.child.id() as i32, sig) }, 0);
        let status = pty.wait_exit(20);
        let out = pty.text();
        assert_eq!(
            status.signal().or(status.code().map(|c| c - 128)),
            Some(sig),
            "signal {sig}: {status:?}"
        );
        let enter = out
            .rfind("\x1b[?1049h")
            .expect("entered the alternate screen");
        let leave = out.rfind("\x1b[?1049l");
        assert!(
            leave.is_some_and(|l| l > enter),
            "signal {sig}: the alternate screen was left on"
        );
        assert!(
            out[enter..].contains("\x1b[?25h"),
            "signal {sig}: the cursor stays hidden"
        );
        let after = pty.modes();
        assert_eq!(after.c_lflag, before.c_lflag, "signal {sig}: local modes");
        assert_eq!(after.c_iflag, before.c_iflag, "signal {sig}: input modes");
        assert_eq!(after.c_oflag, before.c_oflag, "signal {sig}: output modes");
    }
}

#[test]
fn xterm_that_does_not_report_its_cell_size_gets_sixel() {
    let mut pty = Pty::spawn(&[], Terminal::Xterm);
    pty.wait_for(DRAWN, 60);
    pty.wait_for("sixel", 20);
    pty.keys(b"q");
    assert!(pty.wait_exit(20).success());
}

#[test]
fn opening_a_fifo_from_the_interface_fails_at_once_and_quitting_ends_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("f.png");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut pty = Pty::spawn(&[], Terminal::Silent);
    pty.wait_for(DRAWN, 60);
    pty.keys(b"o");
    std::thread::sleep(Duration::from_millis(300));
    // Clear whatever the prompt proposes, type the FIFO's path, open it.
    pty.keys(&[0x15]);
    pty.keys(&[0x7f; 80]);
    pty.keys(fifo.to_str().unwrap().as_bytes());
    pty.keys(b"\r");
    pty.wait_for("FIFO", 20);
    pty.keys(b"q");
    assert!(pty.wait_exit(20).success());
}
