//! Keys to actions: one table per mode. The help screen is generated from the same table, so
//! it cannot drift from what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::state::{Mode, State};
use super::view::View;

/// One key binding of the main screen.
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

/// A key as the keymap names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

impl Key {
    fn matches(self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            Key::Char(c) => ev.code == KeyCode::Char(c) && !ctrl,
            Key::Ctrl(c) => ev.code == KeyCode::Char(c) && ctrl,
            Key::Code(code) => ev.code == code,
        }
    }

    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{c}"),
            Key::Code(code) => match code {
                KeyCode::Up => "↑".into(),
                KeyCode::Down => "↓".into(),
                KeyCode::Left => "←".into(),
                KeyCode::Right => "→".into(),
                KeyCode::PageUp => "PgUp".into(),
                KeyCode::PageDown => "PgDn".into(),
                KeyCode::Home => "Home".into(),
                KeyCode::End => "End".into(),
                KeyCode::Enter => "Enter".into(),
                KeyCode::Esc => "Esc".into(),
                KeyCode::Tab => "Tab".into(),
                KeyCode::BackTab => "Shift-Tab".into(),
                other => format!("{other:?}"),
            },
        }
    }
}

use Key::{Char, Code, Ctrl};

/// The main screen's keys, in the order the help lists them.
pub fn bindings() -> Vec<Binding> {
    let b =
        |keys: &'static [Key], action: Action, help: &'static str| Binding { keys, action, help };
    vec![
        b(
            &[Char('j'), Code(KeyCode::Down)],
            Action::Down,
            "next layer (or scroll the pane)",
        ),
        b(
            &[Char('k'), Code(KeyCode::Up)],
            Action::Up,
            "previous layer (or scroll the pane)",
        ),
        b(
            &[Code(KeyCode::PageDown), Ctrl('d')],
            Action::PageDown,
            "page down",
        ),
        b(
            &[Code(KeyCode::PageUp), Ctrl('u')],
            Action::PageUp,
            "page up",
        ),
        b(
            &[Char('g'), Code(KeyCode::Home)],
            Action::Top,
            "first layer",
        ),
        b(
            &[Char('G'), Code(KeyCode::End)],
            Action::Bottom,
            "last layer",
        ),
        b(
            &[Char('/')],
            Action::SearchStart,
            "search layer names (Enter keeps, Esc returns)",
        ),
        b(&[Char('n')], Action::NextMatch, "next match of the search"),
        b(
            &[Char('N')],
            Action::PrevMatch,
            "previous match of the search",
        ),
        b(
            &[Code(KeyCode::Enter)],
            Action::FocusLayer,
            "focus the selected layer's pane",
        ),
        b(
            &[Char('l'), Code(KeyCode::Right)],
            Action::NextPane,
            "next pane: summary → layer → view",
        ),
        b(
            &[Char('h'), Code(KeyCode::Left)],
            Action::PrevPane,
            "previous pane",
        ),
        b(&[Code(KeyCode::Tab)], Action::NextView, "next view tab"),
        b(
            &[Code(KeyCode::BackTab)],
            Action::PrevView,
            "previous view tab",
        ),
        b(
            &[
                Char('1'),
                Char('2'),
                Char('3'),
                Char('4'),
                Char('5'),
                Char('6'),
                Char('7'),
                Char('8'),
                Char('9'),
                Char('0'),
            ],
            Action::SelectView(0),
            "view tab 1-10",
        ),
        b(
            &[Char('T')],
            Action::SelectView(View::trust().index()),
            "the Trust view: how faithful each map is",
        ),
        b(
            &[Char(']')],
            Action::NextVariant,
            "next in the Grad-CAM family / Trust's maps",
        ),
        b(
            &[Char('[')],
            Action::PrevVariant,
            "previous in the Grad-CAM family / Trust's maps",
        ),
        b(&[Char('t')], Action::OpenTargets, "pick the target class"),
        b(
            &[Char('p')],
            Action::OpenKnobs,
            "the view's options (window, steps, colormap, …)",
        ),
        b(&[Char('o')], Action::OpenImage, "open another image"),
        b(
            &[Char('i')],
            Action::ToggleInput,
            "show the prepared input beside the map",
        ),
        b(
            &[Char('e')],
            Action::Export,
            "export: PNG and NPY (Trust: CSV, JSON, PNG)",
        ),
        b(
            &[Code(KeyCode::Esc)],
            Action::Cancel,
            "cancel the running job / dismiss a message",
        ),
        b(&[Char('?')], Action::Help, "this help"),
        b(&[Char('q'), Ctrl('c')], Action::Quit, "quit"),
    ]
}

/// The keys of the prompts and popups, for the help screen.
pub const PROMPT_KEYS: &[(&str, &str)] = &[
    ("type", "search / filter / edit"),
    ("↑ ↓", "move in a list or between fields"),
    ("Tab", "complete a path; next field"),
    ("Enter", "accept"),
    ("Esc", "close without changing anything"),
];

/// The action a key means in the current mode, if any.
pub fn action_for(state: &State, ev: &KeyEvent) -> Option<Action> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    // Ctrl-C quits from anywhere.
    if Ctrl('c').matches(ev) {
        return Some(Action::Quit);
    }
    match &state.mode {
        Mode::Normal => {
            if let KeyCode::Char(c @ '0'..='9') = ev.code {
                let n = c.to_digit(10).expect("a digit") as usize;
                return Some(Action::SelectView((n + 9) % 10));
            }
            bindings()
                .into_iter()
                .find(|b| b.keys.iter().any(|k| k.matches(ev)))
                .map(|b| b.action)
        }
        Mode::Help { .. } => Some(match ev.code {
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            _ => Action::Dismiss,
        }),
        Mode::Search { .. } | Mode::Targets(_) | Mode::Knobs(_) | Mode::Open(_) => {
            Some(match ev.code {
                KeyCode::Esc => Action::Dismiss,
                KeyCode::Enter => Action::Accept,
                KeyCode::Backspace => Action::Backspace,
                KeyCode::Tab => Action::Complete,
                KeyCode::Up => Action::Up,
                KeyCode::Down => Action::Down,
                KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => {
                    Action::Char(c)
                }
                _ => return None,
            })
        }
    }
}

/// The help screen's lines: `(keys, what they do)`.
pub fn help_lines() -> Vec<(String, &'static str)> {
    let mut lines: Vec<(String, &'static str)> = bindings()
        .iter()
        .map(|b| {
            let keys = if b.keys.len() > 3 {
                format!("{}-{}", b.keys[0].label(), b.keys[b.keys.len() - 1].label())
            } else {
                b.keys
                    .iter()
                    .map(|k| k.label())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            (keys, b.help)
        })
        .collect();
    lines.push((String::new(), ""));
    lines.extend(PROMPT_KEYS.iter().map(|(k, h)| (k.to_string(), *h)));
    lines
}
