//! `update(&mut State, Action) -> Vec<Effect>`: every change to the interface happens here, as
//! plain data; what must happen outside (compute, read, write) comes back as effects. The main
//! screen's keys are here; the prompts' typing is in `prompts`, background events in `events`.

mod events;
mod prompts;

use super::action::{Action, Effect, Payload};
use super::forms::{KnobsForm, OpenPrompt, TargetPicker};
use super::state::{Job, LayerDetail, Message, Mode, Pane, State};
use super::view::View;
use crate::jobs::{Key, Work};
use prompts::{all_labels, find};

/// The effects to start with: the first view and the selected layer's weights.
pub fn start(s: &mut State) -> Vec<Effect> {
    let mut fx = Vec::new();
    refresh(s, &mut fx, true);
    load_layer(s, &mut fx);
    fx
}

pub fn update(s: &mut State, a: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    if is_background(&a) {
        events::background(s, a, &mut fx);
        return fx;
    }
    let had_message = s.message.take().is_some();
    match s.mode.clone() {
        Mode::Normal => normal(s, a, had_message, &mut fx),
        Mode::Help { scroll } => {
            s.mode = match a {
                Action::Down => Mode::Help {
                    scroll: scroll.saturating_add(1),
                },
                Action::Up => Mode::Help {
                    scroll: scroll.saturating_sub(1),
                },
                Action::Quit => return quit(s),
                _ => Mode::Normal,
            }
        }
        Mode::Search { query, origin } => prompts::search(s, a, query, origin, &mut fx),
        Mode::Targets(picker) => prompts::targets(s, a, picker, &mut fx),
        Mode::Knobs(form) => prompts::knobs(s, a, form, &mut fx),
        Mode::Open(prompt) => prompts::open(s, a, prompt, &mut fx),
    }
    fx
}

fn is_background(a: &Action) -> bool {
    matches!(
        a,
        Action::Resize(..)
            | Action::Tick(_)
            | Action::JobProgress { .. }
            | Action::JobPartial { .. }
            | Action::JobFinished { .. }
            | Action::LayerLoaded(..)
            | Action::InputLoaded(_)
            | Action::Exported(_)
    )
}

fn quit(s: &mut State) -> Vec<Effect> {
    s.quit = true;
    vec![Effect::Cancel]
}

pub(super) fn say(s: &mut State, text: impl Into<String>, error: bool) {
    s.message = Some(Message {
        text: text.into(),
        error,
    });
}

/// Rows of the summary a page moves by.
fn page(s: &State) -> usize {
    usize::from(s.size.1).saturating_sub(12).max(3)
}

fn normal(s: &mut State, a: Action, had_message: bool, fx: &mut Vec<Effect>) {
    let last = s.rows.len().saturating_sub(1);
    match a {
        Action::Down
        | Action::Up
        | Action::PageDown
        | Action::PageUp
        | Action::Top
        | Action::Bottom
            if s.pane != Pane::Layer =>
        {
            let to = match a {
                Action::Down => s.selected + 1,
                Action::Up => s.selected.saturating_sub(1),
                Action::PageDown => s.selected + page(s),
                Action::PageUp => s.selected.saturating_sub(page(s)),
                Action::Top => 0,
                _ => last,
            };
            select(s, to.min(last), fx);
        }
        Action::Down | Action::PageDown => s.layer_scroll = s.layer_scroll.saturating_add(1),
        Action::Up | Action::PageUp => s.layer_scroll = s.layer_scroll.saturating_sub(1),
        Action::Top | Action::Bottom => s.layer_scroll = 0,
        Action::FocusLayer => s.pane = Pane::Layer,
        Action::NextPane | Action::PrevPane => {
            let order = [Pane::Summary, Pane::Layer, Pane::View];
            let i = order.iter().position(|p| *p == s.pane).unwrap_or(0);
            let step = if matches!(a, Action::NextPane) { 1 } else { 2 };
            s.pane = order[(i + step) % 3];
        }
        Action::SearchStart => {
            s.mode = Mode::Search {
                query: String::new(),
                origin: s.selected,
            }
        }
        Action::NextMatch | Action::PrevMatch => match s.last_search.clone() {
            Some(q) => {
                let forward = matches!(a, Action::NextMatch);
                match find(s, &q, s.selected, forward, false) {
                    Some(i) => select(s, i, fx),
                    None => say(s, format!("no layer name contains '{q}'"), true),
                }
            }
            None => say(s, "no search yet: press / to search layer names", false),
        },
        Action::NextView | Action::PrevView | Action::SelectView(_) => {
            let n = View::count();
            let i = s.view.index();
            s.view = View::at(match a {
                Action::NextView => (i + 1) % n,
                Action::PrevView => (i + n - 1) % n,
                Action::SelectView(k) => k.min(n - 1),
                _ => i,
            });
            s.pane = Pane::View;
            refresh(s, fx, true);
        }
        Action::NextVariant | Action::PrevVariant if s.view.is_trust() => {
            super::trust::select(s, matches!(a, Action::NextVariant), fx)
        }
        Action::NextVariant | Action::PrevVariant => {
            let n = s.view.variants();
            if n < 2 {
                let hint = match View::of("gradcam") {
                    Some(cam) => format!(
                        "[ and ] choose within the {} family (tab {})",
                        cam.title(),
                        (cam.index() + 1) % 10
                    ),
                    None => "[ and ] choose within a family of methods".into(),
                };
                say(s, hint, false);
                return;
            }
            s.cam_variant = (s.cam_variant
                + if matches!(a, Action::NextVariant) {
                    1
                } else {
                    n - 1
                })
                % n;
            refresh(s, fx, true);
        }
        Action::Cancel => {
            if had_message {
                return;
            }
            if let Some(key) = s.job.running().cloned() {
                fx.push(Effect::Cancel);
                match s.view.is_trust() {
                    true => {
                        s.trust.paused = true;
                        let again = View::trust().hotkey();
                        say(s, format!("stopped scoring; {again} goes on"), false);
                    }
                    false => say(s, format!("cancelled {}", key.name()), false),
                }
                s.job = Job::Cancelled(key);
            }
        }
        Action::OpenTargets => {
            let top: Vec<usize> = s.top.iter().map(|p| p.index).collect();
            s.mode = Mode::Targets(TargetPicker::new(&top, &all_labels(s)));
        }
        Action::OpenKnobs if s.view.is_trust() => s.mode = Mode::Knobs(KnobsForm::trust(&s.knobs)),
        Action::OpenKnobs => {
            s.mode = Mode::Knobs(KnobsForm::new(s.view.info(s.cam_variant), &s.knobs))
        }
        Action::OpenImage => s.mode = Mode::Open(OpenPrompt::default()),
        Action::ToggleInput => s.show_input = !s.show_input,
        Action::Export if s.view.is_trust() => super::trust::export(s, fx),
        Action::Export => export(s, fx),
        Action::Help => s.mode = Mode::Help { scroll: 0 },
        Action::Quit => fx.extend(quit(s)),
        _ => {}
    }
}

/// Moves the selection, then what follows it: the layer pane and a layer-following view.
pub(super) fn select(s: &mut State, row: usize, fx: &mut Vec<Effect>) {
    if row == s.selected {
        return;
    }
    s.selected = row;
    s.layer_scroll = 0;
    load_layer(s, fx);
    refresh(s, fx, false);
}

fn load_layer(s: &mut State, fx: &mut Vec<Effect>) {
    let id = s.selected_layer();
    if s.layer_detail.as_ref().is_some_and(|(l, _)| *l == id) {
        return;
    }
    if crate::model::describe::shown_weights(&s.graph, id).is_empty() {
        let empty = LayerDetail {
            weights: Vec::new(),
            histogram: Vec::new(),
            note: None,
        };
        s.layer_detail = Some((id, Ok(empty)));
    } else {
        s.layer_detail = None;
        fx.push(Effect::LoadLayer(id));
    }
}

/// Brings the view pane up to date with the state: a cached result at once, else a job (which
/// supersedes the one running). A view that was cancelled or failed is not retried unless
/// `force` (the user chose the view again).
pub(super) fn refresh(s: &mut State, fx: &mut Vec<Effect>, force: bool) {
    if s.view.is_trust() {
        return super::trust::refresh(s, fx, force);
    }
    let (spec, _) = s.spec();
    if s.shown.as_ref().is_some_and(|(shown, _)| *shown == spec) {
        return;
    }
    if let Some(hit) = s.cache.get(&spec) {
        if matches!(s.job, Job::Running { .. }) {
            fx.push(Effect::Cancel);
        }
        s.job = Job::Idle;
        s.shown = Some((spec, hit));
        return;
    }
    let same = match &s.job {
        Job::Running { key, .. } => key.is_map(&spec),
        Job::Cancelled(old) | Job::Failed { key: old, .. } => !force && old.is_map(&spec),
        Job::Idle => false,
    };
    if same {
        return;
    }
    let ticket = s.next_ticket;
    s.next_ticket += 1;
    s.job = Job::Running {
        ticket,
        key: Key::Map(spec.clone()),
        progress: None,
        started: s.now,
    };
    fx.push(Effect::Submit {
        ticket,
        work: Work::map(spec, s.input.clone()),
    });
}

/// File names for the view: `STEM.METHOD[.LAYER][.CLASS].png` and `.npy`.
fn export(s: &mut State, fx: &mut Vec<Effect>) {
    let (spec, _) = s.spec();
    let Some((shown, computed)) = s.shown.clone().filter(|(shown, _)| *shown == spec) else {
        say(
            s,
            "nothing to export yet: the view is still being computed",
            true,
        );
        return;
    };
    let mut parts = vec![
        if s.view.uses_input() {
            s.input.stem()
        } else {
            s.graph.name.clone()
        },
        shown.method.to_string(),
    ];
    if let Some(l) = shown.layer {
        parts.push(s.graph.layer(l).name.clone());
    }
    if s.view.uses_target() {
        parts.push(s.label(shown.target));
    }
    let stem = file_stem(&parts);
    fx.push(Effect::Export(vec![
        (
            s.export_dir.join(format!("{stem}.png")),
            Payload::Png(computed.picture.clone()),
        ),
        (
            s.export_dir.join(format!("{stem}.npy")),
            Payload::Npy(computed),
        ),
    ]));
}

/// `parts` joined by dots, every character but letters, digits, `.`, `_` and `-` made `_`
/// (layer and class names hold spaces, slashes and worse).
pub(super) fn file_stem(parts: &[String]) -> String {
    parts
        .join(".")
        .chars()
        .map(|c| match c.is_alphanumeric() || "._-".contains(c) {
            true => c,
            false => '_',
        })
        .collect()
}
