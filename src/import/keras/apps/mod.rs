//! keras.applications' architectures, embedded as Keras's own configs (`NAME.json.zz`, zlib;
//! written by `tests/fixtures/make_keras.py` from `keras.applications.X(weights=None)`), so
//! that the weights-only files Keras users hold (`vgg16_weights_tf_dim_ordering_tf_kernels.h5`,
//! `model.save_weights(…)`) open: the architecture is the family whose weighted layers are the
//! file's, or the one `--arch keras:NAME` names, cut at its feature extractor when the file has
//! no top.

use std::io::Read;
use std::sync::OnceLock;

use serde_json::Value;

/// One family: convscope's name, Keras's constructor, the input side, the last layer without
/// the top, and Keras's `preprocess_input` mode for it (`raw`: EfficientNet's pass-through).
pub struct Family {
    pub name: &'static str,
    pub keras: &'static str,
    /// The model's name in its config (`mobilenetv2_1.00_224`).
    pub model: &'static str,
    pub size: usize,
    pub notop_output: &'static str,
    pub preprocess: &'static str,
    config: &'static [u8],
    /// Derived once per process (decompressing and parsing a config takes milliseconds, and a
    /// weights-only file is compared with every family): the weighted layers' names without and
    /// with the top, and their parameter counts (filled by the weights-only matcher).
    weighted: OnceLock<[Vec<String>; 2]>,
    pub(in crate::import::keras) sizes: [OnceLock<Option<Vec<usize>>>; 2],
}

macro_rules! family {
    ($name:literal, $keras:literal, $model:literal, $size:literal, $cut:literal, $pre:literal) => {
        Family {
            name: $name,
            keras: $keras,
            model: $model,
            size: $size,
            notop_output: $cut,
            preprocess: $pre,
            config: include_bytes!(concat!($name, ".json.zz")),
            weighted: OnceLock::new(),
            sizes: [OnceLock::new(), OnceLock::new()],
        }
    };
}

#[rustfmt::skip]
pub static FAMILIES: [Family; 20] = [
    family!("vgg16", "VGG16", "vgg16", 224, "block5_pool", "caffe"),
    family!("vgg19", "VGG19", "vgg19", 224, "block5_pool", "caffe"),
    family!("resnet50", "ResNet50", "resnet50", 224, "conv5_block3_out", "caffe"),
    family!("resnet101", "ResNet101", "resnet101", 224, "conv5_block3_out", "caffe"),
    family!("resnet152", "ResNet152", "resnet152", 224, "conv5_block3_out", "caffe"),
    family!("mobilenet", "MobileNet", "mobilenet_1.00_224", 224, "conv_pw_13_relu", "tf"),
    family!("mobilenet_v2", "MobileNetV2", "mobilenetv2_1.00_224", 224, "out_relu", "tf"),
    family!("densenet121", "DenseNet121", "densenet121", 224, "relu", "torch"),
    family!("densenet169", "DenseNet169", "densenet169", 224, "relu", "torch"),
    family!("densenet201", "DenseNet201", "densenet201", 224, "relu", "torch"),
    family!("inception_v3", "InceptionV3", "inception_v3", 299, "mixed10", "tf"),
    family!("xception", "Xception", "xception", 299, "block14_sepconv2_act", "tf"),
    family!("efficientnet_b0", "EfficientNetB0", "efficientnetb0", 224, "top_activation", "raw"),
    family!("efficientnet_b1", "EfficientNetB1", "efficientnetb1", 240, "top_activation", "raw"),
    family!("efficientnet_b2", "EfficientNetB2", "efficientnetb2", 260, "top_activation", "raw"),
    family!("efficientnet_b3", "EfficientNetB3", "efficientnetb3", 300, "top_activation", "raw"),
    family!("efficientnet_b4", "EfficientNetB4", "efficientnetb4", 380, "top_activation", "raw"),
    family!("efficientnet_b5", "EfficientNetB5", "efficientnetb5", 456, "top_activation", "raw"),
    family!("efficientnet_b6", "EfficientNetB6", "efficientnetb6", 528, "top_activation", "raw"),
    family!("efficientnet_b7", "EfficientNetB7", "efficientnetb7", 600, "top_activation", "raw"),
];

/// A family by convscope's name (`vgg16`) or Keras's (`VGG16`), case ignored.
pub fn find(name: &str) -> Option<&'static Family> {
    FAMILIES
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name) || f.keras.eq_ignore_ascii_case(name))
}

pub fn names() -> Vec<&'static str> {
    FAMILIES.iter().map(|f| f.name).collect()
}

/// The family a model (or a model nested in it, as a transfer-learning base) is, by its name.
pub fn by_model_name(config: &Value) -> Option<&'static Family> {
    let named = |v: &Value| {
        let name = v["config"]["name"].as_str()?;
        FAMILIES.iter().find(|f| f.model == name)
    };
    named(config).or_else(|| {
        config["config"]["layers"]
            .as_array()?
            .iter()
            .filter(|l| matches!(l["class_name"].as_str(), Some("Functional" | "Model")))
            .find_map(named)
    })
}

/// The layer classes that own variables.
fn has_weights(class: &str) -> bool {
    matches!(
        class,
        "Conv2D"
            | "DepthwiseConv2D"
            | "SeparableConv2D"
            | "Dense"
            | "BatchNormalization"
            | "LayerNormalization"
            | "Normalization"
            | "PReLU"
    )
}

impl Family {
    /// The full config (with the top), as Keras wrote it.
    pub fn config(&self) -> Value {
        let mut json = Vec::new();
        flate2::read::ZlibDecoder::new(self.config)
            .read_to_end(&mut json)
            .expect("the embedded keras.applications configs are valid zlib");
        serde_json::from_slice(&json).expect("the embedded keras.applications configs are JSON")
    }

    /// The config as built: with the top and `classes` outputs, or cut at the feature
    /// extractor's last layer; the input `size`×`size` (Keras's default without the top is
    /// any size: convscope needs one).
    pub fn build_config(&self, top: bool, classes: usize, size: usize) -> Value {
        let mut v = self.config();
        let c = &mut v["config"];
        if let Some(Value::Array(layers)) = c.get_mut("layers") {
            if !top {
                if let Some(cut) = layers.iter().position(|l| l["name"] == self.notop_output) {
                    layers.truncate(cut + 1);
                }
            }
            for l in layers.iter_mut() {
                if l["class_name"] == "InputLayer" {
                    l["config"]["batch_shape"] = serde_json::json!([null, size, size, 3]);
                }
                // The classifier: a Dense `predictions`, or MobileNet's 1x1 `conv_preds` and
                // the `reshape_2` after it.
                if top && l["name"] == "predictions" && l["class_name"] == "Dense" {
                    l["config"]["units"] = Value::from(classes);
                }
                if top && l["name"] == "conv_preds" {
                    l["config"]["filters"] = Value::from(classes);
                }
                if top && l["name"] == "reshape_2" {
                    l["config"]["target_shape"] = serde_json::json!([classes]);
                }
            }
        }
        if !top {
            c["output_layers"] = serde_json::json!([[self.notop_output, 0, 0]]);
        }
        v
    }

    /// The names of the layers with variables, with the top or without.
    pub fn weighted_layers(&self, top: bool) -> &[String] {
        let both = self.weighted.get_or_init(|| {
            [false, true].map(|top| {
                let v = self.build_config(top, 1000, self.size);
                let layers = v["config"]["layers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                layers
                    .iter()
                    .filter(|l| l["class_name"].as_str().is_some_and(has_weights))
                    .map(|l| l["name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
        });
        &both[usize::from(top)]
    }
}

/// The family (and whether it has its top) whose weighted layers are exactly `names`
/// (Normalization layers may be absent: some published files leave them out).
pub fn infer(names: &[String]) -> Option<(&'static Family, bool)> {
    let have: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    for f in &FAMILIES {
        for top in [true, false] {
            let want = f.weighted_layers(top);
            let covered = have.iter().all(|n| want.iter().any(|w| w == n));
            let missing = want
                .iter()
                .filter(|w| !have.contains(w.as_str()))
                .all(|w| w.starts_with("normalization"));
            if covered && missing {
                return Some((f, top));
            }
        }
    }
    None
}
