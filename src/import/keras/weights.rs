//! Where a Keras file keeps each layer's variables, in its two layouts:
//! - Keras 3 (`model.weights.h5` inside a `.keras`, and `*.weights.h5`): `…/layers/<key>/vars/<i>`,
//!   where `<key>` is derived from the class name (`conv2d`, `conv2d_1`, …) and newer writers
//!   also store the layer's own name as the `vars` group's `name` attribute;
//! - legacy HDF5 (`.h5` full models under `model_weights`, and the weights-only files
//!   keras.applications ships, at the root): `layer_names` lists the layer groups, each group's
//!   `weight_names` its datasets, in the layer's `weights` order.
//!
//! Variables are returned in the file's order per layer; the converter assigns them by position
//! (as Keras itself loads them) and checks every shape.

use std::collections::HashMap;

use hdf5_reader::group::Group;

use super::h5::{Stored, H5};
use crate::error::Result;

pub struct Var {
    /// The name in the file (`block1_conv1/kernel:0`) or the variable's path (`…/vars/0`).
    pub name: String,
    /// Its position among its layer's variables (a sharded file may store them apart).
    pub index: usize,
    /// Its dataset, checked, read when the weight is loaded.
    pub stored: Stored,
}

/// The variables of a file, by layer: under a key (a Keras 3 object path, or the layer's name in
/// a legacy file), with each layer name the file gives pointing at its key.
#[derive(Default)]
pub struct Found {
    vars: HashMap<String, Vec<Var>>,
    /// Layer name → key.
    alias: HashMap<String, String>,
    /// Keys in the file's order.
    order: Vec<String>,
    /// Look a layer up by its object path first (Keras 3 weights-only files, which Keras loads
    /// by structure: names made by a session's counters need not match).
    pub path_first: bool,
}

impl Found {
    fn insert(&mut self, key: String, name: Option<String>, vars: Vec<Var>) {
        if let Some(name) = name {
            self.alias.insert(name, key.clone());
        }
        if !self.order.contains(&key) {
            self.order.push(key.clone());
        }
        let all = self.vars.entry(key).or_default();
        all.extend(vars);
        all.sort_by_key(|v| v.index);
    }

    /// A layer's variables, by its name or its Keras 3 object path.
    pub fn take(&mut self, name: &str, path: &str) -> Option<Vec<Var>> {
        let by_name = self.alias.get(name).cloned();
        let key = if self.path_first && self.vars.contains_key(path) {
            Some(path.to_string())
        } else {
            by_name.or_else(|| Some(path.to_string()))
        }?;
        self.vars.remove(&key)
    }

    /// The layers the file names, in its order (empty when it names none).
    pub fn names(&self) -> Vec<String> {
        let mut by_key: HashMap<&str, &str> = HashMap::new();
        for (name, key) in &self.alias {
            by_key.insert(key, name);
        }
        self.order
            .iter()
            .filter_map(|k| by_key.get(k.as_str()).map(|n| n.to_string()))
            .collect()
    }

    /// Each layer's parameter count (values over its variables), in the file's order.
    pub fn sizes(&self) -> Vec<usize> {
        self.order
            .iter()
            .filter_map(|k| self.vars.get(k))
            .filter(|v| !v.is_empty())
            .map(|v| v.iter().map(|x| x.stored.numel()).sum())
            .collect()
    }

    /// Names the file's layers, in order, as `names` (Keras's own way with a legacy
    /// weights-only file: the layers with weights, matched by position).
    pub fn rename_in_order(&mut self, names: &[String]) {
        let keys: Vec<String> = self
            .order
            .iter()
            .filter(|k| self.vars.get(*k).is_some_and(|v| !v.is_empty()))
            .cloned()
            .collect();
        let mut vars = std::mem::take(&mut self.vars);
        self.alias.clear();
        self.order.clear();
        for (key, name) in keys.iter().zip(names) {
            if let Some(v) = vars.remove(key) {
                self.insert(name.clone(), Some(name.clone()), v);
            }
        }
    }

    /// The shape of a layer's variable `i`, if the file has it.
    pub fn shape_of(&self, layer: &str, i: usize) -> Option<&[usize]> {
        let key = self.alias.get(layer)?;
        Some(self.vars.get(key)?.get(i)?.stored.shape.as_slice())
    }

    /// Layers whose variables nobody took, with at least one variable.
    pub fn left_over(&self) -> Vec<String> {
        self.order
            .iter()
            .filter(|k| self.vars.get(*k).is_some_and(|v| !v.is_empty()))
            .cloned()
            .collect()
    }
}

/// Nested models deeper than this are not real files.
const MAX_DEPTH: usize = 64;

/// Keras 3's object tree, from `root`.
pub fn keras3(h5: &H5, root: &Group) -> Result<Found> {
    let mut found = Found::default();
    keras3_into(h5, root, &mut found)?;
    Ok(found)
}

/// Adds a Keras 3 object tree's variables to `found` (one shard of a sharded file, or all).
pub fn keras3_into(h5: &H5, root: &Group, found: &mut Found) -> Result<()> {
    walk(h5, root, "", found, 0)
}

fn walk(h5: &H5, g: &Group, path: &str, found: &mut Found, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(h5.err("groups nested more than 64 deep"));
    }
    let (groups, _) = h5.members(g)?;
    for child in &groups {
        let sub = g.group(child).map_err(|e| h5.err(e))?;
        if child == "vars" {
            let (_, datasets) = h5.members(&sub)?;
            let mut indexed: Vec<(usize, &String)> = datasets
                .iter()
                .filter_map(|d| d.parse::<usize>().ok().map(|i| (i, d)))
                .collect();
            indexed.sort();
            let mut vars = Vec::with_capacity(indexed.len());
            for (index, d) in indexed {
                let ds = h5.dataset(&sub, d)?;
                vars.push(Var {
                    name: format!("{path}/vars/{d}"),
                    index,
                    stored: h5.stored(&ds)?,
                });
            }
            if vars.is_empty() {
                continue;
            }
            let key = path.trim_start_matches('/').to_string();
            let name = h5.attr_string(&sub, "name")?;
            found.insert(key, name, vars);
        } else {
            // Keras 3 files written by TF 2.13-era Keras call the layer list
            // `_layer_checkpoint_dependencies`; the paths are the same otherwise.
            let part = match child.as_str() {
                "_layer_checkpoint_dependencies" => "layers",
                other => other,
            };
            walk(h5, &sub, &format!("{path}/{part}"), found, depth + 1)?;
        }
    }
    Ok(())
}

/// A string list attribute that Keras may have split into `NAME0`, `NAME1`, … (HDF5 caps an
/// attribute at 64 KB; VGG-sized layer lists fit, ResNet-152's weight names may not).
pub fn chunked_strings(h5: &H5, g: &Group, name: &str) -> Result<Option<Vec<String>>> {
    if let Some(v) = h5.attr_strings(g, name)? {
        return Ok(Some(v));
    }
    let mut all = vec![];
    for i in 0.. {
        match h5.attr_strings(g, &format!("{name}{i}"))? {
            Some(part) => all.extend(part),
            None if i == 0 => return Ok(None),
            None => break,
        }
    }
    Ok(Some(all))
}

/// The legacy layout under `g` (which carries `layer_names`). Variables are keyed by the layer
/// their name says they belong to (`inner/inner_conv/kernel` → `inner_conv`, for a nested
/// model's layers), or by the group when the name has no `/` (2016-era `block1_conv1_W_1:0`).
pub fn legacy(h5: &H5, g: &Group) -> Result<Found> {
    let layers = chunked_strings(h5, g, "layer_names")?.unwrap_or_default();
    let mut found = Found::default();
    for layer in &layers {
        let lg = h5
            .child(g, layer)?
            .ok_or_else(|| h5.err(format!("'layer_names' lists '{layer}', which has no group")))?;
        let names = chunked_strings(h5, &lg, "weight_names")?.unwrap_or_default();
        for wname in names {
            let ds = dataset_at(h5, &lg, &wname)?;
            let stored = h5.stored(&ds)?;
            let parts: Vec<&str> = wname.split('/').collect();
            let owner = if parts.len() >= 2 {
                parts[parts.len() - 2].to_string()
            } else {
                layer.clone()
            };
            let index = found.vars.get(&owner).map_or(0, Vec::len);
            let var = Var {
                name: wname,
                index,
                stored,
            };
            found.insert(owner.clone(), Some(owner), vec![var]);
        }
    }
    Ok(found)
}

/// The dataset at a `/`-separated path below `g`.
fn dataset_at(h5: &H5, g: &Group, path: &str) -> Result<hdf5_reader::Dataset> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Err(h5.err(format!("empty weight name '{path}'")));
    };
    let mut cur = g.clone();
    for d in dirs {
        cur = h5
            .child(&cur, d)?
            .ok_or_else(|| h5.err(format!("weight '{path}' is listed but not stored")))?;
    }
    h5.dataset(&cur, last)
}
