//! Keras files without a config: weights-only HDF5 (the legacy layout keras.applications
//! ships, Keras 3's `save_weights`) and sharded weights (a `*.weights.json` map and its
//! shards), matched to the keras.applications family they fit; and `--arch keras:NAME`.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::{
    apps, assemble, bad, build, config, convert, h5, sniff, weights, Form, MAX_CONFIG_BYTES,
};
use crate::error::{Error, Result};
use crate::model::{describe, Graph};

/// A sharded weights map (`*.weights.json`).
pub(super) fn read_map(path: &Path) -> Result<Value> {
    read_json(path, "a sharded Keras weights map (.weights.json)")
}

/// A JSON file of at most `MAX_CONFIG_BYTES`; `what` says what it should be.
pub(super) fn read_json(path: &Path, what: &str) -> Result<Value> {
    let (f, size) = crate::files::open_regular(path, what)?;
    if size > MAX_CONFIG_BYTES {
        return Err(bad(path, format!("is {size} bytes, too large for {what}")));
    }
    let mut text = String::new();
    f.take(MAX_CONFIG_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| bad(path, format!("is not valid JSON ({e})")))
}

/// The shard files a `*.weights.json` map names, in order, each a plain file name next to it.
fn shard_map(path: &Path) -> Result<Vec<String>> {
    let v = read_map(path)?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bad(
                path,
                "is JSON without a 'weight_map', so not a sharded Keras weights map",
            )
        })?;
    let mut shards: Vec<String> = vec![];
    for entry in map.values() {
        let names: Vec<&str> = match entry {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        for name in names {
            // A shard is a file beside the map: never a path elsewhere.
            let plain =
                !name.is_empty() && !name.contains(['/', '\\']) && name != ".." && name != ".";
            if !plain {
                return Err(bad(
                    path,
                    format!(
                    "names the shard '{}', which is not a file name beside it; the map is damaged",
                    crate::text::clip(&crate::text::escape_controls(name), 80)
                ),
                ));
            }
            if !shards.iter().any(|s| s == name) {
                shards.push(name.to_string());
            }
        }
    }
    if shards.is_empty() {
        return Err(bad(path, "names no shard files"));
    }
    Ok(shards)
}

/// Sharded Keras 3 weights (weights only): every shard read into one set of variables.
pub(super) fn open_sharded(path: &Path, arch: Option<&'static apps::Family>) -> Result<Graph> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found = weights::Found::default();
    for shard in shard_map(path)? {
        let h5 = h5::H5::open(&dir.join(&shard))?;
        let root = h5.root()?;
        weights::keras3_into(&h5, &root, &mut found)?;
    }
    let mut graph = identify(path, found, "sharded Keras 3 weights", arch)?;
    graph.sample_image = Some(crate::import::zoo::SAMPLE);
    Ok(graph)
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
pub(super) fn weights_only(
    path: &Path,
    h5: &h5::H5,
    root: &hdf5_reader::group::Group,
    arch: Option<&'static apps::Family>,
) -> Result<Graph> {
    let (found, form) = weights_only_vars(h5, root)?;
    identify(path, found, form, arch)
}

/// Variables without a config: the keras.applications family they fit (see `weights_only`).
fn identify(
    path: &Path,
    mut found: weights::Found,
    form: &str,
    arch: Option<&'static apps::Family>,
) -> Result<Graph> {
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
        found.rename_in_order(family.weighted_layers(top));
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
    let want = f.sizes[usize::from(top)]
        .get_or_init(|| {
            let graph = family_graph(f, top, 1000, f.size, 0).ok()?;
            let rows = describe::summary_rows(&graph);
            Some(rows.iter().map(|r| r.params).filter(|&p| p > 0).collect())
        })
        .as_ref()?;
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
        match sniff(path) {
            Some(Form::Hdf5) => {}
            Some(Form::Sharded) => return open_sharded(path, Some(family)),
            _ => return Err(bad(path, "is not a Keras weights file (.h5, .weights.json); --arch keras:NAME takes the weights keras.applications or model.save_weights writes")),
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
