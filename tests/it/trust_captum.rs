//! Infidelity and sensitivity-max (src/trust/infidelity.rs, sensitivity.rs) against captum's
//! own `metrics.infidelity(normalize=True)` and `metrics.sensitivity_max` on the fixture net
//! `sharp` (tests/fixtures/make_trust.py), with the reference's perturbations injected.
//!
//! Tolerance: 1e-3 relative. The scores are float32 logits from two libraries (differences of
//! about 1e-6 relative), and infidelity squares differences of them; the reference's
//! perturbations are large enough (σ 0.1, moves of ±0.3) that those differences are over 1e-2.

use convscope::engine::explain;
use convscope::imaging::npy::read_npy_f32;
use convscope::methods::Control;
use convscope::trust::sensitivity::sensitivity_max;
use convscope::trust::{elements, Evaluator, Ranking, Sign};
use serde_json::Value;

use crate::common::fixtures;
use crate::trust_randomize::sharp;

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("trust/trust.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["robustness"].clone()
}

/// The reference's perturbations: `[infidelity noise, sensitivity moves]`, 10 each.
fn perturbations() -> [Vec<Vec<f32>>; 2] {
    let arr = read_npy_f32(&fixtures().join("trust/perturbations.npy")).unwrap();
    assert_eq!(arr.shape, [2, 10, 3, 32, 32]);
    let one = 3 * 32 * 32;
    let mut sets = arr.data.chunks_exact(10 * one).map(|set| {
        set.chunks_exact(one)
            .map(<[f32]>::to_vec)
            .collect::<Vec<_>>()
    });
    [sets.next().unwrap(), sets.next().unwrap()]
}

fn close(got: f32, want: f64, what: &str) {
    let rel = (f64::from(got) - want).abs() / want.abs().max(1e-12);
    println!("{what}: convscope {got:.6}, captum {want:.6}, relative {rel:.1e}");
    assert!(rel < 1e-3, "{what}: {got} vs captum's {want}");
}

#[test]
fn infidelity_matches_captum_for_an_attribution_and_a_per_pixel_map() {
    let want = reference();
    let net = sharp();
    assert_eq!(want["target"].as_u64().unwrap() as usize, net.target);
    let [noise, _] = perturbations();
    let subject = net.session.subject(&net.input).unwrap();
    let evaluator = Evaluator::new(&net.session, &subject, net.target, 4).unwrap();
    let map = explain(&net.session, &subject, net.request(), Control::default())
        .unwrap()
        .output
        .artifact;
    let spec = evaluator.spec();
    let ranking = Ranking::of_artifact(&map, &spec, Sign::Signed, "saliency").unwrap();
    // The attribution as it is, per input value.
    let attribution = elements(Some(&map), &ranking, &spec, Sign::Signed);
    assert_eq!(attribution, map.data());
    let got = evaluator
        .infidelity_with(&attribution, &noise, &Control::default())
        .unwrap();
    close(
        got,
        want["infidelity_saliency"].as_f64().unwrap(),
        "infidelity",
    );
    // A per-pixel map (channels summed), the same on every channel.
    let per_pixel = elements(None, &ranking, &spec, Sign::Signed);
    let got = evaluator
        .infidelity_with(&per_pixel, &noise, &Control::default())
        .unwrap();
    close(
        got,
        want["infidelity_per_pixel"].as_f64().unwrap(),
        "infidelity of the per-pixel map",
    );
}

#[test]
fn sensitivity_max_matches_captum() {
    let want = reference();
    let net = sharp();
    let [_, moves] = perturbations();
    let subject = net.session.subject(&net.input).unwrap();
    let original = explain(&net.session, &subject, net.request(), Control::default())
        .unwrap()
        .output
        .artifact;
    let request = || net.request();
    let got = sensitivity_max(
        &net.session,
        &net.input,
        &request,
        &original,
        &moves,
        &Control::default(),
    )
    .unwrap();
    close(
        got,
        want["sensitivity_max_saliency"].as_f64().unwrap(),
        "sensitivity-max",
    );
}
