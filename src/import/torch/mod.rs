//! PyTorch checkpoints (`torch.save`): the zip format (torch ≥ 1.6: `ARCHIVE/data.pkl` plus one
//! uncompressed entry per storage) and the legacy format (older torchvision weights: five pickles
//! back to back, then the raw storages). Both are memory-mapped and each tensor is a view into
//! the map, read only when its values are needed.
//!
//! Reading never runs code: see `pickle.rs` for what is accepted.

pub mod pickle;
mod state_dict;

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use crate::files::ReadMap;

use self::pickle::{unpickle, Dtype, Obj, PickleError, Unpickled};
use crate::import::checkpoint::{Checkpoint, Format, Mapped};

/// The legacy format's first pickle: `torch.serialization.MAGIC_NUMBER`, LONG1 little-endian.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Where each storage's bytes lie in the map: byte offset and length.
type Storages = HashMap<String, (usize, usize)>;

/// Reads a zip-format checkpoint from its mapped bytes. Errors are phrases for after the path.
pub fn read_zip(map: Arc<ReadMap>) -> Result<Checkpoint, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(&map[..]))
        .map_err(|e| format!("is not a readable zip archive ({e})"))?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| {
            zip.name_for_index(i)
                .and_then(|n| n.ok())
                .map(|n| n.to_string())
        })
        .find(|n| n == "data.pkl" || n.ends_with("/data.pkl"))
        .ok_or("is a zip archive without data.pkl, so not a PyTorch checkpoint")?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    if let Some(order) = entry_bytes(&mut zip, &map, &format!("{prefix}byteorder"))? {
        if order != b"little" {
            return Err(
                "was saved on a big-endian machine; convscope reads little-endian \
                        checkpoints only"
                    .into(),
            );
        }
    }
    let pkl = entry_bytes(&mut zip, &map, &pkl_name)?.expect("found above");
    let u = unpickle(pkl).map_err(pickle_message)?;
    let mut storages = Storages::new();
    for obj in &u.objs {
        if let Obj::Storage { key, .. } = obj {
            if storages.contains_key(key) {
                continue;
            }
            let name = format!("{prefix}data/{key}");
            let range = entry_range(&mut zip, &name, map.len())?.ok_or_else(|| {
                format!("has no entry {name} for one of its tensors (truncated?)")
            })?;
            storages.insert(key.clone(), range);
        }
    }
    state_dict::collect(&u, &map, &storages, Format::TorchZip)
}

/// The bytes of a stored (uncompressed) entry, or None when absent.
fn entry_bytes<'m>(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    map: &'m ReadMap,
    name: &str,
) -> Result<Option<&'m [u8]>, String> {
    Ok(entry_range(zip, name, map.len())?.map(|(start, len)| &map[start..start + len]))
}

fn entry_range(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    file_len: usize,
) -> Result<Option<(usize, usize)>, String> {
    let entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(format!("has an unreadable entry {name} ({e})")),
    };
    if entry.compression() != zip::CompressionMethod::Stored {
        return Err(format!(
            "has a compressed entry {name}; torch.save writes them uncompressed, so the file \
             was repacked: save it again with torch.save"
        ));
    }
    let start = entry
        .data_start()
        .and_then(|s| usize::try_from(s).ok())
        .unwrap_or(usize::MAX);
    let len = usize::try_from(entry.size()).unwrap_or(usize::MAX);
    if start.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(format!(
            "entry {name} runs past the end of the file (truncated?)"
        ));
    }
    Ok(Some((start, len)))
}

/// Reads a legacy-format checkpoint (`_use_new_zipfile_serialization=False`).
pub fn read_legacy(map: Arc<ReadMap>) -> Result<Checkpoint, String> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Unpickled, String> {
        let u = unpickle(&map[pos..]).map_err(|e| match e {
            PickleError::Malformed(m) => {
                format!("is not a readable PyTorch checkpoint ({what}: {m})")
            }
            refused => pickle_message(refused),
        })?;
        pos += u.consumed;
        Ok(u)
    };
    let magic = next("magic number")?;
    if magic.get(magic.root) != &Obj::BigInt(LEGACY_MAGIC.to_vec()) {
        return Err(
            "is a pickle but not a PyTorch checkpoint (no torch.save magic number); \
                    convscope does not open arbitrary pickles"
                .into(),
        );
    }
    let version = next("protocol version")?;
    if version.get(version.root) != &Obj::Int(1001) {
        return Err("has an unknown legacy protocol version (expected 1001)".into());
    }
    let info = next("system info")?;
    if !little_endian(&info) {
        return Err(
            "was saved on a big-endian machine; convscope reads little-endian checkpoints only"
                .into(),
        );
    }
    let main = next("tensors")?;
    let keys = next("storage keys")?;
    let Obj::List(key_ids) = keys.get(keys.root) else {
        return Err("is not a readable PyTorch checkpoint (storage keys are not a list)".into());
    };
    let dtypes: HashMap<&str, Dtype> = main
        .objs
        .iter()
        .filter_map(|o| match o {
            Obj::Storage { key, dtype, .. } => Some((key.as_str(), *dtype)),
            _ => None,
        })
        .collect();
    let mut storages = Storages::new();
    for &id in key_ids {
        let key = keys
            .as_str(id)
            .ok_or("is not a readable PyTorch checkpoint (a storage key is not a string)")?;
        let size = dtypes
            .get(key)
            .ok_or_else(|| format!("lists storage {key}, which no tensor uses"))?
            .size();
        let truncated = || format!("is truncated: storage {key} runs past the end of the file");
        let header = map.get(pos..pos + 8).ok_or_else(truncated)?;
        let numel = u64::from_le_bytes(header.try_into().expect("8 bytes"));
        let len = numel
            .checked_mul(size as u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(truncated)?;
        let start = pos + 8;
        if start.checked_add(len).is_none_or(|end| end > map.len()) {
            return Err(truncated());
        }
        storages.insert(key.to_string(), (start, len));
        pos = start + len;
    }
    state_dict::collect(&main, &map, &storages, Format::TorchLegacy)
}

fn little_endian(info: &Unpickled) -> bool {
    let Obj::Dict(entries) = info.get(info.root) else {
        return true;
    };
    entries
        .iter()
        .find(|(k, _)| info.as_str(*k) == Some("little_endian"))
        .is_none_or(|(_, v)| info.get(*v) == &Obj::Bool(true))
}

fn pickle_message(e: PickleError) -> String {
    match e {
        PickleError::Refused(global) => format!(
            "was refused: its pickle calls {global}, and convscope only rebuilds tensors (a \
             checkpoint never runs code here). Save the weights alone with \
             torch.save(model.state_dict(), PATH) and open that"
        ),
        PickleError::Malformed(m) => format!("is not a readable PyTorch checkpoint ({m})"),
    }
}

/// A tensor's view of its storage, checked against the storage's extent.
pub(crate) fn view(
    map: &Arc<ReadMap>,
    storage: (usize, usize),
    dtype: Dtype,
    base: u64,
    t: &pickle::TensorRef,
) -> Result<Mapped, String> {
    let size = dtype.size();
    let numel: usize = t.shape.iter().product();
    let start = usize::try_from(base.saturating_add(t.offset))
        .map_err(|_| "a tensor offset out of range".to_string())?;
    let last = t
        .shape
        .iter()
        .zip(&t.strides)
        .try_fold(start, |acc, (&n, &s)| {
            acc.checked_add(n.saturating_sub(1).checked_mul(s)?)
        });
    let fits = match last {
        _ if numel == 0 => true,
        Some(last) => last
            .checked_add(1)
            .and_then(|n| n.checked_mul(size))
            .is_some_and(|end| end <= storage.1),
        None => false,
    };
    if !fits {
        return Err("a tensor reaches past the end of its storage".into());
    }
    // An empty tensor reads nothing; its offset may be anything torch kept.
    let offset = if numel == 0 { 0 } else { start * size };
    Ok(Mapped {
        map: map.clone(),
        offset: storage.0 + offset,
        strides: t.strides.clone(),
    })
}
