//! Occlusion (Zeiler & Fergus 2014). A window slides over the input (see `windows.rs` for where
//! it goes) and each occluded input replaces the window with the baseline. One batched pass
//! takes every occluded input's full score row; `--view` decides what to show from it:
//!
//! - `attribution` (default), as captum's `Occlusion`: every element a window covers gains
//!   F(x) − F(x_occluded) for the target's raw score, and each element's total is divided by
//!   the number of windows covering it. `[C,H,W]` (the input's layout), signed.
//! - `heatmap`, the paper's picture: the target's softmax probability with the window occluded,
//!   one value per window position over H×W, `[rows, cols]`. Low = the patch mattered.
//!   Channel-wise windows (`--window 1,8,8`) are averaged over their channel positions rather
//!   than refused, so every window size gives a map.
//! - `mask`: per pixel the probability drop p(x) − p(x_occluded), averaged over the windows
//!   covering the pixel as the attribution averages, `[H,W]`; the picture keeps the input's
//!   pixels whose drop is at least `--threshold` × the largest drop and blacks out the rest.

mod views;
mod windows;

use super::options::OcclusionOptions;
use candle_core::Tensor;

use super::context::{attribution, Cx};
use super::ig::baseline;
use super::target::softmax;
use super::{Artifact, Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab};
use crate::error::Result;
use crate::exec::incremental::{Incremental, PatchedInputs};
use crate::input::preprocess::InputSpec;
use windows::Windows;

pub struct Occlusion;

/// What `render occlusion` shows (`--view`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OcclusionView {
    /// captum's attribution map of raw-score drops.
    #[default]
    Attribution,
    /// The target probability per window position.
    Heatmap,
    /// The input reduced to the pixels whose occlusion lowers the probability most.
    Mask,
}

impl OcclusionView {
    /// The `--view` name.
    pub fn as_str(self) -> &'static str {
        match self {
            OcclusionView::Attribution => "attribution",
            OcclusionView::Heatmap => "heatmap",
            OcclusionView::Mask => "mask",
        }
    }
}

impl Method for Occlusion {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "occlusion",
            title: "Occlusion",
            family: Family::Perturbation,
            layer: LayerNeed::None,
            batched: true,
            stackable: false,
            needs_input: true,
            options: &[
                Opt::Window,
                Opt::Stride,
                Opt::Baseline,
                Opt::Seed,
                Opt::View,
                Opt::Threshold,
                Opt::Batch,
                Opt::Unit,
            ],
            tab: Tab::Own {
                title: "Occlusion",
                short: "Occl",
            },
            picture: Picture::Overlay,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let spec = InputSpec::from_input_shape(&cx.graph.layer(cx.graph.inputs[0]).out_shape)?;
        let dims = &cx.input.dims()[1..];
        let o: OcclusionOptions = cx.options()?;
        let w = Windows::new(&o.window, &o.stride, dims, spec.layout)?;
        let pass = evaluate(cx, &o, &w)?;
        let (rows, cols) = w.grid();
        let mut out: Output = match o.view {
            OcclusionView::Attribution => attribution(&pass.attribution(cx, &w)?)?.into(),
            OcclusionView::Heatmap => Artifact::Heatmap {
                height: rows,
                width: cols,
                data: views::probability_grid(&w, &pass.probs),
            }
            .into(),
            OcclusionView::Mask => pass.mask(&w, o.threshold),
        };
        out.extras.insert("view".into(), o.view.as_str().into());
        out.extras.insert("windows".into(), w.starts.len().into());
        out.extras
            .insert("incremental".into(), pass.incremental.into());
        if let Some(why) = pass.incremental_skipped {
            out.extras.insert("incremental_skipped".into(), why.into());
        }
        out.extras.insert("grid".into(), vec![rows, cols].into());
        if cx.objective.class().is_some() {
            out.extras
                .insert("prob_unoccluded".into(), pass.reference_prob.into());
        }
        Ok(out)
    }
}

/// Every window's target score and probability, and the unoccluded input's.
struct Pass {
    /// Whether each layer was recomputed only where the window reaches.
    incremental: bool,
    /// Why it was not, when it was asked for.
    incremental_skipped: Option<&'static str>,
    reference_score: f32,
    reference_prob: f32,
    scores: Vec<f32>,
    probs: Vec<f32>,
}

/// The batched passes over the windows: incremental where possible, else whole inputs.
fn evaluate(cx: &mut Cx<'_>, o: &OcclusionOptions, w: &Windows) -> Result<Pass> {
    // Probabilities exist for one class's score only; the heatmap and mask views show them.
    if o.view != OcclusionView::Attribution {
        cx.target_class("occlusion --view heatmap or mask")?;
    }
    let acts = cx.clean_pass()?;
    let cx = &*cx;
    let x: Vec<f32> = cx.input.flatten_all()?.to_vec1()?;
    let base: Vec<f32> = baseline(cx, &o.baseline, o.seed)?
        .flatten_all()?
        .to_vec1()?;
    let layer = cx.objective.layer();
    let measure = |out: &Tensor| -> Result<(Vec<f32>, Vec<f32>)> {
        let scores = cx.objective.values(out)?;
        let probs = match cx.objective.class() {
            Some(k) => out
                .flatten_from(1)?
                .to_vec2::<f32>()?
                .iter()
                .map(|row| softmax(row)[k])
                .collect(),
            None => vec![f32::NAN; scores.len()],
        };
        Ok((scores, probs))
    };
    let (s, p) = measure(acts.get(layer))?;
    let (reference_score, reference_prob) = (s[0], p[0]);
    let blocker = o.incremental.then(|| incremental_blocker(cx, w)).flatten();
    let incremental = (o.incremental && blocker.is_none())
        .then(|| Incremental::new(&cx.exec, &acts))
        .transpose()?;
    let (mut scores, mut probs) = (Vec::new(), Vec::new());
    for chunk in w.starts.chunks(cx.batch.max(1)) {
        cx.control.check()?;
        let occluded = chunk.iter().map(|start| {
            let mut o = x.clone();
            for i in w.covered(start) {
                o[i] = base[i];
            }
            o
        });
        let out = match &incremental {
            Some(engine) => engine.run(patches(w, chunk, occluded, cx.input.device())?, layer)?,
            None => {
                let batch: Vec<f32> = occluded.flatten().collect();
                let shape: Vec<usize> = [&[chunk.len()], w.dims.as_slice()].concat();
                cx.exec
                    .output(&Tensor::from_vec(batch, shape, cx.input.device())?, layer)?
            }
        };
        let (s, p) = measure(&out)?;
        scores.extend(s);
        probs.extend(p);
        cx.control.step(scores.len(), w.starts.len(), "windows")?;
    }
    Ok(Pass {
        incremental: incremental.is_some(),
        incremental_skipped: blocker,
        reference_score,
        reference_prob,
        scores,
        probs,
    })
}

/// Why the incremental pass, when asked for, cannot be used: it assembles crops in host
/// memory with convscope's CPU kernels, over an NCHW input. Elsewhere occlusion runs the
/// batched plain pass, which gives the same numbers (`tests/it/occlusion_incremental.rs`).
fn incremental_blocker(cx: &Cx<'_>, w: &Windows) -> Option<&'static str> {
    if !cx.input.device().is_cpu() {
        Some("the input is not on the CPU; incremental occlusion runs on the CPU only")
    } else if !crate::exec::cpu::kernels_on() {
        Some("convscope's CPU kernels are off (CONVSCOPE_CPU_KERNELS=off)")
    } else if (w.h_axis, w.w_axis) != (1, 2) || cx.input.rank() != 4 {
        Some("the input is not NCHW")
    } else {
        None
    }
}

/// The occluded inputs as the window-sized crops where they differ from the input. A window
/// cut at the edge keeps its full size, moved back inside the map.
fn patches(
    w: &Windows,
    chunk: &[Vec<usize>],
    occluded: impl Iterator<Item = Vec<f32>>,
    device: &candle_core::Device,
) -> Result<PatchedInputs> {
    let (c, h, wd) = (w.dims[0], w.dims[1], w.dims[2]);
    let size = [w.window[1].min(h), w.window[2].min(wd)];
    let mut values = Vec::with_capacity(chunk.len() * c * size[0] * size[1]);
    let mut origins = Vec::with_capacity(chunk.len());
    for (start, input) in chunk.iter().zip(occluded) {
        let origin = [start[1].min(h - size[0]), start[2].min(wd - size[1])];
        for ch in 0..c {
            for y in origin[0]..origin[0] + size[0] {
                let row = (ch * h + y) * wd + origin[1];
                values.extend_from_slice(&input[row..row + size[1]]);
            }
        }
        origins.push(origin);
    }
    let values = Tensor::from_vec(values, (chunk.len(), c, size[0], size[1]), device)?;
    Ok(PatchedInputs {
        origins,
        size,
        values,
    })
}

impl Pass {
    /// captum's map: per element, the mean raw-score drop over the windows covering it.
    fn attribution(&self, cx: &Cx<'_>, w: &Windows) -> Result<Tensor> {
        let n: usize = w.dims.iter().product();
        let (mut total, mut count) = (vec![0f32; n], vec![0f32; n]);
        for (start, score) in w.starts.iter().zip(&self.scores) {
            for i in w.covered(start) {
                total[i] += self.reference_score - score;
                count[i] += 1.0;
            }
        }
        let attr: Vec<f32> = total
            .iter()
            .zip(&count)
            .map(|(t, c)| t / c.max(1.0))
            .collect();
        Ok(Tensor::from_vec(attr, cx.input.dims(), cx.input.device())?)
    }

    fn mask(&self, w: &Windows, threshold: f32) -> Output {
        let drops: Vec<f32> = self.probs.iter().map(|p| self.reference_prob - p).collect();
        let drop = views::drop_map(w, &drops);
        let m = views::mask(&drop, threshold);
        let kept = m.keep.iter().filter(|&&k| k).count();
        let (height, width) = w.hw();
        let mut out: Output = Artifact::Mask {
            height,
            width,
            data: drop,
            keep: m.keep,
        }
        .into();
        let e = &mut out.extras;
        e.insert("threshold".into(), threshold.into());
        e.insert("max_drop".into(), m.max_drop.into());
        e.insert("cutoff".into(), m.cutoff.into());
        e.insert("kept_pixels".into(), kept.into());
        e.insert("total_pixels".into(), (height * width).into());
        out
    }
}
