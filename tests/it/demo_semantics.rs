//! The maps must make sense on the demo model, whose pictures hold one shape at a known place:
//! on held-out generated pictures (stream 2, which the trainer never sees), Grad-CAM's and
//! occlusion's peaks must fall inside the shape's box (dilated by 4 px) on at least 90% of them,
//! saliency must put at least twice as much absolute gradient per pixel inside the box as
//! outside, and activation maximization of each class must score above the 99th percentile of
//! that class's scores on real examples. The figures are printed, so that a change that weakens
//! them shows.

use candle_core::{Device, Tensor};
use convscope::exec::{Executor, NoHook, Params};
use convscope::import::demo::{self, model, shapes};
use convscope::input::preprocess::{prepare_image, InputSpec};
use convscope::methods::{
    self, ActMaxOptions, Artifact, Control, Cx, Objective, OcclusionOptions, Options,
};
use convscope::model::Graph;

const HELDOUT: u64 = 2;
/// Held-out pictures for the map tests (indices 100.. : 0..10 are the committed examples).
const FIRST: u64 = 100;
const COUNT: u64 = 200;
const DILATE: usize = 4;

struct Demo {
    graph: Graph,
    params: Params,
}

impl Demo {
    fn new() -> Demo {
        let graph = demo::graph().unwrap();
        let params = Params::load(&graph, &Device::Cpu).unwrap();
        Demo { graph, params }
    }

    fn input(&self, s: &shapes::Sample) -> Tensor {
        let spec =
            InputSpec::from_input_shape(&self.graph.layer(self.graph.inputs[0]).out_shape).unwrap();
        let img = image::RgbImage::from_raw(s.size as u32, s.size as u32, s.rgb.clone()).unwrap();
        prepare_image(
            &img,
            &spec,
            convscope::input::preprocess::Preprocess::Imagenet,
        )
        .to_tensor(&Device::Cpu)
        .unwrap()
    }

    fn run(
        &self,
        method: &str,
        input: Tensor,
        target: usize,
        options: Options,
        batch: usize,
    ) -> Artifact {
        let mut cx = Cx::new(
            &self.graph,
            &self.params,
            input,
            Objective::Class {
                scores: self.graph.logits_layer(),
                class: target,
            },
            Control::default(),
        );
        cx.layer = methods::cam::default_layer(&self.graph);
        cx.options = options;
        cx.batch = batch;
        methods::by_id(method)
            .unwrap()
            .run(&mut cx)
            .unwrap()
            .artifact
    }

    fn scores(&self, input: &Tensor) -> Vec<f32> {
        let exec = Executor::new(&self.graph, &self.params);
        exec.forward(input, &mut NoHook)
            .unwrap()
            .get(self.graph.logits_layer())
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }
}

/// A `size`×`size` map's peak (row, column).
fn peak(map: &[f32], size: usize) -> (usize, usize) {
    let i = (0..map.len())
        .max_by(|&a, &b| map[a].total_cmp(&map[b]))
        .unwrap();
    (i / size, i % size)
}

/// The centre of the pixels holding a map's largest value: a map made of flat tiles peaks at
/// its best tile's centre, not at the tile's first pixel.
fn plateau_centre(map: &[f32], size: usize) -> (usize, usize) {
    let best = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let at: Vec<usize> = (0..map.len()).filter(|&p| map[p] == best).collect();
    let n = at.len().max(1);
    (
        at.iter().map(|p| p / size).sum::<usize>() / n,
        at.iter().map(|p| p % size).sum::<usize>() / n,
    )
}

fn in_box((y, x): (usize, usize), [x0, y0, x1, y1]: [usize; 4], pad: usize) -> bool {
    x + pad >= x0 && x < x1 + pad && y + pad >= y0 && y < y1 + pad
}

/// Bilinear upsampling of an `h`×`w` map to `size`×`size` (half-pixel centres, edges clamped).
fn upsample(map: &[f32], h: usize, w: usize, size: usize) -> Vec<f32> {
    let coord = |d: usize, n: usize| {
        let s = ((d as f32 + 0.5) * n as f32 / size as f32 - 0.5).max(0.0);
        let i = (s.floor() as usize).min(n - 1);
        (i, (i + 1).min(n - 1), s - i as f32)
    };
    let mut out = Vec::with_capacity(size * size);
    for y in 0..size {
        let (y0, y1, fy) = coord(y, h);
        for x in 0..size {
            let (x0, x1, fx) = coord(x, w);
            let at = |r: usize, c: usize| map[r * w + c];
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Σ over channels of |attribution|, `[3, size, size]` to `[size, size]`.
fn abs_sum(a: &[f32], size: usize) -> Vec<f32> {
    (0..size * size)
        .map(|p| (0..3).map(|c| a[c * size * size + p].abs()).sum())
        .collect()
}

fn samples() -> impl Iterator<Item = shapes::Sample> {
    (FIRST..FIRST + COUNT).map(|i| shapes::sample(HELDOUT, i, model::SIZE))
}

#[test]
fn grad_cam_and_saliency_look_at_the_shape() {
    let d = Demo::new();
    let size = model::SIZE;
    let (mut cam_hits, mut ratios) = (0, Vec::new());
    for s in samples() {
        let x = d.input(&s);
        let Artifact::Cam {
            height,
            width,
            data,
            ..
        } = d.run("gradcam", x.clone(), s.class, Options::Default, 1)
        else {
            panic!("gradcam makes a CAM")
        };
        let cam = upsample(&data, height, width, size);
        cam_hits += usize::from(in_box(peak(&cam, size), s.bbox, DILATE));

        let sal = abs_sum(
            d.run("saliency", x, s.class, Options::Default, 1).data(),
            size,
        );
        let (mut inside, mut n_in, mut outside, mut n_out) = (0f64, 0f64, 0f64, 0f64);
        for (p, v) in sal.iter().enumerate() {
            if in_box((p / size, p % size), s.bbox, 0) {
                (inside, n_in) = (inside + *v as f64, n_in + 1.0);
            } else {
                (outside, n_out) = (outside + *v as f64, n_out + 1.0);
            }
        }
        ratios.push((inside / n_in) / (outside / n_out).max(1e-12));
    }
    let cam_rate = cam_hits as f64 / COUNT as f64;
    ratios.sort_by(f64::total_cmp);
    let mean_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let median_ratio = ratios[ratios.len() / 2];
    println!("Grad-CAM peak inside the box (+{DILATE} px): {cam_rate:.3} of {COUNT}");
    println!("saliency |grad| per pixel, inside / outside the box: mean {mean_ratio:.2}, median {median_ratio:.2}");
    assert!(cam_rate >= 0.9, "Grad-CAM peak in the box on {cam_rate}");
    assert!(mean_ratio >= 2.0, "saliency ratio {mean_ratio}");
}

#[test]
fn occlusion_peaks_on_the_shape() {
    let d = Demo::new();
    let size = model::SIZE;
    let mut hits = 0;
    for s in samples() {
        // 8x8 windows tiling the picture: each pixel's attribution is its own window's drop.
        // Overlapping 16x16 windows (stride 8) average each pixel over windows reaching 15 px
        // away, which moves the peak off small shapes by more than the 4 px the test allows
        // (0.88 with the current weights).
        let options = Options::Occlusion(OcclusionOptions {
            window: vec![8, 8],
            stride: vec![8, 8],
            ..OcclusionOptions::default()
        });
        let a = d.run("occlusion", d.input(&s), s.class, options, 36);
        let map: Vec<f32> = (0..size * size)
            .map(|p| (0..3).map(|c| a.data()[c * size * size + p]).sum())
            .collect();
        hits += usize::from(in_box(plateau_centre(&map, size), s.bbox, DILATE));
    }
    let rate = hits as f64 / COUNT as f64;
    println!("occlusion peak inside the box (+{DILATE} px): {rate:.3} of {COUNT}");
    assert!(rate >= 0.9, "occlusion peak in the box on {rate}");
}

#[test]
fn activation_maximization_beats_real_examples() {
    let d = Demo::new();
    let classes = shapes::CLASSES.len();
    // Each class's scores on 50 real held-out examples of it.
    let mut real: Vec<Vec<f32>> = vec![Vec::new(); classes];
    for i in 1000..1000 + 50 * classes as u64 {
        let s = shapes::sample(HELDOUT, i, model::SIZE);
        real[s.class].push(d.scores(&d.input(&s))[s.class]);
    }
    let zeros = Tensor::zeros(
        (1, 3, model::SIZE, model::SIZE),
        candle_core::DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    for (class, name) in shapes::CLASSES.iter().enumerate() {
        let mut r = real[class].clone();
        r.sort_by(f32::total_cmp);
        let p99 = r[((r.len() as f32 * 0.99).ceil() as usize).min(r.len()) - 1];
        let options = Options::ActMax(ActMaxOptions {
            steps: Some(256),
            ..ActMaxOptions::default()
        });
        let a = d.run("actmax", zeros.clone(), class, options, 1);
        let x =
            Tensor::from_slice(a.data(), (1, 3, model::SIZE, model::SIZE), &Device::Cpu).unwrap();
        let score = d.scores(&x)[class];
        println!("actmax {name:9}: score {score:.2}; real examples' 99th percentile {p99:.2}");
        assert!(score > p99, "{name}: {score} <= {p99}");
    }
}
