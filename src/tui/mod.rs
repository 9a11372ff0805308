//! The terminal interface: `convscope [MODEL] [--image PATH]`. A tokio loop selects over the
//! terminal's events, job events and a tick; keys become actions through the keymap; the
//! reducer changes the state and returns effects; the screen is redrawn only after a change
//! (DESIGN.md §5).

pub mod action;
pub mod effects;
pub mod forms;
pub mod images;
pub mod keymap;
pub mod reducer;
pub mod state;
mod terminal;
pub mod trust;
pub mod ui;
pub mod view;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::exec::{device_label, select_device};
use crate::import::{labels, open, ModelSource};
use crate::input::preprocess::Preprocess;
use crate::input::{Input, Source};
use crate::jobs::{JobEvent, Runner, Session};
use crate::term::Graphics;
use action::{Action, Effect};
use images::Images;
use state::{Setup, State};

/// What the interface opens.
pub struct Options {
    pub model: ModelSource,
    pub source: Source,
    /// `--preprocess`; None: the model's own, else ImageNet's.
    pub preprocess: Option<Preprocess>,
    pub labels: Option<PathBuf>,
    pub device: String,
    pub graphics: Graphics,
    /// `--export-dir`; [`DEFAULT_EXPORT_DIR`] when not given.
    pub export_dir: Option<PathBuf>,
}

/// Where `e` writes when `--export-dir` is not given: a folder of its own in the current
/// directory, made on the first export, so exports do not litter the directory (or a
/// repository's root) file by file.
pub const DEFAULT_EXPORT_DIR: &str = "convscope-exports";

/// The model, input and first state, read before the terminal changes mode, so that a bad
/// argument is a one-line error on a normal screen.
pub fn prepare(o: &Options, graphics: &'static str) -> Result<(Arc<Session>, State)> {
    let graph = open(&o.model)?;
    let device = select_device(&o.device)?;
    let device_name = device_label(&device);
    let preprocess = Preprocess::for_model(o.preprocess, &graph).0;
    let input = Input::load(&graph, &o.source, preprocess)?;
    let carried = graph.labels.clone();
    let session = Arc::new(Session::new(graph, device)?);
    // The clean pass computed here serves the first map too (the session keeps it).
    let input = Arc::new(input);
    let scores = session.scores(&input)?;
    let labels = labels::for_model(scores.len(), o.labels.as_deref(), carried.as_deref())?;
    let state = State::new(Setup {
        graph: session.graph.clone(),
        labels,
        input,
        scores,
        device: device_name,
        graphics,
        export_dir: o
            .export_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_EXPORT_DIR)),
    });
    Ok((session, state))
}

pub fn run(o: Options) -> Result<()> {
    if let Some(dir) = o.export_dir.as_ref().filter(|d| !d.is_dir()) {
        return Err(Error::Usage(format!(
            "--export-dir {} is not a directory",
            dir.display()
        )));
    }
    // Arguments first: a bad model or image is a one-line error whatever the terminal.
    let (session, mut state) = prepare(&o, "half-blocks")?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "the interface needs a terminal; for scripts use `convscope summary`, `config`, `predict` or `render`".into(),
        ));
    }
    // Before the graphics query, which changes the terminal's modes too: a signal from here on
    // gives the terminal back as it was.
    crate::term::restore::save();
    // Asked before the event loop reads keys, so the terminal's answer is not taken for keys.
    let picker = crate::term::detect(o.graphics);
    state.graphics = crate::term::protocol_name(picker.protocol_type());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the event loop: {e}")))?;
    let mut term = terminal::enter()?;
    let result = term.size().map_err(terminal::broken).and_then(|size| {
        state.size = (size.width, size.height);
        // Images opened later are preprocessed as the model's first one.
        let preprocess = Preprocess::for_model(o.preprocess, &session.graph).0;
        runtime.block_on(event_loop(&mut term, state, session, picker, preprocess))
    });
    terminal::leave();
    // A file read still blocked in a background thread must not keep the process alive after
    // the user quit: the runtime is dropped without waiting for its blocking threads.
    runtime.shutdown_background();
    result
}

async fn event_loop(
    term: &mut terminal::Term,
    mut state: State,
    session: Arc<Session>,
    picker: ratatui_image::picker::Picker,
    preprocess: Preprocess,
) -> Result<()> {
    let (encoded_tx, mut encoded_rx) = mpsc::channel::<images::Encoded>(16);
    let mut images = Images::threaded(picker, encoded_tx);
    let (job_tx, mut job_rx) = mpsc::channel::<JobEvent>(256);
    let (task_tx, mut task_rx) = mpsc::channel::<Action>(64);
    let mut runner = Runner::new(session.clone(), job_tx);
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let first = reducer::start(&mut state);
    perform(first, &mut runner, &session, &task_tx, preprocess);
    let mut dirty = true;
    while !state.quit {
        if dirty {
            term.draw(|f| ui::draw(f, &state, &mut images))
                .map_err(terminal::broken)?;
            dirty = false;
        }
        let action = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(Event::Key(key))) => keymap::action_for(&state, &key),
                Some(Ok(Event::Resize(w, h))) => Some(Action::Resize(w, h)),
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(Error::Usage(format!("cannot read the terminal: {e}"))),
                None => break,
            },
            Some(ev) = job_rx.recv() => Some(Action::from(ev)),
            Some(a) = task_rx.recv() => Some(a),
            Some(encoded) = encoded_rx.recv() => {
                images.install(encoded);
                dirty = true;
                None
            }
            _ = tick.tick() => {
                // The clock only matters while a job's elapsed time is on screen.
                matches!(state.job, state::Job::Running { .. }).then(|| Action::Tick(Instant::now()))
            }
        };
        if let Some(action) = action {
            // The reducer reads the time from the state (a job's start, its elapsed time).
            reducer::update(&mut state, Action::Tick(Instant::now()));
            let effects = reducer::update(&mut state, action);
            perform(effects, &mut runner, &session, &task_tx, preprocess);
            dirty = true;
        }
    }
    runner.cancel();
    Ok(())
}

/// Carries out the reducer's effects: jobs through the runner, the rest on blocking threads
/// that report back as actions.
fn perform(
    effects: Vec<Effect>,
    runner: &mut Runner,
    session: &Arc<Session>,
    tasks: &mpsc::Sender<Action>,
    preprocess: Preprocess,
) {
    for effect in effects {
        let session = session.clone();
        match effect {
            Effect::Submit { ticket, work } => runner.submit(ticket, work),
            Effect::Cancel => runner.cancel(),
            Effect::LoadLayer(id) => background(
                tasks,
                move || effects::load_layer(&session.graph, id),
                move |e| Action::LayerLoaded(id, Err(e)),
            ),
            Effect::LoadInput(path) => background(
                tasks,
                move || effects::load_input(&session, &path, preprocess),
                |e| Action::InputLoaded(Err(e)),
            ),
            Effect::Export(files) => background(
                tasks,
                move || effects::export(files),
                |e| Action::Exported(Err(e)),
            ),
        }
    }
}

/// Runs `work` on a blocking thread and sends its action back; a panic becomes `failed`'s
/// action with the panic's text, so the interface reports it and keeps running.
fn background(
    tasks: &mpsc::Sender<Action>,
    work: impl FnOnce() -> Action + Send + 'static,
    failed: impl FnOnce(String) -> Action + Send + 'static,
) {
    let tx = tasks.clone();
    tokio::task::spawn_blocking(move || {
        let action =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|p| {
                failed(format!(
                    "unexpected failure: {}",
                    crate::jobs::runner::panic_text(&p)
                ))
            });
        let _ = tx.blocking_send(action);
    });
}
