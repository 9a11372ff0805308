//! Which architecture a checkpoint holds, from its keys and shapes alone: every known
//! architecture is built (cheap: weights are drawn only when read) and the one whose weights
//! the checkpoint fits exactly wins.

use std::collections::HashMap;
use std::path::Path;

use super::{load, Arch, ARCHS};
use crate::error::{Error, Result};
use crate::import::checkpoint::{Checkpoint, Entry, EntryType};
use crate::model::{Graph, ParamCount};

/// How well a checkpoint fits one architecture.
struct Fit {
    matched: usize,
    expected: usize,
    unexpected: usize,
}

fn fit(graph: &Graph, entries: &HashMap<String, &Entry>) -> Fit {
    let mut matched = 0;
    let mut expected = 0;
    for w in graph.layers.iter().flat_map(|l| &l.weights) {
        if w.count == ParamCount::NotCounted {
            continue;
        }
        expected += 1;
        if entries
            .get(&w.name)
            .is_some_and(|e| load::fits(e, &w.shape))
        {
            matched += 1;
        }
    }
    Fit {
        matched,
        expected,
        unexpected: entries.len().saturating_sub(matched),
    }
}

/// The architecture `ckpt` was saved from, built with its class count.
pub fn infer(ckpt: &Checkpoint, path: &Path, seed: u64) -> Result<(&'static Arch, Graph)> {
    let mut best: Option<(&Arch, Fit)> = None;
    let floats = ckpt
        .tensors
        .iter()
        .filter(|t| matches!(t.dtype, EntryType::Float(_)));
    for arch in ARCHS {
        let entries: HashMap<String, &Entry> = floats
            .clone()
            .map(|t| (load::normalized(arch, &t.name), t))
            .collect();
        let mut graph = arch.build(1000, seed)?;
        if let Some(classes) = load::checkpoint_classes(&graph, arch, ckpt) {
            graph = arch.build(classes, seed)?;
        }
        let f = fit(&graph, &entries);
        if f.matched == f.expected && f.unexpected == 0 {
            return Ok((arch, graph));
        }
        if best.as_ref().is_none_or(|(_, b)| f.matched > b.matched) {
            best = Some((arch, f));
        }
    }
    let closest = match best {
        Some((arch, f)) if f.matched > 0 => format!(
            "the closest is {} ({} of its {} weights match, {} keys are extra)",
            arch.name, f.matched, f.expected, f.unexpected
        ),
        _ => "no architecture shares its keys".to_string(),
    };
    Err(Error::Checkpoint {
        path: path.to_path_buf(),
        detail: format!(
            "cannot tell which architecture these {} tensors belong to: {closest}. Give \
             --arch NAME with one of: {}",
            floats.count(),
            super::names()
        ),
    })
}
