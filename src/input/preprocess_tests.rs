//! Unit tests of the parent module (kept in their own file).
use super::*;
use image::{ImageBuffer, Luma, Rgb, Rgba};
use std::path::PathBuf;

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
    }
}

fn spec(layout: Layout, channels: usize, height: usize, width: usize) -> InputSpec {
    InputSpec {
        layout,
        channels,
        height,
        width,
    }
}

/// One pixel, (R, G, B) = (255, 0, 51).
fn pixel() -> RgbImage {
    RgbImage::from_pixel(1, 1, Rgb([255, 0, 51]))
}

#[test]
fn imagenet_values() {
    let out = prepare_image(&pixel(), &spec(Layout::Nchw, 3, 1, 1), Preprocess::Imagenet);
    assert_eq!(out.shape, vec![1, 3, 1, 1]);
    close(
        &out.data,
        &[
            (1.0 - 0.485) / 0.229,
            (0.0 - 0.456) / 0.224,
            (0.2 - 0.406) / 0.225,
        ],
    );
}

#[test]
fn caffe_values_are_bgr_minus_means() {
    let out = prepare_image(&pixel(), &spec(Layout::Nchw, 3, 1, 1), Preprocess::Caffe);
    close(&out.data, &[51.0 - 103.939, 0.0 - 116.779, 255.0 - 123.68]);
}

#[test]
fn unit_and_signed_values() {
    let s = spec(Layout::Nchw, 3, 1, 1);
    close(
        &prepare_image(&pixel(), &s, Preprocess::Unit).data,
        &[1.0, 0.0, 0.2],
    );
    close(
        &prepare_image(&pixel(), &s, Preprocess::Signed).data,
        &[1.0, -1.0, -0.6],
    );
}

#[test]
fn layouts_order_values() {
    // 2 wide, 1 high: pixel 0 = (10, 20, 30), pixel 1 = (40, 50, 60).
    let img = RgbImage::from_raw(2, 1, vec![10, 20, 30, 40, 50, 60]).unwrap();
    let f = |v: &[u8]| v.iter().map(|&x| f32::from(x) / 255.0).collect::<Vec<_>>();
    let nchw = prepare_image(&img, &spec(Layout::Nchw, 3, 1, 2), Preprocess::Unit);
    assert_eq!(nchw.shape, vec![1, 3, 1, 2]);
    close(&nchw.data, &f(&[10, 40, 20, 50, 30, 60]));
    let nhwc = prepare_image(&img, &spec(Layout::Nhwc, 3, 1, 2), Preprocess::Unit);
    assert_eq!(nhwc.shape, vec![1, 1, 2, 3]);
    close(&nhwc.data, &f(&[10, 20, 30, 40, 50, 60]));
    // Caffe in NHWC: BGR per pixel.
    let caffe = prepare_image(&img, &spec(Layout::Nhwc, 3, 1, 2), Preprocess::Caffe);
    close(
        &caffe.data,
        &[
            30.0 - 103.939,
            20.0 - 116.779,
            10.0 - 123.68,
            60.0 - 103.939,
            50.0 - 116.779,
            40.0 - 123.68,
        ],
    );
}

#[test]
fn grayscale_models_get_luma() {
    // 0.299 * 255 + 0.587 * 0 + 0.114 * 51 = 82.06 -> 82.
    let s = spec(Layout::Nhwc, 1, 1, 1);
    close(
        &prepare_image(&pixel(), &s, Preprocess::Unit).data,
        &[82.0 / 255.0],
    );
    close(
        &prepare_image(&pixel(), &s, Preprocess::Imagenet).data,
        &[(82.0 / 255.0 - 0.449) / 0.226],
    );
    close(
        &prepare_image(&pixel(), &s, Preprocess::Caffe).data,
        &[82.0 - (103.939 + 116.779 + 123.68) / 3.0],
    );
    close(
        &prepare_image(&pixel(), &s, Preprocess::Signed).data,
        &[82.0 / 127.5 - 1.0],
    );
    // Pure white and black stay exact.
    let img = RgbImage::from_raw(2, 1, vec![255, 255, 255, 0, 0, 0]).unwrap();
    let out = prepare_image(&img, &spec(Layout::Nchw, 1, 1, 2), Preprocess::Unit);
    assert_eq!(out.shape, vec![1, 1, 1, 2]);
    assert_eq!(out.data, vec![1.0, 0.0]);
}

#[test]
fn resizes_without_cropping() {
    // A uniform image stays uniform at any size.
    let img = RgbImage::from_pixel(7, 5, Rgb([100, 150, 200]));
    let out = prepare_image(&img, &spec(Layout::Nchw, 3, 3, 4), Preprocess::Unit);
    assert_eq!(out.shape, vec![1, 3, 3, 4]);
    for (c, v) in [100.0f32, 150.0, 200.0].iter().enumerate() {
        for x in &out.data[c * 12..(c + 1) * 12] {
            assert!((x - v / 255.0).abs() < 1e-6);
        }
    }
    // Left half black, right half white, squeezed to 2 wide: the halves stay apart.
    let img = RgbImage::from_fn(8, 2, |x, _| {
        if x < 4 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    });
    let out = prepare_image(&img, &spec(Layout::Nhwc, 3, 1, 2), Preprocess::Unit);
    assert!(out.data[0] < 0.2 && out.data[3] > 0.8, "{:?}", out.data);
    // Downscaling averages (antialiasing): a 1-pixel checkerboard becomes mid-gray.
    let img = RgbImage::from_fn(16, 16, |x, y| {
        if (x + y) % 2 == 0 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    });
    let out = prepare_image(&img, &spec(Layout::Nchw, 3, 4, 4), Preprocess::Unit);
    for x in &out.data {
        assert!((x - 0.5).abs() < 0.1, "{:?}", out.data);
    }
}

#[test]
fn same_size_is_not_resampled() {
    let img = RgbImage::from_fn(3, 2, |x, y| Rgb([(x * 80) as u8, (y * 200) as u8, 7]));
    let out = prepare_image(&img, &spec(Layout::Nhwc, 3, 2, 3), Preprocess::Unit);
    let expect: Vec<f32> = img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
    assert_eq!(out.data, expect);
}

#[test]
fn preprocess_names() {
    for p in Preprocess::ALL {
        assert_eq!(p.as_str().parse::<Preprocess>().unwrap(), p);
        assert_eq!(p.to_string(), p.as_str());
    }
    assert_eq!(
        "ImageNet".parse::<Preprocess>().unwrap(),
        Preprocess::Imagenet
    );
    let e = "torch".parse::<Preprocess>().unwrap_err().to_string();
    assert!(
        e.contains("'torch'") && e.contains("imagenet, caffe, unit, signed"),
        "{e}"
    );
}

#[test]
fn input_spec_from_shapes() {
    let s = InputSpec::from_input_shape(&[1, 3, 224, 200]).unwrap();
    assert_eq!(s, spec(Layout::Nchw, 3, 224, 200));
    assert_eq!(s.shape(2), vec![2, 3, 224, 200]);
    let s = InputSpec::from_input_shape(&[1, 299, 300, 3]).unwrap();
    assert_eq!(s, spec(Layout::Nhwc, 3, 299, 300));
    assert_eq!(s.shape(1), vec![1, 299, 300, 3]);
    let s = InputSpec::from_input_shape(&[1, 28, 28, 1]).unwrap();
    assert_eq!(s, spec(Layout::Nhwc, 1, 28, 28));
    let s = InputSpec::from_input_shape(&[8, 1, 28, 28]).unwrap();
    assert_eq!(s, spec(Layout::Nchw, 1, 28, 28));
    // Both fit: NCHW.
    let s = InputSpec::from_input_shape(&[1, 3, 3, 3]).unwrap();
    assert_eq!(s.layout, Layout::Nchw);
    for bad in [
        &[1, 3, 224][..],
        &[1, 3, 224, 224, 1],
        &[],
        &[1, 4, 224, 224],
        &[1, 224, 224, 4],
        &[1, 3, 0, 224],
        &[1, 3, 100_000, 224],
    ] {
        let e = InputSpec::from_input_shape(bad).unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(&shape_string(bad)), "{msg}");
    }
    let e = InputSpec::from_input_shape(&[1, 5, 5, 5])
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 or 3 channels"), "{e}");
}

#[test]
fn npy_inputs() {
    let s = spec(Layout::Nchw, 3, 2, 2);
    let p = Path::new("in.npy");
    let data: Vec<f32> = (0..12).map(|i| i as f32).collect();
    for shape in [vec![1, 3, 2, 2], vec![3, 2, 2]] {
        let out = prepare_npy(
            NpyArray {
                shape,
                data: data.clone(),
            },
            &s,
            p,
        )
        .unwrap();
        assert_eq!(out.shape, vec![1, 3, 2, 2]);
        assert_eq!(out.data, data);
    }
    // Wrong shape: both expected shapes are named, with a transpose hint for NHWC.
    let e = prepare_npy(
        NpyArray {
            shape: vec![1, 2, 2, 3],
            data: data.clone(),
        },
        &s,
        p,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Input(_)));
    let msg = e.to_string();
    for part in [
        "(1, 2, 2, 3)",
        "(1, 3, 2, 2)",
        "(3, 2, 2)",
        "NCHW",
        "(0, 3, 1, 2)",
    ] {
        assert!(msg.contains(part), "{msg}");
    }
    let e = prepare_npy(
        NpyArray {
            shape: vec![12],
            data: data.clone(),
        },
        &s,
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("(12,)") && !e.contains("transpose"), "{e}");
    // HWC given to an NHWC model is fine; CHW is not.
    let nhwc = spec(Layout::Nhwc, 3, 2, 2);
    assert!(prepare_npy(
        NpyArray {
            shape: vec![2, 2, 3],
            data: data.clone(),
        },
        &nhwc,
        p
    )
    .is_ok());
    let e = prepare_npy(
        NpyArray {
            shape: vec![3, 2, 2],
            data: data.clone(),
        },
        &nhwc,
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("(1, 2, 0)"), "{e}");
    // Non-finite values name their index.
    let mut bad = data.clone();
    bad[7] = f32::NAN;
    bad[9] = f32::INFINITY;
    let e = prepare_npy(
        NpyArray {
            shape: vec![1, 3, 2, 2],
            data: bad,
        },
        &s,
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("[0, 1, 1, 1]") && e.contains("NaN"), "{e}");
    let mut bad = data;
    bad[11] = f32::NEG_INFINITY;
    let e = prepare_npy(
        NpyArray {
            shape: vec![3, 2, 2],
            data: bad,
        },
        &s,
        p,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("[2, 1, 1]") && e.contains("-inf"), "{e}");
}

#[test]
fn to_tensor_keeps_shape_and_values() {
    let img = RgbImage::from_pixel(3, 2, Rgb([255, 0, 51]));
    let out = prepare_image(&img, &spec(Layout::Nhwc, 3, 2, 3), Preprocess::Signed);
    let t = out.to_tensor(&candle_core::Device::Cpu).unwrap();
    assert_eq!(t.dims(), &[1, 2, 3, 3]);
    let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(v, out.data);
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

#[test]
fn loads_any_color_type_as_rgb() {
    let d = Dir::new();
    let rgb = RgbImage::from_fn(4, 3, |x, y| Rgb([x as u8 * 60, y as u8 * 100, 9]));
    rgb.save(d.path("rgb.png")).unwrap();
    assert_eq!(load_image(&d.path("rgb.png")).unwrap(), rgb);

    ImageBuffer::from_pixel(2, 2, Luma([77u8]))
        .save(d.path("gray.png"))
        .unwrap();
    let img = load_image(&d.path("gray.png")).unwrap();
    assert_eq!(img.get_pixel(1, 1), &Rgb([77, 77, 77]));

    ImageBuffer::from_pixel(2, 2, Rgba([10u8, 20, 30, 0]))
        .save(d.path("rgba.png"))
        .unwrap();
    let img = load_image(&d.path("rgba.png")).unwrap();
    assert_eq!(img.get_pixel(0, 0), &Rgb([10, 20, 30]));

    ImageBuffer::from_pixel(2, 2, Rgb([65535u16, 0, 32896]))
        .save(d.path("deep.png"))
        .unwrap();
    let img = load_image(&d.path("deep.png")).unwrap();
    assert_eq!(img.get_pixel(0, 1), &Rgb([255, 0, 128]));

    // The content decides, not the extension: a JPEG named .png loads.
    RgbImage::from_pixel(8, 8, Rgb([200, 100, 50]))
        .save_with_format(d.path("photo.png"), image::ImageFormat::Jpeg)
        .unwrap();
    let img = load_image(&d.path("photo.png")).unwrap();
    assert_eq!(img.dimensions(), (8, 8));
    let p = img.get_pixel(4, 4);
    assert!(p[0].abs_diff(200) < 8 && p[1].abs_diff(100) < 8 && p[2].abs_diff(50) < 8);
}

fn image_error(path: &Path) -> String {
    match load_image(path) {
        Err(e @ Error::Image { .. }) => {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
            s
        }
        other => panic!("expected an Image error, got {other:?}"),
    }
}

#[test]
fn load_errors() {
    let d = Dir::new();
    let e = load_image(&d.path("missing.png")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");

    std::fs::write(d.path("notes.png"), b"this is not an image at all").unwrap();
    assert!(image_error(&d.path("notes.png")).contains("not a recognized image"));

    std::fs::write(d.path("empty.jpg"), b"").unwrap();
    assert!(image_error(&d.path("empty.jpg")).contains("empty"));

    RgbImage::from_fn(64, 64, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]))
        .save(d.path("full.png"))
        .unwrap();
    let bytes = std::fs::read(d.path("full.png")).unwrap();
    for cut in [bytes.len() / 2, 40, 20] {
        std::fs::write(d.path("cut.png"), &bytes[..cut]).unwrap();
        let e = image_error(&d.path("cut.png"));
        assert!(e.contains("cut.png: cannot decode image: "), "{e}");
    }

    // GIF magic: recognized, but not a format this build decodes.
    std::fs::write(d.path("anim.gif"), b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
    let e = image_error(&d.path("anim.gif"));
    assert!(e.to_lowercase().contains("gif"), "{e}");
}

#[test]
fn huge_images_are_refused() {
    let d = Dir::new();
    // Tiny on disk, but wider than the limit.
    ImageBuffer::from_pixel(MAX_IMAGE_DIM + 1, 1, Luma([0u8]))
        .save(d.path("wide.png"))
        .unwrap();
    let e = image_error(&d.path("wide.png"));
    assert!(e.contains("too large") && e.contains("16384x16384"), "{e}");
}

/// torchvision's `Resize(256)` + `CenterCrop(224)` geometry, hand-computed: an image whose
/// pixels hold their own coordinates (R = x mod 256, G = y) shows where the crop starts.
#[test]
fn resize_and_center_crop_follows_torchvision() {
    let coords =
        |w: u32, h: u32| RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, y as u8, 0]));
    // Shorter side already 256: no resize; (300 - 224) / 2 = 38, (256 - 224) / 2 = 16.
    let out = resize_and_center_crop(&coords(300, 256), 256, 224, 224);
    assert_eq!(out.dimensions(), (224, 224));
    assert_eq!(out.get_pixel(0, 0).0, [38, 16, 0]);
    // (301 - 224) / 2 = 38.5 rounds half to even, as Python's round() does: 38.
    let out = resize_and_center_crop(&coords(301, 256), 256, 224, 224);
    assert_eq!(out.get_pixel(0, 0).0, [38, 16, 0]);
    // Portrait: the crop moves down instead.
    let out = resize_and_center_crop(&coords(256, 255 + 48), 256, 224, 224);
    assert_eq!(out.get_pixel(0, 0).0[1], 16 + 24);
    // 400x300 resizes to int(256 * 400 / 300) = 341 x 256, then crops 224x224 around the
    // centre: the middle column of the output is the middle of the input.
    let out = resize_and_center_crop(&coords(400, 300), 256, 224, 224);
    assert_eq!(out.dimensions(), (224, 224));
    let mid = out.get_pixel(112, 112).0;
    assert!(
        (i32::from(mid[0]) - 200).abs() <= 1 && (i32::from(mid[1]) - 150).abs() <= 1,
        "{mid:?}"
    );
}
