//! Entering and leaving the interface's terminal mode (raw mode, alternate screen, hidden
//! cursor), and a panic hook that restores the terminal before the panic message prints, so
//! that a crash never leaves the shell unusable (signals and running out of memory are
//! `term::restore`'s). The interface runs on the main thread; panics
//! on other threads (jobs, file reads) are caught where they run and shown as errors, so the
//! hook leaves the terminal alone for those.

use std::io::{stdout, Stdout};

use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::error::{Error, Result};

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// A terminal that stopped taking output (closed, or gone with its SSH session).
pub fn broken(e: std::io::Error) -> Error {
    Error::Usage(format!("cannot draw on the terminal: {e}"))
}

/// Raw mode, the alternate screen, a hidden cursor and a cleared screen. Nothing here waits
/// for an answer from the terminal (ratatui's `Terminal::clear` asks for the cursor position,
/// which a silent or slow link never gives), and a failure part way leaves the terminal as it
/// was.
pub fn enter() -> Result<Term> {
    let fail = |e: std::io::Error| {
        leave();
        Error::Usage(format!("cannot set up the terminal: {e}"))
    };
    crate::term::restore::save();
    install_panic_hook();
    enable_raw_mode().map_err(fail)?;
    crate::term::restore::entered();
    execute!(
        stdout(),
        EnterAlternateScreen,
        crossterm::cursor::Hide,
        Clear(ClearType::All)
    )
    .map_err(fail)?;
    Terminal::new(CrosstermBackend::new(stdout())).map_err(fail)
}

/// Restores the terminal; safe to call more than once.
pub fn leave() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
    crate::term::restore::left();
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
