//! Typing in the prompts and popups: the layer search, the target picker, the options form and
//! the open prompt.

use std::path::PathBuf;

use super::{refresh, say, select};
use crate::tui::action::{Action, Effect};
use crate::tui::forms::{KnobsForm, OpenPrompt, TargetPicker};
use crate::tui::state::{Mode, State};

/// The next row (from `from`, wrapping) whose name contains `query`, case-insensitively;
/// `inclusive` also tries `from` itself.
pub(super) fn find(
    s: &State,
    query: &str,
    from: usize,
    forward: bool,
    inclusive: bool,
) -> Option<usize> {
    let q = query.to_lowercase();
    let n = s.rows.len();
    let start = if inclusive { 0 } else { 1 };
    (start..n + start)
        .map(|k| {
            if forward {
                (from + k) % n
            } else {
                (from + n * 2 - k) % n
            }
        })
        .find(|&i| s.rows[i].name.to_lowercase().contains(&q))
}

pub(super) fn search(
    s: &mut State,
    a: Action,
    mut query: String,
    origin: usize,
    fx: &mut Vec<Effect>,
) {
    match a {
        Action::Char(c) => query.push(c),
        Action::Backspace => {
            query.pop();
        }
        Action::Accept => {
            if !query.is_empty() {
                s.last_search = Some(query);
            }
            s.mode = Mode::Normal;
            return;
        }
        Action::Dismiss => {
            s.mode = Mode::Normal;
            select(s, origin, fx);
            return;
        }
        Action::Down | Action::Up => {
            let forward = matches!(a, Action::Down);
            if let Some(i) = find(s, &query, s.selected, forward, false) {
                select(s, i, fx);
            }
            s.mode = Mode::Search { query, origin };
            return;
        }
        _ => {}
    }
    // Incremental: the first match from where the search began.
    match find(s, &query, origin, true, true) {
        Some(i) => select(s, i, fx),
        None if !query.is_empty() => say(s, format!("no layer name contains '{query}'"), true),
        None => select(s, origin, fx),
    }
    s.mode = Mode::Search { query, origin };
}

pub(super) fn all_labels(s: &State) -> Vec<String> {
    (0..s.classes()).map(|i| s.label(i)).collect()
}

pub(super) fn targets(s: &mut State, a: Action, mut p: TargetPicker, fx: &mut Vec<Effect>) {
    match a {
        Action::Char(c) => {
            p.query.push(c);
            p.cursor = 0;
        }
        Action::Backspace => {
            p.query.pop();
            p.cursor = 0;
        }
        Action::Down => p.cursor = (p.cursor + 1).min(p.matches.len().saturating_sub(1)),
        Action::Up => p.cursor = p.cursor.saturating_sub(1),
        Action::Accept => {
            s.mode = Mode::Normal;
            match p.chosen() {
                Some(class) => {
                    s.target = class;
                    refresh(s, fx, true);
                }
                None => say(s, format!("no class matches '{}'", p.query), true),
            }
            return;
        }
        Action::Dismiss => {
            s.mode = Mode::Normal;
            return;
        }
        _ => {}
    }
    if matches!(a, Action::Char(_) | Action::Backspace) {
        let top: Vec<usize> = s.top.iter().map(|p| p.index).collect();
        p.refilter(&top, &all_labels(s));
    }
    s.mode = Mode::Targets(p);
}

pub(super) fn knobs(s: &mut State, a: Action, mut form: KnobsForm, fx: &mut Vec<Effect>) {
    let n = form.fields.len();
    match a {
        Action::Char(c) => {
            if let Some(t) = form.edit() {
                t.push(c)
            }
        }
        Action::Backspace => {
            if let Some(t) = form.edit() {
                t.pop();
            }
        }
        Action::Down | Action::Complete => form.cursor = (form.cursor + 1) % n.max(1),
        Action::Up => form.cursor = (form.cursor + n.max(1) - 1) % n.max(1),
        Action::Accept => match form.apply(&s.knobs) {
            Ok(k) => {
                s.mode = Mode::Normal;
                s.knobs = k;
                refresh(s, fx, true);
                return;
            }
            Err(e) => form.error = Some(e),
        },
        Action::Dismiss => {
            s.mode = Mode::Normal;
            return;
        }
        _ => {}
    }
    s.mode = Mode::Knobs(form);
}

pub(super) fn open(s: &mut State, a: Action, mut prompt: OpenPrompt, fx: &mut Vec<Effect>) {
    match a {
        Action::Char(c) => prompt.path.push(c),
        Action::Backspace => {
            prompt.path.pop();
        }
        Action::Complete => prompt.complete(),
        Action::Accept => {
            s.mode = Mode::Normal;
            let path = prompt.path.trim();
            if path.is_empty() {
                return;
            }
            say(s, format!("opening {path}…"), false);
            fx.push(Effect::LoadInput(PathBuf::from(path)));
            return;
        }
        Action::Dismiss => {
            s.mode = Mode::Normal;
            return;
        }
        _ => {}
    }
    s.mode = Mode::Open(prompt);
}
