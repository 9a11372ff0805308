//! `convscope evaluate` end to end: a map from a file scores as the reference says (the
//! numbers of tests/fixtures/make_trust.py's replay of RISE), the methods' table and JSON on
//! the demo, and every bad input one `error:` line with nothing on stdout.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use convscope::imaging::npy::write_npy_f32;
use serde_json::Value;

use crate::common::{e2e_bin, expect_error, fixtures};

fn evaluate() -> Command {
    let mut c = Command::new(e2e_bin());
    c.arg("evaluate");
    c
}

/// `evaluate` on the `sharp` fixture net with its input.
fn on_sharp() -> Command {
    let dir = fixtures().join("trust");
    let mut c = evaluate();
    c.arg(dir.join("sharp.onnx"))
        .arg("--input-npy")
        .arg(dir.join("sharp.input.npy"));
    c
}

fn json_of(c: &mut Command) -> Value {
    let out = c
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn a_map_from_a_file_scores_as_the_reference() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("trust/trust.json")).unwrap(),
    )
    .unwrap();
    let case = &reference["cases"][0];
    assert_eq!(case["net"], "sharp");
    let map = fixtures().join("maps").join(case["map"].as_str().unwrap());
    let v = json_of(
        on_sharp()
            .args(["--road-noise", "0"])
            .arg("--map")
            .arg(&map)
            .args(["--target", &case["target"].to_string()]),
    );
    assert_eq!(v["target"]["index"], case["target"]);
    assert_eq!(v["settings"]["pixels_per_step"], case["step"]);
    let row = &v["maps"][0];
    assert_eq!(row["name"], map.display().to_string());
    for key in ["deletion", "insertion"] {
        let (got, want) = (&row[format!("{key}_auc")], &case[format!("{key}_auc")]);
        assert!(
            (got.as_f64().unwrap() - want.as_f64().unwrap()).abs() < 1e-5,
            "{key}: {got} vs {want}"
        );
        let curve = row["curves"][key].as_array().unwrap();
        assert_eq!(curve.len(), case[key].as_array().unwrap().len());
    }
    let road = row["road_combined"].as_f64().unwrap();
    let want = case["road"]["combined"].as_f64().unwrap();
    assert!((road - want).abs() < 1e-5, "ROAD: {road} vs {want}");
    assert_eq!(row["road"]["morf"].as_array().unwrap().len(), 9);
    let better: Vec<(&str, &str)> = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["figures"].as_array().unwrap())
        .map(|f| (f["key"].as_str().unwrap(), f["better"].as_str().unwrap()))
        .collect();
    assert_eq!(
        better,
        [
            ("deletion_auc", "lower"),
            ("insertion_auc", "higher"),
            ("road_morf", "lower"),
            ("road_lerf", "higher"),
            ("road_combined", "higher"),
        ]
    );
}

#[test]
fn the_demo_scores_its_methods_against_chance_in_a_table_and_in_json() {
    let v = json_of(evaluate().args(["--methods", "gradcam,saliency,random", "--steps", "48"]));
    let names: Vec<&str> = v["maps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gradcam", "saliency", "random"]);
    let auc = |i: usize, k: &str| v["maps"][i][format!("{k}_auc")].as_f64().unwrap();
    for i in 0..3 {
        for k in ["deletion", "insertion"] {
            assert!((0.0..=1.0).contains(&auc(i, k)), "{i} {k}");
        }
    }
    // The demo's own picture: Grad-CAM is far better than chance on it.
    assert!(auc(0, "deletion") < auc(2, "deletion"));
    assert!(auc(0, "insertion") > auc(2, "insertion"));
    assert!(v["maps"][0]["layer"].is_string());
    assert_eq!(v["settings"]["steps"], 48);

    let out = evaluate()
        .args([
            "--methods",
            "gradcam,random",
            "--metrics",
            "insertion",
            "--steps",
            "24",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for want in [
        "target 3 'star'",
        "insertion ↑",
        "gradcam",
        "random",
        "higher is better",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    assert!(!text.contains("deletion ↓"), "{text}");
}

/// A model without weights (global average pooling of a 3x4x4 input: its "classes" are the
/// channels' means) and an input for it, in `dir`.
/// Infidelity and sensitivity, asked for by name: in the JSON under their keys, lower better;
/// seeded (two runs agree); and, as Yeh et al. show for small perturbations, the plain gradient
/// is the least infidel map (its first-order prediction of the score's change is exact).
#[test]
fn infidelity_and_sensitivity_are_reported_and_the_gradient_is_least_infidel() {
    let run = || {
        json_of(evaluate().args([
            "--methods",
            "saliency,ig,gradcam,random",
            "--metrics",
            "infidelity,sensitivity",
        ]))
    };
    let json = run();
    let keys: Vec<&str> = json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["figures"][0]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["infidelity", "sensitivity_max"]);
    assert_eq!(json["metrics"][0]["figures"][0]["better"], "lower");
    let maps = json["maps"].as_array().unwrap();
    let figure =
        |name: &str, key: &str| maps.iter().find(|m| m["name"] == name).unwrap()[key].as_f64();
    let saliency = figure("saliency", "infidelity").unwrap();
    for other in ["ig", "gradcam", "random"] {
        let theirs = figure(other, "infidelity").unwrap();
        println!("infidelity: saliency {saliency:.3e}, {other} {theirs:.3e}");
        assert!(saliency < theirs, "saliency {saliency} vs {other} {theirs}");
    }
    for name in ["saliency", "ig", "gradcam"] {
        assert!(figure(name, "sensitivity_max").unwrap() >= 0.0, "{name}");
    }
    assert_eq!(
        figure("random", "sensitivity_max"),
        None,
        "nothing to recompute"
    );
    let figures = |j: &Value| -> Vec<(Value, Value)> {
        j["maps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["infidelity"].clone(), m["sensitivity_max"].clone()))
            .collect()
    };
    assert_eq!(figures(&run()), figures(&json), "seeded: the same twice");
}

fn bare_model(dir: &Path) -> (PathBuf, PathBuf) {
    use crate::common::onnx::{node, tiny_model, write_model};
    let model = write_model(
        dir,
        "bare",
        &tiny_model(
            vec![
                node("gap", "GlobalAveragePool", &["x"], &["g"]),
                node("flat", "Flatten", &["g"], &["y"]),
            ],
            "y",
        ),
    );
    let input = dir.join("bare.input.npy");
    let values: Vec<f32> = (0..48).map(|v| v as f32).collect();
    write_npy_f32(&input, &[1, 3, 4, 4], &values).unwrap();
    (model, input)
}

/// A method whose map is constant for the input (the bare model's gradient is the same at
/// every pixel) is reported as not scored, and the other maps are still scored.
#[test]
fn a_method_with_a_constant_map_is_reported_and_the_rest_scored() {
    let dir = tempfile::tempdir().unwrap();
    let (model, input) = bare_model(dir.path());
    let v = json_of(evaluate().arg(&model).arg("--input-npy").arg(&input).args([
        "--methods",
        "saliency,random",
        "--metrics",
        "deletion",
        "--steps",
        "4",
    ]));
    let (saliency, random) = (&v["maps"][0], &v["maps"][1]);
    assert!(saliency["problem"]
        .as_str()
        .unwrap()
        .contains("the same everywhere"));
    assert!(saliency["deletion_auc"].is_null());
    assert!(random["problem"].is_null() && random["deletion_auc"].is_number());
}

/// A map file in a fresh folder.
fn map_file(dir: &Path, shape: &[usize], data: &[f32]) -> PathBuf {
    let path = dir.join("map.npy");
    write_npy_f32(&path, shape, data).unwrap();
    path
}

#[test]
fn the_randomization_check_reports_every_layer_top_first() {
    let v = json_of(evaluate().args([
        "--methods",
        "gradcam,random",
        "--metrics",
        "randomization",
        "--randomization",
        "both",
        "--randomize-top",
        "3",
    ]));
    let gradcam = &v["maps"][0];
    let checks = gradcam["randomization"].as_array().unwrap();
    let orders: Vec<&str> = checks
        .iter()
        .map(|c| c["order"].as_str().unwrap())
        .collect();
    assert_eq!(orders, ["cascading", "independent"]);
    for c in checks {
        let steps = c["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 3, "--randomize-top 3");
        assert_eq!(steps[0]["layer"], "predictions", "the top layer first");
        for s in steps {
            assert!(s["ssim"].is_number());
        }
    }
    // The cascading check's last step is the table's figure.
    assert_eq!(
        gradcam["randomization_spearman"],
        checks[0]["steps"][2]["spearman_abs"]
    );
    // The random map is not a method: there is nothing to recompute.
    assert!(v["maps"][1]["randomization"].as_array().unwrap().is_empty());
    assert!(v["maps"][1]["randomization_spearman"].is_null());
}

/// `--plot` and `--strip` write the curves and the randomization strip as PNG, together or
/// not at all.
#[test]
fn the_curves_and_the_strip_are_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let (plot, strip) = (dir.path().join("curves.png"), dir.path().join("strip.png"));
    evaluate()
        .args([
            "--methods",
            "gradcam,random",
            "--randomize-top",
            "4",
            "--steps",
            "24",
        ])
        .arg("--plot")
        .arg(&plot)
        .arg("--strip")
        .arg(&strip)
        .assert()
        .success();
    let plot = image::open(&plot).unwrap();
    assert_eq!(plot.width(), 2 * (320 + 2 * 28), "a panel for each game");
    let strip = image::open(&strip).unwrap();
    assert!(
        strip.width() >= 5 * 96,
        "the original and 4 steps side by side"
    );
    // A strip without the randomization check, or both pictures on one path: refused before
    // any work, nothing written.
    let other = dir.path().join("other.png");
    expect_error(
        evaluate()
            .args(["--metrics", "deletion", "--strip"])
            .arg(&other),
        &["--strip", "randomization"],
    );
    expect_error(
        evaluate()
            .arg("--plot")
            .arg(&other)
            .arg("--strip")
            .arg(&other),
        &["different paths"],
    );
    assert!(!other.exists());
}

/// A map that is 0 over 95% of the picture ties at every MoRF threshold, which would remove
/// every pixel: those percentiles are skipped (null), and so are the means they would make,
/// while LeRF, which removes the zeros, still scores.
#[test]
fn road_skips_the_percentiles_a_map_cannot_split() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f32> = (0..1024)
        .map(|p| if p % 20 == 0 { 1.0 + p as f32 } else { 0.0 })
        .collect();
    let map = map_file(dir.path(), &[32, 32], &values);
    let v = json_of(on_sharp().args(["--metrics", "road", "--map"]).arg(&map));
    let row = &v["maps"][0];
    assert!(row["road"]["morf"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_null));
    assert!(row["road_morf"].is_null() && row["road_combined"].is_null());
    assert!(row["road_lerf"].is_number());
}

#[test]
fn bad_maps_and_arguments_are_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wrong = map_file(d, &[16, 16], &[1.0; 256]);
    expect_error(
        on_sharp().arg("--map").arg(&wrong),
        &["shape (16, 16)", "32x32", "(C, 32, 32)"],
    );
    let mut nan: Vec<f32> = (0..1024).map(|v| v as f32).collect();
    nan[7] = f32::NAN;
    let nan = map_file(d, &[32, 32], &nan);
    expect_error(on_sharp().arg("--map").arg(&nan), &["NaN", "cannot rank"]);
    let flat = map_file(d, &[3, 32, 32], &[0.5; 3 * 1024]);
    expect_error(
        on_sharp().arg("--map").arg(&flat),
        &["the same everywhere", "cannot rank"],
    );
    expect_error(on_sharp().arg("--map").arg(d), &["is a directory", ".npy"]);
    expect_error(
        on_sharp().args(["--steps", "0"]),
        &["--steps 0", "1 or more"],
    );
    expect_error(
        on_sharp().args(["--metrics", "deletion,fidelity"]),
        &["unknown metric 'fidelity'", "deletion, insertion, road"],
    );
    expect_error(evaluate().args(["--methods", "gradcam,magic"]), &["magic"]);
    expect_error(
        evaluate().args(["--methods", "filters"]),
        &["filters", "cannot be scored", "saliency"],
    );
    // Sensitivity recomputes a method's map: a map from a file cannot be.
    let dir = tempfile::tempdir().unwrap();
    let file = map_file(
        dir.path(),
        &[32, 32],
        &(0..1024).map(|i| i as f32).collect::<Vec<_>>(),
    );
    expect_error(
        on_sharp()
            .arg("--map")
            .arg(&file)
            .args(["--metrics", "deletion,sensitivity"]),
        &["sensitivity recomputes a method's map"],
    );
    // Occlusion's map is a probability per window (low is important): refused before any pass.
    expect_error(
        evaluate().args(["--methods", "occlusion"]),
        &["occlusion", "cannot be scored", "gradcam"],
    );
    expect_error(
        evaluate().args(["--methods", "saliency", "--layer", "conv1"]),
        &["--layer", "none of the methods scored is a CAM"],
    );
    expect_error(
        evaluate().args(["--methods", "gradcam", "--layer", "nope"]),
        &["nope"],
    );
    expect_error(
        evaluate()
            .args(["--methods", "gradcam"])
            .arg("--map")
            .arg(&flat),
        &["--map", "--methods"],
    );
    expect_error(
        on_sharp().args(["--target", "10"]),
        &["--target 10", "10 classes"],
    );
    expect_error(
        on_sharp()
            .args(["--metrics", "randomization", "--map"])
            .arg(&nan),
        &["randomization", "--methods"],
    );
    expect_error(
        on_sharp().args(["--randomize-top", "0"]),
        &["--randomize-top 0", "1 or more"],
    );
    // A model with no trainable weights has nothing to randomize.
    let (bare, bare_input) = bare_model(d);
    expect_error(
        evaluate()
            .arg(&bare)
            .arg("--input-npy")
            .arg(&bare_input)
            .args(["--methods", "saliency", "--metrics", "randomization"]),
        &["no layer with trainable weights"],
    );
    expect_error(
        on_sharp().arg("--road-noise=-1"),
        &["--road-noise -1", "0 or more"],
    );
}
