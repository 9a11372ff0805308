//! Trains the embedded demo model on generated shape pictures and writes its weights:
//!
//! ```sh
//! cargo run --release --example train_demo -- --out demo/model/demo.safetensors
//! ```
//!
//! The network is convscope's own graph (`demo::model::untrained`, seeded He-uniform weights)
//! run by convscope's executor, its weights made candle variables so that candle's autograd
//! gives their gradients; AdamW with a warm-up and cosine decay. Every batch is freshly
//! generated from the training stream (seed 1), so nothing is seen twice; the held-out pictures
//! (stream 2, which the semantic tests also draw from) are never trained on. Reproducible from
//! `--seed` on a given machine (CPU GEMM summation order may differ across machines).

mod fast_conv;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use convscope::exec::{to_graph_layout, Executor, LayerWeights, NoHook, Params};
use convscope::imaging::atomic::write_atomic;
use convscope::import::demo::{model, shapes};
use convscope::import::safetensors;
use convscope::input::preprocess::{prepare_image, InputSpec, Layout, Preprocess};
use convscope::model::{Activation, Graph, HostTensor, LayerKind};

/// The generator's streams: training pictures, and held-out ones.
const TRAIN_STREAM: u64 = 1;
const HELDOUT_STREAM: u64 = 2;

struct Args {
    out: PathBuf,
    seed: u64,
    steps: usize,
    batch: usize,
    lr: f64,
    heldout: usize,
}

fn args() -> Args {
    let mut a = Args {
        out: PathBuf::from("demo/model/demo.safetensors"),
        seed: 0,
        steps: 1250,
        batch: 32,
        lr: 3e-3,
        heldout: 2000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        let number = || {
            value.parse::<f64>().unwrap_or_else(|_| {
                eprintln!("error: {} needs a number, got '{value}'", pair[0]);
                std::process::exit(2)
            })
        };
        match pair[0].as_str() {
            "--out" => a.out = PathBuf::from(value),
            "--seed" => a.seed = number() as u64,
            "--steps" => a.steps = number() as usize,
            "--batch" => a.batch = number() as usize,
            "--lr" => a.lr = number(),
            "--heldout" => a.heldout = number() as usize,
            other => {
                eprintln!(
                    "error: unknown option {other}; options: --out PATH --seed N --steps N --batch N --lr X --heldout N"
                );
                std::process::exit(2)
            }
        }
    }
    a
}

/// Pictures `start..start + n` of a stream, prepared as the model takes them, and their classes.
fn batch(
    stream: u64,
    start: u64,
    n: usize,
    clutter: f32,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let spec = InputSpec {
        layout: Layout::Nchw,
        channels: 3,
        height: model::SIZE,
        width: model::SIZE,
    };
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..n as u64 {
        let s = shapes::sample_with_clutter(stream, start + i, model::SIZE, clutter);
        let img = image::RgbImage::from_raw(s.size as u32, s.size as u32, s.rgb).expect("size");
        xs.extend(prepare_image(&img, &spec, Preprocess::Imagenet).data);
        ys.push(s.class as u32);
    }
    Ok((
        Tensor::from_vec(xs, (n, 3, model::SIZE, model::SIZE), device)?,
        Tensor::from_vec(ys, n, device)?,
    ))
}

/// The background clutter of a step's pictures: plain at first, full from 30% of the steps on
/// (a plain VGG without normalization sits at chance for hundreds of steps on fully cluttered
/// pictures; on plain ones it finds the shapes at once, and then keeps them).
fn curriculum(step: usize, steps: usize) -> f32 {
    (step as f32 / (0.3 * steps as f32)).min(1.0)
}

/// Learning rate: linear warm-up over the first 5% of steps, then cosine decay to 2%.
fn rate(base: f64, step: usize, steps: usize) -> f64 {
    let warm = (steps / 20).max(1);
    if step < warm {
        return base * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (steps - warm).max(1) as f64;
    base * (0.02 + 0.98 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

fn accuracy(
    exec: &Executor<'_>,
    graph: &Graph,
    n: usize,
    device: &Device,
) -> candle_core::Result<(f64, Vec<f64>)> {
    let classes = shapes::CLASSES.len();
    let (mut right, mut per) = (0usize, vec![(0usize, 0usize); classes]);
    for start in (0..n).step_by(50) {
        let m = 50.min(n - start);
        let (x, y) = batch(HELDOUT_STREAM, start as u64, m, 1.0, device)?;
        let acts = exec
            .forward(&x, &mut NoHook)
            .map_err(candle_core::Error::wrap)?;
        let pred: Vec<u32> = acts.get(graph.logits_layer()).argmax(1)?.to_vec1()?;
        for (p, t) in pred.iter().zip(y.to_vec1::<u32>()?) {
            right += usize::from(*p == t);
            per[t as usize].0 += usize::from(*p == t);
            per[t as usize].1 += 1;
        }
    }
    let per = per
        .iter()
        .map(|(r, t)| *r as f64 / (*t).max(1) as f64)
        .collect();
    Ok((right as f64 / n as f64, per))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    convscope::exec::cpu::keep_freed_memory();
    let a = args();
    let device = Device::Cpu;
    let graph = model::untrained(shapes::CLASSES.len(), a.seed)?;
    let mut net = Trainable::new(&graph, &device)?;
    let all: Vec<Var> = net.vars();
    let count: usize = all.iter().map(|v| v.elem_count()).sum();
    println!(
        "demo model: {} layers, {count} parameters; {} steps of {} pictures ({}x{}), lr {}",
        graph.layers.len(),
        a.steps,
        a.batch,
        model::SIZE,
        model::SIZE,
        a.lr
    );
    let mut opt = AdamW::new(
        all,
        ParamsAdamW {
            lr: a.lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let start = Instant::now();
    let (mut loss_sum, mut right, mut seen, mut steps_seen) = (0f64, 0usize, 0usize, 0usize);
    let (mut t_data, mut t_fwd, mut t_bwd) = (0f64, 0f64, 0f64);
    for step in 0..a.steps {
        opt.set_learning_rate(rate(a.lr, step, a.steps));
        let t0 = Instant::now();
        let clutter = curriculum(step, a.steps);
        let (x, y) = batch(
            TRAIN_STREAM,
            (step * a.batch) as u64,
            a.batch,
            clutter,
            &device,
        )?;
        let t1 = Instant::now();
        let logits = net.forward_train(&graph, &x)?;
        let logits = &logits;
        let loss = candle_nn::loss::cross_entropy(logits, &y)?;
        let t2 = Instant::now();
        opt.backward_step(&loss)?;
        t_data += (t1 - t0).as_secs_f64();
        t_fwd += (t2 - t1).as_secs_f64();
        t_bwd += t2.elapsed().as_secs_f64();
        steps_seen += 1;
        loss_sum += loss.to_scalar::<f32>()? as f64;
        let pred: Vec<u32> = logits.argmax(1)?.to_vec1()?;
        right += pred
            .iter()
            .zip(y.to_vec1::<u32>()?)
            .filter(|(p, t)| **p == *t)
            .count();
        seen += a.batch;
        if (step + 1) % 50 == 0 || step + 1 == a.steps {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "step {:5}/{}  clutter {:.2}  loss {:.4}  train acc {:.3}  {:.0} s, ~{:.0} s left (data {:.2} fwd {:.2} bwd {:.2} s/step)",
                step + 1,
                a.steps,
                clutter,
                loss_sum / steps_seen as f64,
                right as f64 / seen as f64,
                secs,
                secs / (step + 1) as f64 * (a.steps - step - 1) as f64,
                t_data / steps_seen as f64,
                t_fwd / steps_seen as f64,
                t_bwd / steps_seen as f64
            );
            (loss_sum, right, seen, steps_seen) = (0.0, 0, 0, 0);
            (t_data, t_fwd, t_bwd) = (0.0, 0.0, 0.0);
        }
    }
    // Held-out accuracy of the exported weights, run as convscope runs them (batch norm folded).
    let tensors = net.export(&graph)?;
    let mut trained = graph.clone();
    model::load_weights(&mut trained, &tensors)?;
    let params = Params::load(&trained, &device)?;
    let exec = Executor::new(&trained, &params);
    let (acc, per) = accuracy(&exec, &trained, a.heldout, &device)?;
    println!("held-out accuracy on {} pictures: {:.4}", a.heldout, acc);
    for (name, p) in shapes::CLASSES.iter().zip(&per) {
        println!("  {name:9} {p:.3}");
    }
    let metadata = HashMap::from([
        ("classes".to_string(), shapes::CLASSES.join(",")),
        ("seed".to_string(), a.seed.to_string()),
        ("steps".to_string(), a.steps.to_string()),
        ("batch".to_string(), a.batch.to_string()),
        ("heldout_accuracy".to_string(), format!("{acc:.4}")),
        ("heldout_pictures".to_string(), a.heldout.to_string()),
        (
            "input".to_string(),
            format!("1x3x{0}x{0} imagenet", model::SIZE),
        ),
        (
            "trained_in_s".to_string(),
            format!("{:.0}", start.elapsed().as_secs_f64()),
        ),
    ]);
    let bytes = safetensors::write(&tensors, metadata)?;
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_atomic(&a.out, &bytes)?;
    println!("wrote {} ({} bytes)", a.out.display(), bytes.len());
    Ok(())
}

/// The graph's weights as candle variables, in the kernels' layout, and batch normalization in
/// training mode: batch statistics, with running averages kept for inference.
struct Trainable {
    /// Per layer: the kernels' parameters (conv and dense), or `[gamma, beta]` of a batch norm.
    vars: Vec<Vec<Var>>,
    /// Per batch-norm layer: running mean and variance, `[1, C, 1, 1]`.
    running: HashMap<usize, (Tensor, Tensor)>,
}

impl Trainable {
    fn new(graph: &Graph, device: &Device) -> convscope::Result<Trainable> {
        let init = Params::load(graph, device)?;
        let (mut vars, mut running) = (Vec::new(), HashMap::new());
        for (i, layer) in graph.layers.iter().enumerate() {
            let v = match &layer.kind {
                LayerKind::BatchNorm(b) => {
                    let shape = (1, b.channels, 1, 1);
                    running.insert(
                        i,
                        (
                            Tensor::zeros(shape, DType::F32, device)?,
                            Tensor::ones(shape, DType::F32, device)?,
                        ),
                    );
                    vec![
                        Var::ones(shape, DType::F32, device)?,
                        Var::zeros(shape, DType::F32, device)?,
                    ]
                }
                // Kernels keep their He-uniform start; biases start at zero.
                _ => init.tensors()[i]
                    .iter()
                    .enumerate()
                    .map(|(k, t)| {
                        if k == 0 {
                            Var::from_tensor(t)
                        } else {
                            Var::from_tensor(&t.zeros_like()?)
                        }
                    })
                    .collect::<candle_core::Result<_>>()?,
            };
            vars.push(v);
        }
        Ok(Trainable { vars, running })
    }

    fn vars(&self) -> Vec<Var> {
        self.vars.iter().flatten().cloned().collect()
    }

    /// The logits for a batch, batch norm on batch statistics (updating the running ones).
    fn forward_train(&mut self, graph: &Graph, x: &Tensor) -> convscope::Result<Tensor> {
        let mut values: Vec<Tensor> = Vec::with_capacity(graph.layers.len());
        for (i, layer) in graph.layers.iter().enumerate() {
            let out = match (&layer.kind, layer.inputs.first()) {
                (LayerKind::Input, _) => x.clone(),
                (LayerKind::BatchNorm(b), Some(input)) => {
                    // y = x·a + b per channel, a = γ/√(var + ε), b = β − mean·a, var = E[x²] − E[x]²:
                    // five passes over the big tensor instead of nine (training time is mostly
                    // spent in such passes at 96x96).
                    let h = &values[input.0];
                    let (n, c, hh, ww) = h.dims4()?;
                    let flat = h.reshape((n, c, hh * ww))?;
                    let per_channel = |t: Tensor| -> candle_core::Result<Tensor> {
                        (t.sum_keepdim(2)?.sum_keepdim(0)? / (n * hh * ww) as f64)?
                            .reshape((1, c, 1, 1))
                    };
                    let mean = per_channel(flat.clone())?;
                    let var = (per_channel(flat.sqr()?)? - mean.sqr()?)?;
                    let a = self.vars[i][0]
                        .broadcast_div(&(var.clone() + b.epsilon as f64)?.sqrt()?)?;
                    let shift = (self.vars[i][1].as_tensor() - (&mean * &a)?)?;
                    let (rm, rv) = self
                        .running
                        .get_mut(&i)
                        .expect("a running pair per batch norm");
                    let n = (h.elem_count() / b.channels) as f64;
                    let m = 1.0 - b.momentum as f64;
                    *rm = ((&*rm * (1.0 - m))? + (mean.detach() * m)?)?;
                    *rv = ((&*rv * (1.0 - m))? + (var.detach() * (m * n / (n - 1.0)))?)?;
                    h.broadcast_mul(&a)?.broadcast_add(&shift)?
                }
                (LayerKind::Activation(Activation::Relu), Some(input)) => values[input.0].relu()?,
                (LayerKind::MaxPool2d(p), Some(input)) => {
                    // candle's pooling (and ReLU above), which its autograd differentiates:
                    // the executor's own CPU kernels are invisible to it.
                    let w = &p.window;
                    if w.kernel != w.strides || w.pads != [0; 4] || w.dilation != [1, 1] {
                        return Err(convscope::Error::Usage(format!(
                            "training: only non-overlapping unpadded max pools, not {w:?}"
                        )));
                    }
                    values[input.0].max_pool2d_with_stride(
                        (w.kernel[0], w.kernel[1]),
                        (w.strides[0], w.strides[1]),
                    )?
                }
                (LayerKind::Conv2d(c), Some(input)) => {
                    let v = &self.vars[i];
                    fast_conv::conv2d(&values[input.0], &v[0], v.get(1).map(|b| b.as_tensor()), c)?
                }
                _ => {
                    let xs: Vec<&Tensor> = layer.inputs.iter().map(|j| &values[j.0]).collect();
                    let p: Vec<Tensor> =
                        self.vars[i].iter().map(|v| v.as_tensor().clone()).collect();
                    convscope::exec::ops::forward(layer, LayerWeights::plain(&p), &xs)?
                }
            };
            values.push(out);
        }
        Ok(values.pop().expect("layers"))
    }

    /// The weights under the graph's names: kernels back in the graph's layout, batch norms as
    /// gamma, beta and the running mean and variance.
    fn export(&self, graph: &Graph) -> convscope::Result<HashMap<String, HostTensor>> {
        let host = |t: &Tensor| -> convscope::Result<HostTensor> {
            let data: Vec<f32> = t.flatten_all()?.to_vec1()?;
            Ok(HostTensor {
                shape: vec![data.len()],
                data,
            })
        };
        let mut out = HashMap::new();
        for (i, layer) in graph.layers.iter().enumerate() {
            let tensors = match &layer.kind {
                LayerKind::BatchNorm(_) => {
                    let (rm, rv) = &self.running[&i];
                    vec![
                        host(&self.vars[i][0])?,
                        host(&self.vars[i][1])?,
                        host(rm)?,
                        host(rv)?,
                    ]
                }
                _ => {
                    let p: Vec<Tensor> =
                        self.vars[i].iter().map(|v| v.as_tensor().clone()).collect();
                    to_graph_layout(layer, &p)?
                }
            };
            for (w, t) in layer.weights.iter().zip(tensors) {
                out.insert(w.name.clone(), t);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every weight receives a gradient through the whole network. The executor's CPU kernels
    /// are invisible to candle's autograd, so a layer that reached one would cut the gradient
    /// for everything before it and training would silently stop learning there.
    #[test]
    fn every_weight_gets_a_gradient() -> Result<(), Box<dyn std::error::Error>> {
        let device = Device::Cpu;
        let graph = model::untrained(shapes::CLASSES.len(), 0)?;
        let mut net = Trainable::new(&graph, &device)?;
        let input = &graph.layer(graph.inputs[0]).out_shape;
        let x = Tensor::randn(0f32, 1., (2, input[1], input[2], input[3]), &device)?;
        let loss = net.forward_train(&graph, &x)?.sqr()?.sum_all()?;
        let grads = loss.backward()?;
        for (layer, vars) in graph.layers.iter().zip(&net.vars) {
            for v in vars {
                let g = grads
                    .get(v)
                    .ok_or_else(|| format!("{}: no gradient", layer.name))?;
                let size: f32 = g.abs()?.sum_all()?.to_scalar()?;
                assert!(size > 0.0, "{}: zero gradient", layer.name);
            }
        }
        Ok(())
    }
}
