//! The interface's Trust view on the demo model: its rows are the maps computed so far, its
//! numbers are `crate::trust`'s for the same maps (the ones `convscope evaluate` prints), what
//! is missing is computed in the background in order and cached, Esc stops it, and `e`
//! exports the table and the pictures.

use crate::tui::harness::{options, Harness};
use std::sync::Arc;

use convscope::jobs::{Key, Part};
use convscope::methods::{Control, Objective, Options};
use convscope::trust::{Evaluator, Metric, Ranking, Settings, Sign};
use convscope::tui::action::Action;
use convscope::tui::state::{Job, Mode};
use convscope::tui::trust::{rows, Outcome, RANDOM};
use convscope::tui::view::View;

fn names(h: &Harness) -> Vec<String> {
    rows(&h.state).into_iter().map(|r| r.name).collect()
}

fn outcome(h: &Harness, row: usize, part: Part) -> Option<Outcome> {
    let rows = rows(&h.state);
    rows[row].outcome(&h.state, part).cloned()
}

#[test]
fn the_table_scores_the_maps_computed_so_far_as_evaluate_does() {
    let mut h = Harness::demo();
    // Grad-CAM was computed at start; Saliency now; Filters cannot be scored.
    h.press("3");
    h.press("1T");
    assert_eq!(h.state.view, View::trust());
    assert_eq!(names(&h), ["saliency", "gradcam", RANDOM]);
    assert!(matches!(h.state.job, Job::Idle));
    for row in 0..3 {
        let faithful = outcome(&h, row, Part::Faithfulness).expect("scored");
        let scores = faithful.expect("no problem");
        assert!(scores.deletion.is_some() && scores.insertion.is_some() && scores.road.is_some());
    }
    let randomized = outcome(&h, 1, Part::Randomization).unwrap().unwrap();
    let check = &randomized.randomization[0];
    assert_eq!(
        check.steps.len(),
        convscope::trust::randomize::parameterized(&h.session.graph).len()
    );
    assert!(
        outcome(&h, 2, Part::Randomization).is_none(),
        "the random map has no model"
    );

    // The same numbers from the library, as `evaluate --methods gradcam` computes them.
    let session = &h.session;
    let subject = session.subject(&h.state.input).unwrap();
    let target = h.state.target;
    let evaluator = Evaluator::new(session, &subject, target, session.batch).unwrap();
    let gradcam = convscope::methods::by_id("gradcam").unwrap();
    let layer = rows(&h.state)[1].layer;
    let done = convscope::engine::explain(
        session,
        &subject,
        convscope::engine::Request {
            method: gradcam,
            layer,
            objective: Objective::Class {
                scores: session.graph.logits_layer(),
                class: target,
            },
            options: Options::Default,
            batch: session.batch,
        },
        Control::default(),
    )
    .unwrap();
    let ranking = Ranking::of_artifact(
        &done.output.artifact,
        &evaluator.spec(),
        Sign::Signed,
        "gradcam",
    )
    .unwrap();
    let metrics = [Metric::Deletion, Metric::Insertion, Metric::Road];
    let direct = evaluator
        .score(
            &ranking,
            &metrics,
            &Settings::default(),
            &Control::default(),
        )
        .unwrap();
    let shown = outcome(&h, 1, Part::Faithfulness).unwrap().unwrap();
    assert_eq!(
        shown.deletion.as_ref().unwrap().auc,
        direct.deletion.unwrap().auc
    );
    assert_eq!(
        shown.insertion.as_ref().unwrap().auc,
        direct.insertion.unwrap().auc
    );
    assert_eq!(
        shown.road.as_ref().unwrap().combined,
        direct.road.unwrap().combined
    );
    println!(
        "gradcam on the demo picture: deletion {:.4}, insertion {:.4}, ROAD {:.4}, ρ after full randomization {:?}",
        shown.deletion.as_ref().unwrap().auc,
        shown.insertion.as_ref().unwrap().auc,
        shown.road.as_ref().unwrap().combined,
        check.steps.last().unwrap().spearman_abs
    );

    // The screen shows the table, its directions and the best values.
    let screen = h.screen(120, 40);
    for text in [
        "deletion ↓",
        "insertion ↑",
        "ROAD ↑",
        "rand. ρ ↓",
        "saliency",
        "gradcam",
        "random",
        "*",
    ] {
        assert!(screen.contains(text), "{text} missing from\n{screen}");
    }
    // Each randomization check reached the view a layer at a time before its result.
    let layers = convscope::trust::randomize::parameterized(&h.session.graph).len();
    assert_eq!(h.partials, 2 * layers, "saliency's and Grad-CAM's steps");
    // The curves of every map, the strip of the selected one (Saliency's, the first); the
    // random map has none.
    assert!(h.state.trust.figures.curves.is_some() && h.state.trust.figures.strip.is_some());
    h.press("]]");
    assert_eq!(h.state.trust.selected, 2);
    assert!(h.state.trust.figures.strip.is_none());
    h.press("]");
    assert_eq!(h.state.trust.selected, 0, "`]` wraps around");
}

#[test]
fn results_are_cached_and_a_new_target_computes_its_maps_first() {
    let mut h = Harness::demo();
    h.press("T");
    let submits = |h: &Harness, from: usize| -> Vec<String> {
        h.log[from..]
            .iter()
            .filter(|l| l.starts_with("submit"))
            .cloned()
            .collect()
    };
    // Away and back: nothing is computed again.
    let from = h.log.len();
    h.press("7T");
    assert!(submits(&h, from).is_empty());
    // Another target: Grad-CAM's map for it, then the scores, in that order.
    let from = h.log.len();
    h.press("tcirc<Enter>");
    assert_eq!(h.state.label(h.state.target), "circle");
    let new = submits(&h, from);
    assert_eq!(
        new,
        [
            "submit gradcam",
            "submit gradcam faithfulness",
            "submit random faithfulness",
            "submit gradcam randomization"
        ]
    );
    let shown = outcome(&h, 0, Part::Faithfulness).unwrap().unwrap();
    assert!(shown.deletion.is_some());
    // The map computed for the Trust view serves the Grad-CAM tab at once.
    let from = h.log.len();
    h.press("7");
    assert!(submits(&h, from).is_empty());
}

#[test]
fn esc_stops_the_scoring_and_choosing_the_tab_goes_on() {
    let mut h = Harness::demo();
    h.keys("T");
    assert!(matches!(
        &h.state.job,
        Job::Running {
            key: Key::Trust(_),
            ..
        }
    ));
    h.keys("<Esc>");
    assert!(h.state.trust.paused);
    h.settle(); // the cancelled job's late result is dropped; nothing new starts
    assert!(matches!(h.state.job, Job::Cancelled(_)));
    assert!(outcome(&h, 0, Part::Faithfulness).is_none());
    let m = h.state.message.clone().expect("a message");
    assert!(m.text.contains("stopped scoring"), "{m:?}");
    h.press("T");
    assert!(!h.state.trust.paused);
    assert!(outcome(&h, 0, Part::Randomization).is_some());
}

#[test]
fn export_writes_the_table_as_csv_and_json_and_the_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with(options(dir.path().to_path_buf()));
    // The random map's row selected: it has no strip.
    h.press("T");
    h.press("]");
    h.press("e");
    let m = h.state.message.clone().expect("a message");
    assert!(!m.error, "{m:?}");
    let stem = dir.path().join("star.trust.star");
    let file = |suffix: &str| std::path::PathBuf::from(format!("{}{suffix}", stem.display()));
    let csv = std::fs::read_to_string(file(".csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "map,layer,deletion_auc,insertion_auc,road_morf,road_lerf,road_combined,randomization_spearman,problem"
    );
    assert_eq!(lines.count(), 2, "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file(".json")).unwrap()).unwrap();
    assert_eq!(json["target"]["label"], "star");
    assert_eq!(json["settings"]["ranking"], "signed");
    assert_eq!(json["settings"]["steps"], 224);
    assert!(json["settings"]["randomize_top"].is_null(), "every layer");
    let maps = json["maps"].as_array().unwrap();
    assert_eq!(maps[0]["name"], "gradcam");
    assert!(maps[0]["deletion_auc"].as_f64().is_some());
    assert!(
        maps[0]["randomization"][0]["steps"]
            .as_array()
            .unwrap()
            .len()
            > 1
    );
    assert_eq!(maps[1]["name"], RANDOM);
    let curves = image::open(file(".curves.png")).unwrap();
    assert!(curves.width() > curves.height());
    // The strip is the selected row's: none for the random map, Grad-CAM's after `[`.
    assert!(!file(".gradcam.strip.png").exists());
    assert!(!file(".random.strip.png").exists());
    h.press("[e");
    assert_eq!(h.state.trust.selected, 0);
    assert!(image::open(file(".gradcam.strip.png")).is_ok());
}

/// The Trust tab scored, at both sizes: the table with its swatches and stars, the status
/// line, the curves and the strip (half-blocks), and the tab bar scrolled to show `T:Trust`.
#[test]
fn snapshots() {
    let mut h = Harness::demo();
    h.press("3");
    h.press("T");
    for (w, height) in [(80, 24), (120, 40)] {
        let screen = h.screen(w, height);
        assert!(screen.contains("T:Trust"), "{screen}");
        insta::assert_snapshot!(format!("trust_{w}x{height}"), screen);
    }
}

/// A view's key holds only the options its method reads: a new occlusion window neither
/// recomputes Grad-CAM nor gives the Trust table a second Grad-CAM row.
#[test]
fn options_a_map_does_not_read_do_not_make_it_new() {
    let mut h = Harness::demo();
    h.press("8");
    h.press("p<BS><BS>24<Enter>");
    assert_eq!(h.state.knobs.window, 24);
    let from = h.log.len();
    h.press("7");
    assert!(
        !h.log[from..].iter().any(|l| l.starts_with("submit")),
        "{:?}",
        &h.log[from..]
    );
    h.press("T");
    assert_eq!(names(&h), ["gradcam", RANDOM]);
}

/// While a map's randomization check runs, its strip is drawn as far as it has got; a strip
/// from a superseded job is dropped.
#[test]
fn the_strip_grows_while_the_check_runs() {
    // A finished check of Grad-CAM, to feed back a step at a time.
    let mut done = Harness::demo();
    done.press("T");
    let key = rows(&done.state)[0].key(&done.state, Part::Randomization);
    let full = done
        .state
        .trust
        .scores
        .peek(&key)
        .cloned()
        .unwrap()
        .unwrap();
    let full = full.randomization[0].clone();

    let mut h = Harness::demo();
    h.keys("T");
    for _ in 0..10 {
        if matches!(&h.state.job, Job::Running { key: Key::Trust(k), .. } if **k == key) {
            break;
        }
        h.step();
    }
    let Job::Running { ticket, .. } = h.state.job.clone() else {
        panic!("the check is not running: {:?}", h.state.job)
    };
    assert!(h.state.trust.figures.strip.is_none(), "no step yet");
    let mut partial = full.clone();
    partial.steps.truncate(2);
    h.act(Action::JobPartial {
        ticket,
        check: Arc::new(partial),
    });
    assert!(
        h.state.trust.figures.strip.is_some(),
        "the strip so far is drawn"
    );
    h.act(Action::JobPartial {
        ticket: ticket + 100,
        check: Arc::new(full),
    });
    assert_eq!(h.state.trust.partial.as_ref().unwrap().1.steps.len(), 2);
}

/// `p` on the Trust tab edits evaluate's options; a change redoes only the parts that read it:
/// the layers randomized redo the checks, the ranking's sign the faithfulness scores.
#[test]
fn the_trust_options_redo_only_what_they_change() {
    let mut h = Harness::demo();
    h.press("T");
    h.press("p");
    let Mode::Knobs(form) = &h.state.mode else {
        panic!("{:?}", h.state.mode)
    };
    assert_eq!(form.fields.len(), 5);
    let screen = h.screen(120, 40);
    assert!(
        screen.contains("Trust options") && screen.contains("randomize top"),
        "{screen}"
    );
    // To the third field (randomize top), "all" → 2.
    let from = h.log.len();
    h.press("<Down><Down><BS><BS><BS>2<Enter>");
    assert_eq!(h.state.knobs.trust.randomize_top, Some(2));
    let submits = |h: &Harness| -> Vec<String> {
        h.log[from..]
            .iter()
            .filter(|l| l.starts_with("submit"))
            .cloned()
            .collect()
    };
    assert_eq!(submits(&h), ["submit gradcam randomization"]);
    let check = outcome(&h, 0, Part::Randomization).unwrap().unwrap();
    assert_eq!(check.randomization[0].steps.len(), 2);
    // Rank by |map|: the faithfulness scores again, the check kept.
    let from = h.log.len();
    h.press("p<Down><Down><Down><BS><BS><BS>on<Enter>");
    assert!(h.state.knobs.trust.abs);
    let again: Vec<String> = h.log[from..]
        .iter()
        .filter(|l| l.starts_with("submit"))
        .cloned()
        .collect();
    assert_eq!(
        again,
        ["submit gradcam faithfulness", "submit random faithfulness"]
    );
    // A bad value is refused in the form, naming the field.
    h.press("p<BS><BS><BS>0<Enter>");
    let Mode::Knobs(form) = &h.state.mode else {
        panic!("the form stays open on a bad value")
    };
    assert!(form.error.as_deref().unwrap().contains("deletion steps"));
    h.press("<Esc>");
    assert_eq!(h.state.knobs.trust.steps, 224);
}
