//! HDF5 as Keras writes it, through `hdf5-reader` (pure Rust, read-only, bounds-checked): the
//! groups, string attributes and float datasets the Keras importer needs, with every failure
//! turned into one line naming the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hdf5_reader::error::Error as H5Error;
use hdf5_reader::group::Group;
use hdf5_reader::{Dataset, Hdf5File, OpenOptions};

use crate::error::{Error, Result};
use crate::files::{MapSlice, ReadMap};
use crate::model::{weights::decode_le, HostTensor, StoredType};

/// HDF5's signature, at offset 0 of every file Keras writes (h5py never adds a user block).
pub const MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// The largest dataset read (VGG16's fc1 kernel is 411 MB); a compressed chunk that claims
/// more is refused before anything is allocated.
const MAX_READ_BYTES: usize = 4 << 30;

pub struct H5 {
    file: Hdf5File,
    /// The mapped file the datasets are read from (None for bytes held in memory).
    map: Option<Arc<ReadMap>>,
    /// The file named in messages (for a `.keras` archive: the archive and its member).
    pub label: PathBuf,
}

fn options() -> OpenOptions {
    OpenOptions::default().with_max_read_bytes(MAX_READ_BYTES)
}

impl H5 {
    pub fn open(path: &Path) -> Result<H5> {
        let map = ReadMap::of_file(path, "a Keras weight file (.h5)")?;
        let len = map.len();
        Self::in_map(path.to_path_buf(), map, 0, len)
    }

    /// The HDF5 file stored uncompressed at `start..start + len` of a mapped archive, read in
    /// place (a `.keras` archive's `model.weights.h5`, which Keras stores uncompressed).
    pub fn in_map(label: PathBuf, map: ReadMap, start: usize, len: usize) -> Result<H5> {
        let map = Arc::new(map);
        let member = start
            .checked_add(len)
            .and_then(|end| MapSlice::new(map.clone(), start..end))
            .ok_or_else(|| bad(&label, "the archive says it lies beyond the archive's end"))?;
        let file = Hdf5File::from_owner(member, options()).map_err(|e| bad(&label, e))?;
        Ok(H5 {
            file,
            map: Some(map),
            label,
        })
    }

    pub fn from_bytes(label: PathBuf, bytes: Vec<u8>) -> Result<H5> {
        let file = Hdf5File::from_vec_with_options(bytes, options()).map_err(|e| bad(&label, e))?;
        Ok(H5 {
            file,
            map: None,
            label,
        })
    }

    pub fn root(&self) -> Result<Group> {
        self.file.root_group().map_err(|e| self.err(e))
    }

    /// The file cannot be parsed as HDF5.
    pub fn err(&self, e: impl std::fmt::Display) -> Error {
        bad(&self.label, e)
    }

    /// The file parses but holds something a Keras file does not.
    pub fn invalid(&self, detail: impl Into<String>) -> Error {
        Error::Checkpoint {
            path: self.label.clone(),
            detail: detail.into(),
        }
    }

    /// The child group `name`, or None when there is none (or it is a dataset).
    pub fn child(&self, g: &Group, name: &str) -> Result<Option<Group>> {
        let (groups, _) = g.member_names().map_err(|e| self.err(e))?;
        if !groups.iter().any(|n| n == name) {
            return Ok(None);
        }
        g.group(name).map(Some).map_err(|e| self.err(e))
    }

    /// Names of the child groups and datasets, in the file's order.
    pub fn members(&self, g: &Group) -> Result<(Vec<String>, Vec<String>)> {
        g.member_names().map_err(|e| self.err(e))
    }

    /// A string attribute (fixed or variable length), None when absent.
    pub fn attr_string(&self, g: &Group, name: &str) -> Result<Option<String>> {
        match g.attribute(name) {
            Ok(a) => a
                .read_string()
                .map(Some)
                .map_err(|e| self.attr_err(name, e)),
            Err(H5Error::AttributeNotFound(_)) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// A string-array attribute, None when absent. Keras writes an empty list as a float
    /// array of length 0, which reads as no strings.
    pub fn attr_strings(&self, g: &Group, name: &str) -> Result<Option<Vec<String>>> {
        match g.attribute(name) {
            Ok(a) if a.shape.iter().product::<u64>() == 0 => Ok(Some(vec![])),
            Ok(a) => a
                .read_strings()
                .map(Some)
                .map_err(|e| self.attr_err(name, e)),
            Err(H5Error::AttributeNotFound(_)) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn attr_err(&self, name: &str, e: H5Error) -> Error {
        self.err(format!("attribute '{name}' is not a string ({e})"))
    }

    pub fn dataset(&self, g: &Group, name: &str) -> Result<Dataset> {
        g.dataset(name).map_err(|e| self.err(e))
    }

    /// A float dataset (f16, bfloat16 as Keras marks it, f32, f64), checked — its shape and type
    /// — but not read: its values are read when a weight is loaded (see `Stored::read`).
    pub fn stored(&self, ds: &Dataset) -> Result<Stored> {
        let name = ds.name().to_string();
        let shape: Vec<usize> = ds
            .shape()
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| self.err(format!("'{name}': dimension {d}"))))
            .collect::<Result<_>>()?;
        // Checked here, before anything is allocated for it (at most 8 bytes a value).
        shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(8))
            .filter(|&bytes| bytes <= 2 * MAX_READ_BYTES)
            .ok_or_else(|| self.err(format!("'{name}': shape {shape:?} is beyond any weight")))?;
        let bf16 = ds
            .attribute("dtype")
            .ok()
            .and_then(|a| a.read_string().ok())
            .is_some_and(|s| s == "bfloat16");
        let stored = match ds.dtype() {
            hdf5_reader::Datatype::FloatingPoint { size: 4, .. } => StoredType::F32,
            hdf5_reader::Datatype::FloatingPoint { size: 8, .. } => StoredType::F64,
            hdf5_reader::Datatype::FloatingPoint { size: 2, .. } if bf16 => StoredType::BF16,
            hdf5_reader::Datatype::FloatingPoint { size: 2, .. } => StoredType::F16,
            hdf5_reader::Datatype::FixedPoint { size: 2, .. } if bf16 => StoredType::BF16,
            other => {
                let what = match other {
                    hdf5_reader::Datatype::FixedPoint { size, signed, .. } => format!(
                        "{}-bit {}integer",
                        u32::from(*size) * 8,
                        if *signed { "" } else { "unsigned " }
                    ),
                    hdf5_reader::Datatype::FloatingPoint { size, .. } => {
                        format!("{}-bit float", u32::from(*size) * 8)
                    }
                    _ => "non-numeric".to_string(),
                };
                return Err(self.invalid(format!(
                    "'{name}' holds {what} values; Keras weights are float16, bfloat16, \
                     float32 or float64: re-save the model from Keras"
                )));
            }
        };
        Ok(Stored {
            label: self.label.clone(),
            map: self.map.clone(),
            dataset: ds.clone(),
            shape,
            dtype: stored,
        })
    }
}

/// A checked float dataset, read on demand. It holds the file open (the dataset keeps the
/// mapping or the bytes alive), so a model's weights stay readable as long as it lives.
#[derive(Clone)]
pub struct Stored {
    label: PathBuf,
    /// Released once the values are read, so that the file's pages do not stay resident beside
    /// the tensors (the next read faults what it needs back from the page cache).
    map: Option<Arc<ReadMap>>,
    dataset: Dataset,
    pub shape: Vec<usize>,
    pub dtype: StoredType,
}

impl Stored {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values as f32.
    pub fn read(&self) -> Result<HostTensor> {
        let data = if self.dtype == StoredType::F32 {
            // Straight into the result: no second copy of a 400 MB kernel.
            let mut v = vec![0f32; self.numel()];
            self.dataset
                .read_into(&mut v)
                .map_err(|e| bad(&self.label, e))?;
            v
        } else {
            let bytes = self
                .dataset
                .read_native_bytes()
                .map_err(|e| bad(&self.label, e))?;
            if bytes.len() != self.numel() * self.dtype.size() {
                return Err(Error::Checkpoint {
                    path: self.label.clone(),
                    detail: format!(
                        "'{}' has {} bytes for shape {:?}; the file is damaged: save it again",
                        self.dataset.name(),
                        bytes.len(),
                        self.shape
                    ),
                });
            }
            // read_native_bytes gave native order; decode_le reads little-endian, which is
            // native on every platform convscope builds for.
            decode_le(&bytes, self.dtype)
        };
        if let Some(map) = &self.map {
            map.release(0..map.len());
        }
        Ok(HostTensor {
            data,
            shape: self.shape.clone(),
        })
    }
}

fn bad(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        detail: format!(
            "cannot read it as HDF5 ({e}); the file is damaged or truncated: save or download \
             it again"
        ),
    }
}

/// Whether the bytes start like an HDF5 file.
pub fn sniff(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use hdf5_writer::{DatasetBuilder, Hdf5Builder, WriteOptions};

    /// Reading a dataset lets the file's pages go: the values live in the tensor, and a model's
    /// weights are not resident twice.
    #[test]
    fn reading_a_weight_releases_the_files_pages() {
        let values: Vec<f32> = (0..1 << 20).map(|i| (i % 977) as f32 - 400.0).collect();
        let bytes = Hdf5Builder::new()
            .dataset(DatasetBuilder::typed_data::<f32>("w", vec![1 << 20], &values).unwrap())
            .into_plan()
            .unwrap()
            .encode(WriteOptions::default())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.h5");
        std::fs::write(&path, bytes).unwrap();

        let h5 = H5::open(&path).unwrap();
        let stored = h5
            .stored(&h5.dataset(&h5.root().unwrap(), "w").unwrap())
            .unwrap();
        let map = h5.map.clone().unwrap();
        let checksum = map.iter().fold(0u8, |a, &b| a ^ b); // faults every page in
        assert!(map.resident_kb().unwrap() >= 4096, "{checksum}");
        assert_eq!(stored.read().unwrap().data, values);
        assert_eq!(map.resident_kb(), Some(0));
        assert_eq!(stored.read().unwrap().data, values);
    }
}
