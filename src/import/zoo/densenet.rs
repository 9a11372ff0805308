//! torchvision's DenseNet-121: dense blocks where each layer sees the concatenation of every
//! earlier output, joined by BN-ReLU-conv-avgpool transitions.

use super::Spec;
use crate::error::Result;
use crate::model::build::{ConvSpec, GraphBuilder, PoolSpec};
use crate::model::{Graph, LayerId};

const GROWTH: usize = 32;
const BN_SIZE: usize = 4;

pub fn densenet121(s: &Spec) -> Result<Graph> {
    densenet("densenet121", [6, 12, 24, 16], 64, s)
}

fn densenet(name: &str, blocks: [usize; 4], init: usize, s: &Spec) -> Result<Graph> {
    let (mut b, input) = GraphBuilder::new(name, "input", &[1, 3, s.size, s.size], s.seed);
    let mut x = b.conv("features.conv0", input, ConvSpec::new(init, 7).stride(2))?;
    x = b.batch_norm("features.norm0", x)?;
    x = b.relu("features.relu0", x)?;
    x = b.max_pool("features.pool0", x, 3, 2, 1)?;
    for (i, &layers) in blocks.iter().enumerate() {
        let p = format!("features.denseblock{}", i + 1);
        x = dense_block(&mut b, &p, x, layers)?;
        if i + 1 < blocks.len() {
            let p = format!("features.transition{}", i + 1);
            let half = b.shape(x)[1] / 2;
            x = b.batch_norm(&format!("{p}.norm"), x)?;
            x = b.relu(&format!("{p}.relu"), x)?;
            x = b.conv(&format!("{p}.conv"), x, ConvSpec::new(half, 1))?;
            x = b.pool(&format!("{p}.pool"), x, PoolSpec::avg(2, 2, 0))?;
        }
    }
    x = b.batch_norm("features.norm5", x)?;
    x = b.relu("relu", x)?;
    x = b.global_avg_pool("avgpool", x)?;
    x = b.flatten("flatten", x)?;
    x = b.linear("classifier", x, s.classes)?;
    b.finish(x)
}

fn dense_block(b: &mut GraphBuilder, p: &str, x: LayerId, layers: usize) -> Result<LayerId> {
    let mut features = vec![x];
    for j in 1..=layers {
        let q = format!("{p}.denselayer{j}");
        let input = if features.len() == 1 {
            x
        } else {
            b.concat(&format!("{q}.cat"), features.clone())?
        };
        let mut y = b.batch_norm(&format!("{q}.norm1"), input)?;
        y = b.relu(&format!("{q}.relu1"), y)?;
        y = b.conv(&format!("{q}.conv1"), y, ConvSpec::new(BN_SIZE * GROWTH, 1))?;
        y = b.batch_norm(&format!("{q}.norm2"), y)?;
        y = b.relu(&format!("{q}.relu2"), y)?;
        y = b.conv(&format!("{q}.conv2"), y, ConvSpec::new(GROWTH, 3))?;
        features.push(y);
    }
    b.concat(&format!("{p}.cat"), features)
}
