//! The interface's state: plain data, changed only by the reducer (`update`), read by the panes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;

use super::forms::{KnobsForm, OpenPrompt, TargetPicker};
use super::trust::TrustView;
use super::view::View;
use crate::input::Input;
use crate::jobs::{Cache, Computed, JobSpec, Key, ViewKnobs};
use crate::methods::target::{top_k, Prediction};
use crate::methods::Progress;
use crate::model::describe::{summary_rows, SummaryRow, WeightInfo};
use crate::model::{Graph, LayerId, ParamTotals};

/// Finished views kept for instant return.
pub const CACHE_VIEWS: usize = 48;

/// The model, input and settings the interface starts with.
pub struct Setup {
    pub graph: Arc<Graph>,
    /// Class names; `None`: classes are shown by index.
    pub labels: Option<Vec<String>>,
    pub input: Arc<Input>,
    pub scores: Vec<f32>,
    /// `cpu`, `cuda:0`.
    pub device: String,
    /// The graphics protocol in use, by name.
    pub graphics: &'static str,
    pub export_dir: PathBuf,
}

/// Which pane has the keys (and, on a narrow terminal, which one is shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Summary,
    Layer,
    View,
}

/// What the keys do right now: the main screen, or a prompt or popup over it.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Normal,
    /// Incremental search over layer names; `origin` is the selection to return to on Esc.
    Search {
        query: String,
        origin: usize,
    },
    Help {
        scroll: u16,
    },
    Targets(TargetPicker),
    Knobs(KnobsForm),
    Open(OpenPrompt),
}

/// The view pane's computation: a view's map, or a part of the Trust view's scores.
#[derive(Clone, Debug)]
pub enum Job {
    Idle,
    Running {
        ticket: u64,
        key: Key,
        progress: Option<Progress>,
        started: Instant,
    },
    /// The user cancelled it (Esc).
    Cancelled(Key),
    Failed {
        key: Key,
        error: String,
    },
}

impl Job {
    /// The running job's key, if one runs.
    pub fn running(&self) -> Option<&Key> {
        match self {
            Job::Running { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A line at the bottom of the screen, dismissed by the next key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// A layer's weights as the layer pane shows them (read in the background: large layers take
/// time).
#[derive(Clone, Debug)]
pub struct LayerDetail {
    pub weights: Vec<WeightInfo>,
    /// Counts of the first weight's values over equal-width bins between its min and max.
    pub histogram: Vec<u64>,
    /// Why statistics are missing (e.g. an external data file is absent).
    pub note: Option<String>,
}

pub struct State {
    pub graph: Arc<Graph>,
    pub rows: Vec<SummaryRow>,
    pub totals: ParamTotals,
    pub labels: Option<Vec<String>>,
    pub device: String,
    pub graphics: &'static str,
    pub export_dir: PathBuf,

    pub input: Arc<Input>,
    /// The prepared input as a picture (shown beside a map with `i`).
    pub input_picture: Arc<RgbImage>,
    /// Bumped each time another input is loaded; part of the job specs.
    pub input_gen: u64,
    pub scores: Vec<f32>,
    /// The softmax of the scores.
    pub probs: Vec<f32>,
    pub top: Vec<Prediction>,
    pub target: usize,

    /// The selected summary row (an index into `rows`).
    pub selected: usize,
    pub pane: Pane,
    /// Lines the layer pane is scrolled by.
    pub layer_scroll: u16,
    pub view: View,
    /// The Grad-CAM family member shown in the Grad-CAM tab.
    pub cam_variant: usize,
    pub knobs: ViewKnobs,
    pub show_input: bool,
    /// The last accepted search, for `n` / `N`.
    pub last_search: Option<String>,

    pub job: Job,
    /// The view pane's picture and the spec it answers.
    pub shown: Option<(JobSpec, Arc<Computed>)>,
    /// Which view the layer pane's weights belong to.
    pub layer_detail: Option<(LayerId, Result<LayerDetail, String>)>,
    pub cache: Cache,
    /// The Trust view's scores and figures.
    pub trust: TrustView,
    pub next_ticket: u64,

    pub mode: Mode,
    pub message: Option<Message>,
    /// The terminal's size in cells.
    pub size: (u16, u16),
    /// The time of the last tick, for elapsed and remaining times.
    pub now: Instant,
    pub quit: bool,
}

impl State {
    pub fn new(setup: Setup) -> State {
        let graph = setup.graph;
        let input_picture = Arc::new(input_picture(&setup.input));
        let top = top_k(&setup.scores, 5);
        let target = top.first().map_or(0, |p| p.index);
        // Start on the layer the CAM views use by default: the first screen shows a map.
        let rows = summary_rows(&graph);
        let selected = crate::methods::cam::default_layer(&graph)
            .map(|id| graph.row_of(id))
            .and_then(|id| rows.iter().position(|r| r.id == id.0))
            .unwrap_or(0);
        State {
            rows,
            totals: graph.param_totals(),
            graph,
            labels: setup.labels,
            device: setup.device,
            graphics: setup.graphics,
            export_dir: setup.export_dir,
            input: setup.input,
            input_picture,
            input_gen: 1,
            probs: crate::methods::target::softmax(&setup.scores),
            scores: setup.scores,
            top,
            target,
            selected,
            pane: Pane::Summary,
            layer_scroll: 0,
            view: View::of("gradcam").expect("Grad-CAM has a tab"),
            cam_variant: 0,
            knobs: ViewKnobs::default(),
            show_input: false,
            last_search: None,
            job: Job::Idle,
            shown: None,
            layer_detail: None,
            cache: Cache::new(CACHE_VIEWS),
            trust: TrustView::default(),
            next_ticket: 1,
            mode: Mode::Normal,
            message: None,
            size: (120, 40),
            now: Instant::now(),
            quit: false,
        }
    }

    /// The layer of the selected row (rows skip steps folded into a later row).
    pub fn selected_layer(&self) -> LayerId {
        LayerId(self.rows.get(self.selected).map_or(0, |r| r.id))
    }

    /// A class's name: its label, or `class N`.
    pub fn label(&self, class: usize) -> String {
        self.labels
            .as_ref()
            .and_then(|l| l.get(class).cloned())
            .unwrap_or_else(|| format!("class {class}"))
    }

    /// The softmax probability of a class for the current input.
    pub fn prob(&self, class: usize) -> f32 {
        self.probs.get(class).copied().unwrap_or(0.0)
    }

    pub fn classes(&self) -> usize {
        self.scores.len()
    }

    /// The method the view pane shows.
    pub fn method(&self) -> &'static str {
        self.view.method(self.cam_variant)
    }

    /// The job spec of the current view, and a note when its layer is not the selected one.
    pub fn spec(&self) -> (JobSpec, Option<String>) {
        let (layer, note) = self.view.layer(&self.graph, self.selected_layer());
        let spec = JobSpec {
            method: self.method(),
            layer,
            target: if self.view.uses_target() {
                self.target
            } else {
                0
            },
            knobs: self.knobs.for_method(self.method()),
            input: if self.view.uses_input() {
                self.input_gen
            } else {
                0
            },
        };
        (spec, note)
    }

    /// Whether a popup covers the screen (images are hidden under popups).
    pub fn popup(&self) -> bool {
        matches!(
            self.mode,
            Mode::Help { .. } | Mode::Targets(_) | Mode::Knobs(_) | Mode::Open(_)
        )
    }

    /// Elapsed time of the running job.
    pub fn elapsed(&self, started: Instant) -> Duration {
        self.now.saturating_duration_since(started)
    }
}

/// The prepared input as the model sees it, back in pixels.
pub fn input_picture(input: &Input) -> RgbImage {
    crate::input::preprocess::deprocess(&input.prepared, &input.spec, input.preprocess)
}
