//! Runs jobs off the event loop, single-flight (gitui's `AsyncSingleJob`): at most one job
//! runs, and at most one waits. A submission while a job runs cancels that job (it stops at
//! its next layer) and takes the waiting slot, replacing what was waiting there; when the
//! running job ends, the same thread picks up the waiting one. So holding `j` over a hundred
//! layers with a layer-following view open runs one pass at a time, not a hundred competing
//! for the cores, and the last layer's view starts as soon as the pass before it stops.
//!
//! Progress goes out with `try_send` (dropped when the loop is behind, never blocking the
//! job), and every result, a replaced or cancelled one included, goes out tagged with its
//! ticket so that the receiver can drop results of superseded requests.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;

use super::compute::{compute, Computed};
use super::spec::Key;
use super::trust::judge;
use crate::engine::Session;
use crate::error::Error;
use crate::input::Input;
use crate::methods::{CancelToken, Control, Progress};
use crate::trust::{Check, Scores};

/// Progress is sent at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub enum JobEvent {
    Progress {
        ticket: u64,
        progress: Progress,
    },
    /// A randomization check's strip so far (the Trust view draws it as it grows).
    Partial {
        ticket: u64,
        check: Arc<Check>,
    },
    Finished {
        ticket: u64,
        key: Key,
        result: JobResult,
        elapsed: Duration,
    },
}

#[derive(Debug, Clone)]
pub enum JobResult {
    Done(Done),
    Failed(String),
    Cancelled,
}

/// A finished job's result, by the kind of job.
#[derive(Debug, Clone)]
pub enum Done {
    Map(Arc<Computed>),
    Trust(Arc<Scores>),
}

/// What to compute: the job's key, the input, and for a Trust job the map it scores (the
/// view's result, so that scoring never recomputes it).
#[derive(Debug, Clone)]
pub struct Work {
    pub key: Key,
    pub input: Arc<Input>,
    pub map: Option<Arc<Computed>>,
}

impl Work {
    /// A view's map of `input`.
    pub fn map(spec: super::JobSpec, input: Arc<Input>) -> Work {
        Work {
            key: Key::Map(spec),
            input,
            map: None,
        }
    }
}

/// One submission.
struct Job {
    ticket: u64,
    work: Work,
}

#[derive(Default)]
struct Slots {
    /// The job running, by ticket, with its cancel token.
    running: Option<(u64, CancelToken)>,
    /// The job to start when the running one ends.
    waiting: Option<Job>,
}

pub struct Runner {
    session: Arc<Session>,
    events: Sender<JobEvent>,
    slots: Arc<Mutex<Slots>>,
    gauge: Arc<Gauge>,
}

/// How many jobs are computing now, and the most there have been at once.
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
    started: AtomicUsize,
    gave_back: AtomicUsize,
}

impl Gauge {
    /// The most jobs that computed at the same time.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// How many jobs have started computing.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// How many times the runner, going idle, gave the memory its jobs freed back to the system.
    pub fn gave_back(&self) -> usize {
        self.gave_back.load(Ordering::SeqCst)
    }

    fn enter(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Runner {
    pub fn new(session: Arc<Session>, events: Sender<JobEvent>) -> Runner {
        Runner {
            session,
            events,
            slots: Arc::default(),
            gauge: Arc::default(),
        }
    }

    /// What the runner has computed so far (tests read it).
    pub fn gauge(&self) -> Arc<Gauge> {
        self.gauge.clone()
    }

    /// Runs `work` as `ticket`: now when nothing runs, else once the running job (cancelled
    /// by this) has stopped, in place of whatever was waiting.
    pub fn submit(&mut self, ticket: u64, work: Work) {
        let job = Job { ticket, work };
        let mut slots = lock(&self.slots);
        if let Some((_, token)) = &slots.running {
            token.cancel();
            if let Some(replaced) = slots.waiting.replace(job) {
                self.report_cancelled(replaced);
            }
            return;
        }
        let token = CancelToken::new();
        slots.running = Some((ticket, token.clone()));
        drop(slots);
        self.spawn(job, token);
    }

    /// Cancels the running job (it stops at its next layer and reports `Cancelled`) and drops
    /// the waiting one.
    pub fn cancel(&mut self) {
        let mut slots = lock(&self.slots);
        if let Some((_, token)) = &slots.running {
            token.cancel();
        }
        if let Some(dropped) = slots.waiting.take() {
            self.report_cancelled(dropped);
        }
    }

    fn report_cancelled(&self, job: Job) {
        // On the event loop: never block. A full channel means the loop is far behind, and a
        // result of a superseded ticket is dropped by the receiver anyway.
        let _ = self.events.try_send(JobEvent::Finished {
            ticket: job.ticket,
            key: job.work.key,
            result: JobResult::Cancelled,
            elapsed: Duration::ZERO,
        });
    }

    fn spawn(&self, job: Job, token: CancelToken) {
        let worker = Worker {
            session: self.session.clone(),
            events: self.events.clone(),
            slots: self.slots.clone(),
            gauge: self.gauge.clone(),
        };
        let (ticket, key) = (job.ticket, job.work.key.clone());
        let spawned = std::thread::Builder::new()
            .name("convscope-job".into())
            .spawn(move || worker.run(job, token));
        if let Err(e) = spawned {
            lock(&self.slots).running = None;
            let _ = self.events.try_send(JobEvent::Finished {
                ticket,
                key,
                result: JobResult::Failed(format!("cannot start a thread: {e}")),
                elapsed: Duration::ZERO,
            });
        }
    }
}

/// The thread that runs a job, then the one waiting after it, until none waits.
struct Worker {
    session: Arc<Session>,
    events: Sender<JobEvent>,
    slots: Arc<Mutex<Slots>>,
    gauge: Arc<Gauge>,
}

impl Worker {
    fn run(self, mut job: Job, mut token: CancelToken) {
        loop {
            let start = Instant::now();
            self.gauge.enter();
            let result = self.compute(&job, token);
            self.gauge.leave();
            // The receiver is gone only when the interface has quit.
            let _ = self.events.blocking_send(JobEvent::Finished {
                ticket: job.ticket,
                key: job.work.key,
                result,
                elapsed: start.elapsed(),
            });
            let mut slots = lock(&self.slots);
            match slots.waiting.take() {
                Some(next) => {
                    token = CancelToken::new();
                    slots.running = Some((next.ticket, token.clone()));
                    job = next;
                }
                None => {
                    slots.running = None;
                    drop(slots);
                    // Idle now, perhaps for long: what the jobs freed goes back to the system
                    // instead of staying in the process until the next map (ResNet50 after
                    // SmoothGrad: 660 -> 400 MB resident). Not between chained jobs, whose
                    // next one would only fault the pages in again.
                    crate::exec::cpu::give_back_freed_memory();
                    self.gauge.gave_back.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }

    fn compute(&self, job: &Job, cancel: CancelToken) -> JobResult {
        let (events, ticket) = (self.events.clone(), job.ticket);
        let last = Mutex::new(None::<Instant>);
        let control = Control::new(cancel, move |progress: Progress| {
            let now = Instant::now();
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now - t < PROGRESS_EVERY) && progress.done < progress.total {
                return;
            }
            *last = Some(now);
            let _ = events.try_send(JobEvent::Progress { ticket, progress });
        });
        let events = self.events.clone();
        let partial = move |check: Arc<Check>| {
            // Dropped when the loop is behind: the next step's (or the result) replaces it.
            let _ = events.try_send(JobEvent::Partial { ticket, check });
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run(&self.session, &job.work, control, &partial)
        }));
        match outcome {
            Ok(Ok(done)) => JobResult::Done(done),
            Ok(Err(Error::Cancelled)) => JobResult::Cancelled,
            Ok(Err(e)) => JobResult::Failed(e.to_string()),
            Err(panic) => JobResult::Failed(format!(
                "{} failed unexpectedly ({}); please report this",
                job.work.key.name(),
                panic_text(&panic)
            )),
        }
    }
}

/// Computes `work`: what a job does, on the runner's thread (and inline in tests); `partial`
/// receives a randomization check's strip as it grows.
pub fn run(
    session: &Session,
    work: &Work,
    control: Control,
    partial: &dyn Fn(Arc<Check>),
) -> crate::Result<Done> {
    match &work.key {
        Key::Map(spec) => Ok(Done::Map(Arc::new(compute(
            session,
            &work.input,
            spec,
            control,
        )?))),
        Key::Trust(spec) => Ok(Done::Trust(Arc::new(judge(
            session,
            &work.input,
            spec,
            work.map.as_deref(),
            control,
            partial,
        )?))),
    }
}

/// The slots stay usable after a panic elsewhere: they hold plain data.
fn lock(slots: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    slots.lock().unwrap_or_else(|e| e.into_inner())
}

/// A panic payload as text.
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}
