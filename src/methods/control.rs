//! How a caller watches and stops a long method: a cancel token checked between batches (or
//! optimization steps) and a progress callback. The TUI's job runner sets both; the CLI draws
//! a progress line on a terminal; tests cancel mid-run.

use std::sync::Arc;

use crate::error::Result;
pub use crate::exec::CancelToken;

/// One progress report: `done` of `total` units (`unit` names them: "windows", "steps", …).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub unit: &'static str,
    /// The method's current objective, where it has one (activation maximization).
    pub objective: Option<f32>,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// What a method is given to report progress and learn it should stop.
#[derive(Clone, Default)]
pub struct Control {
    pub cancel: CancelToken,
    pub progress: Option<ProgressFn>,
}

impl Control {
    pub fn new(cancel: CancelToken, progress: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        Control {
            cancel,
            progress: Some(Arc::new(progress)),
        }
    }

    /// Reports `done` of `total` and fails with [`Error::Cancelled`] once the token is set.
    /// Called between units of work, so a cancel takes effect within one batch.
    pub fn step(&self, done: usize, total: usize, unit: &'static str) -> Result<()> {
        self.report(Progress {
            done,
            total,
            unit,
            objective: None,
        })
    }

    pub fn report(&self, p: Progress) -> Result<()> {
        if let Some(f) = &self.progress {
            f(p);
        }
        self.check()
    }

    /// Fails with [`Error::Cancelled`] once the token is set.
    pub fn check(&self) -> Result<()> {
        self.cancel.check()
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("cancelled", &self.cancel.is_cancelled())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::Mutex;

    #[test]
    fn reports_then_stops_once_cancelled() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let token = CancelToken::new();
        let (s, t) = (seen.clone(), token.clone());
        let control = Control::new(token.clone(), move |p| {
            s.lock().unwrap().push(p.done);
            if p.done == 2 {
                t.cancel();
            }
        });
        assert!(control.step(1, 5, "steps").is_ok());
        assert!(matches!(control.step(2, 5, "steps"), Err(Error::Cancelled)));
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
        assert!(Control::default().step(1, 1, "steps").is_ok());
    }
}
