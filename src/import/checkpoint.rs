//! Weight files without a graph: safetensors and PyTorch checkpoints, memory-mapped, as a list
//! of named tensors. `zoo::load` puts them into an architecture's graph by name.

use std::path::Path;
use std::sync::Arc;

use safetensors::{Dtype as SafeDtype, SafeTensors};

use crate::error::{Error, Result};
use crate::files::ReadMap;
pub use crate::model::mapped::{contiguous_strides, Mapped};
use crate::model::StoredType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Safetensors,
    TorchZip,
    TorchLegacy,
}

impl Format {
    pub fn label(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::TorchZip => "PyTorch checkpoint (zip format)",
            Format::TorchLegacy => "PyTorch checkpoint (legacy format)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    Float(StoredType),
    /// Integer or boolean tensors (BatchNorm's `num_batches_tracked`): listed, never weights.
    Other(&'static str),
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: EntryType,
    pub data: Mapped,
}

impl Entry {
    /// The values as f32, read from the file (a float tensor; None for integer ones).
    pub fn values(&self) -> Option<Vec<f32>> {
        let EntryType::Float(stored) = self.dtype else {
            return None;
        };
        let w = crate::model::Weight {
            name: self.name.clone(),
            role: crate::model::WeightRole::Operand,
            shape: self.shape.clone(),
            stored,
            count: crate::model::ParamCount::NotCounted,
            data: crate::model::WeightData::Mapped(self.data.clone()),
        };
        w.load().ok().map(|t| t.data.clone())
    }
}

#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub format: Format,
    /// In file order.
    pub tensors: Vec<Entry>,
    /// The dict entry the weights were found under (`state_dict`, `model`, …), if not the top.
    pub entry: Option<String>,
    /// A prefix removed from every key (`module.` from DataParallel, `_orig_mod.` from
    /// torch.compile).
    pub stripped: Option<String>,
}

/// Prefixes that wrap a whole model's keys without changing it.
const WRAPPER_PREFIXES: [&str; 2] = ["module.", "_orig_mod."];

/// Whether `path` starts like a weight file (zip, pickle or safetensors) rather than ONNX.
pub fn sniff(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 9];
    let n = crate::files::open_regular(path, "a model file")
        .ok()
        .and_then(|(mut f, _)| f.read(&mut head).ok())
        .unwrap_or(0);
    looks_like(&head[..n]).is_some()
}

/// The weight format these first bytes start, if any. Safetensors is checked first: its
/// header length is a little-endian u64, and one whose low byte is 0x80 (1 in 256 of them)
/// would otherwise read as a pickle's protocol opcode.
fn looks_like(head: &[u8]) -> Option<Format> {
    if head.len() >= 9 && head[8] == b'{' {
        Some(Format::Safetensors)
    } else if head.starts_with(b"PK\x03\x04") {
        Some(Format::TorchZip)
    } else if head.starts_with(&[0x80]) {
        Some(Format::TorchLegacy)
    } else {
        None
    }
}

/// Opens a weight file, telling the formats apart by their first bytes, not the extension.
pub fn open(path: &Path) -> Result<Checkpoint> {
    let map = Arc::new(ReadMap::of_file(
        path,
        "a weight file (.safetensors, .pth)",
    )?);
    from_map(map, path)
}

/// Reads a weight file held in memory (`path` names it in messages): the fuzz targets' way in.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let map = ReadMap::of_bytes(bytes).map_err(|e| Error::io(path, e))?;
    if bytes.is_empty() {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            detail: "the file is empty".into(),
        });
    }
    from_map(Arc::new(map), path)
}

fn from_map(map: Arc<ReadMap>, path: &Path) -> Result<Checkpoint> {
    let fail = |detail: String| Error::Checkpoint {
        path: path.to_path_buf(),
        detail,
    };
    let mut ckpt = match looks_like(&map[..map.len().min(16)]) {
        Some(Format::Safetensors) => read_safetensors(&map).map_err(fail)?,
        Some(Format::TorchZip) => super::torch::read_zip(map.clone()).map_err(fail)?,
        Some(Format::TorchLegacy) => super::torch::read_legacy(map.clone()).map_err(fail)?,
        None => {
            return Err(fail(
                "is neither safetensors nor a PyTorch checkpoint (zip or legacy format)".into(),
            ))
        }
    };
    strip_wrapper_prefix(&mut ckpt);
    Ok(ckpt)
}

fn read_safetensors(map: &Arc<ReadMap>) -> Result<Checkpoint, String> {
    let st = SafeTensors::deserialize(&map[..])
        .map_err(|e| format!("is not a valid safetensors file: {e}"))?;
    let base = map.as_ptr() as usize;
    let mut tensors: Vec<(usize, Entry)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let dtype = match view.dtype() {
                SafeDtype::F32 => EntryType::Float(StoredType::F32),
                SafeDtype::F16 => EntryType::Float(StoredType::F16),
                SafeDtype::BF16 => EntryType::Float(StoredType::BF16),
                SafeDtype::F64 => EntryType::Float(StoredType::F64),
                SafeDtype::I64 => EntryType::Other("int64"),
                SafeDtype::I32 => EntryType::Other("int32"),
                SafeDtype::U8 => EntryType::Other("uint8"),
                SafeDtype::BOOL => EntryType::Other("bool"),
                _ => EntryType::Other("another type"),
            };
            let shape = view.shape().to_vec();
            let offset = view.data().as_ptr() as usize - base;
            let strides = contiguous_strides(&shape);
            let entry = Entry {
                name,
                shape,
                dtype,
                data: Mapped {
                    map: map.clone(),
                    offset,
                    strides,
                },
            };
            (offset, entry)
        })
        .collect();
    tensors.sort_by_key(|(offset, _)| *offset);
    Ok(Checkpoint {
        format: Format::Safetensors,
        tensors: tensors.into_iter().map(|(_, e)| e).collect(),
        entry: None,
        stripped: None,
    })
}

fn strip_wrapper_prefix(ckpt: &mut Checkpoint) {
    for prefix in WRAPPER_PREFIXES {
        if !ckpt.tensors.is_empty() && ckpt.tensors.iter().all(|t| t.name.starts_with(prefix)) {
            for t in &mut ckpt.tensors {
                t.name.drain(..prefix.len());
            }
            ckpt.stripped = Some(prefix.to_string());
            return;
        }
    }
}
