//! The network as a typed graph: layers in topological order, each naming its input layers.
//! Inside convscope layers are `LayerId`s; names are only for the edges (CLI, display).

use super::kind::LayerKind;
use super::weights::{ParamCount, Weight};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub usize);

#[derive(Clone, Debug)]
pub struct Layer {
    /// Readable, unique name (e.g. `features.0`, `block1_conv1`).
    pub name: String,
    /// The node's name in the source file, when it differs from `name` or is worth showing.
    pub source_name: String,
    /// The op the source file used (e.g. ONNX `Gemm`), shown in the config view.
    pub source_op: String,
    pub kind: LayerKind,
    pub inputs: Vec<LayerId>,
    /// Output shape for batch 1 (dim 0 is the batch).
    pub out_shape: Vec<usize>,
    pub weights: Vec<Weight>,
    /// `Some(row)` for a step that convscope runs but the source counts as part of a later
    /// layer, shown in that layer's row: a Keras convolution's fused activation makes the
    /// convolution itself such a step (the row, named as in Keras, is the activation's output,
    /// as `Model(inputs, layer.output)` gives). Folded steps keep names of their own
    /// (`block1_conv1/pre_activation`), so `--layer` still reaches them.
    pub folded_into: Option<LayerId>,
    /// How the source file presents the layer, where it has its own view (Keras).
    pub source: Option<Box<SourceLayer>>,
}

/// A layer as its source file presents it: Keras's class name, the `get_config()` dict as
/// stored, and the output shape in the model's own layout (NHWC for channels_last).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceLayer {
    pub class_name: String,
    pub config: serde_json::Value,
    /// Batch 1 first, as `out_shape`.
    pub shape: Vec<usize>,
    /// The row's weights (its folded steps' too) by name, in the source's layout where it
    /// differs from convscope's (a Keras kernel is HWIO; convscope runs OIHW).
    pub weight_shapes: Vec<(String, Vec<usize>)>,
}

impl Layer {
    /// A layer with no folded steps or source view (the ONNX and zoo importers' case).
    pub fn new(
        name: String,
        source_op: String,
        kind: LayerKind,
        inputs: Vec<LayerId>,
        out_shape: Vec<usize>,
        weights: Vec<Weight>,
    ) -> Layer {
        Layer {
            source_name: name.clone(),
            name,
            source_op,
            kind,
            inputs,
            out_shape,
            weights,
            folded_into: None,
            source: None,
        }
    }

    /// The type shown in the summary: the source's class name where it has one.
    pub fn type_label(&self) -> &str {
        self.source
            .as_ref()
            .map_or(self.kind.type_name(), |s| s.class_name.as_str())
    }

    /// The output shape as the source shows it (NHWC for a Keras channels_last model).
    pub fn shown_shape(&self) -> &[usize] {
        self.source
            .as_ref()
            .map_or(self.out_shape.as_slice(), |s| s.shape.as_slice())
    }

    pub fn params(&self, count: ParamCount) -> usize {
        self.weights
            .iter()
            .filter(|w| w.count == count)
            .map(Weight::numel)
            .sum()
    }

    pub fn trainable_params(&self) -> usize {
        self.params(ParamCount::Trainable)
    }

    pub fn total_params(&self) -> usize {
        self.params(ParamCount::Trainable) + self.params(ParamCount::NonTrainable)
    }
}

#[derive(Clone, Debug)]
pub struct Graph {
    pub name: String,
    /// Topologically ordered: every layer's inputs come before it.
    pub layers: Vec<Layer>,
    pub inputs: Vec<LayerId>,
    pub outputs: Vec<LayerId>,
    /// Class names the model carries (the embedded demo's); `--labels` overrides them.
    pub labels: Option<Vec<String>>,
    /// A picture the model ships with (file name, PNG bytes), used when no input is given (the
    /// demo).
    pub sample_image: Option<(&'static str, &'static [u8])>,
    /// The shorter side an image is resized to before the input-size centre crop
    /// (torchvision's evaluation presets); None: images are resized to the input size.
    pub crop_resize: Option<usize>,
    /// How the graph was made, when the user should know it: the architecture inferred from a
    /// checkpoint, random weights. Shown by the interface and printed by the commands.
    pub origin: Option<String>,
    /// The model's own 4-D tensors are NHWC (a Keras channels_last model): convscope holds them
    /// NCHW, shows them NHWC (`Layer::shown_shape`), and takes `--input-npy` arrays NHWC.
    pub channels_last: bool,
    /// How the model's images were preprocessed in training, by Keras's `preprocess_input`
    /// mode (`caffe`, `tf`, `torch`, `raw`), when the model says (keras.applications).
    pub preprocess: Option<&'static str>,
}

/// Parameter totals the Keras way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ParamTotals {
    pub total: usize,
    pub trainable: usize,
    pub non_trainable: usize,
}

/// The most dimensions a tensor may have (candle's kernels and our shapes go up to 6 in
/// practice; ONNX models of CNNs use 4).
pub const MAX_RANK: usize = 8;

impl Graph {
    pub fn layer(&self, id: LayerId) -> &Layer {
        &self.layers[id.0]
    }

    pub fn ids(&self) -> impl Iterator<Item = LayerId> {
        (0..self.layers.len()).map(LayerId)
    }

    /// Checks the invariants everything else relies on: inputs precede their users, ids are in
    /// range, inputs and outputs exist, names are unique.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if !seen.insert(layer.name.as_str()) {
                return Err(Error::graph(&layer.name, "duplicate layer name"));
            }
            // Inputs are declared, not inferred: their shapes are checked here.
            let s = &layer.out_shape;
            if s.len() > MAX_RANK || s.contains(&0) {
                let shown = crate::text::clip(&format!("{s:?}"), 80).into_owned();
                return Err(Error::graph(
                    &layer.name,
                    format!(
                        "shape {shown} ({} dimensions) has a dimension of size 0 or more than \
                         {MAX_RANK} dimensions; convscope runs tensors of 1 to {MAX_RANK} non-empty dimensions",
                        s.len()
                    ),
                ));
            }
            if let Some(bad) = layer.inputs.iter().find(|id| id.0 >= i) {
                return Err(Error::graph(
                    &layer.name,
                    format!(
                        "input #{} does not precede it (graph is not topologically ordered)",
                        bad.0
                    ),
                ));
            }
        }
        if self.inputs.is_empty() || self.outputs.is_empty() {
            return Err(Error::graph(
                &self.name,
                "graph has no inputs or no outputs",
            ));
        }
        for id in self.inputs.iter().chain(&self.outputs) {
            if id.0 >= self.layers.len() {
                return Err(Error::graph(
                    &self.name,
                    "input or output refers to no layer",
                ));
            }
        }
        Ok(())
    }

    pub fn param_totals(&self) -> ParamTotals {
        let trainable = self.layers.iter().map(Layer::trainable_params).sum();
        let non_trainable = self
            .layers
            .iter()
            .map(|l| l.params(ParamCount::NonTrainable))
            .sum();
        ParamTotals {
            total: trainable + non_trainable,
            trainable,
            non_trainable,
        }
    }

    /// True when every layer feeds only the next one, as in a Keras `Sequential` model.
    pub fn is_sequential(&self) -> bool {
        self.layers
            .iter()
            .enumerate()
            .skip(1)
            .all(|(i, l)| l.inputs.len() == 1 && l.inputs[0].0 == i - 1)
    }

    /// The first graph output's class scores before any final softmax: the layer whose output
    /// is the raw logit, as keras-vis swaps softmax for linear. Skips trailing Identity/Dropout.
    /// How many classes the scores layer gives (its last dimension).
    pub fn classes(&self) -> usize {
        self.layer(self.logits_layer())
            .out_shape
            .last()
            .copied()
            .unwrap_or(0)
    }

    pub fn logits_layer(&self) -> LayerId {
        let mut id = self.outputs[0];
        loop {
            let layer = self.layer(id);
            match layer.kind {
                LayerKind::Softmax { .. } | LayerKind::Identity | LayerKind::Dropout { .. }
                    if layer.inputs.len() == 1 =>
                {
                    id = layer.inputs[0]
                }
                _ => return id,
            }
        }
    }

    /// The row a layer is shown in: itself, or the layer its step is folded into.
    pub fn row_of(&self, id: LayerId) -> LayerId {
        self.layer(id).folded_into.unwrap_or(id)
    }

    /// The layers shown as rows (all of them, except steps folded into a later row).
    pub fn rows(&self) -> impl Iterator<Item = LayerId> + '_ {
        self.ids()
            .filter(|&id| self.layer(id).folded_into.is_none())
    }

    /// The layers making up a row: its folded steps, then the row itself.
    pub fn row_members(&self, row: LayerId) -> Vec<LayerId> {
        self.ids()
            .filter(|&id| id == row || self.layer(id).folded_into == Some(row))
            .collect()
    }

    /// Finds a layer by its readable name or its source name. An unknown name is an error that
    /// suggests the closest names.
    pub fn find(&self, name: &str) -> Result<LayerId> {
        if let Some(i) = self
            .layers
            .iter()
            .position(|l| l.name == name)
            .or_else(|| self.layers.iter().position(|l| l.source_name == name))
        {
            return Ok(LayerId(i));
        }
        Err(Error::UnknownLayer {
            name: name.to_string(),
            suggestions: closest_names(name, self.layers.iter().map(|l| l.name.as_str()), 3),
        })
    }
}

/// The `n` names nearest to `query` by edit distance (substring matches first).
pub fn closest_names<'a>(
    query: &str,
    names: impl Iterator<Item = &'a str>,
    n: usize,
) -> Vec<String> {
    let q = query.to_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .map(|name| {
            let lower = name.to_lowercase();
            let score = if lower.contains(&q) || q.contains(&lower) {
                0
            } else {
                edit_distance(&q, &lower)
            };
            (score, name)
        })
        .collect();
    scored.sort_by_key(|&(score, name)| (score, name.len()));
    let limit = (q.len() / 2).max(3);
    scored
        .into_iter()
        .filter(|&(score, _)| score <= limit)
        .take(n)
        .map(|(_, name)| name.to_string())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_prefer_near_names() {
        let names = [
            "block1_conv1",
            "block1_conv2",
            "block2_conv1",
            "fc1",
            "predictions",
        ];
        let got = closest_names("block1_conv3", names.iter().copied(), 2);
        assert_eq!(got, vec!["block1_conv1", "block1_conv2"]);
        assert!(closest_names("zzzzzzzzzzzzzzzz", names.iter().copied(), 3).is_empty());
        assert_eq!(
            closest_names("pred", names.iter().copied(), 1),
            vec!["predictions"]
        );
    }
}
