//! The demo model's world: RGB pictures, each holding one shape of ten classes at a random
//! place, size, rotation and colour over a cluttered background (noise, gradients, stripes and
//! soft blobs of other colours), so that only the outline tells the class. Deterministic: the
//! picture with a given seed and index is always the same, whatever else was drawn.

use crate::model::build::Rng;

/// The classes, in label order.
pub const CLASSES: [&str; 10] = [
    "circle", "square", "triangle", "star", "cross", "ring", "heart", "arrow", "crescent",
    "hexagon",
];

/// A generated picture: planar-free RGB bytes (`height·width·3`, row-major, like an
/// `image::RgbImage`), its class, and the shape's bounding box in pixels, `[x0, y0, x1, y1)`.
#[derive(Clone, Debug)]
pub struct Sample {
    pub size: usize,
    pub rgb: Vec<u8>,
    pub class: usize,
    pub bbox: [usize; 4],
}

/// Picture `index` of the stream `seed`, of class `index % 10` (so any ten consecutive indices
/// hold every class once), `size`×`size` pixels, fully cluttered.
pub fn sample(seed: u64, index: u64, size: usize) -> Sample {
    sample_with_clutter(seed, index, size, 1.0)
}

/// [`sample`] with the background's clutter (the gradient, stripe and noise contrast, and the
/// blobs' strength) scaled by `clutter` in [0, 1]: the trainer's curriculum starts from plain
/// backgrounds. The shape and its place do not depend on `clutter`.
pub fn sample_with_clutter(seed: u64, index: u64, size: usize, clutter: f32) -> Sample {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED);
    let class = (index % CLASSES.len() as u64) as usize;
    let mut img = background(&mut rng, size, clutter.clamp(0.0, 1.0));
    let shape = Placement::draw(&mut rng, size);
    let colour = contrasting(&mut rng, mean_colour(&img, &shape, size));
    let bbox = paint(&mut img, size, class, &shape, colour);
    // A little sensor noise over everything, so that no edge is perfectly clean.
    for v in img.iter_mut() {
        *v = (*v + rng.normal() * 4.0).clamp(0.0, 255.0);
    }
    Sample {
        size,
        rgb: img.iter().map(|v| v.round() as u8).collect(),
        class,
        bbox,
    }
}

/// Where the shape goes: centre, radius (pixels) and rotation (radians).
struct Placement {
    cx: f32,
    cy: f32,
    radius: f32,
    angle: f32,
}

impl Placement {
    fn draw(rng: &mut Rng, size: usize) -> Placement {
        let s = size as f32;
        let radius = rng.uniform(0.17, 0.3) * s;
        let margin = radius + 1.0;
        Placement {
            cx: rng.uniform(margin, s - margin),
            cy: rng.uniform(margin, s - margin),
            radius,
            angle: rng.uniform(0.0, std::f32::consts::TAU),
        }
    }
}

/// Float RGB, row-major `[y][x][c]`.
fn background(rng: &mut Rng, size: usize, clutter: f32) -> Vec<f32> {
    let mut img = vec![0f32; size * size * 3];
    let base = random_colour(rng);
    let other = random_colour(rng);
    let kind = rng.next_u64() % 3;
    let (dir, period) = (
        rng.uniform(0.0, std::f32::consts::TAU),
        rng.uniform(6.0, 24.0),
    );
    let (dx, dy) = (dir.cos(), dir.sin());
    for y in 0..size {
        for x in 0..size {
            let t = match kind {
                // A linear gradient from one colour to the other.
                0 => ((x as f32 * dx + y as f32 * dy) / size as f32 * 0.7 + 0.5).clamp(0.0, 1.0),
                // Soft stripes.
                1 => {
                    0.5 + 0.5
                        * ((x as f32 * dx + y as f32 * dy) / period * std::f32::consts::TAU).sin()
                }
                // Coarse noise: the other colour in random amounts.
                _ => rng.uniform(0.0, 0.6),
            };
            for c in 0..3 {
                let t = t * clutter;
                img[(y * size + x) * 3 + c] = base[c] * (1.0 - t) + other[c] * t;
            }
        }
    }
    // Distractors: soft Gaussian blobs, which have no outline to mistake for a shape.
    for _ in 0..(1 + rng.next_u64() % 4) {
        let colour = random_colour(rng);
        let (bx, by) = (rng.uniform(0.0, size as f32), rng.uniform(0.0, size as f32));
        let sigma = rng.uniform(0.04, 0.16) * size as f32;
        let strength = rng.uniform(0.4, 0.9) * clutter;
        for y in 0..size {
            for x in 0..size {
                let d2 = (x as f32 - bx).powi(2) + (y as f32 - by).powi(2);
                let a = strength * (-d2 / (2.0 * sigma * sigma)).exp();
                for c in 0..3 {
                    let v = &mut img[(y * size + x) * 3 + c];
                    *v = *v * (1.0 - a) + colour[c] * a;
                }
            }
        }
    }
    // Fine per-pixel noise of varying strength.
    let noise = rng.uniform(2.0, 14.0) * clutter;
    for v in img.iter_mut() {
        *v += rng.normal() * noise;
    }
    img
}

fn random_colour(rng: &mut Rng) -> [f32; 3] {
    [
        rng.uniform(0.0, 255.0),
        rng.uniform(0.0, 255.0),
        rng.uniform(0.0, 255.0),
    ]
}

fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// The background's mean colour under the shape's disc.
fn mean_colour(img: &[f32], p: &Placement, size: usize) -> [f32; 3] {
    let (mut sum, mut n) = ([0f32; 3], 0f32);
    for y in 0..size {
        for x in 0..size {
            if (x as f32 - p.cx).powi(2) + (y as f32 - p.cy).powi(2) <= p.radius * p.radius {
                for c in 0..3 {
                    sum[c] += img[(y * size + x) * 3 + c];
                }
                n += 1.0;
            }
        }
    }
    sum.map(|s| s / n.max(1.0))
}

/// A random colour whose luma differs from `under`'s by at least 60 (of 255), so the shape is
/// always visible whatever its hue.
fn contrasting(rng: &mut Rng, under: [f32; 3]) -> [f32; 3] {
    loop {
        let c = random_colour(rng);
        if (luma(c) - luma(under)).abs() >= 60.0 {
            return c;
        }
    }
}

/// Paints the shape with 4×4 supersampled edges; returns its bounding box.
fn paint(
    img: &mut [f32],
    size: usize,
    class: usize,
    p: &Placement,
    colour: [f32; 3],
) -> [usize; 4] {
    let (sin, cos) = p.angle.sin_cos();
    let mut bbox = [usize::MAX, usize::MAX, 0, 0];
    let reach = p.radius.ceil() as i64 + 1;
    let (y0, y1) = (
        (p.cy as i64 - reach).max(0),
        (p.cy as i64 + reach).min(size as i64 - 1),
    );
    let (x0, x1) = (
        (p.cx as i64 - reach).max(0),
        (p.cx as i64 + reach).min(size as i64 - 1),
    );
    for y in y0..=y1 {
        for x in x0..=x1 {
            let mut hits = 0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let px = x as f32 + (sx as f32 + 0.5) / 4.0 - p.cx;
                    let py = y as f32 + (sy as f32 + 0.5) / 4.0 - p.cy;
                    // Into the shape's own frame: unrotated, radius 1, v pointing up.
                    let u = (px * cos + py * sin) / p.radius;
                    let v = -(-px * sin + py * cos) / p.radius;
                    hits += usize::from(inside(class, u, v));
                }
            }
            if hits == 0 {
                continue;
            }
            let a = hits as f32 / 16.0;
            let (x, y) = (x as usize, y as usize);
            for c in 0..3 {
                let v = &mut img[(y * size + x) * 3 + c];
                *v = *v * (1.0 - a) + colour[c] * a;
            }
            bbox = [
                bbox[0].min(x),
                bbox[1].min(y),
                bbox[2].max(x + 1),
                bbox[3].max(y + 1),
            ];
        }
    }
    bbox
}

/// Whether the point (u, v) of the shape's frame (radius 1, v up) is inside shape `class`.
fn inside(class: usize, u: f32, v: f32) -> bool {
    let r2 = u * u + v * v;
    match CLASSES[class] {
        "circle" => r2 <= 1.0,
        "square" => u.abs() <= 0.72 && v.abs() <= 0.72,
        "triangle" => in_polygon(&regular(3, 1.0, 0.0), u, v),
        "star" => in_polygon(&star(5, 1.0, 0.42), u, v),
        "cross" => (u.abs() <= 0.3 && v.abs() <= 1.0) || (v.abs() <= 0.3 && u.abs() <= 1.0),
        "ring" => (0.36..=1.0).contains(&r2),
        "heart" => {
            // (x² + y² − 1)³ − x²y³ ≤ 0, scaled to fit the unit disc.
            let (x, y) = (u * 1.25, v * 1.25 + 0.15);
            (x * x + y * y - 1.0).powi(3) - x * x * y.powi(3) <= 0.0
        }
        "arrow" => in_polygon(
            &[
                (-1.0, 0.25),
                (0.2, 0.25),
                (0.2, 0.6),
                (1.0, 0.0),
                (0.2, -0.6),
                (0.2, -0.25),
                (-1.0, -0.25),
            ],
            u,
            v,
        ),
        "crescent" => r2 <= 1.0 && (u - 0.45).powi(2) + v * v > 0.72,
        "hexagon" => in_polygon(&regular(6, 1.0, 0.0), u, v),
        _ => false,
    }
}

/// A regular polygon's vertices, the first at angle 90° + `turn`.
fn regular(n: usize, r: f32, turn: f32) -> Vec<(f32, f32)> {
    (0..n)
        .map(|k| {
            let a =
                std::f32::consts::FRAC_PI_2 + turn + k as f32 * std::f32::consts::TAU / n as f32;
            (r * a.cos(), r * a.sin())
        })
        .collect()
}

fn star(points: usize, outer: f32, inner: f32) -> Vec<(f32, f32)> {
    (0..2 * points)
        .map(|k| {
            let r = if k % 2 == 0 { outer } else { inner };
            let a = std::f32::consts::FRAC_PI_2 + k as f32 * std::f32::consts::PI / points as f32;
            (r * a.cos(), r * a.sin())
        })
        .collect()
}

/// Even-odd rule.
fn in_polygon(poly: &[(f32, f32)], u: f32, v: f32) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let ((xi, yi), (xj, yj)) = (poly[i], poly[j]);
        if (yi > v) != (yj > v) && u < (xj - xi) * (v - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_balanced() {
        let a = sample(1, 17, 64);
        assert_eq!(a.rgb, sample(1, 17, 64).rgb);
        assert_ne!(a.rgb, sample(2, 17, 64).rgb);
        let classes: Vec<usize> = (0..10).map(|i| sample(1, i, 32).class).collect();
        assert_eq!(classes, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn the_box_holds_the_shape_and_fits_the_picture() {
        for i in 0..200 {
            let s = sample(3, i, 96);
            let [x0, y0, x1, y1] = s.bbox;
            assert!(
                x0 < x1 && y0 < y1 && x1 <= 96 && y1 <= 96,
                "{i}: {:?}",
                s.bbox
            );
            // At least a sixth of the picture's side, at most 60%.
            let side = (x1 - x0).max(y1 - y0);
            assert!((16..=60).contains(&side), "{i}: side {side}");
        }
    }

    #[test]
    fn every_shape_covers_a_reasonable_part_of_its_disc() {
        // Fraction of the unit disc covered, on a grid: each shape is neither a speck nor a disc
        // with corners, and the ring/crescent are thinner than the circle.
        let cover = |class: usize| {
            let n = 200;
            let (mut hit, mut all) = (0, 0);
            for i in 0..n {
                for j in 0..n {
                    let (u, v) = (
                        i as f32 / n as f32 * 2.0 - 1.0,
                        j as f32 / n as f32 * 2.0 - 1.0,
                    );
                    if u * u + v * v <= 1.0 {
                        all += 1;
                        hit += usize::from(inside(class, u, v));
                    }
                }
            }
            hit as f32 / all as f32
        };
        for (k, name) in CLASSES.iter().enumerate() {
            let c = cover(k);
            assert!((0.2..=1.0).contains(&c), "{name}: {c}");
        }
        assert!(cover(5) < 0.8 * cover(0) && cover(8) < 0.8 * cover(0));
    }
}
