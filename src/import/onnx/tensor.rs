//! ONNX `TensorProto` to values convscope understands: float tensors (read lazily when their
//! bytes live in an external file) and integer tensors (shape arithmetic, always small).
//! Every size is checked before anything is allocated: the file is untrusted.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::proto::{data_type as dt, TensorProto};
use crate::error::{Error, Result};
use crate::files::ReadMap;
use crate::model::mapped::Mapped;
use crate::model::weights::{decode_le, f16_to_f32};
use crate::model::{HostTensor, ParamCount, StoredType, Weight, WeightData, WeightRole};

/// Largest tensor we accept, in elements (16 GiB of f32): anything above is a corrupt or
/// hostile file, refused before allocating.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 32;

/// A tensor whose value is known at import time.
#[derive(Clone, Debug)]
pub struct Const {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: ConstData,
    /// True for the graph's initializers (learned tensors), false for folded constants.
    pub initializer: bool,
}

#[derive(Clone, Debug)]
pub enum ConstData {
    Float {
        stored: StoredType,
        data: WeightData,
    },
    Int(Vec<i64>),
}

impl Const {
    pub fn float(name: impl Into<String>, t: HostTensor) -> Const {
        Const {
            name: name.into(),
            shape: t.shape.clone(),
            data: ConstData::Float {
                stored: StoredType::F32,
                data: WeightData::Loaded(Arc::new(t)),
            },
            initializer: false,
        }
    }

    pub fn int(name: impl Into<String>, shape: Vec<usize>, values: Vec<i64>) -> Const {
        Const {
            name: name.into(),
            shape,
            data: ConstData::Int(values),
            initializer: false,
        }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values as integers (float constants must hold whole numbers).
    pub fn ints(&self) -> Result<Vec<i64>> {
        match &self.data {
            ConstData::Int(v) => Ok(v.clone()),
            ConstData::Float { .. } => {
                let t = self.floats()?;
                if t.data.iter().all(|v| v.fract() == 0.0 && v.is_finite()) {
                    Ok(t.data.iter().map(|&v| v as i64).collect())
                } else {
                    Err(Error::graph(&self.name, "expected an integer tensor"))
                }
            }
        }
    }

    /// The values as f32 (reads external data if that is where they are).
    pub fn floats(&self) -> Result<Arc<HostTensor>> {
        match &self.data {
            ConstData::Int(v) => Ok(Arc::new(HostTensor {
                shape: self.shape.clone(),
                data: v.iter().map(|&x| x as f32).collect(),
            })),
            ConstData::Float { stored, data } => self
                .as_weight(WeightRole::Constant, ParamCount::NotCounted, *stored, data)
                .load(),
        }
    }

    /// This constant as a layer weight, keeping lazily-read data lazy.
    pub fn to_weight(&self, role: WeightRole, count: ParamCount) -> Weight {
        match &self.data {
            ConstData::Float { stored, data } => self.as_weight(role, count, *stored, data),
            ConstData::Int(v) => Weight {
                name: self.name.clone(),
                role,
                shape: self.shape.clone(),
                stored: StoredType::F32,
                count,
                data: WeightData::Loaded(Arc::new(HostTensor {
                    shape: self.shape.clone(),
                    data: v.iter().map(|&x| x as f32).collect(),
                })),
            },
        }
    }

    fn as_weight(
        &self,
        role: WeightRole,
        count: ParamCount,
        stored: StoredType,
        data: &WeightData,
    ) -> Weight {
        Weight {
            name: self.name.clone(),
            role,
            shape: self.shape.clone(),
            stored,
            count,
            data: data.clone(),
        }
    }
}

/// Decodes a tensor. `model` is the model file's path: external data is resolved next to it.
/// Float raw data that is a slice of `file` stays there, read when a pass needs it.
pub fn decode(t: &TensorProto, model: &Path, file: &Arc<ReadMap>) -> Result<Const> {
    let bad = |detail: String| Error::BadModel {
        path: model.to_path_buf(),
        detail: format!("tensor '{}': {detail}", t.name),
    };
    let mut shape = Vec::with_capacity(t.dims.len());
    let mut numel: u64 = 1;
    for &d in &t.dims {
        if d < 0 {
            return Err(bad(format!("negative dimension in {:?}", t.dims)));
        }
        numel = numel.saturating_mul(d as u64);
        shape.push(d as usize);
    }
    if numel > MAX_TENSOR_ELEMENTS {
        return Err(bad(format!(
            "declared shape {:?} holds {numel} elements, an absurd size; the file is corrupt",
            t.dims
        )));
    }
    let n = numel as usize;
    let name = t.name.clone();
    let float_type = match t.data_type {
        dt::FLOAT => Some(StoredType::F32),
        dt::FLOAT16 => Some(StoredType::F16),
        dt::BFLOAT16 => Some(StoredType::BF16),
        dt::DOUBLE => Some(StoredType::F64),
        dt::INT64 | dt::INT32 | dt::INT8 | dt::UINT8 | dt::BOOL => None,
        other => {
            return Err(bad(format!(
                "element type {} is not supported (convscope reads float and integer tensors)",
                dt::name(other)
            )))
        }
    };

    if t.data_location == 1 {
        let stored =
            float_type.ok_or_else(|| bad("external data must be a float tensor".into()))?;
        return external(t, model, n, stored).map(|data| Const {
            name,
            shape,
            data: ConstData::Float { stored, data },
            initializer: false,
        });
    }

    let float = |data: Vec<f32>| -> Result<Const> {
        if data.len() != n {
            return Err(bad(format!(
                "holds {} values but its shape {:?} needs {n}",
                data.len(),
                t.dims
            )));
        }
        Ok(Const::float(
            name.clone(),
            HostTensor {
                shape: shape.clone(),
                data,
            },
        ))
    };
    let int = |data: Vec<i64>| -> Result<Const> {
        if data.len() != n {
            return Err(bad(format!(
                "holds {} values but its shape {:?} needs {n}",
                data.len(),
                t.dims
            )));
        }
        Ok(Const::int(name.clone(), shape.clone(), data))
    };

    if !t.raw_data.is_empty() || (n == 0) {
        let raw = &t.raw_data;
        let size = float_type
            .map(StoredType::size)
            .unwrap_or(match t.data_type {
                dt::INT64 => 8,
                dt::INT32 => 4,
                _ => 1,
            });
        if raw.len() as u64 != numel * size as u64 {
            return Err(bad(format!(
                "raw data is {} bytes but shape {:?} of {} needs {} (truncated file?)",
                raw.len(),
                t.dims,
                dt::name(t.data_type),
                numel * size as u64
            )));
        }
        return match (float_type, t.data_type) {
            (Some(stored), _) => match Mapped::slice_of(file, raw, &shape) {
                Some(view) => Ok(Const {
                    name,
                    shape,
                    data: ConstData::Float {
                        stored,
                        data: WeightData::Mapped(view),
                    },
                    initializer: false,
                }),
                None => float(decode_le(raw, stored)),
            },
            (None, dt::INT64) => int(raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
                .collect()),
            (None, dt::INT32) => int(raw
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4")) as i64)
                .collect()),
            (None, dt::INT8) => int(raw.iter().map(|&b| b as i8 as i64).collect()),
            _ => int(raw.iter().map(|&b| b as i64).collect()),
        };
    }
    match t.data_type {
        dt::FLOAT => float(t.float_data.clone()),
        dt::DOUBLE => float(t.double_data.iter().map(|&v| v as f32).collect()),
        // Half types travel as their bit patterns in int32_data.
        dt::FLOAT16 => float(t.int32_data.iter().map(|&v| f16_to_f32(v as u16)).collect()),
        dt::BFLOAT16 => float(
            t.int32_data
                .iter()
                .map(|&v| f32::from_bits((v as u32) << 16))
                .collect(),
        ),
        dt::INT64 => int(t.int64_data.clone()),
        _ => int(t.int32_data.iter().map(|&v| v as i64).collect()),
    }
}

/// Resolves an external-data reference, refusing paths that leave the model's folder.
fn external(t: &TensorProto, model: &Path, n: usize, stored: StoredType) -> Result<WeightData> {
    let bad = |detail: String| Error::BadModel {
        path: model.to_path_buf(),
        detail: format!("tensor '{}': {detail}", t.name),
    };
    let (mut location, mut offset, mut length) = (None, 0u64, None);
    for kv in &t.external_data {
        let num = || {
            kv.value.parse::<u64>().map_err(|_| {
                bad(format!(
                    "external data {} '{}' is not a number",
                    kv.key, kv.value
                ))
            })
        };
        match kv.key.as_str() {
            "location" => location = Some(kv.value.clone()),
            "offset" => offset = num()?,
            "length" => length = Some(num()?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| bad("external data without a location".into()))?;
    let rel = PathBuf::from(&location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad(format!(
            "external data location '{location}' must be a file next to the model"
        )));
    }
    let dir = model.parent().unwrap_or(Path::new("."));
    Ok(WeightData::External {
        file: dir.join(rel),
        model: model.to_path_buf(),
        offset,
        length: length.unwrap_or((n * stored.size()) as u64),
        stored,
    })
}
