//! Incremental inference for inputs that differ from a cached one only in a patch (occlusion):
//! each layer is recomputed only over the region its changed inputs can reach, reading the
//! cached activations of the unchanged input everywhere else (Nakandala, Kumar and
//! Papakonstantinou, "Incremental and Approximate Inference for Faster Occlusion-based Deep
//! CNN Explanations", SIGMOD 2019; only the exact part, no approximation).
//!
//! A layer's output, for a batch of such inputs, is in one of three states:
//! - `Unchanged`: equal to the cache for every element (nothing changed reaches it);
//! - `Patch`: equal to the cache except inside one rectangle per element, all of one size,
//!   held as a `[B, C, h, w]` tensor;
//! - `Full`: a whole `[B, …]` tensor, once the region covers most of the map or the layer has
//!   no spatial structure (dense layers, global pools, reshapes).
//!
//! Windowed layers (convolution, max pooling, unpadded average pooling) grow the region by
//! their receptive field; element-wise layers keep it; binary layers take the union of their
//! operands' regions. The crop a windowed layer reads is assembled on the host from the cache,
//! the patch and explicit padding, and the layer then runs unpadded over it, so that every
//! output position computes exactly what the full pass would (up to summation order).

mod region;

use candle_core::{DType, Tensor};

use super::{ops, Activations, Executor, LayerWeights};
use crate::error::{Error, Result};
use crate::model::{Graph, Layer, LayerId, LayerKind};
use region::{affected, crop, uniform, AxisWindow, Changed, Source};

pub use region::Rect;

/// Above this fraction of a map's area, a region is computed as a whole map instead, where
/// assembling the crops costs more than the few skipped positions save. Measured on VGG16
/// (window 16, stride 8, 224x224): 0.5 took 16.6 s, 0.85 took 15.4 s.
const FULL_FRACTION: f64 = 0.85;

/// A cached forward pass (batch 1) and its activations on the host, for crops.
pub struct Incremental<'a> {
    exec: &'a Executor<'a>,
    cache: &'a Activations,
    host: Vec<Option<Vec<f32>>>,
    /// For each layer, the last layer that reads it (its state can be dropped after).
    last_use: Vec<usize>,
}

/// A batch of inputs, each equal to the cached input except inside `rects[b]` (H and W of an
/// NCHW input), given as the `[B, C, h, w]` values there.
pub struct PatchedInputs {
    pub origins: Vec<[usize; 2]>,
    pub size: [usize; 2],
    pub values: Tensor,
}

enum State {
    Unchanged,
    Patch { at: Changed, data: Tensor },
    Full(Tensor),
}

impl<'a> Incremental<'a> {
    /// `cache` holds every layer's output for the unchanged input (batch 1), from `exec`.
    pub fn new(exec: &'a Executor<'a>, cache: &'a Activations) -> Result<Self> {
        let g = exec.graph;
        let mut host = Vec::with_capacity(g.layers.len());
        let mut last_use: Vec<usize> = (0..g.layers.len()).collect();
        for id in g.ids() {
            let t = cache.get(id);
            if t.dim(0)? != 1 {
                return Err(Error::Input(
                    "incremental inference needs a cached pass of one input".into(),
                ));
            }
            // Only maps get cropped; the rest is broadcast as a tensor.
            host.push(if t.rank() == 4 && t.dtype() == DType::F32 {
                Some(t.flatten_all()?.to_vec1::<f32>()?)
            } else {
                None
            });
            for input in &g.layer(id).inputs {
                last_use[input.0] = last_use[input.0].max(id.0);
            }
        }
        Ok(Incremental {
            exec,
            cache,
            host,
            last_use,
        })
    }

    fn graph(&self) -> &Graph {
        self.exec.graph
    }

    /// Layer `upto`'s output for every input of the batch, `[B, …]`.
    pub fn run(&self, inputs: PatchedInputs, upto: LayerId) -> Result<Tensor> {
        let g = self.graph();
        let input_id = g.inputs[0];
        let shape = &g.layer(input_id).out_shape;
        let b = inputs.origins.len();
        let want = [b, shape[1], inputs.size[0], inputs.size[1]];
        if shape.len() != 4 || inputs.values.dims() != want {
            return Err(Error::Input(format!(
                "patched inputs of shape {:?} do not fit the model input {shape:?} with {b} patches of {:?}",
                inputs.values.dims(),
                inputs.size
            )));
        }
        let mut states: Vec<Option<State>> = (0..g.layers.len()).map(|_| None).collect();
        states[input_id.0] = Some(State::Patch {
            at: Changed {
                origins: inputs.origins,
                size: inputs.size,
            },
            data: inputs.values,
        });
        for id in g.ids().take(upto.0 + 1) {
            if id == input_id {
                continue;
            }
            let layer = g.layer(id);
            let ins: Vec<&State> = layer
                .inputs
                .iter()
                .map(|i| states[i.0].as_ref().unwrap_or(&State::Unchanged))
                .collect();
            let out = self.step(id, &ins, b).map_err(|e| match e {
                Error::Tensor(t) => Error::graph(
                    &layer.name,
                    format!("incremental pass: {}", crate::error::one_line(&t)),
                ),
                other => other,
            })?;
            states[id.0] = Some(out);
            // Drop what no later layer reads.
            for input in &layer.inputs {
                if self.last_use[input.0] == id.0 && *input != upto {
                    states[input.0] = None;
                }
            }
        }
        let last = states[upto.0].take().unwrap_or(State::Unchanged);
        self.materialize(upto, &last, b)
    }

    fn step(&self, id: LayerId, ins: &[&State], b: usize) -> Result<State> {
        let layer = self.graph().layer(id);
        let p = self.exec.params.of(id);
        if ins.iter().all(|s| matches!(s, State::Unchanged)) {
            return Ok(State::Unchanged);
        }
        if ins.iter().all(|s| !matches!(s, State::Full(_))) {
            if let Some(state) = self.step_in_region(layer, p, ins)? {
                return Ok(state);
            }
        }
        let full: Vec<Tensor> = layer
            .inputs
            .iter()
            .zip(ins)
            .map(|(i, s)| self.materialize(*i, s, b))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = full.iter().collect();
        Ok(State::Full(ops::forward(layer, p, &refs)?))
    }

    /// The layer over its changed region only, or `None` where it must run whole.
    fn step_in_region(
        &self,
        layer: &Layer,
        p: LayerWeights<'_>,
        ins: &[&State],
    ) -> Result<Option<State>> {
        let out_hw = match layer.out_shape.as_slice() {
            [_, _, h, w] => [*h, *w],
            _ => return Ok(None),
        };
        match (&layer.kind, ins) {
            (
                LayerKind::BatchNorm(_)
                | LayerKind::Activation(_)
                | LayerKind::Identity
                | LayerKind::Dropout { .. },
                [State::Patch { at, data }],
            ) => Ok(Some(State::Patch {
                at: at.clone(),
                data: ops::forward(layer, p, &[data])?,
            })),
            (LayerKind::Binary(bc), [_, _]) if bc.constant.is_none() => {
                let sources = &layer.inputs;
                if sources
                    .iter()
                    .any(|i| self.graph().layer(*i).out_shape != layer.out_shape)
                {
                    return Ok(None); // broadcasting operands
                }
                let ranges: Vec<_> = (0..batch_of(ins))
                    .map(|e| union(ins.iter().map(|s| rect_of(s, e))))
                    .collect();
                let at = uniform(&ranges, out_hw);
                if too_large(&at, out_hw) {
                    return Ok(None);
                }
                let crops: Vec<Tensor> = sources
                    .iter()
                    .zip(ins)
                    .map(|(i, s)| self.crops(*i, s, &at, identity_window(), 0.0))
                    .collect::<Result<_>>()?;
                Ok(Some(State::Patch {
                    at,
                    data: ops::forward(layer, p, &[&crops[0], &crops[1]])?,
                }))
            }
            (_, [state @ State::Patch { at: changed, .. }]) => {
                let Some((win, pad)) = window_of(layer) else {
                    return Ok(None);
                };
                let ranges: Vec<_> = (0..changed.origins.len())
                    .map(|e| {
                        let r = changed.rect(e);
                        [0, 1].map(|a| affected(r.origin[a], r.size[a], win[a], out_hw[a]))
                    })
                    .collect();
                let at = uniform(&ranges, out_hw);
                if too_large(&at, out_hw) {
                    return Ok(None);
                }
                let crop = self.crops(layer.inputs[0], state, &at, win, pad)?;
                let y = ops::forward_unpadded(layer, p, &crop)?;
                let (n, c) = (y.dim(0)?, y.dim(1)?);
                if y.dims() != [n, c, at.size[0], at.size[1]] {
                    return Err(Error::graph(
                        &layer.name,
                        format!(
                            "incremental pass: a {:?} region gave {:?}",
                            at.size,
                            y.dims()
                        ),
                    ));
                }
                Ok(Some(State::Patch { at, data: y }))
            }
            _ => Ok(None),
        }
    }

    /// The input crops that the outputs over `at` read from layer `src` in `state`.
    fn crops(
        &self,
        src: LayerId,
        state: &State,
        at: &Changed,
        win: [AxisWindow; 2],
        pad: f32,
    ) -> Result<Tensor> {
        let shape = &self.graph().layer(src).out_shape;
        let (c, hw) = (shape[1], [shape[2], shape[3]]);
        let cache = self.host[src.0]
            .as_deref()
            .ok_or_else(|| Error::Input("incremental pass: a map without a host copy".into()))?;
        let patch_data: Option<(Vec<f32>, &Changed)> = match state {
            State::Patch { at, data } => Some((data.flatten_all()?.to_vec1::<f32>()?, at)),
            _ => None,
        };
        let b = at.origins.len();
        let reads = [0, 1].map(|a| win[a].reads(0, at.size[a]).1);
        let mut out = Vec::with_capacity(b * c * reads[0] * reads[1]);
        for e in 0..b {
            let start = [0, 1].map(|a| win[a].reads(at.origins[e][a], at.size[a]).0);
            let patch = patch_data.as_ref().map(|(v, pat)| {
                let per = c * pat.size[0] * pat.size[1];
                (&v[e * per..(e + 1) * per], pat.rect(e))
            });
            let source = Source {
                cache,
                hw,
                patch,
                pad,
            };
            crop(&source, c, start, reads, &mut out);
        }
        let device = self.cache.get(src).device();
        Ok(Tensor::from_vec(out, (b, c, reads[0], reads[1]), device)?)
    }

    /// Layer `id`'s whole output for the batch.
    fn materialize(&self, id: LayerId, state: &State, b: usize) -> Result<Tensor> {
        let cached = self.cache.get(id);
        match state {
            State::Full(t) => Ok(t.clone()),
            State::Unchanged => {
                let mut dims = cached.dims().to_vec();
                dims[0] = b;
                Ok(cached.broadcast_as(dims)?.contiguous()?)
            }
            State::Patch { .. } => {
                let whole = Changed {
                    origins: vec![[0, 0]; b],
                    size: [cached.dim(2)?, cached.dim(3)?],
                };
                self.crops(id, state, &whole, identity_window(), 0.0)
            }
        }
    }
}

/// The per-axis window and the padding value of a windowed layer, or `None`.
fn window_of(layer: &Layer) -> Option<([AxisWindow; 2], f32)> {
    let (w, pad) = match &layer.kind {
        LayerKind::Conv2d(c) => (&c.window, 0.0),
        LayerKind::MaxPool2d(p) => (&p.window, f32::NEG_INFINITY),
        // Averages that exclude padding divide by a count the crop cannot express.
        LayerKind::AvgPool2d(p) if p.window.pads == [0; 4] => (&p.window, 0.0),
        _ => return None,
    };
    let axis = |a: usize| AxisWindow {
        k: w.kernel[a],
        s: w.strides[a],
        d: w.dilation[a],
        p: w.pads[a],
    };
    Some(([axis(0), axis(1)], pad))
}

/// The window of an element-wise layer: each output reads its own position.
fn identity_window() -> [AxisWindow; 2] {
    [AxisWindow {
        k: 1,
        s: 1,
        d: 1,
        p: 0,
    }; 2]
}

fn batch_of(ins: &[&State]) -> usize {
    ins.iter()
        .find_map(|s| match s {
            State::Patch { at, .. } => Some(at.origins.len()),
            _ => None,
        })
        .unwrap_or(0)
}

fn rect_of(state: &State, e: usize) -> Option<Rect> {
    match state {
        State::Patch { at, .. } => Some(at.rect(e)),
        _ => None,
    }
}

/// The bounding box of the rectangles, as inclusive ranges per axis.
fn union(rects: impl Iterator<Item = Option<Rect>>) -> [Option<(usize, usize)>; 2] {
    let mut out = [None, None];
    for r in rects.flatten() {
        for (a, range) in out.iter_mut().enumerate() {
            let (lo, hi) = (r.origin[a], r.origin[a] + r.size[a] - 1);
            *range = Some(range.map_or((lo, hi), |(l, h): (usize, usize)| (l.min(lo), h.max(hi))));
        }
    }
    out
}

fn too_large(at: &Changed, out_hw: [usize; 2]) -> bool {
    let area = (at.size[0] * at.size[1]) as f64;
    area > FULL_FRACTION * (out_hw[0] * out_hw[1]) as f64
}
