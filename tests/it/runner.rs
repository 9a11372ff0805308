//! The interface's job runner is single-flight: holding `j` over a hundred layers with the
//! Feature maps view open runs one pass at a time (at most two alive: the one stopping and the
//! one starting), and the last layer's view starts within one pass of the last key. Idle, it
//! gives the memory its jobs freed back to the system.

use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Device;
use convscope::input::preprocess::Preprocess;
use convscope::input::{Input, Source};
use convscope::jobs::{JobEvent, Runner, Session};
use convscope::model::build::{ConvSpec, GraphBuilder};
use convscope::model::Graph;
use convscope::tui::action::{Action, Effect};
use convscope::tui::state::{Job, Setup, State};
use convscope::tui::{keymap, reducer};
use crossterm::event::{KeyCode, KeyEvent};
use tokio::sync::mpsc;

/// 100 convolutions of 32 filters (with their ReLUs) at 64×64: a pass takes long enough that the keys
/// outrun it.
fn deep_net() -> Graph {
    let (mut b, mut x) = GraphBuilder::new("deep", "input", &[1, 3, 64, 64], 7);
    for i in 0..100 {
        x = b
            .conv(&format!("conv{i}"), x, ConvSpec::new(32, 3).pad(1))
            .unwrap();
        x = b.relu(&format!("relu{i}"), x).unwrap();
    }
    x = b.global_avg_pool("gap", x).unwrap();
    x = b.flatten("flatten", x).unwrap();
    x = b.linear("predictions", x, 10).unwrap();
    let mut g = b.finish(x).unwrap();
    g.sample_image = convscope::import::demo::graph().unwrap().sample_image;
    g
}

fn key(state: &State, c: char) -> Action {
    keymap::action_for(state, &KeyEvent::from(KeyCode::Char(c))).expect("a bound key")
}

/// Runs the reducer's effects the way the event loop does: jobs through the runner.
fn perform(fx: Vec<Effect>, runner: &mut Runner) {
    for e in fx {
        match e {
            Effect::Submit { ticket, work } => runner.submit(ticket, work),
            Effect::Cancel => runner.cancel(),
            _ => {}
        }
    }
}

/// Feeds the runner's events to the reducer.
fn drain(state: &mut State, events: &mut mpsc::Receiver<JobEvent>, runner: &mut Runner) {
    while let Ok(ev) = events.try_recv() {
        let fx = reducer::update(state, Action::from(ev));
        perform(fx, runner);
    }
}

#[test]
fn holding_j_runs_one_pass_at_a_time_and_ends_on_the_last_layer() {
    let graph = deep_net();
    let input = Arc::new(Input::load(&graph, &Source::Sample, Preprocess::Imagenet).unwrap());
    let session = Arc::new(Session::new(graph, Device::Cpu).unwrap());
    let scores = session.scores(&input).unwrap();
    let mut state = State::new(Setup {
        graph: session.graph.clone(),
        labels: None,
        input,
        scores,
        device: "cpu".into(),
        graphics: "half-blocks",
        export_dir: std::env::temp_dir(),
    });
    let (tx, mut events) = mpsc::channel(256);
    let mut runner = Runner::new(session.clone(), tx);
    let gauge = runner.gauge();
    let fx = reducer::start(&mut state);
    perform(fx, &mut runner);
    // The Feature maps view (tab 2) follows the selected layer; `g` goes to the first.
    for c in ['2', 'g'] {
        let a = key(&state, c);
        let fx = reducer::update(&mut state, a);
        perform(fx, &mut runner);
    }

    // Key repeat: a `j` every 20 ms, 100 times (past the 100th layer).
    for _ in 0..100 {
        let a = key(&state, 'j');
        let fx = reducer::update(&mut state, a);
        perform(fx, &mut runner);
        drain(&mut state, &mut events, &mut runner);
        std::thread::sleep(Duration::from_millis(20));
    }
    let started_at_last_key = gauge.started();
    let wanted = state.spec().0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !matches!(state.job, Job::Idle) && Instant::now() < deadline {
        drain(&mut state, &mut events, &mut runner);
        std::thread::sleep(Duration::from_millis(5));
    }
    let shown = state.shown.as_ref().map(|(spec, _)| spec.clone());
    assert_eq!(
        shown.as_ref(),
        Some(&wanted),
        "the last layer's view is shown"
    );
    assert_eq!(wanted.method, "features");
    assert!(
        gauge.peak() <= 2,
        "{} passes were alive at once",
        gauge.peak()
    );
    assert!(
        gauge.started() - started_at_last_key <= 1,
        "{} passes started after the last key; the last layer's should be the only one",
        gauge.started() - started_at_last_key
    );
    // Idle, the runner gives the memory its jobs freed back: at most once a job (once per idle
    // spell; how many spells the keys left depends on the machine's speed).
    while gauge.gave_back() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        (1..=gauge.started()).contains(&gauge.gave_back()),
        "gave memory back {} times after {} jobs",
        gauge.gave_back(),
        gauge.started()
    );
}
