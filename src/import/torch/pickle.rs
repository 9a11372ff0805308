//! A pickle reader that never runs code: the opcodes `torch.save` writes (protocols 2 to 5) are
//! interpreted into plain objects, and the only callables it knows are the few that rebuild
//! tensors and ordered dicts, evaluated here by hand. Any other global (`os.system`, a model
//! class, a numpy scalar) stops the read with its name, which is what PyTorch's own
//! `weights_only=True` loader does.
//!
//! Objects live in an arena and the stack and memo hold indices into it, because pickles
//! memoize a dict or list before filling it (`EMPTY_DICT, BINPUT, MARK, …, SETITEMS`): later
//! `BINGET`s must see the filled object.

use std::collections::HashMap;

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

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    objs: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
}

/// Unpickles one stream starting at `data[0]`.
pub fn unpickle(data: &[u8]) -> Result<Unpickled, PickleError> {
    let mut m = Machine {
        data,
        pos: 0,
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run()?;
    Ok(Unpickled {
        consumed: m.pos,
        objs: m.objs,
        root,
    })
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(PickleError::Malformed("truncated pickle".into()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Res<usize> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]) as usize)
    }

    fn u32(&mut self) -> Res<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Res<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn line(&mut self) -> Res<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Malformed("truncated pickle".into()))?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| PickleError::Malformed("a text field that is not UTF-8".into()))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn push(&mut self, o: Obj) {
        self.objs.push(o);
        self.stack.push(self.objs.len() - 1);
    }

    fn pop(&mut self) -> Res<Id> {
        self.stack
            .pop()
            .ok_or(PickleError::Malformed("stack underflow".into()))
    }

    fn top(&self) -> Res<Id> {
        self.stack
            .last()
            .copied()
            .ok_or(PickleError::Malformed("stack underflow".into()))
    }

    fn pop_mark(&mut self) -> Res<Vec<Id>> {
        let mark = self.marks.pop().ok_or(PickleError::Malformed(
            "no MARK for a MARK-terminated op".into(),
        ))?;
        if mark > self.stack.len() {
            return bad("MARK above the stack");
        }
        Ok(self.stack.split_off(mark))
    }

    fn string(&mut self, n: usize) -> Res<()> {
        let bytes = self.take(n)?;
        let s = std::str::from_utf8(bytes)
            .map_err(|_| PickleError::Malformed("a string that is not UTF-8".into()))?;
        self.push(Obj::Str(s.to_string()));
        Ok(())
    }

    fn len_u64(&mut self) -> Res<usize> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| PickleError::Malformed("length out of range".into()))
    }

    fn memo_put(&mut self, key: u64) -> Res<()> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Res<()> {
        let id = *self.memo.get(&key).ok_or(PickleError::Malformed(format!(
            "memo key {key} was never stored"
        )))?;
        self.stack.push(id);
        Ok(())
    }

    fn global(&mut self, module: &str, name: &str) -> Res<()> {
        match allowed_global(module, name) {
            Some(g) => {
                self.push(Obj::Global(g));
                Ok(())
            }
            None => Err(PickleError::Refused(format!("{module}.{name}"))),
        }
    }

    fn set_items(&mut self, target: Id, items: Vec<Id>) -> Res<()> {
        if !items.len().is_multiple_of(2) {
            return bad("SETITEMS with an odd number of items");
        }
        let Obj::Dict(entries) = &mut self.objs[target] else {
            return bad("SETITEM on something that is not a dict");
        };
        for pair in items.chunks_exact(2) {
            entries.push((pair[0], pair[1]));
        }
        Ok(())
    }

    fn append(&mut self, target: Id, items: Vec<Id>) -> Res<()> {
        match &mut self.objs[target] {
            Obj::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => bad("APPEND on something that is not a list"),
        }
    }

    fn run(&mut self) -> Res<Id> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return bad(format!("pickle protocol {proto} (at most 5 is known)"));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool(true)),
                0x89 => self.push(Obj::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Obj::Int(v as i64))
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Obj::Int(v as i64))
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Obj::Int(v as i64))
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        self.u32()? as usize
                    };
                    let bytes = self.take(n)?;
                    self.push(long_from_le(bytes));
                }
                b'I' | b'L' => {
                    let text = self.line()?.trim_end_matches('L');
                    let obj = match text {
                        "00" => Obj::Bool(false),
                        "01" => Obj::Bool(true),
                        t => Obj::Int(t.parse().map_err(|_| {
                            PickleError::Malformed(format!("integer literal '{t}'"))
                        })?),
                    };
                    self.push(obj)
                }
                b'G' => {
                    let b = self.take(8)?;
                    self.push(Obj::Float(f64::from_be_bytes(b.try_into().expect("8"))))
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.string(n)?
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.string(n)?
                }
                0x8d => {
                    let n = self.len_u64()?;
                    self.string(n)?
                }
                b'T' | b'U' | b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'T' | b'B' => self.u32()? as usize,
                        0x8e => self.len_u64()?,
                        _ => self.u8()? as usize,
                    };
                    let bytes = self.take(n)?.to_vec();
                    self.push(Obj::Bytes(bytes))
                }
                b')' => self.push(Obj::Tuple(vec![])),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items))
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return bad("stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Obj::Tuple(items))
                }
                b']' => self.push(Obj::List(vec![])),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::List(items))
                }
                b'}' => self.push(Obj::Dict(vec![])),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Dict(vec![]));
                    let id = self.top()?;
                    self.set_items(id, items)?
                }
                b'a' => {
                    let v = self.pop()?;
                    let list = self.top()?;
                    self.append(list, vec![v])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.append(list, items)?
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let dict = self.top()?;
                    self.set_items(dict, vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let dict = self.top()?;
                    self.set_items(dict, items)?
                }
                b'p' => {
                    let key = self.line()?.parse().map_err(|_| {
                        PickleError::Malformed("a PUT key that is not a number".into())
                    })?;
                    self.memo_put(key)?
                }
                b'q' => {
                    let key = self.u8()? as u64;
                    self.memo_put(key)?
                }
                b'r' => {
                    let key = self.u32()? as u64;
                    self.memo_put(key)?
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?
                }
                b'g' => {
                    let key = self.line()?.parse().map_err(|_| {
                        PickleError::Malformed("a GET key that is not a number".into())
                    })?;
                    self.memo_get(key)?
                }
                b'h' => {
                    let key = self.u8()? as u64;
                    self.memo_get(key)?
                }
                b'j' => {
                    let key = self.u32()? as u64;
                    self.memo_get(key)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.objs[module], &self.objs[name]) {
                        (Obj::Str(m), Obj::Str(n)) => {
                            let (m, n) = (m.clone(), n.clone());
                            self.global(&m, &n)?
                        }
                        _ => return bad("STACK_GLOBAL with non-string names"),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = persistent_storage(&self.objs, pid)?;
                    self.push(storage)
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let result = self.call(func, args)?;
                    self.push(result)
                }
                b'b' => {
                    // BUILD sets attributes (an OrderedDict's `_metadata`, a parameter's
                    // state): nothing a weight reader needs.
                    self.pop()?;
                    self.top()?;
                }
                other => {
                    return bad(format!(
                        "opcode 0x{other:02x} at byte {} is not one torch.save writes",
                        self.pos - 1
                    ))
                }
            }
        }
    }

    /// REDUCE and NEWOBJ on an allowed global.
    fn call(&self, func: Id, args: Id) -> Res<Obj> {
        let Obj::Global(g) = self.objs[func] else {
            return bad("a call on something that is not a known global");
        };
        let Obj::Tuple(args) = &self.objs[args] else {
            return bad("call arguments that are not a tuple");
        };
        let arg = |i: usize| args.get(i).map(|&id| (id, &self.objs[id]));
        match g {
            Global::OrderedDict => Ok(Obj::Dict(vec![])),
            Global::RebuildTensor | Global::RebuildTensorV2 => {
                let (Some((storage, Obj::Storage { .. })), Some((_, Obj::Int(offset)))) =
                    (arg(0), arg(1))
                else {
                    return bad("a tensor rebuilt without a storage and an offset");
                };
                let shape = self.usizes(arg(2))?;
                let strides = self.usizes(arg(3))?;
                if shape.len() != strides.len() || *offset < 0 {
                    return bad("a tensor whose size and stride disagree");
                }
                Ok(Obj::Tensor(TensorRef {
                    storage,
                    offset: *offset as u64,
                    shape,
                    strides,
                }))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => match arg(0) {
                Some((_, t @ Obj::Tensor(_))) => Ok(t.clone()),
                _ => bad("a parameter rebuilt from something that is not a tensor"),
            },
            Global::Storage(_) => bad("a storage class called directly"),
        }
    }

    fn usizes(&self, arg: Option<(Id, &Obj)>) -> Res<Vec<usize>> {
        let Some((_, Obj::Tuple(items))) = arg else {
            return bad("a tensor size or stride that is not a tuple");
        };
        items
            .iter()
            .map(|&id| match self.objs[id] {
                Obj::Int(v) if v >= 0 => Ok(v as usize),
                _ => bad("a tensor size or stride that is not a non-negative integer"),
            })
            .collect()
    }
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
mod tests {
    use super::*;

    /// Protocol-2 bytes of `{'a': [1, 2], 'b': 'x'}` as CPython 3 writes them, with the dict
    /// memoized before it is filled.
    #[test]
    fn memoized_containers_are_seen_filled() {
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02eX\x01\x00\x00\x00bq\x03X\x01\x00\x00\x00xq\x04u.";
        let u = unpickle(data).unwrap();
        let Obj::Dict(entries) = u.get(u.root) else {
            panic!("not a dict")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(u.as_str(entries[0].0), Some("a"));
        assert!(matches!(u.get(entries[0].1), Obj::List(l) if l.len() == 2));
        assert_eq!(u.as_str(entries[1].1), Some("x"));
        assert_eq!(u.consumed, data.len());
    }

    #[test]
    fn unknown_globals_are_refused_by_name() {
        // cos\nsystem\n(S'echo hi'\ntR.
        let data = b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85q\x02Rq\x03.";
        assert_eq!(
            unpickle(data).err(),
            Some(PickleError::Refused("os.system".into()))
        );
        let stack_global = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        assert_eq!(
            unpickle(stack_global).err(),
            Some(PickleError::Refused("builtins.eval".into()))
        );
    }

    #[test]
    fn truncated_and_garbage_streams_are_errors_not_panics() {
        let whole = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u.";
        for n in 0..whole.len() {
            assert!(unpickle(&whole[..n]).is_err(), "prefix of {n} bytes");
        }
        for junk in [
            &b"\xff\xff"[..],
            b"\x80\x02u.",
            b"\x80\x02h\x07.",
            b"X\xff\xff\xff\xff",
        ] {
            assert!(matches!(unpickle(junk), Err(PickleError::Malformed(_))));
        }
    }

    /// Old legacy files name a view of a root storage as
    /// `('storage', cls, root_key, location, root_size, (view_key, offset, view_size))`.
    #[test]
    fn storage_views_keep_their_offset() {
        let objs = vec![
            Obj::Str("storage".into()),
            Obj::Global(Global::Storage(Dtype::F32)),
            Obj::Str("140".into()),
            Obj::Str("cpu".into()),
            Obj::Int(100),
            Obj::Str("141".into()),
            Obj::Int(40),
            Obj::Int(10),
            Obj::Tuple(vec![5, 6, 7]),
            Obj::Tuple(vec![0, 1, 2, 3, 4, 8]),
        ];
        let s = persistent_storage(&objs, 9).unwrap();
        assert_eq!(
            s,
            Obj::Storage {
                key: "140".into(),
                dtype: Dtype::F32,
                numel: 100,
                base: 40
            }
        );
    }

    #[test]
    fn long1_holds_small_and_big_integers() {
        assert_eq!(long_from_le(&[0xff]), Obj::Int(-1));
        assert_eq!(long_from_le(&[0x00, 0x01]), Obj::Int(256));
        assert!(matches!(long_from_le(&[1; 10]), Obj::BigInt(_)));
    }
}
