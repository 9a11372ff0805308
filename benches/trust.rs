//! `cargo bench --bench trust [-- --quick] [-- --json PATH]`
//!
//! Times deletion and insertion (RISE's default 224 steps at 224x224) for one map on VGG16,
//! ResNet50, MobileNetV2 and EfficientNet-B0 (seeded random weights, the CPU), in passes of 16
//! inputs; each row is both games, once (each is about 450 forward passes). The map is seeded
//! noise: the cost does not depend on what it ranks. `benches/compare_torch.py --only trust`
//! times a plain PyTorch loop over the same steps in batches of 16 and prints the ratios. Limit
//! the models with `CONVSCOPE_BENCH_MODELS=resnet50` (see `common`).

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::Device;
use common::once_ms;
use convscope::engine::Session;
use convscope::input::preprocess::{InputSpec, PreparedInput};
use convscope::input::Input;
use convscope::methods::Control;
use convscope::model::build::Rng;
use convscope::trust::{Evaluator, Metric, Ranking, Settings};

/// Inputs per pass, as the PyTorch loop it is compared with.
pub const BATCH: usize = 16;

fn main() {
    convscope::exec::cpu::keep_freed_memory();
    let (_quick, json) = common::args();
    let mut results = Vec::new();
    for (name, graph) in common::models() {
        let session = Session::new(graph, Device::Cpu).unwrap();
        let spec =
            InputSpec::from_input_shape(&session.graph.layer(session.graph.inputs[0]).out_shape)
                .unwrap();
        let shape = spec.shape(1);
        let input = Arc::new(Input {
            prepared: PreparedInput {
                data: Rng::new(1).normals(shape.iter().product()),
                shape,
            },
            spec,
            preprocess: None,
            path: PathBuf::from("noise.npy"),
        });
        let subject = session.subject(&input).unwrap();
        let scores = subject.scores(&session).unwrap();
        let target = convscope::methods::target::top1(&scores);
        let evaluator = Evaluator::new(&session, &subject, target, BATCH).unwrap();
        let map = Ranking::random(spec.height, spec.width, 2);
        let ms = once_ms(|| {
            evaluator
                .score(
                    &map,
                    &[Metric::Deletion, Metric::Insertion],
                    &Settings::default(),
                    &Control::default(),
                )
                .unwrap();
        });
        results.push((format!("{name}/deletion_insertion"), ms));
    }
    common::report(&results, json);
}
