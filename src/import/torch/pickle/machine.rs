//! The pickle virtual machine: the stack, the marks, the memo, and one arm per opcode that
//! `torch.save` writes. Calls are evaluated only for the allow-listed globals (see `mod.rs`).

use std::collections::HashMap;

use super::{allowed_global, bad, long_from_le, persistent_storage};
use super::{Global, Id, Obj, PickleError, Res, TensorRef};

pub(super) struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    objs: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
}

impl<'a> Machine<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Machine {
            data,
            pos: 0,
            objs: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    /// The arena, and how many bytes were read (through STOP).
    pub(super) fn finish(self) -> (Vec<Obj>, usize) {
        (self.objs, self.pos)
    }

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

    pub(super) fn run(&mut self) -> Res<Id> {
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
