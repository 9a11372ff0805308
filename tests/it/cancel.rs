//! The long methods report progress through `methods::Control` and stop at the next batch once
//! their cancel token is set: what the TUI's progress gauge and Esc rely on.

use std::sync::{Arc, Mutex};

use crate::common::{fixtures, npy_tensor};
use candle_core::Device;
use convscope::error::Error;
use convscope::exec::Params;
use convscope::import::onnx;
use convscope::methods::{
    self, ActMaxOptions, CancelToken, Control, Cx, IgOptions, Objective, OcclusionOptions, Options,
    Progress, SmoothGradOptions,
};

/// The long methods, each with options that make it take several batches (of 2).
fn long_methods() -> Vec<(&'static str, Options)> {
    vec![
        (
            "occlusion",
            Options::Occlusion(OcclusionOptions {
                window: vec![4, 4],
                stride: vec![4, 4],
                ..OcclusionOptions::default()
            }),
        ),
        ("scorecam", Options::Default),
        (
            "smoothgrad",
            Options::SmoothGrad(SmoothGradOptions {
                samples: 8,
                ..SmoothGradOptions::default()
            }),
        ),
        (
            "ig",
            Options::Ig(IgOptions {
                steps: 8,
                ..IgOptions::default()
            }),
        ),
        (
            "actmax",
            Options::ActMax(ActMaxOptions {
                steps: Some(4),
                ..ActMaxOptions::default()
            }),
        ),
    ]
}

/// Runs `method` on the vgg-like fixture net with `control`; returns the result and the reports.
fn run(
    method: &str,
    options: Options,
    cancel_at: Option<usize>,
) -> (Result<(), Error>, Vec<Progress>) {
    let graph = onnx::load(&fixtures().join("nets/vgg_like.onnx")).unwrap();
    let params = Params::load(&graph, &Device::Cpu).unwrap();
    let input = npy_tensor(&fixtures().join("nets/vgg_like.input.npy"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let token = CancelToken::new();
    let (s, t) = (seen.clone(), token.clone());
    let control = Control::new(token, move |p| {
        let mut seen = s.lock().unwrap();
        seen.push(p);
        if Some(seen.len()) == cancel_at {
            t.cancel();
        }
    });
    let layer = methods::cam::default_layer(&graph);
    let mut cx = Cx::new(
        &graph,
        &params,
        input,
        Objective::Class {
            scores: graph.logits_layer(),
            class: 3,
        },
        control,
    );
    cx.layer = layer;
    cx.options = options;
    cx.batch = 2;
    let result = methods::by_id(method).unwrap().run(&mut cx).map(|_| ());
    let seen = seen.lock().unwrap().clone();
    (result, seen)
}

#[test]
fn long_methods_report_progress_to_the_end() {
    for (method, options) in long_methods() {
        let (result, seen) = run(method, options, None);
        result.unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(seen.len() > 2, "{method}: only {} reports", seen.len());
        let last = seen.last().unwrap();
        assert_eq!(last.done, last.total, "{method}: last report {last:?}");
        assert!(
            seen.windows(2)
                .all(|w| w[0].done < w[1].done && w[0].total == w[1].total),
            "{method}: progress not increasing: {seen:?}"
        );
    }
}

#[test]
fn long_methods_stop_at_the_next_batch_once_cancelled() {
    for (method, options) in long_methods() {
        let (result, seen) = run(method, options, Some(1));
        assert!(
            matches!(result, Err(Error::Cancelled)),
            "{method}: expected a cancel, got {result:?}"
        );
        // Cancelled at the first report: no further batch ran.
        assert_eq!(seen.len(), 1, "{method}: ran on after the cancel: {seen:?}");
        assert!(seen[0].done < seen[0].total, "{method}: {seen:?}");
    }
}
