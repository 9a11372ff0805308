//! What a view's result depends on. Two equal specs give the same picture, so a spec is both
//! the job's order and the result cache's key.

use crate::engine::picture::Look;
use crate::imaging::colormap::Colormap;
use crate::input::preprocess::Preprocess;
use crate::methods::{
    ActMaxOptions, FeaturesOptions, IgOptions, OcclusionOptions, Options, SmoothGradOptions,
};
use crate::model::LayerId;

use super::trust::{Part, TrustKnobs, TrustSpec};

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

/// What a job computes, as the runner and the caches know it: a view's map, or a part of the
/// Trust view's scores of one map.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Map(JobSpec),
    /// Boxed: a Trust spec holds a map's spec and more, and keys travel in every event.
    Trust(Box<TrustSpec>),
}

impl Key {
    /// Whether this is the job of the map `spec`.
    pub fn is_map(&self, spec: &JobSpec) -> bool {
        matches!(self, Key::Map(s) if s == spec)
    }

    /// What the job is, in a word or two (messages, the harness's log).
    pub fn name(&self) -> String {
        match self {
            Key::Map(spec) => spec.method.to_string(),
            Key::Trust(t) => {
                let map = t.map.as_ref().map_or("random", |m| m.method);
                let part = match t.part {
                    Part::Faithfulness => "faithfulness",
                    Part::Randomization => "randomization",
                };
                format!("{map} {part}")
            }
        }
    }
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
    /// The Trust view's options (no map reads them).
    pub trust: TrustKnobs,
}

impl Default for ViewKnobs {
    fn default() -> Self {
        let look = Look::default();
        let (occlusion, smoothgrad) = (OcclusionOptions::default(), SmoothGradOptions::default());
        ViewKnobs {
            window: occlusion.window[0],
            stride: occlusion.stride[0],
            steps: None,
            samples: smoothgrad.samples,
            channels: FeaturesOptions::default().channels,
            colormap: look.colormap,
            alpha: (look.alpha * 100.0).round() as u8,
            overlay: look.overlay,
            signed: look.signed,
            seed: smoothgrad.seed,
            trust: TrustKnobs::default(),
        }
    }
}

impl ViewKnobs {
    /// `method`'s options from what the form edits, on top of its defaults (the knobs read here
    /// are the ones [`ViewKnobs::for_method`] keeps); actmax turns
    /// pixels into the model's input as `preprocess` says (the input's, when it has one).
    pub fn options(&self, method: &str, preprocess: Option<Preprocess>) -> Options {
        match method {
            "occlusion" => Options::Occlusion(OcclusionOptions {
                window: vec![self.window, self.window],
                stride: vec![self.stride, self.stride],
                ..OcclusionOptions::default()
            }),
            "smoothgrad" => Options::SmoothGrad(SmoothGradOptions {
                samples: self.samples,
                seed: self.seed,
                ..SmoothGradOptions::default()
            }),
            "ig" => Options::Ig(IgOptions {
                steps: self.steps.unwrap_or(IgOptions::default().steps),
                ..IgOptions::default()
            }),
            "features" => Options::Features(FeaturesOptions {
                channels: self.channels.clone(),
                ..FeaturesOptions::default()
            }),
            "actmax" => Options::ActMax(ActMaxOptions {
                steps: self.steps,
                seed: self.seed,
                preprocess: preprocess.unwrap_or(ActMaxOptions::default().preprocess),
                ..ActMaxOptions::default()
            }),
            _ => Options::Default,
        }
    }

    /// These knobs with those `method` does not read at their defaults: a view's job key, so
    /// that changing occlusion's window does not make Grad-CAM's map look new.
    pub fn for_method(&self, method: &str) -> ViewKnobs {
        let plain = ViewKnobs::default();
        let mut out = ViewKnobs {
            colormap: self.colormap,
            alpha: self.alpha,
            overlay: self.overlay,
            signed: self.signed,
            ..plain.clone()
        };
        match method {
            "occlusion" => (out.window, out.stride) = (self.window, self.stride),
            "smoothgrad" => (out.samples, out.seed) = (self.samples, self.seed),
            "ig" => out.steps = self.steps,
            "features" => out.channels = self.channels.clone(),
            "actmax" => (out.steps, out.seed) = (self.steps, self.seed),
            _ => {}
        }
        out
    }

    /// These knobs with the look (colours, opacity, overlay, sign) at its defaults: what the
    /// map itself depends on.
    pub fn without_look(&self) -> ViewKnobs {
        let plain = ViewKnobs::default();
        ViewKnobs {
            colormap: plain.colormap,
            alpha: plain.alpha,
            overlay: plain.overlay,
            signed: plain.signed,
            ..self.clone()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A knob a method reads is part of its key; one it does not read is not.
    #[test]
    fn a_methods_key_holds_the_knobs_it_reads() {
        let k = ViewKnobs {
            window: 24,
            samples: 7,
            steps: Some(9),
            alpha: 30,
            ..ViewKnobs::default()
        };
        assert_eq!(k.for_method("gradcam").window, ViewKnobs::default().window);
        assert_eq!(
            k.for_method("gradcam").alpha,
            30,
            "the look is the picture's"
        );
        assert_eq!(k.for_method("occlusion").window, 24);
        assert_eq!(k.for_method("smoothgrad").samples, 7);
        assert_eq!(k.for_method("ig").steps, Some(9));
        assert_eq!(k.for_method("saliency").steps, None);
        // Every knob the options read survives: the options from the key are the same.
        for id in [
            "occlusion",
            "smoothgrad",
            "ig",
            "features",
            "actmax",
            "gradcam",
        ] {
            let (full, key) = (k.options(id, None), k.for_method(id).options(id, None));
            assert_eq!(format!("{full:?}"), format!("{key:?}"), "{id}");
        }
    }
}
