//! The work behind the reducer's effects other than jobs: reading a layer's weights, loading
//! another image, writing an export. Each is a plain function returning the action that
//! reports it, so the event loop runs them on a blocking thread and the tests run them inline.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::action::{Action, Payload};
use super::state::LayerDetail;
use crate::error::{Error, Result};
use crate::imaging::atomic::stage;
use crate::imaging::npy::npy_bytes_f32;
use crate::imaging::png::encode_png;
use crate::input::preprocess::Preprocess;
use crate::input::{Input, Source};
use crate::jobs::Session;
use crate::model::describe::{shown_weights, weight_infos};
use crate::model::{Graph, LayerId};

/// Bins of the layer pane's histogram.
pub const HISTOGRAM_BINS: usize = 32;

pub fn load_layer(graph: &Graph, id: LayerId) -> Action {
    let detail = match weight_infos(graph, id, true) {
        Ok(weights) => {
            let histogram = match shown_weights(graph, id).first().map(|w| w.load()) {
                Some(Ok(t)) => histogram(&t.data, HISTOGRAM_BINS),
                _ => Vec::new(),
            };
            Ok(LayerDetail {
                weights,
                histogram,
                note: None,
            })
        }
        // Shapes without statistics when an external data file is missing.
        Err(e @ Error::MissingExternalData { .. }) => weight_infos(graph, id, false)
            .map(|weights| LayerDetail {
                weights,
                histogram: Vec::new(),
                note: Some(e.to_string()),
            })
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    Action::LayerLoaded(id, detail)
}

/// Counts of `values` in `bins` equal-width bins from their min to their max (non-finite
/// values left out).
pub fn histogram(values: &[f32], bins: usize) -> Vec<u64> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite
        .clone()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if bins == 0 || lo > hi {
        return Vec::new();
    }
    let mut counts = vec![0u64; bins];
    let width = (hi - lo).max(f32::MIN_POSITIVE);
    for v in finite {
        let b = (((v - lo) / width) * bins as f32) as usize;
        counts[b.min(bins - 1)] += 1;
    }
    counts
}

/// Reads, prepares and classifies another image.
pub fn load_input(session: &Session, path: &Path, preprocess: Preprocess) -> Action {
    let loaded = (|| -> Result<(Arc<Input>, Vec<f32>)> {
        let input = Arc::new(Input::load(
            &session.graph,
            &Source::Image(path.to_path_buf()),
            preprocess,
        )?);
        let scores = session.scores(&input)?;
        Ok((input, scores))
    })();
    Action::InputLoaded(loaded.map_err(|e| e.to_string()))
}

/// Writes `files`, each staged first so that a failure leaves none of them (and no file that
/// was there before is replaced by a part).
pub fn export(files: Vec<(PathBuf, Payload)>) -> Action {
    let written = (|| -> Result<Vec<PathBuf>> {
        let mut staged = Vec::new();
        let mut paths = Vec::new();
        for (path, payload) in files {
            // The default export folder is made on the first export, not at start-up.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            let bytes = match payload {
                Payload::Bytes(b) => b,
                Payload::Png(img) => encode_png(&img)
                    .map_err(|e| Error::Input(format!("cannot encode the PNG: {e}")))?,
                Payload::Npy(map) => npy_bytes_f32(&map.artifact.shape(), map.artifact.data()),
            };
            staged.push(stage(&path, &bytes)?);
            paths.push(path);
        }
        for s in staged {
            s.commit()?;
        }
        Ok(paths)
    })();
    Action::Exported(written.map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::histogram;

    #[test]
    fn histogram_bins_span_min_to_max() {
        assert_eq!(
            histogram(&[0.0, 0.1, 0.5, 0.9, 1.0, f32::NAN], 2),
            vec![2, 3]
        );
        assert_eq!(histogram(&[3.0, 3.0], 4), vec![2, 0, 0, 0]);
        assert!(histogram(&[], 4).is_empty());
    }
}
