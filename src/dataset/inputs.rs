//! The images of a run: `--images DIR` (every PNG/JPEG below it), `--images 'GLOB'` (a
//! shell-style pattern, `**` for any folders) or `--images LIST.txt` (one path a line), each
//! with the relative path its outputs are mirrored under.
//!
//! Folders and patterns go through convscope's own walk (`walk.rs`), which skips the output
//! folder itself (`--images data -o data/maps` must not explain its own maps on the next run).
//! The list is sorted by relative path, so every shard and every rerun sees the same order.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use super::walk::{walk_folder, walk_pattern};
use crate::error::{Error, Result};

/// One image of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Where to read it.
    pub path: PathBuf,
    /// Its path relative to the folder (or the pattern's fixed part, or the working folder for
    /// a list), with `/` separators: the manifest's key and where its outputs go.
    pub rel: String,
    /// `rel` without its extension, or with it where two images would share one (`cat.jpg`
    /// and `cat.png`): outputs are `OUTDIR/{stem}.{method}.png`.
    pub stem: String,
}

/// The images found, and what the walk skipped that the user should hear about.
#[derive(Debug, Default)]
pub struct Listing {
    pub items: Vec<Item>,
    pub warnings: Vec<String>,
}

/// The file names a folder walk takes as images (what the image decoder reads).
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// A list longer than this is refused before it is read.
const MAX_LIST_BYTES: u64 = 512 << 20;

pub(super) fn is_image_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

pub(super) fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The images `spec` names (a folder, a pattern or a list), sorted, outputs never inside
/// `exclude` (the output folder).
pub fn list(spec: &str, exclude: Option<&Path>) -> Result<Listing> {
    let path = Path::new(spec);
    let meta = std::fs::metadata(path);
    let mut listing = match &meta {
        Ok(m) if m.is_dir() => walk_folder(path, exclude)?,
        _ if has_glob_chars(spec) => walk_pattern(spec, exclude)?,
        Ok(m) if m.is_file() && is_image_name(spec) => {
            return Err(Error::Usage(format!(
                "--images {spec} is one image; give --image {spec} for it, or a folder, a \
                 pattern or a list of paths"
            )))
        }
        Ok(m) if m.is_file() => read_list(path)?,
        Ok(_) => {
            return Err(Error::Usage(format!(
                "--images {spec} is neither a folder nor a regular file; give a folder, a \
                 pattern ('photos/**/*.jpg') or a text file with one path a line"
            )))
        }
        Err(_) => {
            return Err(Error::Usage(format!(
                "--images {spec}: no such folder or file; give a folder, a pattern \
                 ('photos/**/*.jpg') or a text file with one path a line"
            )))
        }
    };
    if listing.items.is_empty() {
        return Err(Error::Usage(match meta {
            Ok(m) if m.is_dir() => format!(
                "--images {spec}: the folder holds no PNG or JPEG file (hidden names are skipped)"
            ),
            Ok(m) if m.is_file() => format!("--images {spec}: the list names no path"),
            _ => format!("--images {spec}: the pattern matches no file"),
        }));
    }
    listing.items.sort_by(|a, b| a.rel.cmp(&b.rel));
    name_outputs(&mut listing.items);
    Ok(listing)
}

/// Stems without the extension, except where two images would share one.
fn name_outputs(items: &mut [Item]) {
    let bare = |rel: &str| -> String {
        match Path::new(rel).extension() {
            Some(ext) => rel[..rel.len() - ext.len() - 1].to_string(),
            None => rel.to_string(),
        }
    };
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for item in items.iter() {
        *count.entry(bare(&item.rel)).or_default() += 1;
    }
    for item in items.iter_mut() {
        let stem = bare(&item.rel);
        item.stem = if count[&stem] > 1 {
            item.rel.clone()
        } else {
            stem
        };
    }
}

/// A text file of paths, one a line (blank lines and `#` comments skipped), relative to the
/// working folder as `find … > list.txt` writes them. Paths that do not exist are listed and
/// fail as their image, in the manifest.
fn read_list(path: &Path) -> Result<Listing> {
    let bytes = crate::files::read_bounded(
        path,
        "a list of image paths",
        MAX_LIST_BYTES,
        "a list of paths may hold",
    )?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Usage(format!(
            "--images {}: not a UTF-8 text file; give a list with one path a line",
            path.display()
        ))
    })?;
    let mut listing = Listing::default();
    let mut seen = HashSet::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let rel = list_rel(Path::new(line));
        if !seen.insert(rel.clone()) {
            listing
                .warnings
                .push(format!("{line} is listed more than once; explained once"));
            continue;
        }
        listing.items.push(Item {
            path: PathBuf::from(line),
            rel,
            stem: String::new(),
        });
    }
    Ok(listing)
}

/// Where a listed path's outputs go: the path itself when it stays below the working folder
/// (`./a/b.jpg` → `a/b.jpg`), else its absolute path without the root (`../x/b.jpg` →
/// `home/me/x/b.jpg`), so that no output ever lands outside OUTDIR.
fn list_rel(path: &Path) -> String {
    if let Some(rel) = normal_below(path) {
        return rel;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut parts: Vec<String> = Vec::new();
    for c in absolute.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

/// `path` as `a/b/c` when it is relative and never climbs above its start.
fn normal_below(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, rel: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    fn rels(l: &Listing) -> Vec<&str> {
        l.items.iter().map(|i| i.rel.as_str()).collect()
    }

    #[test]
    fn a_folder_gives_its_images_sorted_skipping_hidden_names_and_the_output_folder() {
        let d = tempfile::tempdir().unwrap();
        for rel in [
            "b/z.JPG",
            "a.png",
            "b/a.jpeg",
            "notes.txt",
            ".hidden.png",
            "out/a.gradcam.png",
            ".git/x.png",
            "old/a.gradcam.png",
        ] {
            touch(d.path(), rel);
        }
        std::fs::write(
            d.path().join("old/run.json"),
            r#"{"run": "1", "convscope": "0.1.0"}"#,
        )
        .unwrap();
        let l = list(d.path().to_str().unwrap(), Some(&d.path().join("out"))).unwrap();
        assert_eq!(rels(&l), ["a.png", "b/a.jpeg", "b/z.JPG"]);
        assert_eq!(l.items[2].stem, "b/z");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_loop_is_walked_once_and_said() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "a/x.png");
        std::os::unix::fs::symlink(d.path(), d.path().join("a/up")).unwrap();
        let l = list(d.path().to_str().unwrap(), None).unwrap();
        assert_eq!(rels(&l), ["a/x.png"]);
        assert!(l.warnings[0].contains("loop"), "{:?}", l.warnings);
    }

    #[cfg(unix)]
    #[test]
    fn a_name_that_is_not_utf8_is_said_and_skipped() {
        use std::os::unix::ffi::OsStrExt;
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "ok.png");
        let odd = d.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"));
        if std::fs::write(&odd, b"x").is_err() {
            return; // a file system that refuses such names has none to skip
        }
        let l = list(d.path().to_str().unwrap(), None).unwrap();
        assert_eq!(rels(&l), ["ok.png"]);
        assert!(l.warnings[0].contains("not UTF-8"), "{:?}", l.warnings);
    }

    #[test]
    fn patterns_match_as_a_shell_does() {
        let d = tempfile::tempdir().unwrap();
        for rel in ["x/a.jpg", "x/b.png", "x/y/c.jpg", "x/.d.jpg"] {
            touch(d.path(), rel);
        }
        let root = d.path().to_str().unwrap();
        let l = list(&format!("{root}/x/*.jpg"), None).unwrap();
        assert_eq!(rels(&l), ["a.jpg"]);
        let l = list(&format!("{root}/x/**/*.jpg"), None).unwrap();
        assert_eq!(rels(&l), ["a.jpg", "y/c.jpg"]);
        let e = list(&format!("{root}/x/*.gif"), None).unwrap_err();
        assert!(e.to_string().contains("matches no file"), "{e}");
    }

    #[test]
    fn outputs_keep_the_extension_only_where_two_images_share_a_stem() {
        let d = tempfile::tempdir().unwrap();
        for rel in ["cat.jpg", "cat.png", "dog.jpg"] {
            touch(d.path(), rel);
        }
        let l = list(d.path().to_str().unwrap(), None).unwrap();
        let stems: Vec<&str> = l.items.iter().map(|i| i.stem.as_str()).collect();
        assert_eq!(stems, ["cat.jpg", "cat.png", "dog"]);
    }

    #[test]
    fn listed_paths_never_climb_out_of_the_output_folder() {
        assert_eq!(list_rel(Path::new("./a/./b.jpg")), "a/b.jpg");
        assert_eq!(list_rel(Path::new("a/../b.jpg")), "b.jpg");
        let up = list_rel(Path::new("../b.jpg"));
        assert!(!up.starts_with('/') && !up.contains(".."), "{up}");
        assert_eq!(list_rel(Path::new("/data/b.jpg")), "data/b.jpg");
    }

    #[test]
    fn a_list_keeps_missing_paths_for_the_manifest_and_drops_repeats() {
        let d = tempfile::tempdir().unwrap();
        let list_path = d.path().join("list.txt");
        std::fs::write(&list_path, "# photos\na.jpg\n\nmissing/b.png\r\n./a.jpg\n").unwrap();
        let l = list(list_path.to_str().unwrap(), None).unwrap();
        assert_eq!(rels(&l), ["a.jpg", "missing/b.png"]);
        assert_eq!(l.warnings.len(), 1);
    }

    #[test]
    fn empty_or_wrong_sources_are_refused_with_what_to_give() {
        let d = tempfile::tempdir().unwrap();
        let e = list(d.path().to_str().unwrap(), None).unwrap_err();
        assert!(e.to_string().contains("holds no PNG or JPEG"), "{e}");
        let e = list(d.path().join("nope").to_str().unwrap(), None).unwrap_err();
        assert!(e.to_string().contains("no such folder or file"), "{e}");
        touch(d.path(), "one.png");
        let e = list(d.path().join("one.png").to_str().unwrap(), None).unwrap_err();
        assert!(e.to_string().contains("--image"), "{e}");
    }
}
