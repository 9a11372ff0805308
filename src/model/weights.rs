//! A layer's weight tensors: what they are (role, shape, how they count) and where their values
//! live. Values are read lazily so that a model whose external data file is absent can still be
//! summarized, and statistics are computed only when asked for.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::mapped::Mapped;
use crate::error::{Error, Result};

/// What a weight is to its layer. Decides how it counts (Keras rules) and how it is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightRole {
    Kernel,
    Bias,
    Gamma,
    Beta,
    MovingMean,
    MovingVariance,
    /// PReLU slope.
    Slope,
    /// A learned tensor operand of an element-wise op (e.g. ConvNeXt's layer scale).
    Operand,
    /// A fixed scalar or constant operand (e.g. GELU's 0.5); not a parameter.
    Constant,
}

impl WeightRole {
    pub fn label(self) -> &'static str {
        match self {
            WeightRole::Kernel => "kernel",
            WeightRole::Bias => "bias",
            WeightRole::Gamma => "gamma",
            WeightRole::Beta => "beta",
            WeightRole::MovingMean => "moving_mean",
            WeightRole::MovingVariance => "moving_variance",
            WeightRole::Slope => "alpha",
            WeightRole::Operand => "operand",
            WeightRole::Constant => "constant",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamCount {
    Trainable,
    NonTrainable,
    /// Constants that are part of the computation but not parameters.
    NotCounted,
}

/// Element types a stored tensor may have; all are converted to f32 when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredType {
    F32,
    F16,
    BF16,
    F64,
}

impl StoredType {
    pub fn size(self) -> usize {
        match self {
            StoredType::F32 => 4,
            StoredType::F16 | StoredType::BF16 => 2,
            StoredType::F64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StoredType::F32 => "float32",
            StoredType::F16 => "float16",
            StoredType::BF16 => "bfloat16",
            StoredType::F64 => "float64",
        }
    }
}

/// A dense host tensor of f32 values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Where a weight's values come from.
#[derive(Clone, Debug)]
pub enum WeightData {
    Loaded(Arc<HostTensor>),
    /// Bytes in an external file (ONNX external data), read on demand.
    External {
        file: PathBuf,
        model: PathBuf,
        offset: u64,
        length: u64,
        stored: StoredType,
    },
    /// A strided view into a memory-mapped checkpoint.
    Mapped(Mapped),
    /// Seeded uniform values in `[-bound, bound)` (+ `center`), drawn when first read: an
    /// architecture built without weights costs nothing until it runs.
    Random {
        seed: u64,
        center: f32,
        bound: f32,
    },
    /// The transpose of a 2-D tensor stored as `stored_shape` (exporters write `MatMul(x,
    /// Transpose(W))`; transposing lazily keeps external weights unread until needed).
    Transposed {
        inner: Box<WeightData>,
        stored_shape: [usize; 2],
    },
    /// Values the importer reads, decodes and lays out on each load (a Keras HDF5 dataset), as
    /// mapped checkpoint weights are: opening a model reads none of them.
    Deferred(Deferred),
}

/// How to read a deferred weight: the importer's reader, shared by the graph's clones.
#[derive(Clone)]
pub struct Deferred(pub Arc<dyn Fn() -> Result<HostTensor> + Send + Sync>);

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deferred")
    }
}

#[derive(Clone, Debug)]
pub struct Weight {
    /// The name in the source file (e.g. `features.0.weight`).
    pub name: String,
    pub role: WeightRole,
    pub shape: Vec<usize>,
    pub stored: StoredType,
    pub count: ParamCount,
    pub data: WeightData,
}

impl Weight {
    /// A float32 weight whose values are in memory.
    pub fn loaded(
        name: impl Into<String>,
        role: WeightRole,
        shape: &[usize],
        data: Vec<f32>,
        count: ParamCount,
    ) -> Weight {
        Weight {
            name: name.into(),
            role,
            shape: shape.to_vec(),
            stored: StoredType::F32,
            count,
            data: WeightData::Loaded(Arc::new(HostTensor {
                shape: shape.to_vec(),
                data,
            })),
        }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Reads the values (from memory or the external file) as f32.
    pub fn load(&self) -> Result<Arc<HostTensor>> {
        load_data(&self.name, &self.shape, self.stored, &self.data)
    }
}

fn load_data(
    name: &str,
    shape: &[usize],
    stored: StoredType,
    data: &WeightData,
) -> Result<Arc<HostTensor>> {
    match data {
        WeightData::Loaded(t) => Ok(t.clone()),
        WeightData::Deferred(read) => {
            let t = (read.0)()?;
            if t.shape != shape || t.data.len() != shape.iter().product::<usize>() {
                return Err(Error::Input(format!(
                    "weight '{name}' was read with shape {:?}, not {shape:?}",
                    t.shape
                )));
            }
            Ok(Arc::new(t))
        }
        WeightData::Mapped(m) => Ok(Arc::new(HostTensor {
            shape: shape.to_vec(),
            data: m.read(shape, stored).map_err(|e| {
                let e = std::io::Error::other(format!("weight '{name}': {e}"));
                match m.map.path() {
                    Some(path) => Error::io(path, e),
                    None => Error::Input(e.to_string()),
                }
            })?,
        })),
        WeightData::Random {
            seed,
            center,
            bound,
        } => {
            let mut rng = crate::model::build::Rng::new(*seed);
            let n = shape.iter().product();
            let data = (0..n)
                .map(|_| center + rng.uniform(-bound, *bound))
                .collect();
            Ok(Arc::new(HostTensor {
                shape: shape.to_vec(),
                data,
            }))
        }
        WeightData::Transposed {
            inner,
            stored_shape,
        } => {
            let [rows, cols] = *stored_shape;
            let t = load_data(name, stored_shape, stored, inner)?;
            let mut out = vec![0f32; t.data.len()];
            for r in 0..rows {
                for c in 0..cols {
                    out[c * rows + r] = t.data[r * cols + c];
                }
            }
            Ok(Arc::new(HostTensor {
                shape: vec![cols, rows],
                data: out,
            }))
        }
        WeightData::External {
            file,
            model,
            offset,
            length,
            stored,
        } => {
            let numel: usize = shape.iter().product();
            let expected = (numel as u64).saturating_mul(stored.size() as u64);
            if *length != expected {
                return Err(Error::BadModel {
                    path: model.clone(),
                    detail: format!(
                        "external tensor '{name}' declares {length} bytes but its shape {shape:?} needs {expected}"
                    ),
                });
            }
            check_contained(file, model)?;
            let (mut f, size) =
                crate::files::open_regular(file, "an external data file").map_err(|e| match e {
                    Error::NotFound { .. } => Error::MissingExternalData {
                        model: model.clone(),
                        file: file.clone(),
                    },
                    e => e,
                })?;
            if offset.saturating_add(*length) > size {
                return Err(Error::BadModel {
                    path: model.clone(),
                    detail: format!(
                        "external tensor '{name}' lies at bytes {offset}..{} but {} holds only {size} bytes (truncated?)",
                        offset.saturating_add(*length),
                        file.display()
                    ),
                });
            }
            let mut bytes = vec![0u8; *length as usize];
            f.seek(SeekFrom::Start(*offset))
                .and_then(|_| f.read_exact(&mut bytes))
                .map_err(|e| Error::io(file, e))?;
            Ok(Arc::new(HostTensor {
                shape: shape.to_vec(),
                data: decode_le(&bytes, *stored),
            }))
        }
    }
}

/// Refuses an external data file whose real path, symlinks resolved, lies outside the model's
/// folder: the importer already refuses `..` and absolute locations, and a symlink next to the
/// model (`w.bin -> /etc/passwd`) must not get around that. The folder of the model file's
/// own real path counts too, because the Hugging Face cache keeps both files as symlinks into
/// its `blobs/` folder.
fn check_contained(file: &Path, model: &Path) -> Result<()> {
    let Ok(real) = file.canonicalize() else {
        return Ok(()); // absent: opening it says so
    };
    let mut folders: Vec<PathBuf> = Vec::new();
    if let Some(d) = model.parent() {
        folders.push(match d.as_os_str().is_empty() {
            true => PathBuf::from("."),
            false => d.to_path_buf(),
        });
    }
    if let Some(d) = model.canonicalize().ok().as_deref().and_then(Path::parent) {
        folders.push(d.to_path_buf());
    }
    let inside = folders
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .any(|d| real.starts_with(&d));
    if inside {
        return Ok(());
    }
    Err(Error::BadModel {
        path: model.to_path_buf(),
        detail: format!(
            "its external data file {} leads to {}, outside the model's folder; \
             copy the data file next to the model instead of linking it",
            file.display(),
            real.display()
        ),
    })
}

/// Decodes little-endian bytes of the given type into f32 values.
pub fn decode_le(bytes: &[u8], stored: StoredType) -> Vec<f32> {
    let mut values = Vec::with_capacity(bytes.len() / stored.size());
    decode_le_into(bytes, stored, &mut values);
    values
}

/// [`decode_le`], appending to `out`.
pub fn decode_le_into(bytes: &[u8], stored: StoredType, out: &mut Vec<f32>) {
    match stored {
        StoredType::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        StoredType::F64 => out.extend(
            bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")) as f32),
        ),
        StoredType::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))),
        ),
        StoredType::BF16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)),
        ),
    }
}

/// IEEE half to single precision, including subnormals, infinities and NaN.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = frac * 2^-24.
            let v = frac as f32 * f32::powi(2.0, -24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000,
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Summary statistics of a weight tensor, as the config view shows them.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WeightStats {
    pub min: f32,
    pub max: f32,
    pub mean: f32,
    pub std: f32,
}

impl WeightStats {
    /// Population statistics (numpy's default `std`), accumulated in f64 for stability.
    pub fn of(values: &[f32]) -> Option<WeightStats> {
        if values.is_empty() {
            return None;
        }
        let (mut min, mut max, mut sum) = (f32::INFINITY, f32::NEG_INFINITY, 0f64);
        for &v in values {
            min = min.min(v);
            max = max.max(v);
            sum += v as f64;
        }
        let mean = sum / values.len() as f64;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / values.len() as f64;
        Some(WeightStats {
            min,
            max,
            mean: mean as f32,
            std: var.sqrt() as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), f32::powi(2.0, -24));
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }

    #[test]
    fn stats_match_numpy() {
        // np.array([1, 2, 3, 4], np.float32): min 1, max 4, mean 2.5, std 1.118034
        let s = WeightStats::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
        assert!((s.std - 1.118_034).abs() < 1e-6);
    }
}
