//! `deprocess` inverts `prepare_image`: prepared input -> the resized picture again.

use convscope::input::preprocess::{
    deprocess, prepare_image, InputSpec, Layout, PreparedInput, Preprocess,
};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

/// A 40x30 picture with every level 0..=255 in each channel somewhere.
fn picture() -> RgbImage {
    RgbImage::from_fn(40, 30, |x, y| {
        Rgb([
            ((x * 7 + y * 3) % 256) as u8,
            ((x * 13 + y * 29) % 256) as u8,
            ((255 - x * 5 - y) % 256) as u8,
        ])
    })
}

fn spec(layout: Layout, channels: usize) -> InputSpec {
    InputSpec {
        layout,
        channels,
        height: 12,
        width: 16,
    }
}

fn assert_within_one(got: &RgbImage, want: &RgbImage, what: &str) {
    assert_eq!(got.dimensions(), want.dimensions(), "{what}");
    for (x, y, p) in got.enumerate_pixels() {
        let q = want.get_pixel(x, y);
        for c in 0..3 {
            let d = i16::from(p.0[c]) - i16::from(q.0[c]);
            assert!(d.abs() <= 1, "{what}: ({x}, {y}) {:?} vs {:?}", p.0, q.0);
        }
    }
}

#[test]
fn round_trip_every_preprocessing_and_layout() {
    let img = picture();
    let resized = imageops::resize(&img, 16, 12, FilterType::Triangle);
    for layout in [Layout::Nchw, Layout::Nhwc] {
        let spec = spec(layout, 3);
        for pre in Preprocess::ALL {
            let input = prepare_image(&img, &spec, pre);
            let back = deprocess(&input, &spec, Some(pre));
            assert_within_one(&back, &resized, &format!("{pre} {layout}"));
        }
    }
}

#[test]
fn round_trip_gray() {
    // r = g = b, so the luma conversion keeps the value exactly.
    let img = RgbImage::from_fn(40, 30, |x, y| Rgb([((x * 6 + y * 3) % 256) as u8; 3]));
    let resized = imageops::resize(&img, 16, 12, FilterType::Triangle);
    for layout in [Layout::Nchw, Layout::Nhwc] {
        let spec = spec(layout, 1);
        for pre in Preprocess::ALL {
            let input = prepare_image(&img, &spec, pre);
            let back = deprocess(&input, &spec, Some(pre));
            assert_within_one(&back, &resized, &format!("gray {pre} {layout}"));
        }
    }
}

#[test]
fn unknown_preprocessing_is_min_max_scaled() {
    // Black and white pixels present, so min-max of a unit input is the identity.
    let mut img = RgbImage::from_fn(16, 12, |x, y| Rgb([(x * 15) as u8, (y * 20) as u8, 77]));
    img.put_pixel(0, 0, Rgb([0, 0, 0]));
    img.put_pixel(15, 11, Rgb([255, 255, 255]));
    let spec = spec(Layout::Nchw, 3);
    let input = prepare_image(&img, &spec, Preprocess::Unit);
    let scaled = PreparedInput {
        shape: input.shape.clone(),
        data: input.data.iter().map(|v| v * 3.0 - 7.0).collect(),
    };
    assert_within_one(&deprocess(&scaled, &spec, None), &img, "min-max");

    let flat = PreparedInput {
        shape: input.shape.clone(),
        data: vec![0.25; input.data.len()],
    };
    let black = deprocess(&flat, &spec, None);
    assert!(black.pixels().all(|p| p.0 == [0, 0, 0]));
}

#[test]
fn out_of_range_values_are_clamped() {
    let spec = InputSpec {
        layout: Layout::Nhwc,
        channels: 3,
        height: 1,
        width: 2,
    };
    let input = PreparedInput {
        shape: spec.shape(1),
        data: vec![-5.0, 0.5, 9.0, f32::NAN, 1.0, 0.0],
    };
    let img = deprocess(&input, &spec, Some(Preprocess::Unit));
    assert_eq!(img.get_pixel(0, 0).0, [0, 128, 255]);
    assert_eq!(img.get_pixel(1, 0).0, [0, 255, 0]);
}
