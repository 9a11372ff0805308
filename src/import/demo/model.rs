//! The demo network: VGG-style, with the Keras layer names of the seed article's VGG16
//! (`block1_conv1` … `block4_conv2`, a global average pool, `fc1`, `predictions`), small enough
//! to train on two CPU cores in minutes. Each convolution is followed by batch normalization (as
//! torchvision's `vgg16_bn`): without it this plain stack sat at chance for hundreds of steps. The same builder serves the trainer (seeded random
//! weights) and the embedded model (the trained weights, read by name).

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::model::build::{ConvSpec, GraphBuilder};
use crate::model::{Graph, HostTensor, WeightData};

/// Input side in pixels (RGB, NCHW, ImageNet normalization).
pub const SIZE: usize = 96;
/// Filters of the two 3x3 convolutions of each block; a 2x2 max pool follows each block but
/// the last, whose maps (12x12) are averaged.
pub const FILTERS: [usize; 4] = [8, 16, 32, 96];
/// Units of `fc1`.
pub const HIDDEN: usize = 64;

/// The architecture with seeded random (He-uniform) weights: the trainer's starting point.
pub fn untrained(classes: usize, seed: u64) -> Result<Graph> {
    let (mut b, mut x) = GraphBuilder::new("demo", "input", &[1, 3, SIZE, SIZE], seed);
    for (i, &filters) in FILTERS.iter().enumerate() {
        for k in 1..=2 {
            let name = format!("block{}_conv{k}", i + 1);
            x = b.conv(&name, x, ConvSpec::new(filters, 3))?;
            x = b.batch_norm(&format!("{name}_bn"), x)?;
            x = b.relu(&format!("{name}_relu"), x)?;
        }
        if i + 1 < FILTERS.len() {
            x = b.max_pool(&format!("block{}_pool", i + 1), x, 2, 2, 0)?;
        }
    }
    x = b.global_avg_pool("global_average_pooling2d", x)?;
    x = b.flatten("flatten", x)?;
    x = b.linear("fc1", x, HIDDEN)?;
    x = b.relu("fc1_relu", x)?;
    x = b.linear("predictions", x, classes)?;
    b.finish(x)
}

/// Replaces every weight of `graph` with the tensor of the same name in `tensors`, checking
/// shapes: the trained weights into the architecture.
pub fn load_weights(graph: &mut Graph, tensors: &HashMap<String, HostTensor>) -> Result<()> {
    for layer in &mut graph.layers {
        for w in &mut layer.weights {
            let t = tensors.get(&w.name).ok_or_else(|| {
                Error::Input(format!("the demo weights have no tensor {}", w.name))
            })?;
            if t.shape != w.shape {
                return Err(Error::Input(format!(
                    "the demo weight {} has shape {:?}, the architecture wants {:?}",
                    w.name, t.shape, w.shape
                )));
            }
            w.data = WeightData::Loaded(std::sync::Arc::new(t.clone()));
        }
    }
    Ok(())
}
