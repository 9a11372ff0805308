//! What a view's result depends on. Two equal specs give the same picture, so a spec is both
//! the job's order and the result cache's key.

use crate::engine::picture::Look;
use crate::imaging::colormap::Colormap;
use crate::methods::Knobs;
use crate::model::LayerId;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JobSpec {
    /// The method's `render` id.
    pub method: &'static str,
    pub layer: Option<LayerId>,
    pub target: usize,
    pub knobs: ViewKnobs,
    /// Which input: bumped each time another image is loaded; 0 for methods that make their
    /// own picture (activation maximization), whose result does not depend on it.
    pub input: u64,
}

/// The options the TUI's knobs form edits: a hashable subset of the method knobs and the
/// picture's look.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ViewKnobs {
    /// Occlusion: a square window and its stride, in pixels.
    pub window: usize,
    pub stride: usize,
    /// Integrated gradients / activation maximization steps (`None`: the method's default).
    pub steps: Option<usize>,
    /// SmoothGrad samples.
    pub samples: usize,
    /// Feature maps shown: `top:N`, `first:N` or `i,j,k`.
    pub channels: String,
    pub colormap: Colormap,
    /// CAM opacity over the input, in percent.
    pub alpha: u8,
    pub overlay: bool,
    /// Attributions signed (blue-white-red) instead of max |·|.
    pub signed: bool,
    pub seed: u64,
}

impl Default for ViewKnobs {
    fn default() -> Self {
        let (knobs, look) = (Knobs::default(), Look::default());
        ViewKnobs {
            window: knobs.window[0],
            stride: knobs.stride[0],
            steps: None,
            samples: knobs.samples,
            channels: knobs.channels,
            colormap: look.colormap,
            alpha: (look.alpha * 100.0).round() as u8,
            overlay: look.overlay,
            signed: look.signed,
            seed: knobs.seed,
        }
    }
}

impl ViewKnobs {
    /// The method knobs, on top of the defaults (and a batch size chosen for the model).
    pub fn knobs(&self, batch: usize) -> Knobs {
        Knobs {
            window: vec![self.window, self.window],
            stride: vec![self.stride, self.stride],
            steps: self.steps,
            samples: self.samples,
            channels: self.channels.clone(),
            seed: self.seed,
            batch,
            ..Knobs::default()
        }
    }

    pub fn look(&self) -> Look {
        Look {
            colormap: self.colormap,
            alpha: f32::from(self.alpha) / 100.0,
            overlay: self.overlay,
            signed: self.signed,
            ..Look::default()
        }
    }
}
