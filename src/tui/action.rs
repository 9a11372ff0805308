//! What can happen (actions: keys turned into intentions, and events from the background) and
//! what the reducer asks the outside world to do (effects).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::LayerDetail;
use crate::input::Input;
use crate::jobs::{Computed, JobEvent, JobResult, JobSpec};
use crate::methods::Progress;
use crate::model::LayerId;

#[derive(Clone, Debug)]
pub enum Action {
    // Moving around.
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter on a summary row: show that layer's pane.
    FocusLayer,
    NextPane,
    PrevPane,
    SearchStart,
    NextMatch,
    PrevMatch,
    NextView,
    PrevView,
    SelectView(usize),
    NextVariant,
    PrevVariant,
    // Commands.
    /// Esc on the main screen: cancel the running job (or dismiss a message).
    Cancel,
    OpenTargets,
    OpenKnobs,
    OpenImage,
    ToggleInput,
    Export,
    Help,
    Quit,
    // Typing in a prompt or popup.
    Char(char),
    Backspace,
    Accept,
    Dismiss,
    /// Tab in a prompt: complete the path, or go to the next field.
    Complete,
    // From the outside.
    Resize(u16, u16),
    Tick(Instant),
    JobProgress {
        ticket: u64,
        progress: Progress,
    },
    JobFinished {
        ticket: u64,
        spec: JobSpec,
        result: JobResult,
        elapsed: Duration,
    },
    LayerLoaded(LayerId, Result<LayerDetail, String>),
    /// Another input, with its class scores.
    InputLoaded(Result<(Arc<Input>, Vec<f32>), String>),
    Exported(Result<Vec<PathBuf>, String>),
}

#[derive(Debug)]
pub enum Effect {
    /// Compute a view in the background (superseding the one running).
    Submit {
        ticket: u64,
        spec: JobSpec,
        input: Arc<Input>,
    },
    /// Stop the running job.
    Cancel,
    /// Read a layer's weights and their statistics.
    LoadLayer(LayerId),
    /// Read, prepare and classify another image.
    LoadInput(PathBuf),
    /// Write the view's picture and raw map.
    Export {
        computed: Arc<Computed>,
        png: PathBuf,
        npy: PathBuf,
    },
}

/// What the runner reports, as the reducer takes it.
impl From<JobEvent> for Action {
    fn from(ev: JobEvent) -> Action {
        match ev {
            JobEvent::Progress { ticket, progress } => Action::JobProgress { ticket, progress },
            JobEvent::Finished {
                ticket,
                spec,
                result,
                elapsed,
            } => Action::JobFinished {
                ticket,
                spec,
                result,
                elapsed,
            },
        }
    }
}
