//! NumPy `.npy` files holding float32 arrays.
//!
//! Reading treats the file as untrusted: every malformed input (bad magic, unknown version, a
//! header that is not the expected dict, a dtype other than little-endian float32, an absurd or
//! inconsistent shape, a truncated body) becomes one [`Error::Npy`] line, never a panic, and
//! nothing is allocated for the data before the shape has been checked against the bytes present.
//!
//! Writing produces exactly the bytes `np.save` writes for a C-ordered `float32` array (format
//! 1.0, header padded with spaces so that the data starts at a multiple of 64 bytes, ending with
//! `'\n'`), and replaces the target atomically.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the start of the data to this many bytes.
const ARRAY_ALIGN: usize = 64;
/// numpy leaves room in the header for the first axis to grow to this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// A C-ordered float32 array read from (or to be written to) a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions, outermost first; empty for a 0-d (scalar) array.
    pub shape: Vec<usize>,
    /// The elements in C (row-major) order; `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

/// Formats a shape the way Python prints a tuple: `()`, `(3,)`, `(2, 3)`.
pub fn shape_string(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Reads a `.npy` file holding a little-endian float32 array.
pub fn read_npy_f32(path: &Path) -> Result<NpyArray> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy_f32(&bytes, path)
}

/// Parses the bytes of a `.npy` file holding a little-endian float32 array. `path` is only used
/// in error messages.
pub fn parse_npy_f32(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    // Details may quote bytes of the file: keep them on one line.
    let fail = |detail: String| Error::Npy {
        path: path.to_path_buf(),
        detail: detail
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    };

    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(fail(
            "not a NumPy .npy file (it does not start with the \\x93NUMPY magic); \
             save the array with np.save"
                .to_string(),
        ));
    }
    if bytes.len() < 8 {
        return Err(fail(format!(
            "file is truncated: {} bytes, too short for the format version",
            bytes.len()
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_size, utf8) = match (major, minor) {
        (1, 0) => (2, false),
        (2, 0) | (3, 0) => (4, major == 3),
        _ => {
            return Err(fail(format!(
                "unsupported .npy format version {major}.{minor}; \
                 convscope reads versions 1.0, 2.0 and 3.0"
            )))
        }
    };
    let header_start = 8 + len_size;
    if bytes.len() < header_start {
        return Err(fail(format!(
            "file is truncated: {} bytes, too short for the header length field",
            bytes.len()
        )));
    }
    let len_field = &bytes[8..header_start];
    let header_len = if len_size == 2 {
        u64::from(u16::from_le_bytes([len_field[0], len_field[1]]))
    } else {
        u64::from(u32::from_le_bytes([
            len_field[0],
            len_field[1],
            len_field[2],
            len_field[3],
        ]))
    };
    let available = bytes.len() - header_start;
    let header_len = match usize::try_from(header_len) {
        Ok(n) if n <= available => n,
        _ => {
            let detail = format!(
                "file is truncated: the header is {header_len} bytes \
                 but only {available} bytes follow"
            );
            return Err(fail(detail));
        }
    };
    let data_start = header_start + header_len;
    let raw = &bytes[header_start..data_start];
    let text: String = if utf8 {
        std::str::from_utf8(raw)
            .map_err(|_| fail("malformed .npy header: not valid UTF-8".to_string()))?
            .to_string()
    } else {
        // Versions 1.0 and 2.0 store the header in latin-1.
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let header = parse_header(&text).map_err(|d| fail(format!("malformed .npy header: {d}")))?;

    check_descr(&header.descr).map_err(fail)?;
    if header.fortran_order {
        return Err(fail(
            "array is stored in Fortran (column-major) order; convscope needs C order: \
             save np.ascontiguousarray(arr) instead"
                .to_string(),
        ));
    }

    let shape_str = shape_string(&header.shape);
    let expected = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| fail(format!("shape {shape_str} is too large to be a real array")))?;
    let actual = bytes.len() - data_start;
    if actual < expected {
        return Err(fail(format!(
            "file is truncated: a float32 array of shape {shape_str} needs {expected} data bytes, \
             found {actual}"
        )));
    }
    if actual > expected {
        return Err(fail(format!(
            "file has {actual} data bytes but a float32 array of shape {shape_str} needs \
             {expected}; the file is corrupt or holds more than one array"
        )));
    }
    let data = bytes[data_start..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(NpyArray {
        shape: header.shape,
        data,
    })
}

/// The bytes `np.save` writes for a C-ordered float32 array of this shape.
///
/// # Panics
///
/// If `data.len()` is not the product of `shape` (a bug in the caller).
pub fn npy_bytes_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let count: usize = shape.iter().product();
    assert_eq!(
        count,
        data.len(),
        "npy_bytes_f32: shape {} holds {count} values, {} given",
        shape_string(shape),
        data.len()
    );
    let mut out = header_bytes(shape);
    out.reserve(data.len() * 4);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes a C-ordered float32 array as a `.npy` file, as `np.save` would. The file is written
/// under a temporary name in the same directory and then renamed into place, so a failure never
/// leaves a partial file at `path`.
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if count != Some(data.len()) {
        return Err(Error::Npy {
            path: path.to_path_buf(),
            detail: format!(
                "cannot write: shape {} does not hold the {} values given",
                shape_string(shape),
                data.len()
            ),
        });
    }
    write_atomic(path, &npy_bytes_f32(shape, data))
}

/// Magic, version, header length and the header dict, padded as numpy pads it.
fn header_bytes(shape: &[usize]) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}",
        shape_string(shape)
    );
    // numpy >= 1.23 leaves room for the first axis to grow in place.
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    // As numpy's _wrap_header: version 1.0 unless the header does not fit its u16 length.
    let hlen = dict.len() + 1; // + '\n'
    let padded = |len_size: usize| {
        let padlen = ARRAY_ALIGN - (MAGIC.len() + 2 + len_size + hlen) % ARRAY_ALIGN;
        hlen + padlen
    };
    let mut out = Vec::with_capacity(hlen + ARRAY_ALIGN + 12);
    out.extend_from_slice(MAGIC);
    let total = match u16::try_from(padded(2)) {
        Ok(total) => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&total.to_le_bytes());
            usize::from(total)
        }
        Err(_) => {
            let total = padded(4);
            out.extend_from_slice(&[2, 0]);
            // A header over 4 GiB would need a shape with hundreds of millions of dimensions.
            out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_le_bytes());
            total
        }
    };
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + (total - hlen), b' ');
    out.push(b'\n');
    out
}

/// Writes `bytes` to a fresh temporary file next to `path`, then renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let werr = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        werr(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };

    let mut attempt = 0;
    let (tmp, mut file): (PathBuf, fs::File) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}-{n}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(werr(e)),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path)
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(werr(e));
    }
    Ok(())
}

/// The three keys numpy writes.
#[derive(Debug)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
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
fn parse_header(text: &str) -> std::result::Result<Header, String> {
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
fn check_descr(descr: &str) -> std::result::Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x.npy")
    }

    fn err(bytes: &[u8]) -> String {
        match parse_npy_f32(bytes, p()) {
            Err(e @ Error::Npy { .. }) => {
                let s = e.to_string();
                assert!(!s.contains('\n'), "multi-line error: {s}");
                s
            }
            other => panic!("expected an Npy error, got {other:?}"),
        }
    }

    /// A file with the given header dict (padded as numpy does) and data bytes.
    fn file_v(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let len_size = if major == 1 { 2 } else { 4 };
        let hlen = dict.len() + 1;
        let pad = 64 - (8 + len_size + hlen) % 64;
        let total = hlen + pad;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[major, 0]);
        if major == 1 {
            out.extend_from_slice(&(total as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(total as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.resize(out.len() + pad, b' ');
        out.push(b'\n');
        out.extend_from_slice(data);
        out
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// `np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3))`, byte for byte: the header
    /// dict, spaces up to byte 127, '\n', then the data from byte 128.
    fn numpy_arange_2x3() -> Vec<u8> {
        let mut b = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
        b.extend_from_slice(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
        b.extend_from_slice(&[b' '; 58]);
        b.push(b'\n');
        assert_eq!(b.len(), 128);
        b.extend_from_slice(&[
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00,
            0x40, 0x40, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xa0, 0x40,
        ]);
        b
    }

    #[test]
    fn writes_what_numpy_writes() {
        let data = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(npy_bytes_f32(&[2, 3], &data), numpy_arange_2x3());
    }

    #[test]
    fn reads_what_numpy_writes() {
        let a = parse_npy_f32(&numpy_arange_2x3(), p()).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn header_is_aligned_and_ends_with_newline() {
        for shape in [
            vec![],
            vec![0],
            vec![7],
            vec![1, 3, 224, 224],
            vec![123_456_789_012, 0],
            vec![1; 40],
        ] {
            let b = npy_bytes_f32(&shape, &vec![0.5; shape.iter().product()]);
            let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0, "{shape:?}");
            assert_eq!(b[10 + hlen - 1], b'\n');
            let a = parse_npy_f32(&b, p()).unwrap();
            assert_eq!(a.shape, shape);
        }
    }

    #[test]
    fn scalar_and_1d_headers() {
        let b = npy_bytes_f32(&[], &[2.5]);
        let text = String::from_utf8_lossy(&b[10..]);
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (), }"));
        assert_eq!(b.len(), 128 + 4);
        let b = npy_bytes_f32(&[3], &[1.0, 2.0, 3.0]);
        let text = String::from_utf8_lossy(&b[10..]);
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"));
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * -0.25 + 1e-7).collect();
        write_npy_f32(&path, &[2, 3, 4], &data).unwrap();
        let a = read_npy_f32(&path).unwrap();
        assert_eq!(a.shape, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        // Overwrite in place; no temp files are left behind.
        write_npy_f32(&path, &[], &[f32::NAN]).unwrap();
        let a = read_npy_f32(&path).unwrap();
        assert!(a.shape.is_empty() && a.data[0].is_nan());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn write_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // Target is a directory: the rename fails, and the temp file is removed.
        let target = dir.path().join("sub");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        let e = write_npy_f32(&target, &[1], &[1.0]).unwrap_err();
        assert!(matches!(e, Error::Write { .. }), "{e}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // Missing directory.
        let e = write_npy_f32(&dir.path().join("nope/a.npy"), &[1], &[1.0]).unwrap_err();
        assert!(matches!(e, Error::Write { .. }), "{e}");
        // Shape and data disagree.
        let e = write_npy_f32(&dir.path().join("b.npy"), &[2, 2], &[1.0]).unwrap_err();
        assert!(e.to_string().contains("(2, 2)"), "{e}");
        assert!(!dir.path().join("b.npy").exists());
    }

    #[test]
    fn read_missing_file_is_not_found() {
        let e = read_npy_f32(Path::new("/definitely/not/here.npy")).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }

    #[test]
    fn accepts_header_variations() {
        let data = f32_bytes(&[1.0, 2.0, 3.0]);
        for dict in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
            "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}",
            "{ \"descr\" : \"<f4\" ,'fortran_order':False,'shape':( 3 , ) , }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3)}",
        ] {
            for major in [1, 2, 3] {
                let a = parse_npy_f32(&file_v(major, dict, &data), p())
                    .unwrap_or_else(|e| panic!("{dict}: {e}"));
                assert_eq!(a.data, vec![1.0, 2.0, 3.0]);
            }
        }
        let a = parse_npy_f32(
            &file_v(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': ()}",
                &data[..4],
            ),
            p(),
        )
        .unwrap();
        assert!(a.shape.is_empty());
        assert_eq!(a.data, vec![1.0]);
        let a = parse_npy_f32(
            &file_v(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5)}",
                &[],
            ),
            p(),
        )
        .unwrap();
        assert_eq!(a.shape, vec![0, 5]);
        assert!(a.data.is_empty());
    }

    #[test]
    fn rejects_other_dtypes_by_name() {
        let e = err(&file_v(
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        ));
        assert_eq!(
            e,
            "x.npy: dtype is float64 ('<f8'); convscope needs float32: use arr.astype(np.float32)"
        );
        let e = err(&file_v(
            1,
            "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        ));
        assert!(e.contains("big-endian float32 ('>f4')"), "{e}");
        for (descr, name) in [
            ("<f2", "float16"),
            ("|u1", "uint8"),
            ("<i8", "int64"),
            ("|b1", "bool"),
            ("|O", "object"),
            ("<c8", "complex64"),
            ("<U3", "unicode"),
            ("weird", "unsupported"),
            ("\u{e9}f4", "unsupported"),
            ("<f999999999", "unsupported"),
            ("", "unsupported"),
        ] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}");
            let e = err(&file_v(1, &dict, &[0; 4]));
            assert!(e.contains(name) && e.contains("float32"), "{e}");
        }
        let e = err(&file_v(
            1,
            "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        ));
        assert!(e.contains("structured"), "{e}");
    }

    #[test]
    fn rejects_fortran_order() {
        let e = err(&file_v(
            1,
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
            &[0; 16],
        ));
        assert!(e.contains("np.ascontiguousarray"), "{e}");
    }

    #[test]
    fn truncated_data_names_both_counts() {
        let mut b = numpy_arange_2x3();
        b.truncate(b.len() - 5);
        let e = err(&b);
        assert!(
            e.contains("truncated") && e.contains("24") && e.contains("19"),
            "{e}"
        );
        let mut b = numpy_arange_2x3();
        b.extend_from_slice(&[0; 4]);
        let e = err(&b);
        assert!(e.contains("28") && e.contains("24"), "{e}");
    }

    #[test]
    fn absurd_shapes_do_not_allocate_or_overflow() {
        for shape in [
            "(18446744073709551615, 18446744073709551615)",
            "(4611686018427387904,)",
            "(1000000, 1000000, 1000000)",
            "(99999999999999999999999999,)",
        ] {
            let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
            let e = err(&file_v(1, &dict, &[0; 16]));
            assert!(e.contains("too large") || e.contains("truncated"), "{e}");
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        for dict in [
            "",
            "{",
            "}",
            "[]",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'shape': (1,)}",
            "{'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': '1'}",
            "{'descr': 4, 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} trailing",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
        ] {
            let e = err(&file_v(1, dict, &[0; 4]));
            assert!(e.starts_with("x.npy: "), "{e}");
        }
    }

    #[test]
    fn rejects_bad_preambles() {
        assert!(err(b"").contains("not a NumPy"));
        assert!(err(b"PK\x03\x04 a zip, maybe an npz").contains("not a NumPy"));
        assert!(err(b"\x93NUMPY").contains("truncated"));
        assert!(err(b"\x93NUMPY\x01").contains("truncated"));
        assert!(err(b"\x93NUMPY\x04\x00\x10\x00").contains("version 4.0"));
        assert!(err(b"\x93NUMPY\x01\x00\x10").contains("truncated"));
        assert!(err(b"\x93NUMPY\x02\x00\x10\x00").contains("truncated"));
        let e = err(b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}");
        assert!(e.contains("4294967295") && e.contains("truncated"), "{e}");
        // Version 3.0 headers must be UTF-8; 1.0 headers are latin-1 (any byte decodes).
        let mut b = b"\x93NUMPY\x03\x00\x02\x00\x00\x00\xff\xfe".to_vec();
        assert!(err(&b).contains("UTF-8"));
        b[6] = 2;
        assert!(err(&b).contains("malformed"));
    }

    /// Every prefix and many single-byte corruptions of valid files give an error or a value,
    /// never a panic.
    #[test]
    fn fuzz_truncations_and_corruptions() {
        let mut files = vec![
            numpy_arange_2x3(),
            npy_bytes_f32(&[], &[1.0]),
            file_v(
                3,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
                &[0; 8],
            ),
        ];
        files.push(npy_bytes_f32(&[1, 3, 4, 4], &[0.25; 48]));
        for f in &files {
            for n in 0..f.len() {
                let _ = parse_npy_f32(&f[..n], p());
            }
            let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
            for _ in 0..4000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut g = f.clone();
                let pos = (seed as usize) % g.len();
                g[pos] = (seed >> 32) as u8;
                if seed & 3 == 0 {
                    let pos2 = (seed >> 16) as usize % g.len();
                    g[pos2] = (seed >> 40) as u8;
                }
                if let Err(e) = parse_npy_f32(&g, p()) {
                    assert!(!e.to_string().contains('\n'));
                }
            }
        }
        // Pure garbage after a valid preamble.
        let mut seed: u64 = 12345;
        for len in 0..300usize {
            let mut g = b"\x93NUMPY\x01\x00".to_vec();
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                g.push((seed >> 56) as u8);
            }
            let _ = parse_npy_f32(&g, p());
        }
    }

    #[test]
    fn shape_strings() {
        assert_eq!(shape_string(&[]), "()");
        assert_eq!(shape_string(&[3]), "(3,)");
        assert_eq!(shape_string(&[1, 3, 224, 224]), "(1, 3, 224, 224)");
    }
}
