//! keras.applications' families as convscope builds them from its embedded configs, against
//! Keras's own summaries (`tests/fixtures/make_keras.py`, `apps.json.zz`): with and without the
//! top, every row's name, class, output shape (a `None` of Keras's top-less models takes any
//! size) and parameter count, the row count, and the totals.

use std::io::Read;

use crate::common::fixtures;
use crate::common::keras::{
    rule_input_nchw, rule_vars, write_archive, write_legacy, write_legacy_full, write_sharded,
};
use crate::common::rule::{assert_logits_close, logits};
use convscope::imaging::npy::read_npy_f32;
use convscope::import::keras::{apps, family_graph};
use convscope::import::open_model;
use convscope::model::describe::summary_rows;
use convscope::model::Graph;
use serde_json::Value;

fn reference() -> Value {
    let bytes = std::fs::read(fixtures().join("keras/apps.json.zz")).unwrap();
    let mut json = vec![];
    flate2::read::ZlibDecoder::new(&bytes[..])
        .read_to_end(&mut json)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[test]
fn every_family_has_keras_rows_shapes_and_counts() {
    let all = reference();
    assert_eq!(all.as_object().unwrap().len(), 2 * apps::FAMILIES.len());
    for family in &apps::FAMILIES {
        for top in [true, false] {
            let key = format!("{}{}", family.name, if top { "" } else { ":notop" });
            let want = &all[&key];
            let graph = family_graph(family, top, 1000, family.size, 1)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            let totals = graph.param_totals();
            assert_eq!(
                totals.total as u64,
                want["total"].as_u64().unwrap(),
                "{key}: total"
            );
            assert_eq!(
                totals.trainable as u64,
                want["trainable"].as_u64().unwrap(),
                "{key}: trainable"
            );
            let rows = summary_rows(&graph);
            let keras = want["rows"].as_array().unwrap();
            assert_eq!(rows.len(), keras.len(), "{key}: row count");
            for (ours, k) in rows.iter().zip(keras) {
                let name = k[0].as_str().unwrap();
                // Keras names unnamed layers by session counters (input_layer_3, conv2d_94):
                // its top-less model was built second, after the one convscope embeds.
                if top && k[1] != "InputLayer" {
                    assert_eq!(ours.name, name, "{key}: row order");
                }
                assert_eq!(
                    ours.type_name,
                    k[1].as_str().unwrap(),
                    "{key}: class of {name}"
                );
                let shape = k[2].as_array().unwrap();
                assert_eq!(
                    ours.output_shape.len(),
                    shape.len(),
                    "{key}: rank of {name}"
                );
                for (i, (o, d)) in ours.output_shape.iter().zip(shape).enumerate() {
                    if let Some(d) = d.as_u64() {
                        assert_eq!(
                            *o as u64, d,
                            "{key}: dim {i} of {name}: {:?} vs {shape:?}",
                            ours.output_shape
                        );
                    }
                }
                assert_eq!(
                    ours.params as u64,
                    k[3].as_u64().unwrap(),
                    "{key}: params of {name}"
                );
            }
        }
    }
}

#[test]
fn a_weights_file_of_no_family_says_how_to_name_one() {
    let names = vec!["block1_conv1".to_string(), "mystery".to_string()];
    assert!(apps::infer(&names).is_none());
    let vgg: Vec<String> = apps::find("vgg16").unwrap().weighted_layers(true).to_vec();
    let (f, top) = apps::infer(&vgg).unwrap();
    assert_eq!((f.name, top), ("vgg16", true));
    let notop: Vec<String> = apps::find("resnet101")
        .unwrap()
        .weighted_layers(false)
        .to_vec();
    let (f, top) = apps::infer(&notop).unwrap();
    assert_eq!((f.name, top), ("resnet101", false));
}

/// `graph`'s logits for the Keras rule input (NHWC, held NCHW).
fn keras_logits(graph: &Graph, size: usize) -> Vec<f32> {
    logits(graph, rule_input_nchw(size), size)
}

fn reference_logits(family: &apps::Family) -> Vec<f32> {
    let path = fixtures().join(format!("keras/apps.{}.logits.npy", family.name));
    read_npy_f32(&path).unwrap().data
}

/// The form keras.applications ships: a legacy weights-only file, here with every layer named
/// as another session would have numbered it (`conv2d_k2`), so that only the positions and
/// sizes of its layers tell the family, as Keras itself loads such files. The logits with the
/// rule's weights equal Keras's within the zoo's tolerance.
#[test]
fn every_family_opens_from_a_weights_only_file_with_keras_logits() {
    let dir = tempfile::tempdir().unwrap();
    for family in &apps::FAMILIES {
        let layers = rule_vars(&family_graph(family, true, 1000, family.size, 0).unwrap());
        let path = dir.path().join(format!(
            "{}_weights_tf_dim_ordering_tf_kernels.h5",
            family.name
        ));
        write_legacy(&path, &layers, |n| format!("{n}_k2"));
        drop(layers);
        let graph =
            open_model(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{}: {e}", family.name));
        let origin = graph.origin.clone().unwrap_or_default();
        assert!(
            origin.contains(family.keras) && origin.contains("inferred"),
            "{origin}"
        );
        let ours = keras_logits(&graph, family.size);
        assert_logits_close(
            &format!("{} weights-only", family.name),
            &ours,
            &reference_logits(family),
        );
        std::fs::remove_file(&path).unwrap();
    }
}

/// The Keras 3 archive form of every family (auto-numbered layer names in InceptionV3,
/// Normalization and squeeze-excite in EfficientNet, ReLU6 and depthwise convolutions in the
/// MobileNets, …), with Keras's logits. (A legacy full `.h5` of most cannot be written
/// here: hdf5-writer has no dense attribute storage for a config over 64 KB; the reader's
/// side of that is `long_config.h5`, written by h5py, and VGG's full `.h5` is checked below.)
#[test]
fn keras_archives_of_every_family_have_keras_logits() {
    let dir = tempfile::tempdir().unwrap();
    for family in &apps::FAMILIES {
        let name = family.name;
        let layers = rule_vars(&family_graph(family, true, 1000, family.size, 0).unwrap());
        let config = family.build_config(true, 1000, family.size).to_string();
        let archive = dir.path().join(format!("{name}.keras"));
        write_archive(&archive, &config, &layers);
        let graph = open_model(archive.to_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = keras_logits(&graph, family.size);
        assert_logits_close(&format!("{name} .keras"), &ours, &reference_logits(family));
    }
}

/// The legacy full-model form (`model.save("vgg16.h5")`) of the families whose config fits a
/// compact HDF5 attribute (VGG16's is 19 KB, VGG19's 22 KB; the others' need h5py's dense
/// storage, read in `a_long_model_config_is_read`): Keras's logits.
#[test]
fn legacy_full_models_of_vgg_have_keras_logits() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["vgg16", "vgg19"] {
        let family = apps::find(name).unwrap();
        let layers = rule_vars(&family_graph(family, true, 1000, family.size, 0).unwrap());
        let config = family.build_config(true, 1000, family.size).to_string();
        let path = dir.path().join(format!("{name}.h5"));
        write_legacy_full(&path, &config, &layers);
        let graph = open_model(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = keras_logits(&graph, family.size);
        assert_logits_close(&format!("{name} .h5"), &ours, &reference_logits(family));
    }
}

/// A weights-only file of a fine-tuned classifier: the class count comes from its last layer.
#[test]
fn a_fine_tuned_top_keeps_its_class_count() {
    let dir = tempfile::tempdir().unwrap();
    let family = apps::find("mobilenet").unwrap();
    let layers = rule_vars(&family_graph(family, true, 7, family.size, 0).unwrap());
    let path = dir.path().join("mobilenet_7.h5");
    write_legacy(&path, &layers, |n| n.to_string());
    let graph = open_model(path.to_str().unwrap()).unwrap();
    assert_eq!(graph.layer(graph.logits_layer()).out_shape, vec![1, 7]);
}

/// A legacy `.h5` whose model config (124 KB) h5py stored as a dense attribute.
#[test]
fn a_long_model_config_is_read() {
    let graph = open_model(fixtures().join("keras/long_config.h5").to_str().unwrap()).unwrap();
    assert_eq!(summary_rows(&graph).len(), 302);
}

/// Each family's images are preprocessed as keras.applications' `preprocess_input` does, unless
/// `--preprocess` says otherwise.
#[test]
fn families_default_to_their_own_preprocessing() {
    use convscope::input::preprocess::Preprocess;
    for (name, want) in [
        ("vgg16", Preprocess::Caffe),
        ("resnet152", Preprocess::Caffe),
        ("mobilenet_v2", Preprocess::Signed),
        ("inception_v3", Preprocess::Signed),
        ("densenet121", Preprocess::Imagenet),
        ("efficientnet_b3", Preprocess::Raw),
    ] {
        let f = apps::find(name).unwrap();
        let g = family_graph(f, false, 1000, f.size, 0).unwrap();
        let (p, note) = Preprocess::for_model(None, &g);
        assert_eq!(p, want, "{name}");
        assert!(note.unwrap().contains(want.as_str()));
        assert_eq!(
            Preprocess::for_model(Some(Preprocess::Unit), &g),
            (Preprocess::Unit, None)
        );
    }
}

/// Sharded Keras 3 weights of a family (a layer split across the shards) open from their map,
/// with Keras's logits; a map naming a shard outside its folder is refused.
#[test]
fn sharded_weights_open_from_their_map() {
    let dir = tempfile::tempdir().unwrap();
    let family = apps::find("efficientnet_b0").unwrap();
    let layers = rule_vars(&family_graph(family, true, 1000, family.size, 0).unwrap());
    let map = write_sharded(dir.path(), "efficientnetb0", &layers);
    let graph = open_model(map.to_str().unwrap()).unwrap();
    assert!(
        graph.origin.as_deref().unwrap().contains("sharded"),
        "{:?}",
        graph.origin
    );
    let ours = keras_logits(&graph, family.size);
    assert_logits_close("efficientnet_b0 sharded", &ours, &reference_logits(family));

    let evil = dir.path().join("evil.weights.json");
    std::fs::write(
        &evil,
        r#"{"weight_map": {"/layers/x/vars": "../../etc/passwd"}}"#,
    )
    .unwrap();
    let e = open_model(evil.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("not a file name beside it"), "{e}");
}
