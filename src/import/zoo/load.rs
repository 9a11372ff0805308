//! Putting a checkpoint's tensors into an architecture's graph by key, and explaining every way
//! they can fail to fit: keys missing or unexpected (the first few, with shapes), a shape that
//! differs (the key and both shapes), a classifier trained for another number of classes (the
//! `--num-classes` that fits).

use std::collections::HashMap;
use std::path::Path;

use super::Arch;
use crate::error::{Error, Result};
use crate::import::checkpoint::{Checkpoint, Entry, EntryType};
use crate::model::{Graph, ParamCount, WeightData};

/// What loading did, for the user.
#[derive(Debug, Default)]
pub struct Loaded {
    pub tensors: usize,
    /// Integer buffers the graph has no use for (BatchNorm's `num_batches_tracked`).
    pub skipped: usize,
    /// Keys under another name (timm's, DenseNet's old ones).
    pub renamed: usize,
}

/// How many keys an error lists.
const SHOWN: usize = 4;

/// The graph key for a checkpoint key: timm's names where they differ (see `timm.rs`), and
/// DenseNet's old `norm.1.weight` for `norm1.weight` (torchvision renamed them, and its own
/// loader still maps the old published keys).
pub(super) fn normalized(arch: &Arch, key: &str) -> String {
    if let Some(tv) = super::timm::to_torchvision(arch.name, key) {
        return tv;
    }
    if arch.name.starts_with("densenet") {
        for part in ["norm", "relu", "conv"] {
            for i in ["1", "2"] {
                let old = format!(".{part}.{i}.");
                if let Some(at) = key.find(&old) {
                    if key[..at].contains(".denselayer") {
                        return format!("{}.{part}{i}.{}", &key[..at], &key[at + old.len()..]);
                    }
                }
            }
        }
    }
    key.to_string()
}

/// The graph's classifier: its last layer with weights.
fn head(graph: &Graph) -> Option<&crate::model::Weight> {
    graph.layers.iter().rev().find_map(|l| l.weights.first())
}

/// The class count of a checkpoint's classifier, when it differs from the graph's.
pub fn checkpoint_classes(graph: &Graph, arch: &Arch, ckpt: &Checkpoint) -> Option<usize> {
    let kernel = head(graph)?;
    let entry = ckpt
        .tensors
        .iter()
        .find(|t| normalized(arch, &t.name) == kernel.name)?;
    let classes = *entry.shape.first()?;
    (classes != *kernel.shape.first()? && entry.shape[1..] == kernel.shape[1..]).then_some(classes)
}

/// Whether a checkpoint tensor of `stored` shape can fill a weight of `wanted` shape: the same
/// shape, or a contiguous one with the same elements in the same order and the same first
/// dim (timm's `[C]` layer scale for `[C, 1, 1]`, a 1x1 or whole-map convolution for a dense
/// layer).
pub(super) fn fits(e: &Entry, wanted: &[usize]) -> bool {
    if e.shape == wanted {
        return true;
    }
    let numel = |s: &[usize]| s.iter().product::<usize>();
    let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
    e.data.is_contiguous(&e.shape)
        && numel(&e.shape) == numel(wanted)
        && (squeeze(&e.shape) == squeeze(wanted) || e.shape.first() == wanted.first())
}

/// Puts `ckpt`'s tensors into `graph` (built for `arch`); `path` names the file in messages.
pub fn load(graph: &mut Graph, arch: &Arch, ckpt: &Checkpoint, path: &Path) -> Result<Loaded> {
    let fail = |detail: String| Error::Checkpoint {
        path: path.to_path_buf(),
        detail,
    };
    if let Some(classes) = checkpoint_classes(graph, arch, ckpt) {
        return Err(fail(format!(
            "its classifier has {classes} classes but {} is built for {}; add --num-classes {classes}",
            arch.name,
            head(graph).map_or(0, |k| k.shape[0]),
        )));
    }
    let by_key: HashMap<String, &Entry> = ckpt
        .tensors
        .iter()
        .map(|t| (normalized(arch, &t.name), t))
        .collect();
    let renamed = by_key.iter().filter(|(k, e)| **k != e.name).count();
    let mut expected = HashMap::new();
    let mut missing = Vec::new();
    for layer in &graph.layers {
        for w in layer
            .weights
            .iter()
            .filter(|w| w.count != ParamCount::NotCounted)
        {
            expected.insert(w.name.as_str(), ());
            match by_key.get(&w.name) {
                None => missing.push(format!("{} {:?}", w.name, w.shape)),
                Some(e) if !fits(e, &w.shape) => {
                    return Err(fail(format!(
                        "weight {} has shape {:?} in the checkpoint but {:?} in {}; is it \
                         a checkpoint of another architecture or width?",
                        e.name, e.shape, w.shape, arch.name
                    )))
                }
                Some(Entry {
                    dtype: EntryType::Other(t),
                    name,
                    ..
                }) => {
                    return Err(fail(format!(
                        "weight {name} is {t} in the checkpoint; convscope reads float weights"
                    )))
                }
                Some(_) => {}
            }
        }
    }
    let mut skipped = 0;
    let mut unexpected = Vec::new();
    for (key, e) in &by_key {
        if expected.contains_key(key.as_str()) {
            continue;
        }
        match e.dtype {
            EntryType::Other(_) if key.ends_with("num_batches_tracked") => skipped += 1,
            _ => unexpected.push(format!("{} {:?}", e.name, e.shape)),
        }
    }
    if !missing.is_empty() || !unexpected.is_empty() {
        unexpected.sort();
        return Err(fail(mismatch(arch.name, &missing, &unexpected)));
    }
    let mut tensors = 0;
    for layer in &mut graph.layers {
        for w in layer.weights.iter_mut() {
            if let Some(e) = by_key.get(&w.name) {
                let EntryType::Float(stored) = e.dtype else {
                    unreachable!("checked above")
                };
                w.stored = stored;
                let mut data = e.data.clone();
                if e.shape != w.shape {
                    data.strides = crate::model::mapped::contiguous_strides(&w.shape);
                }
                w.data = WeightData::Mapped(data);
                tensors += 1;
            }
        }
    }
    Ok(Loaded {
        tensors,
        skipped,
        renamed,
    })
}

fn mismatch(arch: &str, missing: &[String], unexpected: &[String]) -> String {
    let list = |v: &[String]| {
        let mut s = v.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if v.len() > SHOWN {
            s.push_str(&format!(", … ({} more)", v.len() - SHOWN));
        }
        s
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "{} weights of {arch} are missing: {}",
            missing.len(),
            list(missing)
        ));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "{} keys are not in {arch}: {}",
            unexpected.len(),
            list(unexpected)
        ));
    }
    format!(
        "does not fit {arch}: {}. Check --arch, or leave it out to let convscope infer the \
         architecture",
        parts.join("; ")
    )
}
