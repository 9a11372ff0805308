//! A convolution with the layers after it run on each run of its output as the kernel writes
//! it (`conv2d_batch_norm`, with and without a residual sum): bit for bit the layers one after
//! the other (`conv2d`, the batch norm's `plane_map`, the sum's `zip_map` with the activation),
//! on every path a convolution takes — im2col, pointwise, depthwise, Winograd image by image
//! and Winograd several images a call — for batches the threads divide and batches they do
//! not, on the pool and on one thread.

use candle_core::{Device, Tensor};

use super::geometry::ConvGeometry;
use super::tests::Rng;
use super::{conv2d, conv2d_batch_norm, plane_map, winograd, zip_map};

fn geometry(batch: usize, ins: usize, outs: usize, hw: usize, kernel: usize) -> ConvGeometry {
    ConvGeometry {
        batch,
        in_channels: ins,
        in_hw: [hw, hw],
        out_channels: outs,
        out_hw: [hw, hw],
        kernel: [kernel, kernel],
        stride: [1, 1],
        dilation: [1, 1],
        pad: [kernel as isize / 2; 2],
        groups: 1,
    }
}

fn tensor(rng: &mut Rng, shape: &[usize]) -> Tensor {
    let values = rng.values(shape.iter().product());
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn relu(v: f32) -> f32 {
    v.max(0.0)
}

fn check(g: &ConvGeometry, rng: &mut Rng, what: &str) {
    let x = tensor(rng, &[g.batch, g.in_channels, g.in_hw[0], g.in_hw[1]]);
    let w = tensor(
        rng,
        &[g.out_channels, g.in_per_group(), g.kernel[0], g.kernel[1]],
    );
    let (scale, shift) = (
        tensor(rng, &[g.out_channels]),
        tensor(rng, &[g.out_channels]),
    );
    let residual = tensor(rng, &[g.batch, g.out_channels, g.out_hw[0], g.out_hw[1]]);
    let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();

    let conv = conv2d(&x, &w, None, g, None).unwrap();
    let bn = plane_map(&conv, &scale, Some(&shift), "bn", |v| v).unwrap();
    let separate = zip_map(&bn, &residual, "sum", |a, b| relu(a + b)).unwrap();
    let fused =
        conv2d_batch_norm(&x, &w, None, g, None, &scale, &shift, Some(&residual), relu).unwrap();
    assert!(
        values(&fused) == values(&separate),
        "{what}: with the sum, {g:?}"
    );

    let separate = plane_map(&conv, &scale, Some(&shift), "bn", relu).unwrap();
    let fused = conv2d_batch_norm(&x, &w, None, g, None, &scale, &shift, None, relu).unwrap();
    assert!(
        values(&fused) == values(&separate),
        "{what}: without, {g:?}"
    );
}

#[test]
fn a_convolution_run_with_the_layers_after_it_is_those_layers_one_after_the_other() {
    let strided = ConvGeometry {
        stride: [2, 2],
        out_hw: [5, 5],
        ..geometry(3, 8, 6, 9, 3)
    };
    let depthwise = ConvGeometry {
        groups: 8,
        ..geometry(3, 8, 8, 9, 3)
    };
    // A wide layer on a 28x28 map: Winograd image by image (its 196 tiles are enough).
    let winograd_images = geometry(1, 256, 256, 28, 3);
    // On 14x14 maps a thread takes several images at once: two and two and the fifth alone
    // on two threads, all five in one call on one.
    let winograd_grouped = geometry(5, 256, 256, 14, 3);
    assert!(winograd::pays(&winograd_images) && winograd::pays(&winograd_grouped));
    assert!(winograd::groups_images(&winograd_grouped));
    let cases = [
        ("im2col", strided),
        ("pointwise", geometry(3, 16, 24, 10, 1)),
        ("depthwise", depthwise),
        ("winograd", winograd_images),
        ("winograd, several images a call", winograd_grouped),
    ];
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let mut rng = Rng(31);
    for (what, g) in cases {
        check(&g, &mut rng, what);
        one_thread.install(|| check(&g, &mut rng, what));
    }
}
