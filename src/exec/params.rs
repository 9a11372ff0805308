//! A graph's weights on a device, prepared the way the kernels want them (BatchNorm folded to a
//! scale and shift, dense kernels as `[in, out]` with Gemm's alpha and beta applied, biases
//! shaped for broadcasting). Loading reads external data, so a missing file surfaces here.

use std::sync::Arc;

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::exec::cpu;
use crate::model::{Graph, HostTensor, Layer, LayerId, LayerKind, Weight};

pub struct Params {
    layers: Vec<Vec<Tensor>>,
    /// Per layer, the CPU convolution kernels' cache of what they derive from its weights
    /// (convolutions on the CPU only).
    /// Shared with the copies [`Params::with_layers`] makes, for the layers they keep.
    conv_caches: Vec<Option<Arc<cpu::ConvCache>>>,
}

/// One layer's prepared weights (they dereference to the tensors), with the cache of what the
/// CPU convolution kernels derive from them.
#[derive(Clone, Copy)]
pub struct LayerWeights<'a> {
    tensors: &'a [Tensor],
    pub conv_cache: Option<&'a cpu::ConvCache>,
}

impl<'a> LayerWeights<'a> {
    /// Weights without a cache: tensors that may change between passes.
    pub fn plain(tensors: &'a [Tensor]) -> Self {
        LayerWeights {
            tensors,
            conv_cache: None,
        }
    }
}

impl std::ops::Deref for LayerWeights<'_> {
    type Target = [Tensor];

    fn deref(&self) -> &[Tensor] {
        self.tensors
    }
}

impl Params {
    pub fn load(graph: &Graph, device: &Device) -> Result<Params> {
        let layers: Vec<Vec<Tensor>> = graph
            .layers
            .iter()
            .map(|l| prepare(l, device))
            .collect::<Result<_>>()?;
        let conv_caches = graph
            .layers
            .iter()
            .zip(&layers)
            .map(|(l, p)| match (&l.kind, p.first()) {
                (LayerKind::Conv2d(_) | LayerKind::ConvTranspose2d(_), Some(w)) => conv_cache(w),
                _ => None,
            })
            .collect();
        Ok(Params {
            layers,
            conv_caches,
        })
    }

    pub fn of(&self, id: LayerId) -> LayerWeights<'_> {
        LayerWeights {
            tensors: &self.layers[id.0],
            conv_cache: self.conv_caches.get(id.0).and_then(Option::as_deref),
        }
    }

    /// Parameters given directly in the kernels' layout: a trainer's variables, whose gradients
    /// candle's autograd tracks through the forward pass. They change between steps, so
    /// nothing derived from them is kept.
    pub fn from_tensors(layers: Vec<Vec<Tensor>>) -> Params {
        Params {
            layers,
            conv_caches: Vec::new(),
        }
    }

    pub fn tensors(&self) -> &[Vec<Tensor>] {
        &self.layers
    }

    /// A copy with the layers of `replaced` given new weights (in the graph's layout, as a
    /// model file holds them) and every other layer's tensors and caches shared, not copied:
    /// what the randomization checks run on, leaving these weights as they are.
    pub fn with_layers(
        &self,
        graph: &Graph,
        replaced: Vec<(LayerId, Vec<Weight>)>,
        device: &Device,
    ) -> Result<Params> {
        let mut copy = Params {
            layers: self.layers.clone(),
            conv_caches: self.conv_caches.clone(),
        };
        for (id, weights) in replaced {
            // The layer as `prepare` reads it, without copying its current weights.
            let orig = graph.layer(id);
            let layer = Layer {
                name: orig.name.clone(),
                source_name: String::new(),
                source_op: String::new(),
                kind: orig.kind.clone(),
                inputs: orig.inputs.clone(),
                out_shape: orig.out_shape.clone(),
                weights,
                folded_into: None,
                source: None,
            };
            let tensors = prepare(&layer, device)?;
            let cache = match (&layer.kind, tensors.first()) {
                (LayerKind::Conv2d(_) | LayerKind::ConvTranspose2d(_), Some(w)) => conv_cache(w),
                _ => None,
            };
            copy.layers[id.0] = tensors;
            if let Some(slot) = copy.conv_caches.get_mut(id.0) {
                *slot = cache;
            }
        }
        Ok(copy)
    }
}

/// The CPU kernels' cache for a convolution's weights, where they run it.
fn conv_cache(w: &Tensor) -> Option<Arc<cpu::ConvCache>> {
    cpu::takes(w).then(|| Arc::new(cpu::ConvCache::new(w)))
}

/// Back from the kernels' layout to the graph's weights (the inverse of loading) for
/// convolutions and dense layers: what a trainer saves. Other kinds with weights are refused.
pub fn to_graph_layout(layer: &Layer, p: &[Tensor]) -> Result<Vec<HostTensor>> {
    let host = |t: &Tensor, shape: Vec<usize>| -> Result<HostTensor> {
        Ok(HostTensor {
            data: t.flatten_all()?.to_vec1()?,
            shape,
        })
    };
    let dims = |t: &Tensor| t.dims().to_vec();
    match &layer.kind {
        LayerKind::Conv2d(c) => {
            let mut out = vec![host(&p[0], dims(&p[0]))?];
            if c.use_bias {
                out.push(host(&p[1], vec![c.filters])?);
            }
            Ok(out)
        }
        LayerKind::Linear(l) if l.alpha == 1.0 && l.beta == 1.0 => {
            let w = if l.weight_out_in {
                p[0].t()?.contiguous()?
            } else {
                p[0].clone()
            };
            let mut out = vec![host(&w, dims(&w))?];
            if l.use_bias {
                out.push(host(&p[1], vec![l.units])?);
            }
            Ok(out)
        }
        _ if p.is_empty() => Ok(vec![]),
        other => Err(Error::graph(
            &layer.name,
            format!("cannot export {} weights", other.type_name()),
        )),
    }
}

/// `[rows, cols]` row-major to `[cols, rows]`, in 64x64 tiles so that reads and writes both
/// stay in cache.
fn transpose_tiled(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 64;
    let mut out = vec![0f32; data.len()];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = data[r * cols + c];
                }
            }
        }
    }
    out
}

fn tensor(t: &HostTensor, shape: &[usize], device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(&t.data, shape, device)?)
}

/// Weight `i` as a tensor of its own shape, its values moved in without a copy where this load
/// made them (a mapped, deferred or random weight: nobody else holds them), which keeps a
/// 400 MB kernel from being held twice; `host[i]` is left empty then.
fn owned(host: &mut [Arc<HostTensor>], i: usize, device: &Device) -> Result<Tensor> {
    let t = std::mem::replace(&mut host[i], Arc::new(HostTensor::default()));
    match Arc::try_unwrap(t) {
        Ok(t) => Ok(Tensor::from_vec(t.data, t.shape, device)?),
        Err(shared) => {
            let out = tensor(&shared, &shared.shape, device);
            host[i] = shared;
            out
        }
    }
}

fn prepare(layer: &Layer, device: &Device) -> Result<Vec<Tensor>> {
    let mut host = layer
        .weights
        .iter()
        .map(|w| w.load())
        .collect::<Result<Vec<_>>>()?;
    let raw = |i: usize| tensor(&host[i], &host[i].shape, device);
    Ok(match &layer.kind {
        LayerKind::Conv2d(c) => {
            let mut v = vec![owned(&mut host, 0, device)?];
            if c.use_bias {
                v.push(tensor(&host[1], &[1, c.filters, 1, 1], device)?);
            }
            v
        }
        LayerKind::ConvTranspose2d(c) => {
            let mut v = vec![owned(&mut host, 0, device)?];
            if c.use_bias {
                v.push(tensor(&host[1], &[1, c.filters, 1, 1], device)?);
            }
            v
        }
        LayerKind::BatchNorm(b) => {
            let (gamma, beta, mean, var) =
                (&host[0].data, &host[1].data, &host[2].data, &host[3].data);
            let scale: Vec<f32> = gamma
                .iter()
                .zip(var)
                .map(|(g, v)| g / (v + b.epsilon).sqrt())
                .collect();
            let shift: Vec<f32> = beta
                .iter()
                .zip(mean)
                .zip(&scale)
                .map(|((b, m), s)| b - m * s)
                .collect();
            let shape = (1, b.channels, 1, 1);
            vec![
                Tensor::from_vec(scale, shape, device)?,
                Tensor::from_vec(shift, shape, device)?,
            ]
        }
        LayerKind::Linear(l) => {
            // PyTorch's [out, in] becomes [in, out] here, once, by a tiled transpose on the
            // host: candle's strided copy took seconds for VGG16's 25088x4096 fc1, and the
            // forward GEMM is faster on the contiguous layout than on a transposed view.
            let w = if l.weight_out_in {
                let (rows, cols) = (l.units, l.in_features);
                if host[0].data.len() != rows * cols {
                    return Err(Error::graph(
                        &layer.name,
                        format!(
                            "weight has {} values, not {rows}x{cols}",
                            host[0].data.len()
                        ),
                    ));
                }
                let t = transpose_tiled(&host[0].data, rows, cols);
                Tensor::from_vec(t, (cols, rows), device)?
            } else {
                owned(&mut host, 0, device)?
            };
            let w = if l.alpha == 1.0 {
                w
            } else {
                (w * l.alpha as f64)?
            };
            let mut v = vec![w];
            if l.use_bias {
                let b = &host[1];
                let values = if b.data.len() == 1 {
                    vec![b.data[0]; l.units]
                } else {
                    b.data.clone()
                };
                v.push((Tensor::from_vec(values, l.units, device)? * l.beta as f64)?);
            }
            v
        }
        LayerKind::LayerNorm(_) | LayerKind::PRelu | LayerKind::Binary(_) => {
            (0..host.len()).map(raw).collect::<Result<_>>()?
        }
        _ if host.is_empty() => vec![],
        other => {
            return Err(Error::graph(
                &layer.name,
                format!("{} layers carry no weights", other.type_name()),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn tiled_transpose_is_a_transpose() {
        for (rows, cols) in [(1, 1), (3, 130), (65, 64), (129, 7)] {
            let data: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = super::transpose_tiled(&data, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], data[r * cols + c]);
                }
            }
        }
    }
}
