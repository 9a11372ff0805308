//! What each fuzz target does with its bytes: a reader's entry point, then what convscope does
//! next with a success (describe every layer, read every tensor). Any panic, abort, hang or
//! unbounded allocation here is a bug; an `Err` is the expected answer to garbage.
//!
//! `tests/fuzz_corpus.rs` in the main crate includes this file too and replays every committed
//! input (`fuzz/regressions/`) through the same functions, so a crash found once stays fixed
//! without libFuzzer.

use std::path::Path;

/// Tensors larger than this are not read by the checkpoint targets: their values are read
/// only when they fit a layer of a known architecture, whose shapes are checked first.
const MAX_READ: usize = 1 << 22;

pub fn onnx(data: &[u8]) {
    if let Ok(graph) = convscope::import::onnx::parse(data, Path::new("fuzz.onnx")) {
        let _ = convscope::model::describe::summary_rows(&graph);
        for id in graph.ids() {
            let _ = convscope::model::describe::config_view(graph.layer(id));
            let _ = convscope::model::describe::weight_infos(&graph, id, false);
        }
    }
}

pub fn checkpoint(data: &[u8]) {
    if let Ok(ckpt) = convscope::import::checkpoint::parse(data, Path::new("fuzz.pth")) {
        for t in &ckpt.tensors {
            let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if numel.is_some_and(|n| n <= MAX_READ) {
                let _ = t.values();
            }
        }
    }
}

/// A Keras HDF5 file (legacy full model or weights only): the model as the summary, config
/// and weight views show it, and every weight small enough read (weights are read on load).
pub fn keras(data: &[u8]) {
    if let Ok(graph) = convscope::import::keras::parse_hdf5(data.to_vec(), Path::new("fuzz.h5")) {
        let _ = convscope::model::describe::summary_rows(&graph);
        for id in graph.ids() {
            let _ = convscope::model::describe::config_view(graph.layer(id));
            let _ = convscope::model::describe::weight_infos(&graph, id, false);
            for w in &graph.layer(id).weights {
                if w.shape.iter().product::<usize>() <= MAX_READ {
                    let _ = w.load();
                }
            }
        }
    }
}

pub fn pickle(data: &[u8]) {
    let _ = convscope::import::torch::pickle::unpickle(data);
}

pub fn npy(data: &[u8]) {
    let _ = convscope::imaging::npy::parse_npy_f32(data, Path::new("fuzz.npy"));
}

pub fn image(data: &[u8]) {
    let _ = convscope::input::preprocess::decode_image(data, Path::new("fuzz.png"));
}

pub fn labels(data: &[u8]) {
    if let Ok(labels) = convscope::import::labels::parse(data.to_vec(), Path::new("fuzz.txt")) {
        for l in &labels {
            let _ = convscope::text::escape_controls(l);
        }
    }
}
