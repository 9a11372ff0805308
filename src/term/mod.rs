//! Terminal graphics: drawing images inline (kitty, sixel, iTerm2 or half-blocks) through
//! ratatui-image, with capability detection that never waits on a silent terminal. The CLI's
//! `--print` and the TUI's image panes share the detection here.

pub mod print;

use std::str::FromStr;

use ratatui_image::picker::cap_parser::QueryStdioOptions;
use ratatui_image::picker::{Picker, ProtocolType};

use crate::error::{Error, Result};

/// How long a terminal may take to answer the capability query.
const QUERY_TIMEOUT_MS: i32 = 500;

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
/// terminal that does not answer gets half-blocks. A forced protocol still asks, for the cell
/// size the other protocols need. Must run before anything else reads keys from the terminal.
pub fn detect(choice: Graphics) -> Picker {
    if choice == Graphics::Halfblocks {
        return Picker::halfblocks();
    }
    let options = QueryStdioOptions {
        timeout_ms: QUERY_TIMEOUT_MS,
        stdio: QueryStdioOptions::stdio_dev_tty().ok(),
        ..Default::default()
    };
    let mut picker = keeping_tty_modes(|| {
        Picker::from_query_stdio_with_options(options).unwrap_or_else(|_| Picker::halfblocks())
    });
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

/// Runs `f` and puts the terminal's line discipline back as it was. ratatui-image's query
/// turns off canonical mode and echo, and leaves them off when the terminal's answer is
/// incomplete (12.0.0-rc.3 returns early before restoring them): under tmux the shell was left
/// without line editing after convscope exited.
#[cfg(unix)]
fn keeping_tty_modes<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty");
    let saved = tty.as_ref().ok().and_then(|tty| {
        // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill; the fd is open.
        let mut modes: libc::termios = unsafe { std::mem::zeroed() };
        (unsafe { libc::tcgetattr(tty.as_raw_fd(), &mut modes) } == 0).then_some(modes)
    });
    let out = f();
    if let (Ok(tty), Some(modes)) = (&tty, saved) {
        // SAFETY: restores modes read from the same open terminal above.
        unsafe { libc::tcsetattr(tty.as_raw_fd(), libc::TCSANOW, &modes) };
    }
    out
}

#[cfg(not(unix))]
fn keeping_tty_modes<T>(f: impl FnOnce() -> T) -> T {
    f()
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
