//! Runs jobs off the event loop: one job at a time per runner (a view pane shows one view), a
//! newer submission cancels the older one, progress goes out with `try_send` (dropped when
//! the loop is behind, never blocking the job), and the result goes out tagged with its ticket
//! so that the receiver can drop results of superseded requests.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;

use super::compute::{compute, Computed, Session};
use super::spec::JobSpec;
use crate::error::Error;
use crate::methods::input::Input;
use crate::methods::{CancelToken, Control, Progress};

/// Progress is sent at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub enum JobEvent {
    Progress {
        ticket: u64,
        progress: Progress,
    },
    Finished {
        ticket: u64,
        spec: JobSpec,
        result: JobResult,
        elapsed: Duration,
    },
}

#[derive(Debug, Clone)]
pub enum JobResult {
    Done(Arc<Computed>),
    Failed(String),
    Cancelled,
}

pub struct Runner {
    session: Arc<Session>,
    events: Sender<JobEvent>,
    running: Option<(u64, CancelToken)>,
}

impl Runner {
    pub fn new(session: Arc<Session>, events: Sender<JobEvent>) -> Runner {
        Runner {
            session,
            events,
            running: None,
        }
    }

    /// Starts `spec` on `input` as `ticket`, cancelling the job before it.
    pub fn submit(&mut self, ticket: u64, spec: JobSpec, input: Arc<Input>) {
        self.cancel();
        let cancel = CancelToken::new();
        self.running = Some((ticket, cancel.clone()));
        let (session, events) = (self.session.clone(), self.events.clone());
        let progress_events = events.clone();
        let last = std::sync::Mutex::new(None::<Instant>);
        let control = Control::new(cancel, move |progress: Progress| {
            let now = Instant::now();
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now - t < PROGRESS_EVERY) && progress.done < progress.total {
                return;
            }
            *last = Some(now);
            let _ = progress_events.try_send(JobEvent::Progress { ticket, progress });
        });
        let spawned = std::thread::Builder::new()
            .name(format!("convscope-job-{ticket}"))
            .spawn(move || {
                let start = Instant::now();
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    compute(&session, &input, &spec, control)
                }));
                let result = match outcome {
                    Ok(Ok(done)) => JobResult::Done(Arc::new(done)),
                    Ok(Err(Error::Cancelled)) => JobResult::Cancelled,
                    Ok(Err(e)) => JobResult::Failed(e.to_string()),
                    Err(panic) => JobResult::Failed(format!(
                        "{} failed unexpectedly ({}); please report this",
                        spec.method,
                        panic_text(&panic)
                    )),
                };
                // The receiver is gone only when the interface has quit.
                let _ = events.blocking_send(JobEvent::Finished {
                    ticket,
                    spec,
                    result,
                    elapsed: start.elapsed(),
                });
            });
        if let Err(e) = spawned {
            let _ = self.events.try_send(JobEvent::Finished {
                ticket,
                spec: JobSpec {
                    method: "job",
                    layer: None,
                    target: 0,
                    knobs: Default::default(),
                    input: 0,
                },
                result: JobResult::Failed(format!("cannot start a thread: {e}")),
                elapsed: Duration::ZERO,
            });
        }
    }

    /// Cancels the running job, if any; it stops at its next check and reports `Cancelled`.
    pub fn cancel(&mut self) {
        if let Some((_, token)) = self.running.take() {
            token.cancel();
        }
    }
}

/// A panic payload as text.
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}
