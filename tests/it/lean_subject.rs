//! A subject whose clean pass keeps only the scores, the map's layer and what the reverse
//! passes read (`Subject::reading`, which `render` uses for one gradient or CAM map) gives
//! every gradient and CAM method's map bit for bit as a full clean pass does, on the demo and
//! on fixture networks with batch norm, residual sums, depthwise convolutions and
//! concatenations, while that pass holds less.

use std::sync::Arc;

use candle_core::Device;
use convscope::engine::{explain, Request, Session, Subject};
use convscope::input::preprocess::Preprocess;
use convscope::input::{Input, Source};
use convscope::methods::{self, cam, Control, Family, LayerNeed, Objective, Options};
use convscope::model::Graph;
use tempfile::TempDir;

use crate::cli_many::pictures;
use crate::common::fixtures;

fn lean_equals_full(what: &str, graph: Graph) {
    let session = Session::new(graph, Device::Cpu).unwrap();
    let dir = TempDir::new().unwrap();
    let rel = &pictures(dir.path(), 1)[0];
    let source = Source::Image(dir.path().join(rel));
    let input = Arc::new(Input::load(&session.graph, &source, Preprocess::Imagenet).unwrap());
    let scores = session.graph.logits_layer();
    let layer = cam::default_layer(&session.graph).unwrap();
    let chosen: Vec<_> = methods::all()
        .into_iter()
        .filter(|m| matches!(m.info().family, Family::Gradient | Family::Cam))
        .collect();
    assert!(chosen.len() >= 12, "{}", chosen.len());
    for method in chosen {
        let id = method.info().id;
        let request = || Request {
            method,
            layer: (method.info().layer != LayerNeed::None).then_some(layer),
            objective: Objective::Class { scores, class: 1 },
            options: Options::Default,
            batch: 4,
        };
        let full = Subject::new(&session, input.clone()).unwrap();
        let lean = Subject::new(&session, input.clone())
            .unwrap()
            .reading(vec![scores, layer]);
        let want = explain(&session, &full, request(), Control::default()).unwrap();
        let got = explain(&session, &lean, request(), Control::default()).unwrap();
        let (g, w) = (got.output.artifact.data(), want.output.artifact.data());
        assert!(
            g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()) && g.len() == w.len(),
            "{what} {id}: the lean clean pass changed the map"
        );
        assert_eq!(got.facts.target, want.facts.target, "{what} {id}");
        let (lean_bytes, full_bytes) = (
            lean.cached().unwrap().kept_bytes(),
            full.cached().unwrap().kept_bytes(),
        );
        assert!(
            lean_bytes < full_bytes,
            "{what} {id}: the lean pass holds {lean_bytes} bytes, the full one {full_bytes}"
        );
    }
}

#[test]
fn a_lean_clean_pass_gives_every_gradient_and_cam_map_of_a_full_one() {
    lean_equals_full("demo", convscope::import::demo::graph().unwrap());
    for net in ["resnet_like", "mobilenet_like", "densenet_like"] {
        let path = fixtures().join(format!("nets/{net}.onnx"));
        lean_equals_full(
            net,
            convscope::import::open_model(path.to_str().unwrap()).unwrap(),
        );
    }
}
