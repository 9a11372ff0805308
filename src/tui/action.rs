//! What can happen (actions: keys turned into intentions, and events from the background) and
//! what the reducer asks the outside world to do (effects).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::LayerDetail;
use image::RgbImage;

use crate::jobs::{Computed, JobEvent, JobResult, Key, Work};
use crate::methods::Progress;
use crate::model::LayerId;
use crate::trust::Check;

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
    /// A randomization check's strip so far.
    JobPartial {
        ticket: u64,
        check: Arc<Check>,
    },
    JobFinished {
        ticket: u64,
        key: Key,
        result: JobResult,
        elapsed: Duration,
    },
    LayerLoaded(LayerId, Result<LayerDetail, String>),
    /// Another input, with its class scores.
    InputLoaded(Result<(Arc<crate::input::Input>, Vec<f32>), String>),
    Exported(Result<Vec<PathBuf>, String>),
}

#[derive(Debug)]
pub enum Effect {
    /// Compute a view's map or a part of the Trust view in the background (superseding the
    /// one running).
    Submit { ticket: u64, work: Work },
    /// Stop the running job.
    Cancel,
    /// Read a layer's weights and their statistics.
    LoadLayer(LayerId),
    /// Read, prepare and classify another image.
    LoadInput(PathBuf),
    /// Write files: all of them or, when one cannot be written, none.
    Export(Vec<(PathBuf, Payload)>),
}

/// What an exported file holds: bytes made in the reducer (small: a CSV, a JSON), or what the
/// effect encodes off the event loop (a picture as PNG, a map's raw array as NPY).
#[derive(Debug)]
pub enum Payload {
    Bytes(Vec<u8>),
    Png(Arc<RgbImage>),
    Npy(Arc<Computed>),
}

/// What the runner reports, as the reducer takes it.
impl From<JobEvent> for Action {
    fn from(ev: JobEvent) -> Action {
        match ev {
            JobEvent::Progress { ticket, progress } => Action::JobProgress { ticket, progress },
            JobEvent::Partial { ticket, check } => Action::JobPartial { ticket, check },
            JobEvent::Finished {
                ticket,
                key,
                result,
                elapsed,
            } => Action::JobFinished {
                ticket,
                key,
                result,
                elapsed,
            },
        }
    }
}
