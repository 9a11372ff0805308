//! Asking the terminal which graphics it draws. ratatui-image's `Picker::from_query_stdio`
//! sends one query (kitty's graphics query, DA1 for sixel, `CSI 16t` for the cell size, and a
//! status report last, which every terminal answers) and falls back to half-blocks whenever the
//! cell size is missing, even when the terminal said it draws sixel or kitty graphics. xterm
//! does exactly that: it advertises sixel in DA1 but does not answer `CSI 16t` by default
//! (`allowWindowOps` is off), so its users got half-blocks.
//!
//! Here the same query (ratatui-image's own [`Parser`] writes and parses it) is sent and read
//! by convscope, and the answers are read the other way: a protocol the terminal advertises is
//! used, with the cell size it reported, else the tty's pixel size over its cell count
//! (`TIOCGWINSZ`), else [`DEFAULT_CELL`].

use std::time::{Duration, Instant};

use ratatui_image::picker::cap_parser::{Parser, QueryStdioOptions, Response};
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::FontSize;

/// The cell size assumed when the terminal reports none: a common monospace cell at 96 dpi
/// (ratatui-image's own default). Pictures are then drawn at this many pixels a cell, which
/// only changes their sharpness, never their placement.
pub const DEFAULT_CELL: (u16, u16) = (10, 20);

/// What the terminal answered.
#[derive(Debug, Default, PartialEq)]
pub struct Answers {
    /// It answered at all (the status report, at least).
    pub answered: bool,
    /// The graphics protocol it advertised (kitty preferred over sixel).
    pub protocol: Option<ProtocolType>,
    /// Its cell size in pixels, if it said.
    pub cell: Option<(u16, u16)>,
}

/// Reads the answers from parsed responses.
pub fn interpret(responses: &[Response], answered: bool) -> Answers {
    let mut a = Answers {
        answered,
        ..Answers::default()
    };
    for r in responses {
        match r {
            Response::Kitty => a.protocol = Some(ProtocolType::Kitty),
            Response::Sixel if a.protocol.is_none() => a.protocol = Some(ProtocolType::Sixel),
            Response::CellSize(Some((w, h))) if *w > 0 && *h > 0 => a.cell = Some((*w, *h)),
            _ => {}
        }
    }
    a
}

/// The picker for these answers: the advertised protocol at the reported cell size, else the
/// tty's (`tty_cell`), else [`DEFAULT_CELL`]; half-blocks when nothing was advertised.
pub fn picker_for(answers: &Answers, tty_cell: Option<(u16, u16)>) -> Picker {
    if !answers.answered {
        return Picker::halfblocks();
    }
    let cell = answers.cell.or(tty_cell).unwrap_or(DEFAULT_CELL);
    // from_fontsize is deprecated in favour of the query that drops the protocol here; it still
    // applies ratatui-image's environment hints (tmux passthrough, iTerm2), as the query does.
    #[allow(deprecated)]
    let mut picker = Picker::from_fontsize(FontSize::from(cell));
    if let Some(p) = answers.protocol {
        picker.set_protocol_type(p);
    }
    picker
}

/// The query to send: ratatui-image's, wrapped for tmux when inside it, without the protocols
/// its own detection excludes (WezTerm's and Konsole's kitty and sixel are unreliable).
pub fn query_text() -> String {
    let var = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    let is_tmux = std::env::var("TERM").is_ok_and(|t| t.starts_with("tmux"))
        || std::env::var("TERM_PROGRAM").is_ok_and(|t| t == "tmux");
    let mut options = QueryStdioOptions::default();
    if var("WEZTERM_EXECUTABLE") || var("KONSOLE_VERSION") {
        options.blacklist_protocols = vec![ProtocolType::Kitty, ProtocolType::Sixel];
    }
    Parser::query(is_tmux, options)
}

/// Writes [`query_text`] to `output` and parses what arrives on `input` until the terminal's
/// status report (the query's last item) or `timeout`. The caller puts the terminal in
/// non-canonical, no-echo mode around it.
#[cfg(unix)]
pub fn ask(input: i32, output: i32, timeout: Duration) -> Answers {
    let query = query_text();
    if !write_all(output, query.as_bytes()) {
        return Answers::default();
    }
    let deadline = Instant::now() + timeout;
    let mut parser = Parser::new();
    let mut responses = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // Some answers but no status report: use what came.
            let answered = !responses.is_empty();
            return interpret(&responses, answered);
        }
        let mut fds = libc::pollfd {
            fd: input,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut fds, 1, ms) };
        if ready < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if ready <= 0 {
            continue; // the deadline check above ends the loop
        }
        // SAFETY: reads into a buffer of the length given.
        let n = unsafe { libc::read(input, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return interpret(&responses, !responses.is_empty());
        }
        for &b in &buf[..n as usize] {
            for r in parser.push(char::from(b)) {
                if r == Response::Status {
                    return interpret(&responses, true);
                }
                responses.push(r);
            }
        }
    }
}

#[cfg(unix)]
fn write_all(fd: i32, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: writes from a valid buffer of the length given.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// The cell size from the tty's pixel and cell counts (`TIOCGWINSZ`), when it reports pixels.
#[cfg(unix)]
pub fn tty_cell(fd: i32) -> Option<(u16, u16)> {
    // SAFETY: a zeroed winsize is a valid buffer for TIOCGWINSZ to fill.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return None;
    }
    if ws.ws_col == 0 || ws.ws_row == 0 {
        return None;
    }
    let (w, h) = (ws.ws_xpixel / ws.ws_col, ws.ws_ypixel / ws.ws_row);
    (w > 0 && h > 0).then_some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xterm -ti vt340 answers DA1 with sixel (attribute 4) and the status report, and says
    /// nothing to `CSI 16t`.
    const XTERM: &[u8] = b"\x1b[?63;1;2;4;6;9;15;16;22;28c\x1b[0n";

    #[test]
    fn an_advertised_protocol_is_kept_without_a_cell_size() {
        let mut parser = Parser::new();
        let responses: Vec<Response> = XTERM
            .iter()
            .flat_map(|&b| parser.push(char::from(b)))
            .collect();
        assert!(responses.contains(&Response::Status), "{responses:?}");
        let a = interpret(&responses, true);
        assert_eq!(a.protocol, Some(ProtocolType::Sixel));
        assert_eq!(a.cell, None);
        let p = picker_for(&a, None);
        assert_eq!(p.protocol_type(), ProtocolType::Sixel);
        let cell = |p: &Picker| (p.font_size().width, p.font_size().height);
        assert_eq!(cell(&p), DEFAULT_CELL);
        assert_eq!(cell(&picker_for(&a, Some((9, 18)))), (9, 18));
        // Silence is half-blocks.
        let silent = picker_for(&Answers::default(), Some((9, 18)));
        assert_eq!(silent.protocol_type(), ProtocolType::Halfblocks);
    }

    /// The whole exchange over a socket pair, with a fake terminal answering as xterm does.
    #[cfg(unix)]
    #[test]
    fn asking_a_fake_xterm_gets_sixel() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixStream;
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let xterm = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 512];
            // Read the whole query (it ends with the status request, CSI 5n).
            while !seen.ends_with(b"\x1b[5n") {
                let n = theirs.read(&mut buf).unwrap();
                assert!(n > 0, "the query ended early");
                seen.extend_from_slice(&buf[..n]);
            }
            theirs.write_all(XTERM).unwrap();
            seen
        });
        let fd = ours.as_raw_fd();
        let a = ask(fd, fd, Duration::from_secs(5));
        let query = xterm.join().unwrap();
        assert!(
            query.windows(3).any(|w| w == b"[16"),
            "the cell size is asked"
        );
        assert_eq!(
            a,
            Answers {
                answered: true,
                protocol: Some(ProtocolType::Sixel),
                cell: None
            }
        );
    }

    /// A terminal that never answers costs the timeout, and no more.
    #[cfg(unix)]
    #[test]
    fn a_silent_terminal_is_half_blocks_after_the_timeout() {
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixStream;
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let start = Instant::now();
        let a = ask(
            ours.as_raw_fd(),
            ours.as_raw_fd(),
            Duration::from_millis(200),
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(!a.answered);
        assert_eq!(
            picker_for(&a, None).protocol_type(),
            ProtocolType::Halfblocks
        );
    }
}
