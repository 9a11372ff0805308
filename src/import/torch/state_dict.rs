//! From an unpickled checkpoint to its named tensors: the state dict itself, or the state dict
//! a training script saved inside a bigger dict (`{'epoch': …, 'state_dict': …,
//! 'optimizer': …}`).

use std::sync::Arc;

use crate::files::ReadMap;

use super::pickle::{Dtype, Id, Obj, Unpickled};
use super::Storages;
use crate::import::checkpoint::{Checkpoint, Entry, EntryType, Format};
use crate::model::StoredType;

/// Entries that training scripts and model zoos use for the weights, in the order tried.
pub const STATE_DICT_ENTRIES: [&str; 9] = [
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "net",
    "network",
    "state_dict_ema",
    "model_ema",
    "ema",
];

pub(super) fn collect(
    u: &Unpickled,
    map: &Arc<ReadMap>,
    storages: &Storages,
    format: Format,
) -> Result<Checkpoint, String> {
    let (dict, entry) = find_state_dict(u)?;
    let Obj::Dict(items) = u.get(dict) else {
        unreachable!("find_state_dict returns dicts")
    };
    let mut tensors = Vec::new();
    for &(k, v) in items {
        let Obj::Tensor(t) = u.get(v) else {
            continue; // `_extra_state` and other non-tensor entries
        };
        let name = u
            .as_str(k)
            .ok_or("has a tensor whose key is not a string")?
            .to_string();
        let Obj::Storage {
            key, dtype, base, ..
        } = u.get(t.storage)
        else {
            unreachable!("tensors are only rebuilt on storages")
        };
        let storage = *storages
            .get(key)
            .ok_or_else(|| format!("has no data for tensor {name} (storage {key})"))?;
        let data =
            super::view(map, storage, *dtype, *base, t).map_err(|e| format!("{e}: {name}"))?;
        let dtype = match dtype {
            Dtype::F32 => EntryType::Float(StoredType::F32),
            Dtype::F16 => EntryType::Float(StoredType::F16),
            Dtype::BF16 => EntryType::Float(StoredType::BF16),
            Dtype::F64 => EntryType::Float(StoredType::F64),
            Dtype::Other { name, .. } => EntryType::Other(name),
        };
        tensors.push(Entry {
            name,
            shape: t.shape.clone(),
            dtype,
            data,
        });
    }
    Ok(Checkpoint {
        format,
        tensors,
        entry,
        stripped: None,
    })
}

fn has_tensors(u: &Unpickled, id: Id) -> bool {
    matches!(u.get(id), Obj::Dict(items) if items.iter().any(|&(_, v)| matches!(u.get(v), Obj::Tensor(_))))
}

fn find_state_dict(u: &Unpickled) -> Result<(Id, Option<String>), String> {
    if has_tensors(u, u.root) {
        return Ok((u.root, None));
    }
    let Obj::Dict(items) = u.get(u.root) else {
        return Err("holds no dict of tensors (a state_dict); save one with \
                    torch.save(model.state_dict(), PATH)"
            .into());
    };
    for wanted in STATE_DICT_ENTRIES {
        if let Some(&(_, v)) = items.iter().find(|(k, _)| u.as_str(*k) == Some(wanted)) {
            if has_tensors(u, v) {
                return Ok((v, Some(wanted.to_string())));
            }
        }
    }
    let keys: Vec<&str> = items
        .iter()
        .filter_map(|(k, _)| u.as_str(*k))
        .take(8)
        .collect();
    Err(format!(
        "holds no state_dict: its entries are {}, and none of {} is a dict of tensors",
        if keys.is_empty() {
            "not named".to_string()
        } else {
            keys.join(", ")
        },
        STATE_DICT_ENTRIES.join("/")
    ))
}
