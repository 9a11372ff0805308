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
mod weights;

use std::io::{Read, Seek};
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{describe, Graph};

/// The Keras file forms, told apart by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A Keras 3 `.keras` zip archive (`config.json` + `model.weights.h5`).
    Archive,
    /// An HDF5 file: a legacy full model (`model_config` attribute) or weights only.
    Hdf5,
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
    // The weights file is read whole: at most the archive's size.
    let bytes = read_member(&mut zip, path, "model.weights.h5", size)?.ok_or_else(|| {
        bad(
            path,
            "has no model.weights.h5: the archive is incomplete; save the model again",
        )
    })?;
    let h5 = h5::H5::from_bytes(path.join("model.weights.h5"), bytes)?;
    let root = h5.root()?;
    let mut found = weights::keras3(&h5, &root)?;
    build(
        path,
        &config,
        version.as_deref(),
        &mut found,
        "Keras 3 archive",
    )
}

fn open_hdf5(path: &Path) -> Result<Graph> {
    let h5 = h5::H5::open(path)?;
    let root = h5.root()?;
    let Some(config) = h5.attr_string(&root, "model_config")? else {
        return weights_only(path, &h5, &root, None);
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
    let mut found = weights::legacy(&h5, &group)?;
    build(
        path,
        &config,
        version.as_deref(),
        &mut found,
        "legacy Keras HDF5",
    )
}

/// The variables of a weights-only file: the legacy layout (`layer_names` at the root, as
/// keras.applications ships them) or Keras 3's object tree (`save_weights`).
fn weights_only_vars(
    h5: &h5::H5,
    root: &hdf5_reader::group::Group,
) -> Result<(weights::Found, &'static str)> {
    if weights::chunked_strings(h5, root, "layer_names")?.is_some() {
        Ok((weights::legacy(h5, root)?, "legacy Keras weights"))
    } else {
        Ok((weights::keras3(h5, root)?, "Keras 3 weights"))
    }
}

/// A weights-only file: the keras.applications family `arch` names, or the one whose layers
/// the file has; with its top when the file has it, and the file's class count. A legacy file
/// is matched to the family as Keras loads it, by position: its layers with weights in order,
/// each the size of the family's layer there (names made by a session's counters, such as
/// InceptionV3's `conv2d_12`, need not agree).
fn weights_only(
    path: &Path,
    h5: &h5::H5,
    root: &hdf5_reader::group::Group,
    arch: Option<&'static apps::Family>,
) -> Result<Graph> {
    let (mut found, form) = weights_only_vars(h5, root)?;
    let legacy = form.starts_with("legacy");
    found.path_first = !legacy;
    let sizes = found.sizes();
    let names = found.names();
    // A Keras 3 file names its layers: the family whose layers they are, any class count.
    let by_name = match (legacy, arch) {
        (false, None) => apps::infer(&names).map(|(f, top)| {
            let classes = found
                .shape_of("predictions", 0)
                .and_then(|s| s.last().copied())
                .unwrap_or(1000);
            (f, top, classes)
        }),
        _ => None,
    };
    let matched = by_name.or_else(|| match arch {
        Some(f) => [true, false]
            .into_iter()
            .find_map(|top| fits(f, top, &sizes, legacy).map(|classes| (f, top, classes))),
        None => apps::FAMILIES.iter().find_map(|f| {
            [true, false]
                .into_iter()
                .find_map(|top| fits(f, top, &sizes, legacy).map(|classes| (f, top, classes)))
        }),
    });
    let Some((family, top, classes)) = matched else {
        let what = match arch {
            Some(f) => format!("do not fit keras:{} (with or without its top)", f.name),
            None => format!(
                "match none of the keras.applications families convscope knows ({})",
                apps::names().join(", ")
            ),
        };
        return Err(bad(
            path,
            format!(
                "is a Keras weights-only file (no model config inside) whose {} layers with \
                 weights {what}; open the full model instead (model.save('m.keras')), or name \
                 the family with --arch keras:NAME",
                sizes.len().max(names.len()),
            ),
        ));
    };
    if legacy {
        found.rename_in_order(&family.weighted_layers(top));
    }
    let config = family.build_config(top, classes, family.size);
    let what = format!(
        "{form}; keras.applications {}{}, {}",
        family.keras,
        if top { "" } else { " without its top" },
        if arch.is_some() {
            "as --arch says"
        } else {
            "inferred from the file's layers"
        }
    );
    let mut graph = build(path, &config, None, &mut found, &what)?;
    // An ImageNet family: without --image it opens on the zoo's photograph.
    graph.sample_image = Some(crate::import::zoo::SAMPLE);
    graph.preprocess = Some(family.preprocess);
    Ok(graph)
}

/// Whether a file's layer sizes (values per layer with weights) are the family's, with or
/// without its top: in order for a legacy file, as a multiset for a Keras 3 one (whose groups
/// are stored by name). With the top, the classifier may have any number of classes: returns
/// that number.
fn fits(f: &apps::Family, top: bool, sizes: &[usize], ordered: bool) -> Option<usize> {
    let count = f.weighted_layers(top).len();
    if count != sizes.len() || count == 0 {
        return None;
    }
    let graph = family_graph(f, top, 1000, f.size, 0).ok()?;
    let want: Vec<usize> = describe::summary_rows(&graph)
        .iter()
        .map(|r| r.params)
        .filter(|&p| p > 0)
        .collect();
    let (mut have, mut want_sorted) = (sizes.to_vec(), want.clone());
    // The classifier (last) may differ: `in·N + N` values for N classes.
    let classes = if top && ordered {
        // The family's classifier has (fan_in + 1)·1000 values.
        let (last, per_class) = (have.pop()?, want_sorted.pop()? / 1000);
        if !last.is_multiple_of(per_class) {
            return None;
        }
        last / per_class
    } else {
        1000
    };
    if !ordered {
        have.sort_unstable();
        want_sorted.sort_unstable();
    }
    (have == want_sorted).then_some(classes)
}

/// `--arch keras:NAME`: the family with the weights of `weights` (any Keras form), or with
/// seeded random weights (for exploring the structure) when there is no file.
pub fn open_arch(
    name: &str,
    weights: Option<&Path>,
    classes: Option<usize>,
    seed: u64,
) -> Result<Graph> {
    let family = apps::find(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown Keras architecture 'keras:{name}'; known: {}",
            apps::names()
                .iter()
                .map(|n| format!("keras:{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if let Some(path) = weights {
        if sniff(path) != Some(Form::Hdf5) {
            return Err(bad(path, "is not a Keras HDF5 weights file (.h5); --arch keras:NAME takes the weights keras.applications or model.save_weights writes"));
        }
        let h5 = h5::H5::open(path)?;
        let root = h5.root()?;
        if h5.attr_string(&root, "model_config")?.is_some() {
            return Err(Error::Usage(format!(
                "{} is a full Keras model: open it without --arch",
                path.display()
            )));
        }
        return weights_only(path, &h5, &root, Some(family));
    }
    family_graph(family, true, classes.unwrap_or(1000), family.size, seed)
}

/// A keras.applications family with seeded random weights: with its top (`classes` outputs)
/// or without, at `size`×`size`.
pub fn family_graph(
    family: &apps::Family,
    top: bool,
    classes: usize,
    size: usize,
    seed: u64,
) -> Result<Graph> {
    let config = family.build_config(top, classes, size);
    let model =
        config::parse(&config).map_err(|e| Error::Usage(format!("keras:{}: {e}", family.name)))?;
    let mut found = weights::Found::default();
    let mut cx = convert::Convert::new(&mut found, true, false);
    cx.random = Some(seed);
    let outputs = cx.model(&model, None, "", 0)?;
    let mut graph = assemble(&model.name, cx, &outputs);
    graph.sample_image = Some(crate::import::zoo::SAMPLE);
    graph.preprocess = Some(family.preprocess);
    graph.origin = Some(format!(
        "keras.applications {}{} with RANDOM weights (seed {seed}): for exploring the \
         structure; give --weights FILE for trained ones",
        family.keras,
        if top { "" } else { " without its top" },
    ));
    graph.validate()?;
    Ok(graph)
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
