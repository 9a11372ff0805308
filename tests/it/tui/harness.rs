//! Drives the interface without a terminal: keys go through the real keymap and reducer, and
//! the effects run inline (jobs computed synchronously on the demo model), so a key script
//! ends in the state the interface would reach.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use convscope::input::preprocess::Preprocess;
use convscope::input::Source;
use convscope::jobs::{run, JobResult, Session};
use convscope::methods::Control;
use convscope::term::Graphics;
use convscope::tui::action::{Action, Effect};
use convscope::tui::images::Images;
use convscope::tui::state::State;
use convscope::tui::{effects, keymap, prepare, reducer, ui, Options};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use ratatui_image::picker::Picker;

pub struct Harness {
    pub state: State,
    pub session: Arc<Session>,
    /// Effects not run yet.
    pub pending: Vec<Effect>,
    /// Every effect the reducer asked for, in order, as `Debug` text of its kind.
    pub log: Vec<String>,
    /// How many strips of randomization checks in progress reached the reducer.
    pub partials: usize,
}

pub fn options(export_dir: PathBuf) -> Options {
    Options {
        model: convscope::import::ModelSource::named("demo"),
        source: Source::Sample,
        preprocess: Some(Preprocess::Imagenet),
        labels: None,
        device: "cpu".into(),
        graphics: Graphics::Halfblocks,
        export_dir: Some(export_dir),
    }
}

impl Harness {
    /// The demo model on its own picture, with the first effects run.
    pub fn demo() -> Harness {
        Harness::with(options(std::env::temp_dir()))
    }

    pub fn with(o: Options) -> Harness {
        let (session, mut state) = prepare(&o, "half-blocks").expect("the demo opens");
        let pending = reducer::start(&mut state);
        let mut h = Harness {
            state,
            session,
            pending: Vec::new(),
            log: Vec::new(),
            partials: 0,
        };
        h.queue(pending);
        h.settle();
        h
    }

    fn queue(&mut self, fx: Vec<Effect>) {
        for e in &fx {
            self.log.push(kind(e));
        }
        self.pending.extend(fx);
    }

    /// Sends one action through the reducer (effects are queued, not run).
    pub fn act(&mut self, a: Action) {
        let fx = reducer::update(&mut self.state, a);
        self.queue(fx);
    }

    /// Types a key script: plain characters, and `<Enter>`, `<Esc>`, `<Tab>`, `<S-Tab>`,
    /// `<Up>`, `<Down>`, `<Left>`, `<Right>`, `<PgUp>`, `<PgDn>`, `<BS>`, `<C-c>`. Effects are
    /// queued; call `settle` to run them.
    pub fn keys(&mut self, script: &str) {
        for key in parse(script) {
            if let Some(a) = keymap::action_for(&self.state, &key) {
                self.act(a);
            }
        }
    }

    /// Types a script and runs every effect it caused.
    pub fn press(&mut self, script: &str) {
        self.keys(script);
        self.settle();
    }

    /// Runs the queued effects (and those their results cause) until none is left.
    pub fn settle(&mut self) {
        while !self.pending.is_empty() {
            self.step();
        }
    }

    /// Runs the first queued effect alone (what it causes is queued behind the rest).
    pub fn step(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let e = self.pending.remove(0);
        let action = match e {
            Effect::Submit { ticket, work } => {
                // A randomization check's strips so far reach the reducer before its
                // result, as the runner's events do.
                let partials = std::cell::RefCell::new(Vec::new());
                let partial = |check| partials.borrow_mut().push(check);
                let result = match run(&self.session, &work, Control::default(), &partial) {
                    Ok(done) => JobResult::Done(done),
                    Err(e) => JobResult::Failed(e.to_string()),
                };
                for check in partials.into_inner() {
                    self.partials += 1;
                    self.act(Action::JobPartial { ticket, check });
                }
                Action::JobFinished {
                    ticket,
                    key: work.key,
                    result,
                    elapsed: Duration::ZERO,
                }
            }
            Effect::Cancel => return,
            Effect::LoadLayer(id) => effects::load_layer(&self.session.graph, id),
            Effect::LoadInput(path) => {
                effects::load_input(&self.session, &path, Preprocess::Imagenet)
            }
            Effect::Export(files) => effects::export(files),
        };
        self.act(action);
    }

    /// The screen at `w`x`h` as text, pictures drawn with half-blocks.
    pub fn screen(&mut self, w: u16, h: u16) -> String {
        self.act(Action::Resize(w, h));
        let mut images = Images::new(Picker::halfblocks());
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
        term.draw(|f| ui::draw(f, &self.state, &mut images))
            .expect("draws");
        let buf = term.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The name of the selected layer.
    pub fn layer(&self) -> &str {
        &self.state.rows[self.state.selected].name
    }
}

fn kind(e: &Effect) -> String {
    match e {
        Effect::Submit { work, .. } => format!("submit {}", work.key.name()),
        Effect::Cancel => "cancel".into(),
        Effect::LoadLayer(id) => format!("load layer {}", id.0),
        Effect::LoadInput(p) => format!("load input {}", p.display()),
        Effect::Export(files) => {
            let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
            format!("export {}", names.join(" "))
        }
    }
}

fn parse(script: &str) -> Vec<KeyEvent> {
    let mut keys = Vec::new();
    let mut rest = script;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let name = &rest[1..end];
                let (code, mods) = match name {
                    "Enter" => (KeyCode::Enter, KeyModifiers::NONE),
                    "Esc" => (KeyCode::Esc, KeyModifiers::NONE),
                    "Tab" => (KeyCode::Tab, KeyModifiers::NONE),
                    "S-Tab" => (KeyCode::BackTab, KeyModifiers::SHIFT),
                    "Up" => (KeyCode::Up, KeyModifiers::NONE),
                    "Down" => (KeyCode::Down, KeyModifiers::NONE),
                    "Left" => (KeyCode::Left, KeyModifiers::NONE),
                    "Right" => (KeyCode::Right, KeyModifiers::NONE),
                    "PgUp" => (KeyCode::PageUp, KeyModifiers::NONE),
                    "PgDn" => (KeyCode::PageDown, KeyModifiers::NONE),
                    "BS" => (KeyCode::Backspace, KeyModifiers::NONE),
                    "C-c" => (KeyCode::Char('c'), KeyModifiers::CONTROL),
                    "lt" => (KeyCode::Char('<'), KeyModifiers::NONE),
                    other => panic!("unknown key <{other}> in a test script"),
                };
                keys.push(KeyEvent::new(code, mods));
                rest = &rest[end + 1..];
                continue;
            }
        }
        keys.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        rest = &rest[c.len_utf8()..];
    }
    keys
}
