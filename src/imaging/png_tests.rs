use std::path::PathBuf;

use image::Rgb;

use super::*;
use crate::imaging::colormap::Colormap;
use crate::imaging::heatmap::Heatmap;

/// The picture the golden file holds: a 4x4 diagonal gradient upsampled to 16x16, jet, blended
/// at alpha 0.5 over a synthetic 16x16 image. The offsets keep every upsampled value at least
/// 1e-4 away from a colormap entry boundary (`t * 256` an integer), so that last-bit differences
/// in the interpolation cannot flip a colour. In Python, the same picture (byte for byte):
///   h = ((np.arange(16) % 4 + np.arange(16) // 4 + 0.2) / 6.5).reshape(4, 4).astype(np.float32)
///   up = F.interpolate(torch.from_numpy(h)[None, None], size=(16, 16), mode="bilinear")[0, 0]
///   heat = np.round(matplotlib.colormaps["jet"](up.numpy().astype(float))[..., :3] * 255)
///   yy, xx = np.mgrid[0:16, 0:16]; base = np.stack([xx * 16, yy * 16, 128 + 0 * xx], -1)
///   np.round(0.5 * heat + 0.5 * base)
fn golden_overlay() -> RgbImage {
    let data = (0..16)
        .map(|i| ((i % 4) + (i / 4)) as f32 + 0.2)
        .map(|v| v / 6.5)
        .collect();
    let heat = Heatmap::new(4, 4, data)
        .resize_bilinear(16, 16)
        .colorize(Colormap::Jet);
    let base = RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 16) as u8, (y * 16) as u8, 128]));
    overlay(&base, &heat, 0.5)
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/overlay_jet_16.png")
}

/// Run with `CONVSCOPE_BLESS=1` to rewrite the golden file (then look at it before keeping it).
#[test]
fn overlay_matches_golden_png() {
    let img = golden_overlay();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("overlay.png");
    save_png(&img, &out).unwrap();
    let decoded = image::open(&out).unwrap().into_rgb8();
    assert_eq!(decoded, img, "PNG round trip is lossless");

    let golden_file = golden_path();
    if std::env::var_os("CONVSCOPE_BLESS").is_some() {
        std::fs::create_dir_all(golden_file.parent().unwrap()).unwrap();
        save_png(&img, &golden_file).unwrap();
    }
    let golden = image::open(&golden_file)
        .unwrap_or_else(|e| panic!("{}: {e}", golden_file.display()))
        .into_rgb8();
    assert_eq!(decoded.dimensions(), golden.dimensions());
    for (x, y, p) in decoded.enumerate_pixels() {
        let g = golden.get_pixel(x, y);
        for c in 0..3 {
            let d = i16::from(p.0[c]) - i16::from(g.0[c]);
            assert!(
                d.abs() <= 1,
                "pixel ({x}, {y}): {:?} vs golden {:?}",
                p.0,
                g.0
            );
        }
    }
}

#[test]
fn overlay_is_a_convex_blend() {
    let base = RgbImage::from_pixel(2, 1, Rgb([0, 100, 255]));
    let heat = RgbImage::from_pixel(2, 1, Rgb([255, 0, 101]));
    assert_eq!(overlay(&base, &heat, 0.5).get_pixel(0, 0).0, [128, 50, 178]);
    assert_eq!(overlay(&base, &heat, 0.0), base);
    assert_eq!(overlay(&base, &heat, 1.0), heat);
    assert_eq!(overlay(&base, &heat, 3.0), heat);
    assert_eq!(
        overlay(&base, &heat, 0.25).get_pixel(1, 0).0,
        [64, 75, 216] // 63.75, 75, 216.5 rounded half to even
    );
}

#[test]
fn overlay_resizes_the_base_to_the_heatmap() {
    let base = RgbImage::from_pixel(8, 6, Rgb([10, 20, 30]));
    let heat = RgbImage::from_pixel(4, 3, Rgb([30, 20, 10]));
    let out = overlay(&base, &heat, 0.5);
    assert_eq!(out.dimensions(), (4, 3));
    assert!(out.pixels().all(|p| p.0 == [20, 20, 20]));
}

#[test]
fn resize_rgb_sizes() {
    let img = RgbImage::from_pixel(5, 3, Rgb([1, 2, 3]));
    assert_eq!(resize_rgb(&img, 5, 3), img);
    let r = resize_rgb(&img, 10, 7);
    assert_eq!(r.dimensions(), (10, 7));
    assert!(r.pixels().all(|p| p.0 == [1, 2, 3]));
}

#[test]
fn save_png_to_an_unwritable_place_is_a_one_line_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/folder/out.png");
    let err = save_png(&RgbImage::new(2, 2), &path).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("cannot write "), "{text}");
    assert!(text.contains("out.png"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn save_png_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.png");
    std::fs::write(&path, b"old").unwrap();
    let img = RgbImage::from_pixel(3, 2, Rgb([9, 8, 7]));
    save_png(&img, &path).unwrap();
    assert_eq!(image::open(&path).unwrap().into_rgb8(), img);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn parse_size_accepts_width_x_height() {
    assert_eq!(parse_size("224x224").unwrap(), (224, 224));
    assert_eq!(parse_size("640X480").unwrap(), (640, 480));
    assert_eq!(parse_size(" 32 x 16 ").unwrap(), (32, 16));
    assert_eq!(parse_size("16384x1").unwrap(), (16384, 1));
}

#[test]
fn parse_size_errors_name_the_value() {
    for (s, part) in [
        ("224", "expected WIDTHxHEIGHT"),
        ("", "expected WIDTHxHEIGHT"),
        ("ax224", "width 'a'"),
        ("224x", "height ''"),
        ("224x-3", "height '-3'"),
        ("224x2.5", "height '2.5'"),
        ("0x224", "width must be 1 to 16384"),
        ("224x16385", "height must be 1 to 16384"),
        ("1x2x3", "height '2x3'"),
    ] {
        let err = parse_size(s).unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
        let text = err.to_string();
        assert!(text.contains(&format!("'{s}'")), "{text}");
        assert!(text.contains(part), "{s}: {text}");
    }
}
