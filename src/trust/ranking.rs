//! A map as the metrics read it: one value per input pixel, ranking the pixels from most to
//! least important.
//!
//! - An input-space attribution (`[C,H,W]`, or `[H,W,C]` for NHWC models) is summed over its
//!   channels, sign kept, as RISE and pytorch-grad-cam rank a saliency map.
//! - A CAM (at a layer's resolution) is brought to the input size as convscope draws it:
//!   bilinear with half-pixel centres, pytorch-grad-cam's `cv2.resize`.
//! - A map given as an array (`--map`) is `[H,W]` or `[C,H,W]` at the input size (`[H,W,C]` too
//!   for an NHWC model, when that reading is the only one that fits).
//!
//! Values are taken as they are, or by magnitude ([`Sign`]) before the channels are summed.
//! Ties are broken by the lower flat (row-major) index first, so the order does not depend on
//! a sort's stability. A map with NaN, or a constant map, ranks nothing and is refused.

use crate::error::{Error, Result};
use crate::imaging::heatmap::{channel_sum, check, normalize, Heatmap, MapProblem};
use crate::imaging::npy::shape_string;
use crate::input::preprocess::{InputSpec, Layout};
use crate::methods::Artifact;
use crate::model::build::Rng;

/// How a map's values rank: as they are, or by magnitude (a gradient's sign says which way a
/// pixel pushes the score, not how much it matters; captum's `Saliency` takes |·| by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sign {
    #[default]
    Signed,
    Abs,
}

impl Sign {
    fn apply(self, data: &[f32]) -> Vec<f32> {
        match self {
            Sign::Signed => data.to_vec(),
            Sign::Abs => data.iter().map(|v| v.abs()).collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    pub height: usize,
    pub width: usize,
    /// One value per pixel, row-major: higher is more important.
    pub values: Vec<f32>,
}

impl Ranking {
    /// The ranking of a method's output for an input of `spec`; `what` names the map in errors.
    pub fn of_artifact(
        artifact: &Artifact,
        spec: &InputSpec,
        sign: Sign,
        what: &str,
    ) -> Result<Ranking> {
        let values = pixel_values(artifact, spec, sign, what)?;
        Ranking::checked(spec.height, spec.width, values, what)
    }

    /// The ranking of an array given from elsewhere (`--map FILE.npy`).
    pub fn of_array(
        shape: &[usize],
        data: &[f32],
        spec: &InputSpec,
        sign: Sign,
        what: &str,
    ) -> Result<Ranking> {
        let (c, h, w) = (spec.channels, spec.height, spec.width);
        let data = &sign.apply(data)[..];
        let values = match *shape {
            [mh, mw] if (mh, mw) == (h, w) => data.to_vec(),
            [mc, mh, mw] if (mh, mw) == (h, w) && mc >= 1 => channel_sum(data, mc, h, w).data,
            [mh, mw, mc] if spec.layout == Layout::Nhwc && (mh, mw, mc) == (h, w, c) => {
                summed(data, spec)
            }
            _ => {
                return Err(Error::Usage(format!(
                    "{what} has shape {} but the model's input is {h}x{w}: give a map of \
                     shape ({h}, {w}) or (C, {h}, {w})",
                    shape_string(shape)
                )))
            }
        };
        Ranking::checked(h, w, values, what)
    }

    /// A map of independent uniform draws (seeded): the chance level a faithful map must beat.
    pub fn random(height: usize, width: usize, seed: u64) -> Ranking {
        let mut rng = Rng::new(seed);
        Ranking {
            height,
            width,
            values: (0..height * width).map(|_| rng.uniform(0.0, 1.0)).collect(),
        }
    }

    fn checked(height: usize, width: usize, values: Vec<f32>, what: &str) -> Result<Ranking> {
        match check(&values) {
            Some(MapProblem::NonFinite) => Err(Error::Input(format!(
                "{what} has NaN or infinite values: it cannot rank pixels"
            ))),
            Some(p) => Err(Error::Input(format!(
                "{what} is {} over the input's pixels (channels summed): a constant map cannot \
                 rank pixels, so no metric can score it",
                match p {
                    MapProblem::AllZero => "zero everywhere",
                    _ => "the same everywhere",
                }
            ))),
            None => Ok(Ranking {
                height,
                width,
                values,
            }),
        }
    }

    /// Pixel indices from most to least important; equal values (0 and -0 included, as
    /// numpy compares them) in increasing index order.
    pub fn order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        let v = &self.values;
        // No NaN (refused when the ranking was made), so `partial_cmp` is total here.
        order.sort_by(|&a, &b| {
            v[b as usize]
                .partial_cmp(&v[a as usize])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        order
    }

    /// The values scaled to [0, 1] as pytorch-grad-cam scales a CAM (`scale_cam_image`), which
    /// is what its ROAD thresholds.
    pub fn scaled(&self) -> Vec<f32> {
        normalize(&self.values)
    }
}

/// A method's output as one value per input pixel (channels summed, a CAM brought to the input
/// size), unchecked: a constant map is a value here (a randomized model's map may be one).
pub fn pixel_values(
    artifact: &Artifact,
    spec: &InputSpec,
    sign: Sign,
    what: &str,
) -> Result<Vec<f32>> {
    let (h, w) = (spec.height, spec.width);
    let values = match artifact {
        Artifact::Attribution { data, .. } => summed(&sign.apply(data), spec),
        Artifact::Cam {
            height,
            width,
            data,
            ..
        }
        | Artifact::Mask {
            height,
            width,
            data,
            ..
        } => resized(*height, *width, &sign.apply(data), h, w),
        Artifact::Heatmap { .. } => {
            return Err(Error::Usage(format!(
                "{what} gives a probability map (low is important), which ranks pixels the \
                 other way round; score its attribution instead"
            )))
        }
        Artifact::Grid { .. } | Artifact::Image { .. } | Artifact::Rows { .. } => {
            return Err(Error::Usage(format!(
                "{what} does not attribute the input (it shows kernels, feature maps or a \
                 picture), so there is nothing to score"
            )))
        }
    };
    Ok(values)
}

/// An attribution summed over its channels, in either layout.
/// A map as one value per input value, in the model's layout (what infidelity multiplies with
/// a perturbation of the input): a method's attribution of the input's size as it is (`sign`
/// applied), any other map `ranking`'s per-pixel values, the same on every channel.
pub fn elements(
    artifact: Option<&Artifact>,
    ranking: &Ranking,
    spec: &InputSpec,
    sign: Sign,
) -> Vec<f32> {
    let (c, hw) = (spec.channels, spec.height * spec.width);
    if let Some(Artifact::Attribution { data, .. }) = artifact {
        if data.len() == c * hw {
            return sign.apply(data);
        }
    }
    match spec.layout {
        Layout::Nchw => (0..c)
            .flat_map(|_| ranking.values.iter().copied())
            .collect(),
        Layout::Nhwc => ranking
            .values
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, c))
            .collect(),
    }
}

fn summed(data: &[f32], spec: &InputSpec) -> Vec<f32> {
    let (c, h, w) = (spec.channels, spec.height, spec.width);
    match spec.layout {
        Layout::Nchw => channel_sum(data, c, h, w).data,
        Layout::Nhwc => data.chunks_exact(c).map(|px| px.iter().sum()).collect(),
    }
}

fn resized(mh: usize, mw: usize, data: &[f32], h: usize, w: usize) -> Vec<f32> {
    if (mh, mw) == (h, w) {
        return data.to_vec();
    }
    Heatmap::new(mh, mw, data.to_vec())
        .resize_bilinear(h, w)
        .data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: Layout) -> InputSpec {
        InputSpec {
            layout,
            channels: 2,
            height: 2,
            width: 3,
        }
    }

    #[test]
    fn ties_go_to_the_lower_index_first() {
        let r = Ranking {
            height: 1,
            width: 7,
            values: vec![0.5, 1.0, 0.5, -1.0, 1.0, -0.0, 0.0],
        };
        assert_eq!(r.order(), vec![1, 4, 0, 2, 5, 6, 3]);
    }

    #[test]
    fn attributions_are_summed_over_channels_in_either_layout() {
        // Channel 0 = 0..6, channel 1 = 10 × that: the sum is 11 × the pixel index.
        let chw: Vec<f32> = (0..6)
            .map(|p| p as f32)
            .chain((0..6).map(|p| 10.0 * p as f32))
            .collect();
        let hwc: Vec<f32> = (0..6).flat_map(|p| [p as f32, 10.0 * p as f32]).collect();
        let expected: Vec<f32> = (0..6).map(|p| 11.0 * p as f32).collect();
        for (layout, data) in [(Layout::Nchw, chw), (Layout::Nhwc, hwc)] {
            let a = Artifact::Attribution {
                shape: vec![],
                data,
            };
            let r = Ranking::of_artifact(&a, &spec(layout), Sign::Signed, "m").unwrap();
            assert_eq!(r.values, expected, "{layout:?}");
        }
    }

    #[test]
    fn arrays_of_the_wrong_size_nan_or_constant_are_refused() {
        let s = spec(Layout::Nchw);
        let err = |shape: &[usize], data: Vec<f32>| {
            Ranking::of_array(shape, &data, &s, Sign::Signed, "--map m.npy")
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[3, 2], vec![1.0; 6]).contains("shape (3, 2) but the model's input is 2x3"));
        let mut nan = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        nan[2] = f32::NAN;
        assert!(err(&[2, 3], nan).contains("NaN"));
        assert!(err(&[2, 3], vec![0.25; 6]).contains("the same everywhere"));
        // [C,H,W] whose channels cancel out is constant too.
        let cancel: Vec<f32> = (0..6)
            .map(|p| p as f32)
            .chain((0..6).map(|p| -(p as f32)))
            .collect();
        assert!(err(&[2, 2, 3], cancel).contains("zero everywhere"));
        assert!(
            Ranking::of_array(&[1, 2, 3], &[1., 2., 3., 4., 5., 6.], &s, Sign::Signed, "m").is_ok()
        );
        // By magnitude, the cancelling channels add up instead.
        let cancel: Vec<f32> = (0..6)
            .map(|p| p as f32)
            .chain((0..6).map(|p| -(p as f32)))
            .collect();
        let r = Ranking::of_array(&[2, 2, 3], &cancel, &s, Sign::Abs, "m").unwrap();
        assert_eq!(r.values, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn cams_are_brought_to_the_input_size() {
        let cam = Artifact::Cam {
            layer: crate::model::LayerId(0),
            height: 1,
            width: 1,
            data: vec![2.0],
        };
        // A 1x1 CAM is constant at any size: refused, not scored.
        assert!(Ranking::of_artifact(&cam, &spec(Layout::Nchw), Sign::Signed, "gradcam").is_err());
        let cam = Artifact::Cam {
            layer: crate::model::LayerId(0),
            height: 1,
            width: 2,
            data: vec![0.0, 1.0],
        };
        let r = Ranking::of_artifact(&cam, &spec(Layout::Nchw), Sign::Signed, "gradcam").unwrap();
        assert_eq!((r.height, r.width, r.values.len()), (2, 3, 6));
        assert_eq!(r.order()[..2], [2, 5]);
    }
}
