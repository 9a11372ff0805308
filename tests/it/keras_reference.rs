//! Keras models against Keras itself: the small models of `tests/fixtures/make_keras.py`, in
//! each file form (`.keras` archive, legacy full-model `.h5`), checked for what `model.summary()`
//! shows (names, classes, NHWC output shapes, parameter counts and totals), for the
//! `get_config()` entries, and for every layer's output as `Model(inputs, layer.output)` gives
//! it (the forward within 1e-4 of the reference's largest magnitude: float32 sums in another
//! order over a few layers).

use crate::common::{fixtures, npy_tensor, rel_max_err};
use candle_core::{Device, Tensor};
use convscope::exec::{Executor, NoHook, Params};
use convscope::import::open_model;
use convscope::model::describe::{layer_config, summary_rows, weight_infos};
use convscope::model::Graph;
use serde_json::Value;

const FORWARD_TOL: f32 = 1e-4;
const MODELS: [&str; 6] = [
    "functional_cnn",
    "sequential_cnn",
    "nested",
    "shared_cf",
    "activations",
    "decoder",
];
const FORMS: [&str; 2] = ["keras", "h5"];

fn dir() -> std::path::PathBuf {
    fixtures().join("keras")
}

fn manifest(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap())
        .unwrap()
}

/// A Keras-layout array as convscope holds it (NHWC → NCHW for a channels_last model).
fn to_ours(graph: &Graph, t: Tensor) -> Tensor {
    if graph.channels_last && t.rank() == 4 {
        t.permute((0, 3, 1, 2)).unwrap().contiguous().unwrap()
    } else {
        t
    }
}

/// Ours as Keras shows it.
fn to_keras(graph: &Graph, t: &Tensor) -> Tensor {
    if graph.channels_last && t.rank() == 4 {
        t.permute((0, 2, 3, 1)).unwrap().contiguous().unwrap()
    } else {
        t.clone()
    }
}

fn keras_shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().map_or(1, |d| d as usize))
        .collect()
}

fn check(name: &str, form: &str) {
    check_at(name, &dir().join(format!("{name}.{form}")));
}

/// `check` of the model `name`'s manifest against the model at `path`.
fn check_at(name: &str, path: &std::path::Path) {
    let m = manifest(name);
    let what = path.file_name().unwrap().to_string_lossy().into_owned();
    let graph = open_model(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{what}: {e}"));

    // The summary: totals, and per layer class, shape and counts.
    let totals = graph.param_totals();
    assert_eq!(
        totals.total as u64,
        m["total"].as_u64().unwrap(),
        "{what}: total params"
    );
    assert_eq!(
        totals.trainable as u64,
        m["trainable"].as_u64().unwrap(),
        "{what}: trainable"
    );
    assert_eq!(
        totals.non_trainable as u64,
        m["non_trainable"].as_u64().unwrap(),
        "{what}: non-trainable"
    );
    let rows = summary_rows(&graph);

    let params = Params::load(&graph, &Device::Cpu).unwrap();
    let exec = Executor::new(&graph, &params);
    let input = to_ours(
        &graph,
        npy_tensor(&dir().join(m["input"].as_str().unwrap())),
    );
    let acts = exec
        .forward(&input, &mut NoHook)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let want = npy_tensor(&dir().join(m["output"].as_str().unwrap()));
    let err = rel_max_err(&to_keras(&graph, acts.get(graph.outputs[0])), &want);
    println!("{what}: output rel err {err:.2e}");
    assert!(
        err < FORWARD_TOL,
        "{what}: output differs from Keras by {err}"
    );

    for l in m["layers"].as_array().unwrap() {
        let lname = l["name"].as_str().unwrap();
        let id = graph.find(lname).unwrap_or_else(|e| panic!("{what}: {e}"));
        let layer = graph.layer(id);
        let row = rows
            .iter()
            .find(|r| r.id == id.0)
            .unwrap_or_else(|| panic!("{what}: '{lname}' has no summary row"));
        assert_eq!(
            row.type_name,
            l["class"].as_str().unwrap(),
            "{what}: class of {lname}"
        );
        assert_eq!(
            row.output_shape,
            keras_shape(&l["output_shape"]),
            "{what}: shape of {lname}"
        );
        if !lname.contains('@') {
            assert_eq!(
                row.params as u64,
                l["params"].as_u64().unwrap(),
                "{what}: params of {lname}"
            );
            assert_eq!(
                row.trainable_params as u64,
                l["trainable"].as_u64().unwrap(),
                "{what}: trainable of {lname}"
            );
        }
        // get_config()'s plain entries, as Keras returns them.
        let ours: serde_json::Map<String, Value> = layer_config(layer).into_iter().collect();
        for (k, v) in l["config"].as_object().unwrap() {
            let got = ours
                .get(k)
                .unwrap_or_else(|| panic!("{what}: {lname} config lacks '{k}'"));
            let same = match (got, v) {
                (Value::Number(a), Value::Number(b)) => {
                    (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9
                }
                (a, b) => a == b,
            };
            assert!(
                same,
                "{what}: {lname} config '{k}' is {got}, Keras says {v}"
            );
        }
        // Weights named and shaped as Keras holds them (HWIO kernels). Names are compared by
        // their last part: Keras prefixes a Sequential's paths with the model's name, and a
        // legacy file keeps whatever its writer used.
        let last = |n: &str| n.rsplit('/').next().unwrap_or(n).to_string();
        let ours: Vec<(String, Vec<usize>)> = weight_infos(&graph, id, false)
            .unwrap()
            .into_iter()
            .filter(|w| w.counted)
            .map(|w| (last(&w.name), w.shape))
            .collect();
        let keras: Vec<(String, Vec<usize>)> = l["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (last(w[0].as_str().unwrap()), keras_shape(&w[1])))
            .collect();
        if !lname.contains('@') {
            assert_eq!(ours, keras, "{what}: weights of {lname}");
        }
        let want = npy_tensor(&dir().join(l["file"].as_str().unwrap()));
        let got = to_keras(&graph, acts.get(id));
        let err = rel_max_err(&got, &want);
        println!("{what}: {lname} ({}) rel err {err:.2e}", row.type_name);
        assert!(
            err < FORWARD_TOL,
            "{what}: output of {lname} differs from Keras by {err}"
        );
    }
}

#[test]
fn keras_archives_match_keras() {
    for name in MODELS {
        check(name, FORMS[0]);
    }
}

/// Archives as older Keras 3 wrote them (no layer names on the variables, TF 2.13-era Keras's
/// `_layer_checkpoint_dependencies`): variables found by their object paths alone, nested
/// models included.
#[test]
fn old_layout_archives_match_keras() {
    for name in ["functional_cnn", "nested"] {
        check(name, "old.keras");
    }
}

#[test]
fn legacy_h5_files_match_keras() {
    for name in MODELS {
        check(name, FORMS[1]);
    }
}

/// A model saved as a folder (`model.save(DIR, zipped=False)`, as Keras keeps models on the
/// Hugging Face Hub) holds the archive's members as files: unzipped, every fixture model opens
/// from its folder and matches Keras as its archive does.
#[test]
fn model_folders_match_keras() {
    let tmp = tempfile::tempdir().unwrap();
    for name in MODELS {
        let folder = tmp.path().join(name);
        let file = std::fs::File::open(dir().join(format!("{name}.keras"))).unwrap();
        zip::ZipArchive::new(file)
            .unwrap()
            .extract(&folder)
            .unwrap();
        check_at(name, &folder);
    }
}

/// Gradients through Keras graphs against torch's autograd run through the Keras model itself:
/// saliency at the input and the raw Grad-CAM map at a convolution's row, within 1e-3 of the
/// reference's largest magnitude (maps_reference.rs's tolerance). `functional_cnn` has the
/// channels_last layout changes, fused activations, BatchNorm after Dense, LayerNorm, PReLU and
/// the merges; `decoder` the transposed convolutions, upsampling, Maximum/Minimum and
/// LayerNorm over maps.
#[test]
fn gradients_through_a_keras_graph_match_autograd() {
    for name in ["functional_cnn", "decoder"] {
        gradients_match_autograd(name);
    }
}

fn gradients_match_autograd(name: &str) {
    use convscope::methods::{self, Artifact, Control, Cx, Objective};
    let m = manifest(name);
    let g = &m["gradients"];
    let graph = open_model(dir().join(format!("{name}.keras")).to_str().unwrap()).unwrap();
    let params = Params::load(&graph, &Device::Cpu).unwrap();
    let input = to_ours(
        &graph,
        npy_tensor(&dir().join(m["input"].as_str().unwrap())),
    );
    let scores = graph.find(g["scores"].as_str().unwrap()).unwrap();
    assert_eq!(
        scores,
        graph.logits_layer(),
        "the scores are the Dense before the Softmax"
    );
    let run = |method: &str| {
        let objective = Objective::Class {
            scores,
            class: g["target"].as_u64().unwrap() as usize,
        };
        let mut cx = Cx::new(
            &graph,
            &params,
            input.clone(),
            objective,
            Control::default(),
        );
        cx.layer = Some(graph.find(g["layer"].as_str().unwrap()).unwrap());
        methods::by_id(method)
            .unwrap()
            .run(&mut cx)
            .unwrap()
            .artifact
    };
    for method in ["saliency", "gradcam"] {
        let a = run(method);
        let got = match &a {
            Artifact::Cam {
                height,
                width,
                data,
                ..
            } => Tensor::from_slice(data, (*height, *width), &Device::Cpu).unwrap(),
            other => Tensor::from_slice(other.data(), other.shape(), &Device::Cpu).unwrap(),
        };
        let want = npy_tensor(&dir().join(g[method].as_str().unwrap()));
        let err = rel_max_err(&got, &want);
        println!("{name}: {method} rel err {err:.2e}");
        assert!(
            err < 1e-3,
            "{name}: {method} differs from autograd by {err}"
        );
    }
}

/// A Sequential model of one layer after its input, with its variables (name, shape, values),
/// as a Keras 3 archive in `dir`.
fn one_layer_archive(
    dir: &std::path::Path,
    input: &[usize],
    class: &str,
    config: Value,
    vars: Vec<(&str, Vec<usize>, Vec<f32>)>,
) -> Graph {
    use crate::common::keras::{write_archive, LayerVars};
    let layer = |class: &str, config: Value| serde_json::json!({"module": "keras.layers", "class_name": class, "config": config});
    let mut batch_shape = vec![Value::Null];
    batch_shape.extend(input.iter().map(|&d| Value::from(d)));
    let name = config["name"].as_str().unwrap().to_string();
    let model = serde_json::json!({
        "module": "keras", "class_name": "Sequential",
        "config": {"name": "tiny", "layers": [
            layer("InputLayer", serde_json::json!({"name": "x", "batch_shape": batch_shape})),
            layer(class, config),
        ]}
    });
    let path = dir.join(format!("{name}.keras"));
    let vars = [LayerVars {
        name,
        vars: vars
            .into_iter()
            .map(|(n, shape, values)| (n.to_string(), shape, values))
            .collect(),
    }];
    write_archive(&path, &model.to_string(), &vars);
    open_model(path.to_str().unwrap()).unwrap()
}

/// The graph's output for `x` (NCHW), flattened.
fn output_of(graph: &Graph, x: Tensor) -> Vec<f32> {
    let params = Params::load(graph, &Device::Cpu).unwrap();
    let acts = Executor::new(graph, &params)
        .forward(&x, &mut NoHook)
        .unwrap();
    acts.get(graph.outputs[0])
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Conv2DTranspose with an odd kernel, an even stride and `same` padding, where Keras's
/// backends disagree: TensorFlow (and JAX) drop the full output's extra pixel at the end, the
/// torch backend at the start. convscope takes TensorFlow's, worked by hand: input [1, 2],
/// kernel [1, 10, 100], stride 2 → full output [1, 10, 1·100 + 2·1, 20, 200] (length 5), `same`
/// keeps 2·2 = 4 of it from the start: [1, 10, 102, 20] (the torch backend gives
/// [10, 102, 20, 200]). Exact: small integers in float32.
#[test]
fn conv_transpose_same_places_as_tensorflow() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "name": "up", "filters": 1, "kernel_size": [1, 3], "strides": [1, 2],
        "padding": "same", "use_bias": false, "activation": "linear"});
    let kernel = vec![("kernel", vec![1, 3, 1, 1], vec![1.0, 10.0, 100.0])];
    let graph = one_layer_archive(dir.path(), &[1, 2, 1], "Conv2DTranspose", config, kernel);
    let x = Tensor::new(&[[[[1f32, 2.0]]]], &Device::Cpu).unwrap();
    assert_eq!(output_of(&graph, x), [1.0, 10.0, 102.0, 20.0]);
}

/// A transposed convolution's kernels by output filter, as Keras holds them: kernel
/// `(kh, kw, filters, in)` = (1, 2, 2, 1) with values 1, 2, 3, 4 in that order is, for filter 0,
/// [1, 3] and for filter 1, [2, 4] — what the filters view shows and what one input pixel of 5
/// stamps on each output map ([5, 15] and [10, 20]).
#[test]
fn filters_of_a_transposed_convolution_are_by_output_filter() {
    use convscope::methods::{self, Artifact, Control, Cx, Objective};
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "name": "up", "filters": 2, "kernel_size": [1, 2], "strides": [1, 1],
        "padding": "valid", "use_bias": false, "activation": "linear"});
    let kernel = vec![("kernel", vec![1, 2, 2, 1], vec![1.0, 2.0, 3.0, 4.0])];
    let graph = one_layer_archive(dir.path(), &[1, 1, 1], "Conv2DTranspose", config, kernel);
    let x = Tensor::new(&[[[[5f32]]]], &Device::Cpu).unwrap();
    assert_eq!(output_of(&graph, x.clone()), [5.0, 15.0, 10.0, 20.0]);
    let params = Params::load(&graph, &Device::Cpu).unwrap();
    let up = graph.find("up").unwrap();
    let objective = Objective::Class {
        scores: up,
        class: 0,
    };
    let mut cx = Cx::new(&graph, &params, x, objective, Control::default());
    cx.layer = Some(up);
    let out = methods::by_id("filters").unwrap().run(&mut cx).unwrap();
    let Artifact::Grid { shape, tiles, .. } = out.artifact else {
        panic!("filters gave no grid");
    };
    assert_eq!(shape, [2, 1, 1, 2]);
    let tiles: Vec<&[f32]> = tiles.iter().map(|t| t.data.as_slice()).collect();
    assert_eq!(tiles, [&[1.0, 3.0][..], &[2.0, 4.0][..]]);
}

/// LayerNormalization over a map's channels in a channels_first model (`axis=1`, which Keras's
/// torch backend cannot run: its fast path takes trailing axes only) computes what `axis=-1`
/// does in the channels_last model with the same gamma and beta, on the same pixels.
#[test]
fn layer_norm_over_channels_is_the_same_in_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let vars = || {
        vec![
            ("gamma", vec![3], vec![0.5, 1.0, 2.0]),
            ("beta", vec![3], vec![0.1, -0.2, 0.3]),
        ]
    };
    let config = |name: &str, axis: i64, format: &str| serde_json::json!({"name": name, "axis": axis, "epsilon": 1e-3, "data_format": format});
    let last = one_layer_archive(
        dir.path(),
        &[2, 4, 3],
        "LayerNormalization",
        config("ln_last", -1, "channels_last"),
        vars(),
    );
    let first = dir.path().join("cf");
    std::fs::create_dir(&first).unwrap();
    // A channels_first model (its layer says so): its input is (3, 2, 4).
    let cf = one_layer_archive(
        &first,
        &[3, 2, 4],
        "LayerNormalization",
        config("ln_first", 1, "channels_first"),
        vars(),
    );
    let x: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect();
    let x = Tensor::from_vec(x, (1, 3, 2, 4), &Device::Cpu).unwrap();
    let (a, b) = (output_of(&last, x.clone()), output_of(&cf, x));
    let err = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(err < 1e-6, "the layouts differ by {err}: {a:?} vs {b:?}");
    // By hand, pixel 0: its three channels (NCHW flat indices 0, 8, 16) normalized together.
    let xs: Vec<f32> = [0, 8, 16]
        .iter()
        .map(|&i| ((i * 7) % 11) as f32 / 5.0 - 1.0)
        .collect();
    let mean = xs.iter().sum::<f32>() / 3.0;
    let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 3.0;
    for (k, &i) in [0usize, 8, 16].iter().enumerate() {
        let want = (xs[k] - mean) / (var + 1e-3).sqrt() * [0.5, 1.0, 2.0][k] + [0.1, -0.2, 0.3][k];
        assert!(
            (a[i] - want).abs() < 1e-5,
            "channel {k}: {} vs {want}",
            a[i]
        );
    }
}
