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

use super::h5::H5;
use crate::error::Result;
use crate::model::HostTensor;

pub struct Var {
    /// The name in the file (`block1_conv1/kernel:0`) or the variable's path (`…/vars/0`).
    pub name: String,
    pub tensor: HostTensor,
}

/// The variables of a file, by layer name and (Keras 3) by object path.
#[derive(Default)]
pub struct Found {
    by_name: HashMap<String, Vec<Var>>,
    by_path: HashMap<String, Vec<Var>>,
    /// Layers in the file's order, for "weights for layers the config does not have".
    order: Vec<String>,
}

impl Found {
    /// A layer's variables: by its name, else by its Keras 3 object path (files written before
    /// Keras stored names).
    pub fn take(&mut self, name: &str, path: &str) -> Option<Vec<Var>> {
        self.by_name
            .remove(name)
            .or_else(|| self.by_path.remove(path))
    }

    /// Layers whose variables nobody took, with at least one variable.
    pub fn left_over(&self) -> Vec<String> {
        let mut left: Vec<String> = self
            .order
            .iter()
            .filter(|k| {
                self.by_name.get(*k).is_some_and(|v| !v.is_empty())
                    || self.by_path.get(*k).is_some_and(|v| !v.is_empty())
            })
            .cloned()
            .collect();
        left.dedup();
        left
    }
}

/// Nested models deeper than this are not real files.
const MAX_DEPTH: usize = 64;

/// Keras 3's object tree, from `root`.
pub fn keras3(h5: &H5, root: &Group) -> Result<Found> {
    let mut found = Found::default();
    walk(h5, root, "", &mut found, 0)?;
    Ok(found)
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
            for (_, d) in indexed {
                let ds = h5.dataset(&sub, d)?;
                vars.push(Var {
                    name: format!("{path}/vars/{d}"),
                    tensor: h5.tensor(&ds)?,
                });
            }
            if vars.is_empty() {
                continue;
            }
            let key = path.trim_start_matches('/').to_string();
            found.order.push(key.clone());
            match h5.attr_string(&sub, "name")? {
                Some(name) => found.by_name.insert(name, vars),
                None => found.by_path.insert(key, vars),
            };
        } else {
            walk(h5, &sub, &format!("{path}/{child}"), found, depth + 1)?;
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
            let tensor = h5.tensor(&ds)?;
            let parts: Vec<&str> = wname.split('/').collect();
            let owner = if parts.len() >= 2 {
                parts[parts.len() - 2].to_string()
            } else {
                layer.clone()
            };
            found.order.push(owner.clone());
            found.by_name.entry(owner).or_default().push(Var {
                name: wname,
                tensor,
            });
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
