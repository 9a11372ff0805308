//! The interface without a terminal: key scripts through the real keymap and reducer on the
//! demo model (navigate, search, switch tabs, pick a target, change options, cancel, export,
//! open an image), and snapshots of every pane and the help at 80x24 and 120x40.

#[path = "tui/harness.rs"]
pub(crate) mod harness;

use convscope::input::Source;
use convscope::tui::action::Action;
use convscope::tui::keymap;
use convscope::tui::state::{Job, Mode, Pane};
use convscope::tui::view::View;
use harness::{options, Harness};

fn shown_method(h: &Harness) -> Option<&'static str> {
    h.state.shown.as_ref().map(|(spec, _)| spec.method)
}

fn shown_layer(h: &Harness) -> Option<String> {
    let (spec, _) = h.state.shown.as_ref()?;
    Some(h.state.graph.layer(spec.layer?).name.clone())
}

#[test]
fn opens_on_a_grad_cam_of_the_last_spatial_layer() {
    let h = Harness::demo();
    assert_eq!(h.state.view, View::of("gradcam").unwrap());
    assert_eq!(shown_method(&h), Some("gradcam"));
    assert_eq!(shown_layer(&h).as_deref(), Some(h.layer()));
    assert!(h.layer().starts_with("block4"), "{}", h.layer());
    assert!(matches!(h.state.job, Job::Idle));
    // The sample picture is a star, and the demo model says so.
    assert_eq!(h.state.label(h.state.target), "star");
}

/// Start-up's prediction is the input's clean forward pass, and the session keeps it: the
/// first map (and every later map of the same input) reads it instead of running its own.
#[test]
fn the_first_map_reuses_the_start_up_pass() {
    let (session, state) = convscope::tui::prepare(&options(std::env::temp_dir()), "half-blocks")
        .expect("the demo opens");
    let subject = session.subject(&state.input).unwrap();
    assert!(subject.cached().is_some(), "start-up's pass was not kept");
    assert!(std::sync::Arc::ptr_eq(
        &subject,
        &session.subject(&state.input).unwrap()
    ));
}

#[test]
fn keys_move_through_the_summary_and_search_layer_names() {
    let mut h = Harness::demo();
    h.press("g");
    assert_eq!(h.state.selected, 0);
    h.press("jj");
    assert_eq!(h.state.selected, 2);
    h.press("G");
    assert_eq!(h.state.selected, h.state.rows.len() - 1);
    h.press("/conv1_bn<Enter>");
    assert_eq!(
        h.layer(),
        "block1_conv1_bn",
        "search goes to the first match"
    );
    h.press("n");
    assert_eq!(h.layer(), "block2_conv1_bn");
    h.press("N");
    assert_eq!(h.layer(), "block1_conv1_bn");
    // Incremental: each letter moves; Esc returns to where the search began.
    h.press("/block3");
    assert_eq!(h.layer(), "block3_conv1", "{:?}", h.state.mode);
    h.press("_conv2_r");
    assert_eq!(h.layer(), "block3_conv2_relu");
    h.press("<Esc>");
    assert_eq!(h.layer(), "block1_conv1_bn");
    h.press("/nothing-like-this");
    let m = h.state.message.clone().expect("a message");
    assert!(m.error && m.text.contains("nothing-like-this"), "{m:?}");
    h.press("<Esc>");
    assert_eq!(h.layer(), "block1_conv1_bn");
    assert_eq!(h.state.mode, Mode::Normal);
}

#[test]
fn views_follow_the_selected_layer_where_they_can() {
    let mut h = Harness::demo();
    h.press("/block2_conv1<Enter>1");
    assert_eq!(h.state.view, View::of("filters").unwrap());
    assert_eq!(shown_method(&h), Some("filters"));
    assert_eq!(shown_layer(&h).as_deref(), Some("block2_conv1"));
    // A batch norm has no kernels: the first convolution's are shown, and the pane says why.
    h.press("j");
    assert_eq!(h.layer(), "block2_conv1_bn");
    assert_eq!(shown_layer(&h).as_deref(), Some("block1_conv1"));
    let (_, note) = h.state.spec();
    assert!(note.unwrap().contains("block2_conv1_bn has no kernels"));
    // Feature maps of the batch norm itself.
    h.press("2");
    assert_eq!(shown_method(&h), Some("features"));
    assert_eq!(shown_layer(&h).as_deref(), Some("block2_conv1_bn"));
    // Grad-CAM at a layer without a spatial map falls back to the default layer.
    h.press("G7");
    assert_eq!(h.layer(), "predictions");
    assert!(shown_layer(&h).unwrap().starts_with("block4"));
    // [ and ] walk the Grad-CAM family.
    h.press("]");
    assert_eq!(shown_method(&h), Some("gradcampp"));
    h.press("[[");
    assert_eq!(shown_method(&h), Some("guided-gradcam"));
}

#[test]
fn a_view_computed_once_comes_back_without_a_job() {
    let mut h = Harness::demo();
    let submits = |h: &Harness| h.log.iter().filter(|l| l.starts_with("submit")).count();
    let before = submits(&h);
    h.press("3");
    assert_eq!(shown_method(&h), Some("saliency"));
    assert_eq!(submits(&h), before + 1);
    h.press("7");
    assert_eq!(shown_method(&h), Some("gradcam"));
    assert_eq!(submits(&h), before + 1, "Grad-CAM came from the cache");
    h.press("<Tab><S-Tab>");
    assert_eq!(submits(&h), before + 2, "only Occlusion (Tab) was new");
}

#[test]
fn a_newer_request_supersedes_the_older_one() {
    let mut h = Harness::demo();
    // Two requests before either finishes: the first one's result is dropped.
    h.keys("3");
    h.keys("4");
    h.settle();
    assert_eq!(shown_method(&h), Some("guided"));
    let (mut spec, _) = h.state.spec();
    spec.method = "saliency";
    assert!(
        h.state.cache.get(&spec).is_none(),
        "the superseded result was dropped"
    );
}

#[test]
fn esc_cancels_the_running_job() {
    let mut h = Harness::demo();
    h.keys("9");
    assert!(matches!(h.state.job, Job::Running { .. }));
    h.keys("<Esc>");
    assert!(matches!(&h.state.job, Job::Cancelled(k) if k.name() == "scorecam"));
    assert_eq!(h.log.last().map(String::as_str), Some("cancel"));
    h.settle(); // the job's late result is dropped
    assert!(matches!(h.state.job, Job::Cancelled(_)));
    assert_ne!(shown_method(&h), Some("scorecam"));
    // Choosing the tab again computes it.
    h.press("9");
    assert_eq!(shown_method(&h), Some("scorecam"));
}

#[test]
fn the_target_picker_finds_a_class_and_recomputes() {
    let mut h = Harness::demo();
    h.keys("t");
    let Mode::Targets(p) = &h.state.mode else {
        panic!("{:?}", h.state.mode)
    };
    let top: Vec<usize> = h.state.top.iter().map(|p| p.index).collect();
    assert_eq!(p.matches[..5], top[..], "the top-5 come first");
    h.press("circ<Enter>");
    assert_eq!(h.state.label(h.state.target), "circle");
    let (spec, _) = h.state.shown.clone().unwrap();
    assert_eq!((spec.method, spec.target), ("gradcam", h.state.target));
    // Esc leaves the target alone.
    h.press("tsq<Esc>");
    assert_eq!(h.state.label(h.state.target), "circle");
}

#[test]
fn the_options_form_changes_the_view_or_says_what_is_wrong() {
    let mut h = Harness::demo();
    h.press("8p");
    assert!(matches!(h.state.mode, Mode::Knobs(_)));
    h.press("<BS><BS>24<Tab><BS>12<Enter>");
    assert_eq!((h.state.knobs.window, h.state.knobs.stride), (24, 12));
    assert_eq!(shown_method(&h), Some("occlusion"));
    assert_eq!(h.state.shown.as_ref().unwrap().0.knobs.window, 24);
    h.press("p<BS><BS>x<Enter>");
    let Mode::Knobs(form) = &h.state.mode else {
        panic!("the form stays open on a bad value")
    };
    assert!(form.error.as_deref().unwrap().contains("window"));
    h.press("<Esc>");
    assert_eq!(h.state.knobs.window, 24);
}

#[test]
fn export_writes_the_picture_and_the_raw_map() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with(options(dir.path().to_path_buf()));
    h.press("e");
    let m = h.state.message.clone().expect("a message");
    assert!(!m.error, "{m:?}");
    let layer = h.layer().to_string();
    let png = dir.path().join(format!("star.gradcam.{layer}.star.png"));
    let npy = png.with_extension("npy");
    assert!(m.text.contains(&png.display().to_string()), "{}", m.text);
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (96, 96));
    let raw = convscope::imaging::npy::read_npy_f32(&npy).unwrap();
    let (spec, computed) = h.state.shown.clone().unwrap();
    assert_eq!(spec.method, "gradcam");
    assert_eq!(raw.shape, computed.artifact.shape());
    assert_eq!(raw.data, computed.artifact.data());
}

#[test]
fn another_image_opens_and_a_bad_path_is_reported() {
    let mut h = Harness::demo();
    let circle = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/images/shapes/circle.png");
    h.press(&format!("o{circle}<Enter>"));
    assert_eq!(h.state.input.name(), "circle.png");
    assert_eq!(h.state.label(h.state.target), "circle");
    assert_eq!(h.state.input_gen, 2);
    assert_eq!(shown_method(&h), Some("gradcam"));
    assert_eq!(h.state.shown.as_ref().unwrap().0.input, 2);
    h.press("o/no/such/picture.png<Enter>");
    let m = h.state.message.clone().expect("a message");
    assert!(m.error && m.text.contains("/no/such/picture.png"), "{m:?}");
    assert!(!h.state.quit);
    assert_eq!(h.state.input.name(), "circle.png", "the open image stays");
}

#[test]
fn a_method_that_fails_says_why_and_the_interface_goes_on() {
    let mut h = Harness::demo();
    h.press("2p<BS><BS><BS><BS><BS><BS><BS><BS>999<Enter>");
    let m = h.state.message.clone().expect("a message");
    assert!(m.error && m.text.contains("out of range"), "{m:?}");
    assert!(matches!(h.state.job, Job::Failed { .. }));
    h.press("<Esc>7");
    assert_eq!(shown_method(&h), Some("gradcam"));
}

#[test]
fn panes_switch_with_h_and_l_and_enter_focuses_the_layer() {
    let mut h = Harness::demo();
    assert_eq!(h.state.pane, Pane::Summary);
    h.press("<Enter>");
    assert_eq!(h.state.pane, Pane::Layer);
    h.press("l");
    assert_eq!(h.state.pane, Pane::View);
    h.press("ll");
    assert_eq!(h.state.pane, Pane::Layer);
    h.press("h");
    assert_eq!(h.state.pane, Pane::Summary);
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut h = Harness::demo();
    h.press("q");
    assert!(h.state.quit);
    let mut h = Harness::demo();
    h.press("?<C-c>");
    assert!(h.state.quit);
}

#[test]
fn the_help_lists_every_key_binding() {
    let mut h = Harness::demo();
    h.press("?");
    let screen = h.screen(120, 40);
    for b in keymap::bindings() {
        assert!(screen.contains(b.help), "help lacks '{}'\n{screen}", b.help);
    }
    h.press("x");
    assert_eq!(h.state.mode, Mode::Normal);
}

#[test]
fn a_terminal_too_small_gets_a_message() {
    let mut h = Harness::demo();
    let screen = h.screen(50, 12);
    assert!(screen.contains("convscope needs 60x16"), "{screen}");
}

#[test]
fn every_size_draws_without_panicking() {
    let mut h = Harness::demo();
    for (w, h_) in [
        (60, 16),
        (80, 24),
        (100, 30),
        (110, 30),
        (200, 60),
        (1, 1),
        (0, 0),
    ] {
        for keys in ["", "?", "t", "p", "o", "l", "l"] {
            h.press(keys);
            h.screen(w, h_);
            h.act(Action::Resize(w, h_));
            h.press("<Esc>");
        }
    }
}

mod snapshots {
    use super::*;

    fn snap(name: &str, h: &mut Harness, w: u16, height: u16) {
        let screen = h.screen(w, height);
        insta::assert_snapshot!(format!("{name}_{w}x{height}"), screen);
    }

    #[test]
    fn summary_layer_and_view_panes() {
        for (w, height) in [(80, 24), (120, 40)] {
            let mut h = Harness::demo();
            snap("start", &mut h, w, height);
            h.press("/block1_conv1<Enter><Enter>");
            snap("layer", &mut h, w, height);
            h.press("l");
            snap("view_gradcam", &mut h, w, height);
            h.press("1");
            snap("view_filters", &mut h, w, height);
        }
    }

    #[test]
    fn help_and_popups() {
        for (w, height) in [(80, 24), (120, 40)] {
            let mut h = Harness::demo();
            h.press("?");
            snap("help", &mut h, w, height);
            h.press("<Esc>t");
            snap("targets", &mut h, w, height);
            h.press("<Esc>8p");
            snap("knobs_occlusion", &mut h, w, height);
        }
    }
}

/// The README's key table names every key the keymap binds (digit tabs as the range `1`–`0`).
#[test]
fn the_readme_lists_every_key() {
    let readme = include_str!("../../README.md");
    let table: String = readme
        .lines()
        .skip_while(|l| !l.starts_with("| keys |"))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!table.is_empty(), "the README has no key table");
    for b in keymap::bindings() {
        let keys = if b.keys.len() > 3 {
            vec![b.keys[0], b.keys[b.keys.len() - 1]]
        } else {
            b.keys.to_vec()
        };
        for k in keys {
            let label = format!("`{}`", k.label());
            assert!(
                table.contains(&label),
                "the README's key table lacks {label} ({})",
                b.help
            );
        }
    }
}

/// `--arch` without weights: the zoo model opens on its own photograph, and the header says in
/// red that the weights are random, so no map is mistaken for an explanation. The demo's
/// header has no such tag.
#[test]
fn an_architecture_without_weights_is_flagged_as_random() {
    let mut o = options(std::env::temp_dir());
    o.model = convscope::import::ModelSource {
        arch: Some("squeezenet1_1".into()),
        ..convscope::import::ModelSource::named("demo")
    };
    let mut h = Harness::with(o);
    assert_eq!(h.state.graph.name, "squeezenet1_1");
    let screen = h.screen(120, 40);
    assert!(screen.contains("RANDOM WEIGHTS"), "{screen}");
    assert!(screen.contains("chelsea.png 224x224"), "{screen}");
    let screen = Harness::demo().screen(120, 40);
    assert!(!screen.contains("RANDOM"), "{screen}");
}

/// A Keras model in the interface, as Keras shows it: its own layer names and classes, NHWC
/// output shapes with `None` for the batch, a fused activation in its convolution's row, the
/// stored `get_config()` dictionary in the layer pane, and a map computed through the
/// channels_last graph.
#[test]
fn a_keras_model_is_shown_as_keras_shows_it() {
    let mut o = options(std::env::temp_dir());
    let fixture = |p: &str| crate::common::fixtures().join(p);
    o.model =
        convscope::import::ModelSource::named(fixture("keras/decoder.keras").to_str().unwrap());
    o.source = Source::Image(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/images/coffee.png"),
    );
    o.preprocess = None;
    let mut h = Harness::with(o);
    let screen = h.screen(120, 40);
    for shown in [
        "up_valid (Conv2DTranspose)",
        "(None, 11, 13, 4)",
        "up_nearest (UpSampling2D)",
        "min (Minimum)",
        "ln_map (LayerNormaliz", // the type column is cut at this width
        "(None, 46, 53, 3)",
        "15,335",
    ] {
        assert!(screen.contains(shown), "{shown} is not shown:\n{screen}");
    }
    h.press("/up_same<Enter><Enter>");
    assert_eq!(h.layer(), "up_same");
    let screen = h.screen(120, 40);
    assert!(screen.contains("up_same (Conv2DTranspose)"), "{screen}");
    // The stored config, key then value on one line (the column widths vary).
    for (key, value) in [
        ("kernel_size", "[4, 4]"),
        ("padding", "same"),
        ("output_padding", "null"),
        ("kernel", "[4, 4, 4, 4] float32"),
    ] {
        let shown = screen.lines().any(|l| {
            l.find(&format!("{key} "))
                .is_some_and(|at| l[at..].contains(value))
        });
        assert!(shown, "{key} {value} is not shown:\n{screen}");
    }
    insta::assert_snapshot!("keras_decoder_layer_120x40", screen);
}
