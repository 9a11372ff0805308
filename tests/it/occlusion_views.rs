//! Occlusion's heatmap and mask views against the definition, recomputed here one occluded
//! input at a time: each window's occluded input is built in the test (baseline 0), run through
//! the executor alone, and its softmax taken in f64. The views share the method's one batched
//! pass, so this also checks the batching (uneven batches of 7) and the window grid. Agreement
//! within 1e-6 absolute (probabilities; the batched and the lone forward passes differ only in
//! float32 rounding).

use crate::common::{fixtures, npy_tensor};
use candle_core::{Device, Tensor};
use convscope::exec::{Executor, NoHook, Params};
use convscope::import::onnx;
use convscope::methods::{
    self, Artifact, Control, Cx, Objective, OcclusionOptions, OcclusionView, Options, Output,
};
use convscope::model::Graph;

struct Net {
    graph: Graph,
    params: Params,
    input: Tensor,
    /// Whether the input is `[H,W,C]` (Keras) rather than `[C,H,W]`.
    nhwc: bool,
}

fn net(name: &str, nhwc: bool) -> Net {
    let graph = onnx::load(&fixtures().join(format!("nets/{name}.onnx"))).unwrap();
    let params = Params::load(&graph, &Device::Cpu).unwrap();
    let input = npy_tensor(&fixtures().join(format!("nets/{name}.input.npy")));
    Net {
        graph,
        params,
        input,
        nhwc,
    }
}

const TARGET: usize = 3;

impl Net {
    /// Occlusion with `options`, in batches of 7.
    fn run(&self, options: OcclusionOptions) -> Output {
        let mut cx = Cx::new(
            &self.graph,
            &self.params,
            self.input.clone(),
            Objective::Class {
                scores: self.graph.logits_layer(),
                class: TARGET,
            },
            Control::default(),
        );
        cx.options = Options::Occlusion(options);
        cx.batch = 7;
        methods::by_id("occlusion").unwrap().run(&mut cx).unwrap()
    }

    /// (C, H, W) of the input.
    fn chw(&self) -> (usize, usize, usize) {
        let d = self.input.dims();
        if self.nhwc {
            (d[3], d[1], d[2])
        } else {
            (d[1], d[2], d[3])
        }
    }

    /// The target's probability for the input with the box (channels `c`, rows `y`, columns
    /// `x`) set to 0, computed alone.
    fn prob_occluded(&self, c: Range, y: Range, x: Range) -> f64 {
        let (ch, h, w) = self.chw();
        let mut data: Vec<f32> = self.input.flatten_all().unwrap().to_vec1().unwrap();
        for k in c.0..c.1 {
            for i in y.0..y.1 {
                for j in x.0..x.1 {
                    let at = if self.nhwc {
                        (i * w + j) * ch + k
                    } else {
                        (k * h + i) * w + j
                    };
                    data[at] = 0.0;
                }
            }
        }
        let t = Tensor::from_vec(data, self.input.dims(), &Device::Cpu).unwrap();
        self.prob(&t)
    }

    fn prob(&self, x: &Tensor) -> f64 {
        let exec = Executor::new(&self.graph, &self.params);
        let acts = exec.forward(x, &mut NoHook).unwrap();
        let row: Vec<f32> = acts
            .get(self.graph.logits_layer())
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        (row[TARGET] as f64 - max).exp() / sum
    }
}

/// A half-open range `(start, end)`.
type Range = (usize, usize);

/// Window starts along one dim of size `d` (window `w`, stride `s`), cut windows included:
/// start at 0 and step by `s` until a window reaches the end.
fn spans(d: usize, w: usize, s: usize) -> Vec<Range> {
    let mut out = vec![(0, w.min(d))];
    while out.last().unwrap().0 + w < d {
        let start = out.last().unwrap().0 + s;
        out.push((start, (start + w).min(d)));
    }
    out
}

fn knobs(window: &[usize], stride: &[usize], view: OcclusionView) -> OcclusionOptions {
    OcclusionOptions {
        window: window.to_vec(),
        stride: stride.to_vec(),
        view,
        ..OcclusionOptions::default()
    }
}

fn heatmap(n: &Net, window: &[usize], stride: &[usize]) -> (usize, usize, Vec<f32>) {
    match n
        .run(knobs(window, stride, OcclusionView::Heatmap))
        .artifact
    {
        Artifact::Heatmap {
            height,
            width,
            data,
        } => {
            // The 1e-6 tolerance below means something only if occlusion moves the probability.
            let (lo, hi) = data
                .iter()
                .fold((1f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
            assert!(hi - lo > 1e-4, "the probability hardly varies: {lo}..{hi}");
            (height, width, data)
        }
        other => panic!("expected a heatmap, got {other:?}"),
    }
}

fn assert_close(got: f32, want: f64, what: &str) {
    assert!(
        (got as f64 - want).abs() < 1e-6,
        "{what}: got {got}, want {want}"
    );
}

#[test]
fn heatmap_is_the_probability_with_each_window_occluded() {
    // vgg_like: 3x16x16; window 5 stride 4 gives starts 0, 4, 8, 12, the last cut to 12..16.
    let n = net("vgg_like", false);
    let (rows, cols, grid) = heatmap(&n, &[3, 5, 5], &[3, 4, 4]);
    let (ys, xs) = (spans(16, 5, 4), spans(16, 5, 4));
    assert_eq!((rows, cols), (ys.len(), xs.len()));
    assert_eq!(
        ys.last(),
        Some(&(12, 16)),
        "the last window is cut at the edge"
    );
    for (r, &y) in ys.iter().enumerate() {
        for (c, &x) in xs.iter().enumerate() {
            let want = n.prob_occluded((0, 3), y, x);
            assert_close(grid[r * cols + c], want, &format!("cell ({r}, {c})"));
        }
    }
}

#[test]
fn channel_wise_windows_average_their_channel_positions() {
    // resnet_like: 3x32x32; window 1,8,8 stride 1,4,4: each channel occluded on its own.
    let n = net("resnet_like", false);
    let (rows, cols, grid) = heatmap(&n, &[1, 8, 8], &[1, 4, 6]);
    let (ys, xs) = (spans(32, 8, 4), spans(32, 8, 6));
    assert_eq!((rows, cols), (ys.len(), xs.len()));
    for (r, &y) in ys.iter().enumerate().step_by(3) {
        for (c, &x) in xs.iter().enumerate().step_by(2) {
            let want = (0..3)
                .map(|k| n.prob_occluded((k, k + 1), y, x))
                .sum::<f64>()
                / 3.0;
            assert_close(grid[r * cols + c], want, &format!("cell ({r}, {c})"));
        }
    }
}

#[test]
fn nhwc_models_take_windows_in_h_w() {
    // keras_nhwc: input [32,32,3]; `--window 8,12` covers every channel, as for NCHW models.
    let n = net("keras_nhwc", true);
    let (rows, cols, grid) = heatmap(&n, &[8, 12], &[8, 10]);
    let (ys, xs) = (spans(32, 8, 8), spans(32, 12, 10));
    assert_eq!((rows, cols), (4, 3));
    for (r, &y) in ys.iter().enumerate() {
        for (c, &x) in xs.iter().enumerate() {
            let want = n.prob_occluded((0, 3), y, x);
            assert_close(grid[r * cols + c], want, &format!("cell ({r}, {c})"));
        }
    }
}

#[test]
fn mask_keeps_the_pixels_whose_occlusion_costs_the_most() {
    let n = net("vgg_like", false);
    let threshold = 0.4;
    let out = n.run(OcclusionOptions {
        threshold,
        ..knobs(&[4, 4], &[2, 2], OcclusionView::Mask)
    });
    let Artifact::Mask {
        height,
        width,
        data,
        keep,
    } = &out.artifact
    else {
        panic!("expected a mask, got {:?}", out.artifact)
    };
    assert_eq!((*height, *width), (16, 16));
    let p0 = n.prob(&n.input);
    assert_close(
        out.extras["prob_unoccluded"].as_f64().unwrap() as f32,
        p0,
        "p(x)",
    );
    // Per pixel: the mean drop over the windows covering it.
    let (mut sum, mut count) = (vec![0f64; 256], vec![0u32; 256]);
    for y in spans(16, 4, 2) {
        for x in spans(16, 4, 2) {
            let drop = p0 - n.prob_occluded((0, 3), y, x);
            for i in y.0..y.1 {
                for j in x.0..x.1 {
                    sum[i * 16 + j] += drop;
                    count[i * 16 + j] += 1;
                }
            }
        }
    }
    let want: Vec<f64> = sum.iter().zip(&count).map(|(s, &c)| s / c as f64).collect();
    for (i, (&g, &w)) in data.iter().zip(&want).enumerate() {
        assert_close(g, w, &format!("drop at pixel {i}"));
    }
    let max = want.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert!(max > 0.0, "some window must lower the probability");
    let kept = keep.iter().filter(|&&k| k).count();
    assert!(kept > 0 && kept < 256, "kept {kept} of 256");
    for (i, &k) in keep.iter().enumerate() {
        // Away from the cutoff (float rounding decides there), keep = drop ≥ T × max.
        if (want[i] - threshold as f64 * max).abs() > 1e-6 {
            assert_eq!(k, want[i] >= threshold as f64 * max, "pixel {i}");
        }
    }
    assert_eq!(out.extras["kept_pixels"], kept);
}
