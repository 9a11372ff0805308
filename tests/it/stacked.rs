//! Several images in one pass (`engine::Together`, `--images-per-pass`): each image's map is
//! the one a pass of that image alone gives, for every stackable method (the gradient and CAM
//! methods from a stacked pass that keeps only what they read, as `render` runs them), on the demo and on
//! fixture networks with batch norm, residual sums and depthwise convolutions; rows with
//! different targets keep their own gradients; and the dataset commands give the same
//! manifests and maps with several images a pass as with one.
//!
//! Tolerance: 1e-5 of the map's largest magnitude. A batch can change how matrix products are
//! blocked (and a dense layer's product is no longer a vector product), so float sums may round
//! differently: at 4 a pass these nets show no difference at all today (the tests print the
//! largest), while the demo's saliency at 16 a pass differs in the last bits; a ReLU whose
//! input is within rounding of zero could flip a gradient path, which these pictures do not
//! hit.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;
use convscope::engine::{explain, Request, Session, Subject, Together};
use convscope::input::preprocess::Preprocess;
use convscope::input::{Input, Source};
use convscope::methods::{self, cam, Control, Family, LayerNeed, Objective, Options};
use convscope::model::Graph;
use tempfile::TempDir;

use crate::cli_many::{convscope, pictures, records};
use crate::common::{fixtures, rel_max_err_of};

const TOLERANCE: f32 = 1e-5;

fn inputs(graph: &Graph, dir: &Path, n: usize) -> Vec<Arc<Input>> {
    pictures(dir, n)
        .iter()
        .map(|rel| {
            let source = Source::Image(dir.join(rel));
            Arc::new(Input::load(graph, &source, Preprocess::Imagenet).unwrap())
        })
        .collect()
}

fn request(session: &Session, method: &'static dyn methods::Method, class: usize) -> Request {
    Request {
        method,
        layer: (method.info().layer != LayerNeed::None)
            .then(|| cam::default_layer(&session.graph).unwrap()),
        objective: Objective::Class {
            scores: session.graph.logits_layer(),
            class,
        },
        options: Options::Default,
        batch: 1,
    }
}

/// Every stackable method on `graph`: each image explained together with the others (for the
/// class `class(i)`) against the same image alone.
fn together_equals_alone(what: &str, graph: Graph, class: impl Fn(usize) -> usize) {
    let session = Session::new(graph, Device::Cpu).unwrap();
    let dir = TempDir::new().unwrap();
    let inputs = inputs(&session.graph, dir.path(), 4);
    let stackable: Vec<_> = methods::all()
        .into_iter()
        .filter(|m| m.info().stackable)
        .collect();
    assert!(stackable.len() >= 10, "{}", stackable.len());
    let mut largest = 0f32;
    for method in stackable {
        let id = method.info().id;
        let mut blank = 0;
        // As `render` makes them (`Subject::for_map`): a gradient or CAM map's subjects keep
        // only the scores and the map's layer of their clean pass (and what the reverse passes
        // read).
        let lean = matches!(method.info().family, Family::Gradient | Family::Cam);
        let layer = cam::default_layer(&session.graph).unwrap();
        let subjects: Vec<Subject> = inputs
            .iter()
            .map(|i| Subject::new(&session, i.clone()).unwrap())
            .map(|s| s.for_map(&session.graph, method, Some(layer)))
            .collect();
        let together = Together::forward(&session, &subjects, &Default::default()).unwrap();
        let requests = (0..inputs.len())
            .map(|i| Ok(request(&session, method, class(i))))
            .collect();
        let stacked = together.explain(requests, &Control::default());
        for (i, got) in stacked.into_iter().enumerate() {
            let got = got.unwrap_or_else(|e| panic!("{what} {id} image {i}: {e}"));
            let alone = Subject::new(&session, inputs[i].clone()).unwrap();
            let want = explain(
                &session,
                &alone,
                request(&session, method, class(i)),
                Control::default(),
            )
            .unwrap();
            let (g, w) = (got.output.artifact.data(), want.output.artifact.data());
            let err = rel_max_err_of(g, w);
            assert!(err <= TOLERANCE, "{what} {id} image {i}: {err:e}");
            largest = largest.max(err);
            assert_eq!(got.facts.target, want.facts.target, "{what} {id} image {i}");
            let held = |s: &Subject| s.cached().unwrap().kept_bytes();
            assert!(
                !lean || held(&subjects[i]) < held(&alone),
                "{what} {id}: the stacked pass keeps only what the map reads"
            );
            let shared = got.output.extras.get("stacked").is_some();
            assert!(
                shared,
                "{what} {id}: the record says the passes were shared"
            );
            // A CAM of a class with no positive evidence is blank (relu); not all may be.
            blank += usize::from(w.iter().all(|v| *v == 0.0));
        }
        assert!(blank < inputs.len(), "{what} {id}: every map is blank");
    }
    println!("{what}: largest difference, together vs alone: {largest:e} of the map's range");
}

#[test]
fn each_image_of_a_stack_gets_its_own_map_on_the_demo() {
    // Different classes for different rows: each row's gradient must be its own objective's.
    together_equals_alone("demo", convscope::import::demo::graph().unwrap(), |i| i % 3);
}

#[test]
fn each_image_of_a_stack_gets_its_own_map_on_fixture_networks() {
    for net in ["resnet_like", "mobilenet_like", "densenet_like"] {
        let path = fixtures().join(format!("nets/{net}.onnx"));
        let graph = convscope::import::open_model(path.to_str().unwrap()).unwrap();
        let classes = graph.classes();
        together_equals_alone(net, graph, |i| (i * 7) % classes);
    }
}

#[test]
fn a_row_that_cannot_be_asked_gets_its_error_and_the_others_their_maps() {
    let session = Session::new(convscope::import::demo::graph().unwrap(), Device::Cpu).unwrap();
    let dir = TempDir::new().unwrap();
    let subjects: Vec<Subject> = inputs(&session.graph, dir.path(), 3)
        .into_iter()
        .map(|i| Subject::new(&session, i).unwrap())
        .collect();
    let together = Together::forward(&session, &subjects, &Default::default()).unwrap();
    let gradcam = methods::by_id("gradcam").unwrap();
    let requests = vec![
        Ok(request(&session, gradcam, 0)),
        Err(convscope::error::Error::Usage(
            "no target for this one".into(),
        )),
        Ok(request(&session, gradcam, 1)),
    ];
    let out = together.explain(requests, &Control::default());
    assert!(out[0].is_ok() && out[2].is_ok());
    let err = out[1].as_ref().err().unwrap().to_string();
    assert!(err.contains("no target for this one"), "{err}");
}

fn npys(dir: &Path) -> Vec<(PathBuf, Vec<f32>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "npy") {
                let t = crate::common::npy_tensor(&p);
                found.push((p.strip_prefix(dir).unwrap().to_path_buf(), flat(&t)));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn flat(t: &candle_core::Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// What a manifest's records must share between one and several images a pass: path, status
/// and target class (the files' bytes and the report's numbers agree to rounding; the maps
/// are compared below).
fn comparable(path: &Path) -> Vec<(String, String, serde_json::Value)> {
    records(path)
        .into_iter()
        .map(|(rel, r)| {
            (
                rel,
                r["status"].as_str().unwrap().to_string(),
                r["target"]["index"].clone(),
            )
        })
        .collect()
}

#[test]
fn render_and_predict_give_the_same_results_with_several_images_a_pass() {
    let d = TempDir::new().unwrap();
    let images = d.path().join("images");
    pictures(&images, 7);
    // A corrupt image in the middle: recorded, and the groups go on around it.
    fs::write(images.join("d1/sub0/broken.png"), b"not a png").unwrap();
    let run = |method: &str, per_pass: &str, out: &str| {
        let out = d.path().join(out);
        convscope()
            .args(["render", method, "--images"])
            .arg(&images)
            .arg("-o")
            .arg(&out)
            .args(["--npy", "--images-per-pass", per_pass])
            .assert()
            .code(3);
        out
    };
    for method in ["gradcam", "saliency"] {
        let one = run(method, "1", &format!("{method}-1"));
        let three = run(method, "3", &format!("{method}-3"));
        let (a, b) = (
            comparable(&one.join("manifest.jsonl")),
            comparable(&three.join("manifest.jsonl")),
        );
        assert_eq!(a, b, "{method}");
        assert_eq!(a.len(), 8);
        // Seven images that decode, three a pass: two shared passes and one image alone.
        let stacked = records(&three.join("manifest.jsonl"));
        let shared = stacked.values().filter(|r| r["stacked"] == true).count();
        assert_eq!(shared, 6, "{method}");
        let alone = records(&one.join("manifest.jsonl"));
        assert!(alone.values().all(|r| r.get("stacked").is_none()));
        let (x, y) = (npys(&one), npys(&three));
        assert_eq!(x.len(), 7);
        for ((p, m), (q, n)) in x.iter().zip(&y) {
            assert_eq!(p, q);
            let err = rel_max_err_of(n, m);
            assert!(err <= TOLERANCE, "{method} {}: {err:e}", p.display());
        }
    }
    let predict = |per_pass: &str| {
        let out = d.path().join(format!("predict-{per_pass}"));
        convscope()
            .args(["predict", "--images"])
            .arg(&images)
            .arg("-o")
            .arg(&out)
            .args(["--images-per-pass", per_pass])
            .assert()
            .code(3);
        records(&out.join("manifest.jsonl"))
    };
    let (one, four) = (predict("1"), predict("4"));
    assert_eq!(one.len(), 8);
    for (rel, r) in &one {
        let (a, b) = (&r["top"], &four[rel]["top"]);
        let classes = |t: &serde_json::Value| -> Vec<u64> {
            t.as_array().map_or(Vec::new(), |v| {
                v.iter().map(|c| c["index"].as_u64().unwrap()).collect()
            })
        };
        assert_eq!(classes(a), classes(b), "{rel}");
        for (p, q) in a
            .as_array()
            .into_iter()
            .flatten()
            .zip(b.as_array().into_iter().flatten())
        {
            let (p, q) = (p["prob"].as_f64().unwrap(), q["prob"].as_f64().unwrap());
            assert!((p - q).abs() <= 1e-6, "{rel}: {p} vs {q}");
        }
    }
}

#[test]
fn images_per_pass_is_refused_where_it_cannot_apply() {
    let d = TempDir::new().unwrap();
    let images = d.path().join("images");
    pictures(&images, 2);
    let out = d.path().join("out");
    let refuse = |args: &[&str], words: &[&str]| {
        let mut cmd = convscope();
        cmd.args(args)
            .arg("--images")
            .arg(&images)
            .arg("-o")
            .arg(&out);
        crate::common::expect_error(&mut cmd, words);
    };
    refuse(
        &["render", "occlusion", "--images-per-pass", "4"],
        &["--images-per-pass", "occlusion", "gradcam", "saliency"],
    );
    refuse(
        &["render", "gradcam", "--images-per-pass", "0"],
        &["--images-per-pass", "at least 1"],
    );
    refuse(
        &["evaluate", "--images-per-pass", "4"],
        &["--images-per-pass", "render and predict"],
    );
    assert!(!out.exists(), "a refused command writes nothing");
}
