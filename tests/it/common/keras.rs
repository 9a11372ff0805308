//! keras.applications' weights without shipping them: `tests/fixtures/make_keras.py`'s weight
//! rule implemented again, and writers of the Keras file forms (legacy weights-only, legacy
//! full model, Keras 3 archive) filled by it, through `hdf5-writer`.

use std::io::Write;
use std::path::Path;

use convscope::model::build::fnv1a;
use convscope::model::describe::{summary_rows, weight_infos};
use convscope::model::{Graph, LayerId};
use hdf5_writer::{AttributeBuilder, DatasetBuilder, Hdf5Builder, WriteOptions};

/// The rule for variable `key` = `LAYER/VAR` (see make_keras.py's `keras_rule`).
pub fn keras_rule(key: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let h = fnv1a(key.as_bytes());
    let var = key.rsplit('/').next().unwrap_or(key);
    (0..n)
        .map(|i| {
            let u = super::rule::rule_unit(h, i);
            let v = match var {
                "moving_variance" | "variance" => 0.5 + u,
                "gamma" => 0.8 + 0.4 * u,
                "count" => 1.0,
                _ if shape.len() >= 2 => {
                    let fan_in = (n / shape[shape.len() - 1]).max(1);
                    (2.0 * u - 1.0) * (6.0 / fan_in as f64).sqrt()
                }
                _ => 0.2 * u - 0.1,
            };
            v as f32
        })
        .collect()
}

/// The rule's input, NHWC `[1, size, size, 3]`, as convscope holds it (NCHW).
pub fn rule_input_nchw(size: usize) -> Vec<f32> {
    let nhwc: Vec<f32> = (0..3 * size * size)
        .map(|i| (((i * 7919) % 2001) as f64 / 1000.0 - 1.0) as f32)
        .collect();
    let mut out = vec![0f32; nhwc.len()];
    for p in 0..size * size {
        for c in 0..3 {
            out[c * size * size + p] = nhwc[p * 3 + c];
        }
    }
    out
}

/// A layer's variables as a Keras file holds them: `(short name, Keras shape, values)`.
pub struct LayerVars {
    pub name: String,
    pub vars: Vec<(String, Vec<usize>, Vec<f32>)>,
}

/// Every layer with variables of `graph` (a Keras graph), in summary order, filled by the rule.
pub fn rule_vars(graph: &Graph) -> Vec<LayerVars> {
    summary_rows(graph)
        .into_iter()
        .filter(|r| r.params > 0)
        .map(|r| {
            let vars = weight_infos(graph, LayerId(r.id), false)
                .unwrap()
                .into_iter()
                .filter(|w| w.counted)
                .map(|w| {
                    let short = w.name.rsplit('/').next().unwrap().to_string();
                    let key = format!("{}/{short}", r.name);
                    let values = keras_rule(&key, &w.shape);
                    (short, w.shape, values)
                })
                .collect();
            LayerVars { name: r.name, vars }
        })
        .collect()
}

fn f32_dataset(path: &str, shape: &[usize], values: &[f32]) -> DatasetBuilder {
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    DatasetBuilder::typed_data::<f32>(path, dims, values).unwrap()
}

/// The legacy weights-only layout keras.applications ships (`layer_names` at the root, per-layer
/// `weight_names`, Keras 2's `NAME/VAR:0` names), each layer's group named by `rename` (a file
/// from another session numbers auto-named layers differently).
pub fn write_legacy(path: &Path, layers: &[LayerVars], rename: impl Fn(&str) -> String) {
    let b = legacy_layers(Hdf5Builder::new(), "", layers, rename);
    std::fs::write(path, encode(b)).unwrap();
}

/// A legacy full model (`model.save("m.h5")`): the `model_config` attribute (a compact one: at
/// most 64 KB, which VGG's configs are) and the same layout under `model_weights`.
pub fn write_legacy_full(path: &Path, config: &str, layers: &[LayerVars]) {
    let b = Hdf5Builder::new()
        .attribute(AttributeBuilder::fixed_string("model_config", config))
        .attribute(AttributeBuilder::fixed_string("keras_version", "3.15.1"))
        .attribute(AttributeBuilder::fixed_string("backend", "tensorflow"));
    let b = legacy_layers(b, "model_weights/", layers, |n| n.to_string());
    std::fs::write(path, encode(b)).unwrap();
}

/// The legacy layout's groups under `prefix` (empty: the root), `layer_names` on the group.
fn legacy_layers(
    mut b: Hdf5Builder,
    prefix: &str,
    layers: &[LayerVars],
    rename: impl Fn(&str) -> String,
) -> Hdf5Builder {
    let names: Vec<String> = layers.iter().map(|l| rename(&l.name)).collect();
    for (l, name) in layers.iter().zip(&names) {
        let wnames: Vec<String> = l
            .vars
            .iter()
            .map(|(v, _, _)| format!("{name}/{v}:0"))
            .collect();
        for ((_, shape, values), w) in l.vars.iter().zip(&wnames) {
            b = b.dataset(f32_dataset(&format!("{prefix}{name}/{w}"), shape, values));
        }
        b = b.group_attribute(
            format!("{prefix}{name}"),
            AttributeBuilder::fixed_string_vector("weight_names", &wnames).unwrap(),
        );
    }
    let layer_names = AttributeBuilder::fixed_string_vector("layer_names", &names).unwrap();
    match prefix.trim_end_matches('/') {
        "" => b.attribute(layer_names),
        group => b.group_attribute(group, layer_names),
    }
}

fn encode(b: Hdf5Builder) -> Vec<u8> {
    b.into_plan()
        .unwrap()
        .encode(WriteOptions::default())
        .unwrap()
}

/// Keras 3's object layout (`layers/NAME/vars/I`, the layer's name on `vars`), as HDF5 bytes.
pub fn keras3_weights(layers: &[LayerVars]) -> Vec<u8> {
    let mut b = Hdf5Builder::new();
    for l in layers {
        for (i, (_, shape, values)) in l.vars.iter().enumerate() {
            b = b.dataset(f32_dataset(
                &format!("layers/{}/vars/{i}", l.name),
                shape,
                values,
            ));
        }
        b = b.group_attribute(
            format!("layers/{}/vars", l.name),
            AttributeBuilder::fixed_string("name", &l.name),
        );
    }
    encode(b)
}

/// A `.keras` archive: `config.json`, `metadata.json`, `model.weights.h5`.
pub fn write_archive(path: &Path, config: &str, layers: &[LayerVars]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [
        ("metadata.json", br#"{"keras_version": "3.15.1"}"#.to_vec()),
        ("config.json", config.as_bytes().to_vec()),
        ("model.weights.h5", keras3_weights(layers)),
    ] {
        w.start_file(name, opts).unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap();
}

/// Sharded Keras 3 weights (`save_weights("STEM.weights.json", max_shard_size=…)`): the map and
/// two shards, the first half of the layers in the first, the rest in the second, and the
/// middle layer's variables split between them (its name only in the first, as Keras leaves
/// it). Returns the map's path.
pub fn write_sharded(dir: &Path, stem: &str, layers: &[LayerVars]) -> std::path::PathBuf {
    let half = layers.len() / 2;
    let shard = |i: usize| format!("{stem}_{i:05}.weights.h5");
    let mut builders = [Hdf5Builder::new(), Hdf5Builder::new()];
    let mut map = serde_json::Map::new();
    for (k, l) in layers.iter().enumerate() {
        let home = usize::from(k >= half);
        let mut used = vec![];
        for (i, (_, shape, values)) in l.vars.iter().enumerate() {
            // The middle layer: its first variable in shard 0, the others in shard 1.
            let s = if k == half { usize::from(i > 0) } else { home };
            let b = std::mem::take(&mut builders[s]);
            builders[s] = b.dataset(f32_dataset(
                &format!("layers/{}/vars/{i}", l.name),
                shape,
                values,
            ));
            if !used.contains(&s) {
                used.push(s);
            }
        }
        let first = used[0];
        let b = std::mem::take(&mut builders[first]);
        builders[first] = b.group_attribute(
            format!("layers/{}/vars", l.name),
            AttributeBuilder::fixed_string("name", &l.name),
        );
        let names: Vec<serde_json::Value> = used.iter().map(|&s| shard(s).into()).collect();
        map.insert(
            format!("/layers/{}/vars", l.name),
            serde_json::Value::Array(names),
        );
    }
    for (i, b) in builders.into_iter().enumerate() {
        std::fs::write(dir.join(shard(i)), encode(b)).unwrap();
    }
    let json = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    let path = dir.join(format!("{stem}.weights.json"));
    std::fs::write(&path, json.to_string()).unwrap();
    path
}
