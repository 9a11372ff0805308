//! The popups that take typing: the target picker (fuzzy search over class names), the knobs
//! form (the current method's options, or the Trust view's) and the open prompt (a path with completion). Each is
//! plain data with pure operations, so the reducer tests drive them without a terminal.

use std::path::{Path, PathBuf};

use crate::imaging::colormap::Colormap;
use crate::jobs::ViewKnobs;
use crate::methods::{MethodInfo, Opt, Picture};

/// `t`: choose the class to explain.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetPicker {
    pub query: String,
    /// Index into `matches`.
    pub cursor: usize,
    /// Class indices matching the query, best first.
    pub matches: Vec<usize>,
}

impl TargetPicker {
    /// With an empty query: the top classes first, then the rest in index order.
    pub fn new(top: &[usize], labels: &[String]) -> TargetPicker {
        let mut p = TargetPicker {
            query: String::new(),
            cursor: 0,
            matches: Vec::new(),
        };
        p.refilter(top, labels);
        p
    }

    pub fn refilter(&mut self, top: &[usize], labels: &[String]) {
        let rank = |i: usize| top.iter().position(|&t| t == i).unwrap_or(top.len());
        let mut scored: Vec<(u32, usize, usize)> = labels
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some((fuzzy_score(&self.query, l, i)?, rank(i), i)))
            .collect();
        // Best score first; among equals, the likelier classes, then index order.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        self.matches = scored.into_iter().map(|(_, _, i)| i).collect();
        self.cursor = self.cursor.min(self.matches.len().saturating_sub(1));
    }

    pub fn chosen(&self) -> Option<usize> {
        self.matches.get(self.cursor).copied()
    }
}

/// How well `query` matches a label (higher is better), `None` when it does not: the class
/// index typed exactly, then a prefix, a word prefix, a substring, and last the letters in
/// order (a subsequence), case-insensitively. An empty query matches everything equally.
pub fn fuzzy_score(query: &str, label: &str, index: usize) -> Option<u32> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return Some(0);
    }
    if q == index.to_string() {
        return Some(500);
    }
    let l = label.to_lowercase();
    if l == q {
        return Some(400);
    }
    if l.starts_with(&q) {
        return Some(300);
    }
    if l.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.starts_with(&q))
    {
        return Some(250);
    }
    if l.contains(&q) {
        return Some(200);
    }
    let mut rest = l.chars();
    let in_order = q.chars().all(|c| rest.any(|x| x == c));
    in_order.then_some(100)
}

/// One editable option of the knobs form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Window,
    Stride,
    Steps,
    Samples,
    Channels,
    Colormap,
    Alpha,
    Overlay,
    Signed,
    Seed,
    // The Trust view's.
    TrustSteps,
    RoadNoise,
    RandomizeTop,
    Abs,
    TrustSeed,
}

impl Field {
    /// The Trust view's fields (`evaluate`'s options).
    pub fn for_trust() -> Vec<Field> {
        use Field::*;
        vec![TrustSteps, RoadNoise, RandomizeTop, Abs, TrustSeed]
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::Window => "window (px)",
            Field::Stride => "stride (px)",
            Field::Steps => "steps",
            Field::Samples => "samples",
            Field::Channels => "channels",
            Field::Colormap => "colormap",
            Field::Alpha => "alpha (0-1)",
            Field::Overlay => "overlay",
            Field::Signed => "signed",
            Field::Seed | Field::TrustSeed => "seed",
            Field::TrustSteps => "deletion steps",
            Field::RoadNoise => "ROAD noise",
            Field::RandomizeTop => "randomize top",
            Field::Abs => "rank by |map|",
        }
    }

    /// The largest count a field takes (the methods refuse more, see `methods::MAX_STEPS`).
    fn max(self) -> usize {
        match self {
            Field::Steps => crate::methods::MAX_STEPS,
            // Each step is a forward pass at least.
            Field::TrustSteps => crate::methods::MAX_STEPS,
            Field::RandomizeTop => 100_000,
            Field::Samples => crate::methods::MAX_SAMPLES,
            // A window or stride larger than any picture we decode is a typo.
            _ => crate::input::preprocess::MAX_IMAGE_DIM as usize,
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            Field::Window | Field::Stride => "a size in pixels, e.g. 16",
            Field::Steps => "a number up to 10000, or 'default'",
            Field::Samples => "noisy samples averaged, e.g. 25 (at most 100000)",
            Field::Channels => "top:N, first:N or a list like 0,5,7",
            Field::Colormap => "jet, turbo, viridis, inferno or gray",
            Field::Alpha => "the map's opacity over the image",
            Field::Overlay | Field::Signed | Field::Abs => "on or off",
            Field::Seed | Field::TrustSeed => "a number",
            Field::TrustSteps => "steps from the whole input to none, e.g. 224",
            Field::RoadNoise => "σ of the imputation noise, 0 to 1 (0.01; 0: none)",
            Field::RandomizeTop => "how many layers with weights, top first, or 'all'",
        }
    }

    /// The fields that change what a method shows, from its registry entry: the options the
    /// form edits that the method takes, then what its kind of picture offers. A seed that only
    /// feeds a baseline the form cannot choose (ig's and occlusion's uniform baseline) is not
    /// offered.
    pub fn for_method(info: MethodInfo) -> Vec<Field> {
        use Field::*;
        let takes = |o: Opt| info.options.contains(&o);
        let options = [
            (Window, takes(Opt::Window)),
            (Stride, takes(Opt::Stride)),
            (Steps, takes(Opt::Steps)),
            (Samples, takes(Opt::Samples)),
            (Channels, takes(Opt::Channels)),
            (Seed, takes(Opt::Seed) && !takes(Opt::Baseline)),
        ];
        let picture: &[Field] = match info.picture {
            Picture::Grid => &[Colormap],
            Picture::Attribution => &[Signed, Colormap],
            Picture::Overlay => &[Colormap, Alpha, Overlay],
            Picture::Made => &[],
        };
        options
            .into_iter()
            .filter_map(|(f, taken)| taken.then_some(f))
            .chain(picture.iter().copied())
            .collect()
    }

    fn show(self, k: &ViewKnobs) -> String {
        let on = |b: bool| if b { "on" } else { "off" }.to_string();
        match self {
            Field::Window => k.window.to_string(),
            Field::Stride => k.stride.to_string(),
            Field::Steps => k.steps.map_or("default".into(), |s| s.to_string()),
            Field::Samples => k.samples.to_string(),
            Field::Channels => k.channels.clone(),
            Field::Colormap => k.colormap.as_str().to_string(),
            Field::Alpha => format!("{}", f32::from(k.alpha) / 100.0),
            Field::Overlay => on(k.overlay),
            Field::Signed => on(k.signed),
            Field::Seed => k.seed.to_string(),
            Field::TrustSteps => k.trust.steps.to_string(),
            Field::RoadNoise => k.trust.road_noise().to_string(),
            Field::RandomizeTop => k
                .trust
                .randomize_top
                .map_or("all".into(), |n| n.to_string()),
            Field::Abs => on(k.trust.abs),
            Field::TrustSeed => k.trust.seed.to_string(),
        }
    }

    /// Parses `text` into `k`, or says what a valid value looks like.
    fn apply(self, text: &str, k: &mut ViewKnobs) -> Result<(), String> {
        let t = text.trim();
        let bad = || {
            format!(
                "{}: '{t}' is not valid; expected {}",
                self.name(),
                self.hint()
            )
        };
        let count = |min: usize| {
            t.parse::<usize>()
                .ok()
                .filter(|&n| n >= min && n <= self.max())
                .ok_or_else(bad)
        };
        // A number from 0 to 1.
        let fraction = || {
            t.parse::<f32>()
                .ok()
                .filter(|a| (0.0..=1.0).contains(a))
                .ok_or_else(bad)
        };
        let switch = || match t {
            "on" | "yes" | "true" | "1" => Ok(true),
            "off" | "no" | "false" | "0" => Ok(false),
            _ => Err(bad()),
        };
        match self {
            Field::Window => k.window = count(1)?,
            Field::Stride => k.stride = count(1)?,
            Field::Steps => {
                k.steps = if t == "default" || t.is_empty() {
                    None
                } else {
                    Some(count(1)?)
                }
            }
            Field::Samples => k.samples = count(1)?,
            Field::Channels => {
                if t.is_empty() {
                    return Err(bad());
                }
                k.channels = t.to_string()
            }
            Field::Colormap => k.colormap = t.parse::<Colormap>().map_err(|_| bad())?,
            Field::Alpha => k.alpha = (fraction()? * 100.0).round() as u8,
            Field::Overlay => k.overlay = switch()?,
            Field::Signed => k.signed = switch()?,
            Field::Seed => k.seed = t.parse().map_err(|_| bad())?,
            Field::TrustSteps => k.trust.steps = count(1)?,
            Field::RoadNoise => k.trust.road_noise_e4 = (fraction()? * 1e4).round() as u32,
            Field::RandomizeTop => {
                k.trust.randomize_top = match t {
                    "all" | "" => None,
                    _ => Some(count(1)?),
                }
            }
            Field::Abs => k.trust.abs = switch()?,
            Field::TrustSeed => k.trust.seed = t.parse().map_err(|_| bad())?,
        }
        Ok(())
    }
}

/// `p`: the current view's options, one text line each.
#[derive(Clone, Debug, PartialEq)]
pub struct KnobsForm {
    pub fields: Vec<(Field, String)>,
    pub cursor: usize,
    pub error: Option<String>,
}

impl KnobsForm {
    pub fn new(method: MethodInfo, knobs: &ViewKnobs) -> KnobsForm {
        KnobsForm {
            fields: Field::for_method(method)
                .into_iter()
                .map(|f| (f, f.show(knobs)))
                .collect(),
            cursor: 0,
            error: None,
        }
    }

    /// The Trust view's form.
    pub fn trust(knobs: &ViewKnobs) -> KnobsForm {
        KnobsForm {
            fields: Field::for_trust()
                .into_iter()
                .map(|f| (f, f.show(knobs)))
                .collect(),
            cursor: 0,
            error: None,
        }
    }

    pub fn edit(&mut self) -> Option<&mut String> {
        self.fields.get_mut(self.cursor).map(|(_, text)| text)
    }

    /// The knobs with every field applied, or the first field's complaint.
    pub fn apply(&self, knobs: &ViewKnobs) -> Result<ViewKnobs, String> {
        let mut k = knobs.clone();
        for (field, text) in &self.fields {
            field.apply(text, &mut k)?;
        }
        Ok(k)
    }
}

/// `o`: a path to another image, with Tab completion.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OpenPrompt {
    pub path: String,
    /// What the last Tab found when it could not complete to one entry.
    pub candidates: Vec<String>,
}

impl OpenPrompt {
    /// Completes the path's last component against its directory: to the one match, or to the
    /// matches' common prefix (listing them).
    pub fn complete(&mut self) {
        let (dir, partial) = split_dir(&self.path);
        let listing = std::fs::read_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &dir
        });
        let Ok(listing) = listing else {
            self.candidates = Vec::new();
            return;
        };
        let mut names: Vec<String> = listing
            .filter_map(|e| {
                let e = e.ok()?;
                let mut name = e.file_name().into_string().ok()?;
                if !name.starts_with(&partial)
                    || (name.starts_with('.') && !partial.starts_with('.'))
                {
                    return None;
                }
                if e.file_type().ok()?.is_dir() {
                    name.push('/');
                }
                Some(name)
            })
            .collect();
        names.sort();
        let prefix = common_prefix(&names);
        if prefix.len() > partial.len() {
            self.path = format!("{}{prefix}", dir_text(&self.path));
        }
        self.candidates = if names.len() == 1 { Vec::new() } else { names };
    }
}

/// `a/b/c` -> (`a/b`, `c`); `c` -> (``, `c`); `a/` -> (`a`, ``).
fn split_dir(path: &str) -> (PathBuf, String) {
    match path.rfind('/') {
        Some(i) => (PathBuf::from(&path[..i.max(1)]), path[i + 1..].to_string()),
        None => (PathBuf::new(), path.to_string()),
    }
}

/// The text up to and including the last `/`.
fn dir_text(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..=i])
}

fn common_prefix(names: &[String]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut len = first.len();
    for n in &names[1..] {
        len = len.min(
            first
                .char_indices()
                .zip(n.chars())
                .take_while(|((_, a), b)| a == b)
                .map(|((i, a), _)| i + a.len_utf8())
                .last()
                .unwrap_or(0),
        );
    }
    first[..len].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_ranks_prefix_over_substring_over_subsequence() {
        assert_eq!(fuzzy_score("tab", "tabby cat", 281), Some(300));
        assert_eq!(fuzzy_score("cat", "tabby cat", 281), Some(250));
        assert_eq!(fuzzy_score("bby", "tabby cat", 281), Some(200));
        assert_eq!(fuzzy_score("tbc", "tabby cat", 281), Some(100));
        assert_eq!(fuzzy_score("xyz", "tabby cat", 281), None);
        assert_eq!(fuzzy_score("281", "tabby cat", 281), Some(500));
    }

    #[test]
    fn the_picker_lists_the_top_classes_first() {
        let labels: Vec<String> = ["circle", "square", "star", "cross"]
            .map(String::from)
            .into();
        let mut p = TargetPicker::new(&[2, 0], &labels);
        assert_eq!(p.matches, vec![2, 0, 1, 3]);
        p.query = "s".into();
        p.refilter(&[2, 0], &labels);
        // star and square start with s (star is likelier), cross contains it, circle does not.
        assert_eq!(p.matches, vec![2, 1, 3]);
    }

    #[test]
    fn the_form_applies_every_field_or_says_which_is_wrong() {
        let k = ViewKnobs::default();
        let info = |id| crate::methods::by_id(id).unwrap().info();
        let mut form = KnobsForm::new(info("occlusion"), &k);
        *form.edit().unwrap() = "24".into();
        form.cursor = 1;
        *form.edit().unwrap() = "12".into();
        let applied = form.apply(&k).unwrap();
        assert_eq!((applied.window, applied.stride), (24, 12));
        *form.edit().unwrap() = "zero".into();
        let e = form.apply(&k).unwrap_err();
        assert!(e.starts_with("stride (px): 'zero' is not valid"), "{e}");
        let mut cam = KnobsForm::new(info("gradcam"), &k);
        cam.fields[1].1 = "1.5".into();
        assert!(cam.apply(&k).unwrap_err().contains("alpha"));
    }

    #[test]
    fn completion_extends_to_the_common_prefix() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["cat_1.png", "cat_2.png", "dog.jpg"] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        let base = dir.path().display().to_string();
        let mut p = OpenPrompt {
            path: format!("{base}/c"),
            candidates: vec![],
        };
        p.complete();
        assert_eq!(p.path, format!("{base}/cat_"));
        assert_eq!(p.candidates, vec!["cat_1.png", "cat_2.png"]);
        p.path = format!("{base}/d");
        p.complete();
        assert_eq!(p.path, format!("{base}/dog.jpg"));
        assert!(p.candidates.is_empty());
    }
}
