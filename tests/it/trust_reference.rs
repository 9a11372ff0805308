//! Deletion and insertion against the reference: `tests/fixtures/make_trust.py` replays RISE's
//! `CausalMetric.single_run` step by step (onnxruntime for the model, torch's conv2d with
//! RISE's `gkern` for the insertion blur) on the same nets, inputs and maps.
//!
//! Tolerances: 1e-5 absolute on every point of every curve and on the areas. The points are
//! softmax probabilities of float32 forward passes (convscope's batched, onnxruntime's one at a
//! time) that differ in the last bits of the logits; a single pixel put in the wrong place or
//! a wrong substrate moves `sharp`'s points by 1e-3 or more (its probabilities span 0.1–0.995).
//! The kernel is compared within 1e-9 (float32 of scipy's float64 values).
//!
//! ROAD against pytorch-grad-cam 1.5's own `ROADMostRelevantFirst`, `ROADLeastRelevantFirst`
//! and `ROADCombined` at noise 0, within 1e-5 absolute per percentile and combined: the same
//! float32 thresholds pick the same pixels, the imputation is solved to a relative residual
//! of 1e-10 here and directly (SuperLU) there, and the probabilities differ as above.

use std::sync::Arc;

use candle_core::Device;
use convscope::engine::Session;
use convscope::import::onnx;
use convscope::input::preprocess::Preprocess;
use convscope::input::{Input, Source};
use convscope::methods::Control;
use convscope::trust::{rise, Evaluator, Metric, Ranking, Settings, Sign};
use serde_json::Value;

use crate::common::fixtures;

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("trust/trust.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn the_insertion_blur_kernel_is_rises_gkern() {
    let want = floats(&reference()["gkern"]);
    let got = rise::kernel();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-9, "{g} vs {w}");
    }
}

#[test]
fn deletion_and_insertion_replay_rises_causal_metric() {
    for case in reference()["cases"].as_array().unwrap() {
        let net = case["net"].as_str().unwrap();
        let folder = match net {
            "sharp" => fixtures().join("trust"),
            _ => fixtures().join("nets"),
        };
        let graph = onnx::load(&folder.join(format!("{net}.onnx"))).unwrap();
        let session = Session::new(graph, Device::Cpu).unwrap();
        let input_file = match net {
            "sharp" => folder.join("sharp.input.npy"),
            _ => folder.join(format!("{net}.input.npy")),
        };
        let input = Arc::new(
            Input::load(
                &session.graph,
                &Source::Npy(input_file),
                Preprocess::Imagenet,
            )
            .unwrap(),
        );
        let subject = session.subject(&input).unwrap();
        let target = case["target"].as_u64().unwrap() as usize;
        let evaluator = Evaluator::new(&session, &subject, target, 16).unwrap();
        let what = format!("{net} / {} / steps {}", case["map"], case["steps"]);
        let clean = case["clean_prob"].as_f64().unwrap() as f32;
        assert!(
            (evaluator.clean_probability() - clean).abs() < 1e-5,
            "{what}"
        );

        let map = convscope::imaging::npy::read_npy_f32(
            &fixtures().join("maps").join(case["map"].as_str().unwrap()),
        )
        .unwrap();
        let ranking = Ranking::of_array(
            &map.shape,
            &map.data,
            &evaluator.spec(),
            Sign::Signed,
            "map",
        )
        .unwrap();
        let settings = Settings {
            steps: case["steps"].as_u64().unwrap() as usize,
            ..Settings::default()
        };
        let scores = evaluator
            .score(
                &ranking,
                &[Metric::Deletion, Metric::Insertion],
                &settings,
                &Control::default(),
            )
            .unwrap();
        for (key, curve) in [
            ("deletion", &scores.deletion),
            ("insertion", &scores.insertion),
        ] {
            let curve = curve.as_ref().unwrap();
            assert_eq!(curve.step as u64, case["step"].as_u64().unwrap(), "{what}");
            let want = floats(&case[key]);
            assert_eq!(curve.probs.len(), want.len(), "{what} {key}: points");
            let worst = curve
                .probs
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{what} {key}: a point is {worst} off");
            let auc = case[format!("{key}_auc")].as_f64().unwrap() as f32;
            assert!(
                (curve.auc - auc).abs() < 1e-5,
                "{what} {key}: area {} vs {auc}",
                curve.auc
            );
        }
        if case.get("road").is_none() {
            continue;
        }
        let settings = Settings {
            road_noise: 0.0,
            ..settings
        };
        let road = evaluator
            .score(&ranking, &[Metric::Road], &settings, &Control::default())
            .unwrap()
            .road
            .unwrap();
        let want = &case["road"];
        for (key, got) in [("morf", &road.morf), ("lerf", &road.lerf)] {
            let want = floats(&want[key]);
            assert_eq!(got.len(), want.len());
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                let g = g.expect("no percentile skipped");
                assert!(
                    (g - w).abs() < 1e-5,
                    "{what} ROAD {key} at {}%: {g} vs {w}",
                    10 * (k + 1)
                );
            }
        }
        let combined = want["combined"].as_f64().unwrap() as f32;
        assert!(
            (road.combined - combined).abs() < 1e-5,
            "{what} ROAD combined: {} vs {combined}",
            road.combined
        );
    }
}
