//! The `.npy` header: the Python dict literal numpy writes (`{'descr': '<f4', 'fortran_order':
//! False, 'shape': (2, 3), }`), parsed strictly and without panics.

/// The three keys numpy writes.
#[derive(Debug)]
pub(super) struct Header {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// A Python literal as it can appear in an `.npy` header.
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
    /// A list: numpy writes a structured (record) dtype's descr as one.
    List,
}

/// Parses the header dict, a Python literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
pub(super) fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let value = p.value()?;
        let slot_taken = match key.as_str() {
            "descr" => descr.replace(value).is_some(),
            "fortran_order" => fortran.replace(value).is_some(),
            "shape" => shape.replace(value).is_some(),
            other => return Err(format!("unexpected key '{other}'")),
        };
        if slot_taken {
            return Err(format!("key '{key}' appears twice"));
        }
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.ws();
        p.expect(b'}')?;
        break;
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text after the dict at byte {}", p.i));
    }

    const STRUCTURED: &str =
        "the dtype is a structured (record) type; convscope needs a plain float32 array";
    let descr = match descr {
        Some(Value::Str(s)) => s,
        Some(Value::List) => return Err(STRUCTURED.to_string()),
        Some(_) => return Err("'descr' is not a string".to_string()),
        None => return Err("missing key 'descr'".to_string()),
    };
    let fortran_order = match fortran {
        Some(Value::Bool(b)) => b,
        Some(_) => return Err("'fortran_order' is not True or False".to_string()),
        None => return Err("missing key 'fortran_order'".to_string()),
    };
    let shape = match shape {
        Some(Value::Tuple(t)) => t,
        Some(_) => return Err("'shape' is not a tuple of integers".to_string()),
        None => return Err("missing key 'shape'".to_string()),
    };
    Ok(Header {
        descr,
        fortran_order,
        shape,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(found) => format!(
                    "expected '{}' at byte {}, found '{}'",
                    char::from(c),
                    self.i,
                    found.escape_ascii()
                ),
                None => format!(
                    "expected '{}' at byte {}, found the end",
                    char::from(c),
                    self.i
                ),
            })
        }
    }

    /// A quoted string, `'...'` or `"..."` (numpy never writes escapes in these headers).
    fn string(&mut self) -> std::result::Result<String, String> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(format!(
                    "expected a quoted key or string at byte {}",
                    self.i
                ))
            }
        };
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|&c| c == quote)
            .ok_or_else(|| format!("unterminated string at byte {}", self.i))?;
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn value(&mut self) -> std::result::Result<Value, String> {
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(Value::Str),
            Some(b'(') => self.tuple().map(Value::Tuple),
            Some(b'[') => self.skip_list().map(|()| Value::List),
            _ if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            _ if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            _ => Err(format!("unexpected value at byte {}", self.i)),
        }
    }

    /// Skips a (possibly nested) list such as `[('a', '<f4'), ('b', '<i4', (2,))]`.
    fn skip_list(&mut self) -> std::result::Result<(), String> {
        let start = self.i;
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return Err(format!("unterminated list at byte {start}")),
                Some(b'\'' | b'"') => {
                    self.string()?;
                    continue;
                }
                Some(b'[' | b'(') => depth += 1,
                Some(b']' | b')') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                Some(_) => {}
            }
            self.i += 1;
        }
    }

    /// `()`, `(3,)`, `(2, 3)`, `(2, 3,)`; Python 2 files may write `3L`.
    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            dims.push(self.int()?);
            self.ws();
            if self.eat(b',') {
                continue;
            }
            self.expect(b')')?;
            return Ok(dims);
        }
    }

    fn int(&mut self) -> std::result::Result<usize, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            return Err(format!("negative dimension at byte {start}"));
        }
        let mut n: usize = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(c - b'0')))
                .ok_or_else(|| format!("dimension at byte {start} is too large"))?;
            self.i += 1;
        }
        if self.i == start {
            return Err(format!("expected a dimension (an integer) at byte {start}"));
        }
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.i += 1;
        }
        Ok(n)
    }
}

/// Accepts only `'<f4'`; otherwise says what the dtype is and how to convert it.
pub(super) fn check_descr(descr: &str) -> std::result::Result<(), String> {
    if descr == "<f4" {
        return Ok(());
    }
    let bytes = descr.as_bytes();
    let (order, rest) = match bytes.first() {
        Some(b'<' | b'>' | b'|' | b'=') => (bytes[0], &descr[1..]),
        _ => (b'|', descr),
    };
    let kind_len = rest.chars().next().map_or(0, char::len_utf8);
    let (kind, size) = rest.split_at(kind_len);
    let size: Option<u32> = size.parse().ok().filter(|&n| (1..=64).contains(&n));
    let name = match (kind, size) {
        ("f", Some(2)) => "float16".to_string(),
        ("f", Some(4)) => "float32".to_string(),
        ("f", Some(8)) => "float64".to_string(),
        ("f", Some(n)) => format!("float{}", n * 8),
        ("i", Some(n)) => format!("int{}", n * 8),
        ("u", Some(n)) => format!("uint{}", n * 8),
        ("c", Some(n)) => format!("complex{}", n * 8),
        ("b", Some(1)) => "bool".to_string(),
        ("O", _) => "object".to_string(),
        ("U", _) => "a unicode string type".to_string(),
        ("S", _) | ("a", _) => "a byte string type".to_string(),
        ("M", _) | ("m", _) => "a date/time type".to_string(),
        _ => "an unsupported type".to_string(),
    };
    let quoted = descr.escape_debug();
    if name == "float32" && order == b'>' {
        return Err(format!(
            "dtype is big-endian float32 ('{quoted}'); convscope needs little-endian float32: \
             use arr.astype('<f4')"
        ));
    }
    Err(format!(
        "dtype is {name} ('{quoted}'); convscope needs float32: use arr.astype(np.float32)"
    ))
}
