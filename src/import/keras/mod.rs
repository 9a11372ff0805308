//! Keras models, read without TensorFlow, Python or libhdf5: Keras 3 `.keras` archives and
//! legacy full-model `.h5` files. The graph comes from the model's own stored config
//! (`config.rs`), the values from its HDF5 weights (`h5.rs`, `weights.rs`); `convert.rs` and
//! the layer files make convscope's graph, shown as Keras shows it (names, classes, NHWC
//! shapes, parameter counts, `get_config()` dicts).

pub mod apps;
mod config;
mod conv;
mod convert;
pub mod h5;
mod layers;
mod layout;
mod norm;
mod paths;
mod weights;
mod weights_only;

pub use weights_only::{family_graph, open_arch};
use weights_only::{open_sharded, read_map, weights_only};

use std::io::{Read, Seek};
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::Graph;

/// The Keras file forms, told apart by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A Keras 3 `.keras` zip archive (`config.json` + `model.weights.h5`).
    Archive,
    /// An HDF5 file: a legacy full model (`model_config` attribute) or weights only.
    Hdf5,
    /// Sharded Keras 3 weights: a `*.weights.json` map (`weight_map`) naming the
    /// `*_00000.weights.h5` shards next to it (`save_weights(…, max_shard_size=…)`).
    Sharded,
    /// A Keras 3 model saved as a folder (`model.save(DIR, zipped=False)`, the form Keras
    /// keeps on the Hugging Face Hub): the archive's members as files.
    Folder,
}

/// Whether a directory holds a Keras 3 model (`config.json` and its weights).
pub fn sniff_folder(dir: &Path) -> Option<Form> {
    let has = |name: &str| dir.join(name).is_file();
    (has("config.json") && (has("model.weights.h5") || has("model.weights.npz")))
        .then_some(Form::Folder)
}

/// What a file's first bytes say it is, among the Keras forms. A zip counts as a Keras
/// archive only when it holds `config.json` and no `data.pkl` (a PyTorch checkpoint's zip).
pub fn sniff(path: &Path) -> Option<Form> {
    let (mut f, _) = crate::files::open_regular(path, "a model file").ok()?;
    let mut head = [0u8; 8];
    let n = f.read(&mut head).ok()?;
    if h5::sniff(&head[..n]) {
        return Some(Form::Hdf5);
    }
    if head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return read_map(path)
            .ok()
            .filter(|v| v.get("weight_map").is_some())
            .map(|_| Form::Sharded);
    }
    if !head.starts_with(b"PK\x03\x04") {
        return None;
    }
    f.rewind().ok()?;
    let zip = zip::ZipArchive::new(std::io::BufReader::new(f)).ok()?;
    let names = member_names(&zip);
    let keras =
        names.iter().any(|n| n == "config.json") && !names.iter().any(|n| n.ends_with("data.pkl"));
    keras.then_some(Form::Archive)
}

/// The archive's member names (a name that is not valid text is left out).
fn member_names<R: Read + Seek>(zip: &zip::ZipArchive<R>) -> Vec<String> {
    zip.file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect()
}

/// Opens a Keras file of either form.
pub fn open(path: &Path, form: Form) -> Result<Graph> {
    match form {
        Form::Archive => open_archive(path),
        Form::Hdf5 => open_hdf5(path),
        Form::Sharded => open_sharded(path, None),
        Form::Folder => open_folder(path),
    }
}

fn bad(path: &Path, detail: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Members larger than this are not a Keras config (VGG16's is 20 KB).
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Where a member stored without compression lies in the archive, as (offset, length).
fn stored_extent(zip: &mut zip::ZipArchive<std::fs::File>, name: &str) -> Option<(usize, usize)> {
    let f = zip.by_name(name).ok()?;
    if f.compression() != zip::CompressionMethod::Stored || f.encrypted() {
        return None;
    }
    let start = usize::try_from(f.data_start()?).ok()?;
    Some((start, usize::try_from(f.size()).ok()?))
}

fn read_member(
    zip: &mut zip::ZipArchive<std::fs::File>,
    path: &Path,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>> {
    let mut f = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(bad(
                path,
                format!(
                    "cannot read '{name}' in the archive ({e}); the file is damaged: save it again"
                ),
            ))
        }
    };
    if f.size() > limit {
        return Err(bad(
            path,
            format!(
                "'{name}' in the archive claims {} bytes; that is not a Keras file",
                f.size()
            ),
        ));
    }
    let mut out = Vec::new();
    // `take` bounds what a lying size field could make us inflate.
    (&mut f)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            bad(
                path,
                format!(
                    "cannot read '{name}' in the archive ({e}); the file is damaged: save it again"
                ),
            )
        })?;
    if out.len() as u64 > limit {
        return Err(bad(
            path,
            format!(
                "'{name}' in the archive inflates past {limit} bytes; that is not a Keras file"
            ),
        ));
    }
    Ok(Some(out))
}

fn open_archive(path: &Path) -> Result<Graph> {
    let (file, size) = crate::files::open_regular(path, "a Keras model (.keras)")?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        bad(
            path,
            format!("is not a readable zip archive ({e}); the file is damaged: save it again"),
        )
    })?;
    let config = read_member(&mut zip, path, "config.json", MAX_CONFIG_BYTES)?
        .ok_or_else(|| bad(path, "has no config.json, so it is not a Keras model"))?;
    let config: Value = serde_json::from_slice(&config)
        .map_err(|e| bad(path, format!("config.json is not valid JSON ({e})")))?;
    let version = read_member(&mut zip, path, "metadata.json", MAX_CONFIG_BYTES)?
        .and_then(|m| serde_json::from_slice::<Value>(&m).ok())
        .and_then(|m| {
            m.get("keras_version")
                .and_then(Value::as_str)
                .map(String::from)
        });
    let names = member_names(&zip);
    if names.iter().any(|n| n.ends_with(".weights.json")) {
        return Err(bad(path, "stores its weights in shards (a .weights.json map), which convscope does not read yet; save the model again with unsharded weights (model.save without max_shard_size)"));
    }
    if names.iter().any(|n| n == "model.weights.npz") {
        return Err(bad(path, "stores its weights as model.weights.npz, which convscope does not read yet; save it as a .keras file with the default HDF5 weights"));
    }
    let h5 = match stored_extent(&mut zip, "model.weights.h5") {
        // Stored uncompressed, as Keras writes it: read in place, each weight when loaded.
        Some((start, len)) => {
            let map = crate::files::ReadMap::of_file(path, "a Keras model (.keras)")?;
            h5::H5::in_map(path.join("model.weights.h5"), map, start, len)?
        }
        // Compressed (re-zipped by another tool): inflated whole, at most the archive's size.
        None => {
            let bytes =
                read_member(&mut zip, path, "model.weights.h5", size)?.ok_or_else(|| {
                    bad(
                        path,
                        "has no model.weights.h5: the archive is incomplete; save the model again",
                    )
                })?;
            h5::H5::from_bytes(path.join("model.weights.h5"), bytes)?
        }
    };
    keras3_model(path, &config, version.as_deref(), &h5, "Keras 3 archive")
}

/// A Keras 3 model from its config and its weights file (an archive's member, or a folder's).
fn keras3_model(
    path: &Path,
    config: &Value,
    version: Option<&str>,
    h5: &h5::H5,
    form: &str,
) -> Result<Graph> {
    let root = h5.root()?;
    let mut found = weights::keras3(h5, &root)?;
    build(path, config, version, &mut found, form)
}

fn open_folder(dir: &Path) -> Result<Graph> {
    let read_json = |name: &str| -> Result<Option<Value>> {
        let file = dir.join(name);
        if !file.exists() {
            return Ok(None);
        }
        weights_only::read_json(&file, "a Keras model's JSON file").map(Some)
    };
    let config = read_json("config.json")?
        .ok_or_else(|| bad(dir, "has no config.json, so it is not a Keras model"))?;
    let version = read_json("metadata.json")
        .ok()
        .flatten()
        .and_then(|m| m.get("keras_version")?.as_str().map(String::from));
    if !dir.join("model.weights.h5").exists() {
        return Err(bad(dir, "stores its weights as model.weights.npz, which convscope does not read yet; save the model with the default HDF5 weights"));
    }
    let h5 = h5::H5::open(&dir.join("model.weights.h5"))?;
    keras3_model(
        dir,
        &config,
        version.as_deref(),
        &h5,
        "Keras 3 model folder",
    )
}

fn open_hdf5(path: &Path) -> Result<Graph> {
    from_hdf5(path, &h5::H5::open(path)?)
}

/// A Keras HDF5 file (a legacy full model, or weights only) from its bytes; `label` names it in
/// messages. The fuzz target's entry: the same path as opening the file.
pub fn parse_hdf5(bytes: Vec<u8>, label: &Path) -> Result<Graph> {
    from_hdf5(label, &h5::H5::from_bytes(label.to_path_buf(), bytes)?)
}

fn from_hdf5(path: &Path, h5: &h5::H5) -> Result<Graph> {
    let root = h5.root()?;
    let Some(config) = h5.attr_string(&root, "model_config")? else {
        return weights_only(path, h5, &root, None);
    };
    let config: Value = serde_json::from_str(&config)
        .map_err(|e| bad(path, format!("its model_config is not valid JSON ({e})")))?;
    let version = h5.attr_string(&root, "keras_version")?;
    let group = h5.child(&root, "model_weights")?.ok_or_else(|| {
        bad(
            path,
            "has a model config but no model_weights group; save the model again",
        )
    })?;
    let mut found = weights::legacy(h5, &group)?;
    build(
        path,
        &config,
        version.as_deref(),
        &mut found,
        "legacy Keras HDF5",
    )
}

/// Whether any layer (in nested models too) is channels_first.
fn channels_first(v: &Value, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    match v {
        Value::Object(o) => {
            o.get("data_format").and_then(Value::as_str) == Some("channels_first")
                || o.values().any(|x| channels_first(x, depth + 1))
        }
        Value::Array(a) => a.iter().any(|x| channels_first(x, depth + 1)),
        _ => false,
    }
}

fn build(
    path: &Path,
    config: &Value,
    version: Option<&str>,
    found: &mut weights::Found,
    form: &str,
) -> Result<Graph> {
    let model = config::parse(config)
        .map_err(|e| bad(path, format!("its model config cannot be read: {e}")))?;
    let keras2 = version.is_some_and(|v| v.starts_with("2.") || v.starts_with("1."));
    let mut cx = convert::Convert::new(found, !channels_first(config, 0), keras2);
    let outputs = cx
        .model(&model, None, "", 0)
        .map_err(|e| in_file(path, e))?;
    let left = cx.left_over();
    if !left.is_empty() {
        return Err(bad(
            path,
            format!(
            "has weights for {} that its config does not have; the weights belong to another model",
            left.join(", ")
        ),
        ));
    }
    let mut notes = std::mem::take(&mut cx.notes);
    let mut graph = assemble(&model.name, cx, &outputs);
    // A keras.applications model saved whole (or used as a base): its preprocessing.
    if let Some(family) = apps::by_model_name(config) {
        graph.preprocess = Some(family.preprocess);
        if !form.contains("keras.applications") {
            notes.push(format!("built on keras.applications {}", family.keras));
        }
    }
    let file = path.file_name().map_or(path.display().to_string(), |f| {
        f.to_string_lossy().into_owned()
    });
    let mut origin = format!(
        "Keras model '{}' from {file} ({form}{})",
        model.name,
        version.map_or(String::new(), |v| format!(", Keras {v}"))
    );
    for n in notes {
        origin.push_str("; ");
        origin.push_str(&n);
    }
    graph.origin = Some(origin);
    graph.validate().map_err(|e| in_file(path, e))?;
    Ok(graph)
}

/// The graph a conversion made.
fn assemble(name: &str, mut cx: convert::Convert, outputs: &[convert::T]) -> Graph {
    Graph {
        name: name.to_string(),
        layers: std::mem::take(&mut cx.layers),
        inputs: std::mem::take(&mut cx.inputs),
        outputs: outputs.iter().map(|t| t.id).collect(),
        labels: None,
        sample_image: None,
        crop_resize: None,
        channels_last: cx.channels_last,
        preprocess: None,
        origin: None,
    }
}

/// A layer's error, said of the file it is in.
fn in_file(path: &Path, e: Error) -> Error {
    match e {
        Error::Graph { layer, detail } => bad(path, format!("layer '{layer}': {detail}")),
        other => other,
    }
}
