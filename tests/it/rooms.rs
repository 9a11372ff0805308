//! The rooms import downward only (DESIGN.md §1): every `crate::ROOM` path in a room's files
//! names a room of a lower rank, so no import goes up and none goes in a circle; and the rooms
//! below the edges never name the terminal or async crates.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each room and its rank: a room may use only rooms of a lower rank. Rooms of one rank do not
/// use each other.
const RANKS: &[(&str, u8)] = &[
    ("alloc", 0),
    ("error", 0),
    ("text", 0),
    ("files", 1),
    ("model", 2),
    ("imaging", 2),
    ("exec", 3),
    ("import", 3),
    ("input", 4),
    ("methods", 5),
    ("engine", 6),
    ("trust", 7),
    ("dataset", 8),
    ("jobs", 8),
    ("term", 8),
    ("tui", 9),
    ("cli", 10),
];

/// Rooms that compute: no terminal, no async runtime.
const NO_EDGES: &[&str] = &[
    "model", "import", "exec", "input", "methods", "engine", "trust", "imaging", "dataset",
];
const EDGE_CRATES: &[&str] = &["ratatui", "crossterm", "tokio", "ratatui_image"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rank(room: &str) -> Option<u8> {
    RANKS.iter().find(|(r, _)| *r == room).map(|(_, k)| *k)
}

/// The `.rs` files of a room: `src/ROOM.rs` or everything under `src/ROOM/`.
fn files(room: &str) -> Vec<PathBuf> {
    let file = src().join(format!("{room}.rs"));
    if file.exists() {
        return vec![file];
    }
    let mut out = Vec::new();
    let mut dirs = vec![src().join(room)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The rooms a piece of source names as `crate::ROOM` (in `use` lines and inline paths;
/// `crate::{a, b}` lists each). `crate::Error` and `crate::Result` are the `error` room's,
/// re-exported at the root.
fn named_rooms(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    text.match_indices("crate::")
        .filter(|(at, _)| {
            // `convscope::crate::` does not occur; skip `$crate::` in macros.
            !text[..*at].ends_with('$')
        })
        .flat_map(|(at, m)| {
            let rest = &text[at + m.len()..];
            match rest.strip_prefix('{') {
                Some(group) => top_level_items(group).iter().map(|i| ident(i)).collect(),
                None => vec![ident(rest)],
            }
        })
        .map(|name| match name.as_str() {
            "Error" | "Result" => "error".to_string(),
            _ => name,
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The comma-separated items of a `{…}` group (whose opening brace is already consumed), up to
/// its closing brace, not splitting inside nested groups.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0usize, 0usize, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

#[test]
fn every_room_is_ranked() {
    let mut rooms: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|n| n != "lib" && n != "main")
        .collect();
    rooms.sort();
    for room in &rooms {
        assert!(
            rank(room).is_some(),
            "src/{room} is not in tests/rooms.rs's RANKS: give it a rank"
        );
    }
}

#[test]
fn rooms_import_downward_only() {
    let mut wrong = Vec::new();
    for (room, own) in RANKS {
        for file in files(room) {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in named_rooms(&text) {
                if used == *room {
                    continue;
                }
                match rank(&used) {
                    Some(k) if k < *own => {}
                    Some(k) => wrong.push(format!(
                        "{} (room {room}, rank {own}) uses crate::{used} (rank {k})",
                        file.strip_prefix(src()).unwrap().display()
                    )),
                    None => wrong.push(format!(
                        "{} uses crate::{used}, which is not a ranked room",
                        file.display()
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways imports:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn computing_rooms_do_not_touch_the_terminal_or_the_runtime() {
    let mut wrong = Vec::new();
    for room in NO_EDGES {
        for file in files(room) {
            let text = std::fs::read_to_string(&file).unwrap();
            for krate in EDGE_CRATES {
                if text.contains(&format!("{krate}::")) {
                    wrong.push(format!("{} uses {krate}", file.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    let names = named_rooms(
        "use crate::methods::Artifact;\nlet x = crate::tui::run();\n$crate::x\n\
         use crate::{exec::{A, B}, cli};\nfn f() -> crate::Result<()>",
    );
    let want = ["methods", "tui", "exec", "cli", "error"];
    assert_eq!(names, want.iter().map(|s| s.to_string()).collect());
}
