//! A pickle reader that never runs code: the opcodes `torch.save` writes (protocols 2 to 5) are
//! interpreted into plain objects, and the only callables it knows are the few that rebuild
//! tensors and ordered dicts, evaluated here by hand. Any other global (`os.system`, a model
//! class, a numpy scalar) stops the read with its name, which is what PyTorch's own
//! `weights_only=True` loader does.
//!
//! Objects live in an arena and the stack and memo hold indices into it, because pickles
//! memoize a dict or list before filling it (`EMPTY_DICT, BINPUT, MARK, …, SETITEMS`): later
//! `BINGET`s must see the filled object.

mod machine;

use machine::Machine;

/// Index of an object in the arena.
pub type Id = usize;

/// A storage's element type, from its pickled class (`torch.FloatStorage`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
    F64,
    /// Integer and boolean storages (e.g. BatchNorm's `num_batches_tracked`): carried along with
    /// their element size so the legacy format can be walked, never used as weights.
    Other {
        name: &'static str,
        size: usize,
    },
}

impl Dtype {
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::F64 => 8,
            Dtype::Other { size, .. } => size,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Obj {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too large for i64 (the legacy format's magic number), little-endian two's
    /// complement as LONG1 stores it.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    /// An allowed global (a storage class or one of the rebuild functions), not yet called.
    Global(Global),
    /// A storage named by a persistent id: its key in the container and element type, and
    /// where it starts inside that key's data (in elements; old legacy files pickled storage
    /// views as `(view_key, offset, size)`).
    Storage {
        key: String,
        dtype: Dtype,
        numel: u64,
        base: u64,
    },
    /// A strided view of a storage, as `torch._utils._rebuild_tensor_v2` describes it.
    Tensor(TensorRef),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub storage: Id,
    /// In elements.
    pub offset: u64,
    pub shape: Vec<usize>,
    /// In elements.
    pub strides: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    Storage(Dtype),
}

fn allowed_global(module: &str, name: &str) -> Option<Global> {
    let storage = |d| Some(Global::Storage(d));
    let other = |name, size| storage(Dtype::Other { name, size });
    match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor") => Some(Global::RebuildTensor),
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
        ("torch._utils", "_rebuild_parameter_with_state") => {
            Some(Global::RebuildParameterWithState)
        }
        ("torch", "FloatStorage") => storage(Dtype::F32),
        ("torch", "HalfStorage") => storage(Dtype::F16),
        ("torch", "BFloat16Storage") => storage(Dtype::BF16),
        ("torch", "DoubleStorage") => storage(Dtype::F64),
        ("torch", "LongStorage") => other("int64", 8),
        ("torch", "IntStorage") => other("int32", 4),
        ("torch", "ShortStorage") => other("int16", 2),
        ("torch", "CharStorage") => other("int8", 1),
        ("torch", "ByteStorage") => other("uint8", 1),
        ("torch", "BoolStorage") => other("bool", 1),
        _ => None,
    }
}

/// What went wrong, as one phrase the caller puts after the file's name.
#[derive(Debug, PartialEq)]
pub enum PickleError {
    /// A global outside the allow-list: its dotted name.
    Refused(String),
    Malformed(String),
}

type Res<T> = Result<T, PickleError>;

fn bad<T>(msg: impl Into<String>) -> Res<T> {
    Err(PickleError::Malformed(msg.into()))
}

/// One unpickled stream: the arena, and the root object.
pub struct Unpickled {
    pub objs: Vec<Obj>,
    pub root: Id,
    /// Bytes consumed, through STOP (the legacy format puts several pickles back to back).
    pub consumed: usize,
}

impl Unpickled {
    pub fn get(&self, id: Id) -> &Obj {
        &self.objs[id]
    }

    pub fn as_str(&self, id: Id) -> Option<&str> {
        match self.get(id) {
            Obj::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Persistent ids (`BINPERSID`) are resolved by the container format: `torch.save` writes
/// `('storage', StorageClass, key, location, numel[, view_metadata])`.
fn persistent_storage(objs: &[Obj], pid: Id) -> Res<Obj> {
    let Obj::Tuple(items) = &objs[pid] else {
        return bad("a persistent id that is not a tuple");
    };
    let field = |i: usize| items.get(i).map(|&id| &objs[id]);
    // view_metadata: None, or (view_key, offset, view_size) for a view of the root storage.
    let base = match field(5) {
        None | Some(Obj::None) => 0,
        Some(Obj::Tuple(view)) => match view.get(1).map(|&id| &objs[id]) {
            Some(Obj::Int(offset)) if *offset >= 0 => *offset as u64,
            _ => return bad("a storage view without an offset"),
        },
        Some(_) => return bad("a storage view that is not a tuple"),
    };
    match (field(0), field(1), field(2), field(4)) {
        (
            Some(Obj::Str(tag)),
            Some(Obj::Global(Global::Storage(dtype))),
            Some(Obj::Str(key)),
            Some(Obj::Int(numel)),
        ) if tag == "storage" && *numel >= 0 => Ok(Obj::Storage {
            key: key.clone(),
            dtype: *dtype,
            numel: *numel as u64,
            base,
        }),
        _ => bad("a persistent id that is not a torch storage reference"),
    }
}

/// Unpickles one stream starting at `data[0]`.
pub fn unpickle(data: &[u8]) -> Result<Unpickled, PickleError> {
    let mut m = Machine::new(data);
    let root = m.run()?;
    let (objs, consumed) = m.finish();
    Ok(Unpickled {
        consumed,
        objs,
        root,
    })
}

/// LONG1/LONG4 bytes: an i64 when it fits, else kept as bytes.
fn long_from_le(bytes: &[u8]) -> Obj {
    if bytes.is_empty() {
        return Obj::Int(0);
    }
    if bytes.len() <= 8 {
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut buf = [if negative { 0xff } else { 0 }; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        return Obj::Int(i64::from_le_bytes(buf));
    }
    Obj::BigInt(bytes.to_vec())
}

#[cfg(test)]
mod tests;
