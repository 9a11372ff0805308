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

use std::path::Path;

use super::atomic::write_atomic;
use super::npy_header::{check_descr, parse_header};
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

/// numpy writes headers of a few hundred bytes; 64 KiB holds a shape of thousands of dims.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// Reads a `.npy` file holding a little-endian float32 array. The header is read and checked
/// first: the file must hold exactly the bytes it declares, and at most `max_values` values
/// (what the caller can use, such as the model's input), before the data is read.
pub fn read_npy_f32_at_most(path: &Path, max_values: usize) -> Result<NpyArray> {
    use std::io::Read;
    let (file, len) = crate::files::open_regular(path, "a NumPy .npy file")?;
    let mut head = Vec::new();
    let head_cap = (len as usize).min(MAX_HEADER_BYTES + 12);
    (&file)
        .take(head_cap as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let layout = parse_layout(&head, len as usize, path)?;
    if layout.values > max_values {
        return Err(Error::Npy {
            path: path.to_path_buf(),
            detail: format!(
                "the array has shape {} ({} values), more than the {max_values} expected here",
                shape_string(&layout.shape),
                layout.values
            ),
        });
    }
    let mut rest = crate::files::read_exactly(file, len - head.len() as u64, path)?;
    head.append(&mut rest);
    parse_npy_f32(&head, path)
}

/// [`read_npy_f32_at_most`] up to 2^28 values (1 GiB of float32).
pub fn read_npy_f32(path: &Path) -> Result<NpyArray> {
    read_npy_f32_at_most(path, 1 << 28)
}

/// Where a float32 array's data starts, its shape and its number of values.
struct Layout {
    data_start: usize,
    shape: Vec<usize>,
    values: usize,
}

/// Parses the bytes of a `.npy` file holding a little-endian float32 array. `path` is only used
/// in error messages.
pub fn parse_npy_f32(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    let layout = parse_layout(bytes, bytes.len(), path)?;
    let data = bytes[layout.data_start..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(NpyArray {
        shape: layout.shape,
        data,
    })
}

/// Checks the magic, version and header found at the start of `bytes` (the whole file, or a
/// prefix holding at least the header) against a file of `total` bytes.
fn parse_layout(bytes: &[u8], total: usize, path: &Path) -> Result<Layout> {
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
    // Within the bytes at hand: the header must be in the prefix that was read.
    let available = bytes.len() - header_start;
    if header_len > MAX_HEADER_BYTES as u64 && (header_len as usize) <= total - header_start {
        return Err(fail(format!(
            "the header is {header_len} bytes; numpy writes a few hundred"
        )));
    }
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
    let actual = total - data_start;
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
    Ok(Layout {
        data_start,
        values: expected / 4,
        shape: header.shape,
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

#[cfg(test)]
#[path = "npy_tests.rs"]
mod tests;
