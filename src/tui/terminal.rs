//! Entering and leaving the interface's terminal mode (raw mode, alternate screen, hidden
//! cursor), and a panic hook that restores the terminal before the panic message prints, so
//! that a crash never leaves the shell unusable. The interface runs on the main thread; panics
//! on other threads (jobs, file reads) are caught where they run and shown as errors, so the
//! hook leaves the terminal alone for those.

use std::io::{stdout, Stdout};

use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::error::{Error, Result};

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// A terminal that stopped taking output (closed, or gone with its SSH session).
pub fn broken(e: std::io::Error) -> Error {
    Error::Usage(format!("cannot draw on the terminal: {e}"))
}

pub fn enter() -> Result<Term> {
    let fail = |e: std::io::Error| Error::Usage(format!("cannot set up the terminal: {e}"));
    install_panic_hook();
    enable_raw_mode().map_err(fail)?;
    if let Err(e) = execute!(stdout(), EnterAlternateScreen) {
        leave();
        return Err(fail(e));
    }
    let mut term = Terminal::new(CrosstermBackend::new(stdout())).map_err(|e| {
        leave();
        fail(e)
    })?;
    term.hide_cursor().map_err(fail)?;
    term.clear().map_err(fail)?;
    Ok(term)
}

/// Restores the terminal; safe to call more than once.
pub fn leave() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some("main") {
            return;
        }
        leave();
        previous(info);
    }));
}
