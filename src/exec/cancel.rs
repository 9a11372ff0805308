//! The flag that stops a computation: set by whoever no longer wants the result (the
//! interface's runner when a newer view supersedes it, Esc, a test), checked by the executor
//! between layers and by the long methods between batches.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Shared flag: once cancelled, every pass and method holding a clone stops at its next check.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
    /// How often it has been checked: one a layer of every pass, so it counts the work done
    /// under it (tests read it to prove that passes are shared, not repeated).
    checks: Arc<AtomicUsize>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// The flag itself, for a signal handler to set (`signal_hook::flag::register`).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// Fails with [`Error::Cancelled`] once the token is set.
    pub fn check(&self) -> Result<()> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// How many times this token (or a clone) has been checked: the layers run by the passes
    /// holding it, plus the long methods' checks between batches.
    pub fn checks(&self) -> usize {
        self.checks.load(Ordering::Relaxed)
    }
}
