//! safetensors files (the Hugging Face format: a JSON header, then raw little-endian arrays):
//! read into host tensors (F32, F16 and BF16 become f32), and written (F32) with string
//! metadata. The header is validated by the `safetensors` crate: offsets inside the buffer, no
//! overlaps, sizes that match the shapes.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::model::weights::decode_le;
use crate::model::{HostTensor, StoredType};

/// Tensors by name, and the header's `__metadata__` strings.
pub struct Contents {
    pub tensors: HashMap<String, HostTensor>,
    pub metadata: HashMap<String, String>,
}

/// Parses a safetensors buffer; `what` names it in messages (a path, "the embedded demo").
pub fn read(bytes: &[u8], what: &str) -> Result<Contents> {
    let bad =
        |detail: String| Error::Input(format!("{what} is not a valid safetensors file: {detail}"));
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        let stored = match view.dtype() {
            Dtype::F32 => StoredType::F32,
            Dtype::F16 => StoredType::F16,
            Dtype::BF16 => StoredType::BF16,
            other => {
                return Err(bad(format!(
                    "tensor {name} is {other:?}; convscope reads F32, F16 and BF16"
                )))
            }
        };
        let tensor = HostTensor {
            shape: view.shape().to_vec(),
            data: decode_le(view.data(), stored),
        };
        tensors.insert(name, tensor);
    }
    Ok(Contents {
        tensors,
        metadata: header.metadata().clone().unwrap_or_default(),
    })
}

/// Serializes float32 tensors with metadata (names sorted, so the bytes depend only on the
/// contents).
pub fn write(
    tensors: &HashMap<String, HostTensor>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = {
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let t = &tensors[n];
                let raw = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (n.clone(), t.shape.clone(), raw)
            })
            .collect()
    };
    let views = bytes
        .iter()
        .map(|(n, shape, raw)| {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), raw)
                .map_err(|e| Error::Input(format!("cannot serialize {n}: {e}")))?;
            Ok((n.clone(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Input(format!("cannot serialize the tensors: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_metadata() {
        let mut t = HashMap::new();
        t.insert(
            "a.weight".to_string(),
            HostTensor {
                shape: vec![2, 3],
                data: vec![1.0, -2.0, 3.5, 0.0, 1e-8, 7.0],
            },
        );
        let meta = HashMap::from([("classes".to_string(), "x,y".to_string())]);
        let bytes = write(&t, meta.clone()).unwrap();
        let back = read(&bytes, "test").unwrap();
        assert_eq!(back.tensors, t);
        assert_eq!(back.metadata, meta);
    }

    #[test]
    fn garbage_is_refused_with_a_message() {
        let e = read(b"not a safetensors file at all", "junk.safetensors")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("junk.safetensors") && e.contains("not a valid safetensors"),
            "{e}"
        );
    }
}
