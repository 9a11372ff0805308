//! Terminal graphics: drawing images inline (kitty, sixel, iTerm2 or half-blocks) through
//! ratatui-image, with capability detection that never waits on a silent terminal. The CLI's
//! `--print` and the TUI's image panes share the detection here.

pub mod detect;
pub mod print;
pub mod restore;

use std::str::FromStr;
use std::time::Duration;

use ratatui_image::picker::{Picker, ProtocolType};

use crate::error::{Error, Result};

/// How long a terminal may take to answer the capability query.
const QUERY_TIMEOUT_MS: u64 = 500;

/// The graphics protocol asked for (`--graphics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Graphics {
    /// Whatever the terminal answers, half-blocks when it does not.
    #[default]
    Auto,
    Kitty,
    Sixel,
    Iterm,
    Halfblocks,
}

impl FromStr for Graphics {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => Graphics::Auto,
            "kitty" => Graphics::Kitty,
            "sixel" => Graphics::Sixel,
            "iterm" | "iterm2" => Graphics::Iterm,
            "halfblocks" | "half-blocks" => Graphics::Halfblocks,
            other => {
                return Err(Error::Usage(format!(
                "unknown graphics protocol '{other}'; use auto, kitty, sixel, iterm or halfblocks"
            )))
            }
        })
    }
}

/// Asks the terminal (over `/dev/tty`, with a timeout) for its protocol and cell size; a
/// terminal that does not answer gets half-blocks, and one that advertises sixel or kitty
/// graphics gets them even without telling its cell size (see `detect`). A forced protocol
/// still asks, for the cell size the other protocols need. Must run before anything else reads
/// keys from the terminal.
pub fn detect(choice: Graphics) -> Picker {
    if choice == Graphics::Halfblocks {
        return Picker::halfblocks();
    }
    let mut picker = ask_tty().unwrap_or_else(Picker::halfblocks);
    let forced = match choice {
        Graphics::Kitty => Some(ProtocolType::Kitty),
        Graphics::Sixel => Some(ProtocolType::Sixel),
        Graphics::Iterm => Some(ProtocolType::Iterm2),
        Graphics::Auto | Graphics::Halfblocks => None,
    };
    if let Some(p) = forced {
        picker.set_protocol_type(p);
    }
    picker
}

/// The query over `/dev/tty` in non-canonical, no-echo mode, the modes put back afterwards
/// whatever the answer (ratatui-image 12.0.0-rc.3's own query left echo off when an answer
/// was incomplete: under tmux the shell had no line editing after convscope exited).
#[cfg(unix)]
fn ask_tty() -> Option<Picker> {
    use std::os::fd::AsRawFd;
    // The query turns echo off for up to half a second: a signal meanwhile (Ctrl-C during
    // `render --print`) must put it back before the process ends.
    restore::save();
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let fd = tty.as_raw_fd();
    // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill; the fd is open.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return None;
    }
    let mut raw = saved;
    raw.c_lflag &= !(libc::ICANON | libc::ECHO);
    // SAFETY: sets modes derived from those just read, on the same terminal.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) };
    let answers = detect::ask(fd, fd, Duration::from_millis(QUERY_TIMEOUT_MS));
    // SAFETY: restores the modes read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    Some(detect::picker_for(&answers, detect::tty_cell(fd)))
}

#[cfg(not(unix))]
fn ask_tty() -> Option<Picker> {
    None
}

/// The protocol's name as convscope shows it.
pub fn protocol_name(p: ProtocolType) -> &'static str {
    match p {
        ProtocolType::Halfblocks => "half-blocks",
        ProtocolType::Sixel => "sixel",
        ProtocolType::Kitty => "kitty",
        ProtocolType::Iterm2 => "iTerm2",
    }
}
