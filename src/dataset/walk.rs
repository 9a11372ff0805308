//! The walk behind `--images DIR` and `--images 'GLOB'`: convscope's own, so that it follows
//! symlinks but visits each folder once (by device and inode: a link back to a parent is a
//! loop, said and skipped), skips hidden names (`.git`, a run's staged `.*.tmp` files), the
//! output folder, other runs' output folders and names that are not UTF-8, and stops at
//! `MAX_DEPTH` folders.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::inputs::{has_glob_chars, is_image_name, Item, Listing};
use crate::error::{Error, Result};

/// Folders nested deeper than this are not walked (a bound for pathological trees).
const MAX_DEPTH: usize = 64;

/// Identifies a folder across the links that reach it.
#[cfg(unix)]
fn folder_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn folder_id(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// The walk's state: the folders seen (by identity), the one to skip, what was said.
struct Walk {
    seen: HashSet<(u64, u64)>,
    exclude: Option<(u64, u64)>,
    warnings: Vec<String>,
}

impl Walk {
    fn new(exclude: Option<&Path>) -> Walk {
        Walk {
            seen: HashSet::new(),
            exclude: exclude
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| folder_id(&m)),
            warnings: Vec::new(),
        }
    }

    /// Every non-hidden file below `root` (links followed, each folder once) as (path, rel),
    /// descending at most `depth` folders.
    fn files(&mut self, root: &Path, depth: usize) -> Result<Vec<(PathBuf, String)>> {
        let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
        self.seen.insert(folder_id(&meta));
        let mut out = Vec::new();
        let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
        while let Some((dir, rel, level)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) => {
                    self.warnings
                        .push(format!("skipped folder {}: {e}", dir.display()));
                    continue;
                }
            };
            for entry in entries.flatten() {
                // The manifest keys images by their relative path as text: a name that is not
                // UTF-8 has no exact key (two such names could read alike), so it is said and
                // skipped.
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    self.warnings.push(format!(
                        "skipped {}: its name is not UTF-8 text; rename it to include it",
                        entry.path().display()
                    ));
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let path = entry.path();
                let rel = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                // Links are followed: a dangling one is listed, and fails as its image.
                let Ok(meta) = std::fs::metadata(&path) else {
                    out.push((path, rel));
                    continue;
                };
                if !meta.is_dir() {
                    out.push((path, rel));
                    continue;
                }
                let id = folder_id(&meta);
                if self.exclude == Some(id) {
                    continue;
                }
                if holds_a_run(&path) {
                    self.warnings.push(format!(
                        "skipped {}: it holds a convscope run's outputs (run.json)",
                        path.display()
                    ));
                    continue;
                }
                if !self.seen.insert(id) {
                    self.warnings.push(format!(
                        "skipped {}: a link to a folder already walked (a loop)",
                        path.display()
                    ));
                    continue;
                }
                if level + 1 > depth.min(MAX_DEPTH) {
                    if depth > MAX_DEPTH {
                        self.warnings.push(format!(
                            "skipped {}: nested deeper than {MAX_DEPTH} folders",
                            path.display()
                        ));
                    }
                    continue;
                }
                stack.push((path, rel, level + 1));
            }
        }
        Ok(out)
    }
}

/// Whether `dir` is the output folder of a convscope run (its `run.json` says so): another
/// run's maps are not images to explain.
fn holds_a_run(dir: &Path) -> bool {
    crate::files::read_bounded(
        &dir.join(super::manifest::RUN),
        "a run description",
        1 << 20,
        "run.json may hold",
    )
    .ok()
    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    .is_some_and(|v| v["convscope"].is_string() && v["run"].is_string())
}

pub(super) fn walk_folder(root: &Path, exclude: Option<&Path>) -> Result<Listing> {
    walk(root, usize::MAX, exclude, is_image_name)
}

/// The files below `root` (at most `depth` folders down) whose relative path `keep` takes.
fn walk(
    root: &Path,
    depth: usize,
    exclude: Option<&Path>,
    keep: impl Fn(&str) -> bool,
) -> Result<Listing> {
    let mut walk = Walk::new(exclude);
    let items = walk
        .files(root, depth)?
        .into_iter()
        .filter(|(_, rel)| keep(rel))
        .map(|(path, rel)| Item {
            path,
            rel,
            stem: String::new(),
        })
        .collect();
    Ok(Listing {
        items,
        warnings: walk.warnings,
    })
}

/// `photos/**/*.jpg`: the folders before the first pattern character are walked, and each
/// file's path below them matched as a shell matches it (`*` stays within a folder, a leading
/// dot must be written).
pub(super) fn walk_pattern(spec: &str, exclude: Option<&Path>) -> Result<Listing> {
    let components: Vec<&str> = spec.split('/').collect();
    let fixed = components
        .iter()
        .position(|c| has_glob_chars(c))
        .expect("the pattern has a pattern character");
    let root = match components[..fixed].join("/") {
        s if s.is_empty() && spec.starts_with('/') => PathBuf::from("/"),
        s if s.is_empty() => PathBuf::from("."),
        s => PathBuf::from(s),
    };
    let rest = components[fixed..].join("/");
    let pattern = glob::Pattern::new(&rest)
        .map_err(|e| Error::Usage(format!("--images {spec}: not a valid pattern: {e}")))?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    if !root.is_dir() {
        return Ok(Listing::default());
    }
    let depth = if rest.contains("**") {
        usize::MAX
    } else {
        components.len() - fixed - 1
    };
    walk(&root, depth, exclude, |rel| {
        pattern.matches_with(rel, options)
    })
}
