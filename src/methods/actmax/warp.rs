//! Bilinear resampling of planar images through an affine map, and its adjoint (the gradient of
//! the resampled image with respect to the source). lucid's random pad, jitter, scale and
//! rotation compose into one such map per optimization step.

/// A 2-D affine map `p ↦ A·p + t` on continuous pixel coordinates (row, column), pixel `i`'s
/// centre at `i + 0.5`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub a: [[f64; 2]; 2],
    pub t: [f64; 2],
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        a: [[1.0, 0.0], [0.0, 1.0]],
        t: [0.0, 0.0],
    };

    pub fn shift(dy: f64, dx: f64) -> Affine {
        Affine {
            t: [dy, dx],
            ..Affine::IDENTITY
        }
    }

    pub fn scale(sy: f64, sx: f64) -> Affine {
        Affine {
            a: [[sy, 0.0], [0.0, sx]],
            t: [0.0, 0.0],
        }
    }

    /// Rotation by `degrees` about the point `(cy, cx)`.
    pub fn rotate_about(degrees: f64, cy: f64, cx: f64) -> Affine {
        let (s, c) = degrees.to_radians().sin_cos();
        let r = Affine {
            a: [[c, -s], [s, c]],
            t: [0.0, 0.0],
        };
        Affine::shift(cy, cx)
            .after(&r)
            .after(&Affine::shift(-cy, -cx))
    }

    /// `self ∘ first`: apply `first`, then `self`.
    pub fn after(&self, first: &Affine) -> Affine {
        let m = |i: usize, j: usize| self.a[i][0] * first.a[0][j] + self.a[i][1] * first.a[1][j];
        let t = |i: usize| self.a[i][0] * first.t[0] + self.a[i][1] * first.t[1] + self.t[i];
        Affine {
            a: [[m(0, 0), m(0, 1)], [m(1, 0), m(1, 1)]],
            t: [t(0), t(1)],
        }
    }

    pub fn inverse(&self) -> Affine {
        let [[p, q], [r, s]] = self.a;
        let det = p * s - q * r;
        let a = [[s / det, -q / det], [-r / det, p / det]];
        let t = [
            -(a[0][0] * self.t[0] + a[0][1] * self.t[1]),
            -(a[1][0] * self.t[0] + a[1][1] * self.t[1]),
        ];
        Affine { a, t }
    }

    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [
            self.a[0][0] * p[0] + self.a[0][1] * p[1] + self.t[0],
            self.a[1][0] * p[0] + self.a[1][1] * p[1] + self.t[1],
        ]
    }
}

/// For every destination pixel, the four source taps of bilinear interpolation and their weights;
/// taps that fall outside the source weigh nothing and read `fill` instead.
pub struct Warp {
    src: (usize, usize),
    dst: (usize, usize),
    taps: Vec<[(u32, f32); 4]>,
    fill: f32,
}

impl Warp {
    /// Samples a `src` image at `to_src(p)` for each `dst` pixel centre `p`.
    pub fn new(src: (usize, usize), dst: (usize, usize), to_src: &Affine, fill: f32) -> Warp {
        let (sh, sw) = src;
        let mut taps = Vec::with_capacity(dst.0 * dst.1);
        for y in 0..dst.0 {
            for x in 0..dst.1 {
                let [py, px] = to_src.apply([y as f64 + 0.5, x as f64 + 0.5]);
                // Index space: pixel centres at integers.
                let (fy, fx) = (py - 0.5, px - 0.5);
                let (y0, x0) = (fy.floor(), fx.floor());
                let (wy, wx) = ((fy - y0) as f32, (fx - x0) as f32);
                let mut t = [(0u32, 0f32); 4];
                for (k, (dy, dx)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
                    let (yy, xx) = (y0 as i64 + dy, x0 as i64 + dx);
                    let w =
                        if dy == 1 { wy } else { 1.0 - wy } * if dx == 1 { wx } else { 1.0 - wx };
                    if (0..sh as i64).contains(&yy) && (0..sw as i64).contains(&xx) {
                        t[k] = ((yy as usize * sw + xx as usize) as u32, w);
                    }
                }
                taps.push(t);
            }
        }
        Warp {
            src,
            dst,
            taps,
            fill,
        }
    }

    /// Resamples `planes` source planes (planar, `[planes, src]`).
    pub fn apply(&self, img: &[f32], planes: usize) -> Vec<f32> {
        let (ns, nd) = (self.src.0 * self.src.1, self.dst.0 * self.dst.1);
        let mut out = Vec::with_capacity(planes * nd);
        for c in 0..planes {
            let plane = &img[c * ns..(c + 1) * ns];
            out.extend(self.taps.iter().map(|t| {
                let (mut v, mut inside) = (0.0, 0.0);
                for &(i, w) in t {
                    v += w * plane[i as usize];
                    inside += w;
                }
                v + (1.0 - inside) * self.fill
            }));
        }
        out
    }

    /// The gradient with respect to the source of ⟨apply(img), `g`⟩ (the fill is constant).
    pub fn adjoint(&self, g: &[f32], planes: usize) -> Vec<f32> {
        let (ns, nd) = (self.src.0 * self.src.1, self.dst.0 * self.dst.1);
        let mut out = vec![0f32; planes * ns];
        for c in 0..planes {
            let plane = &mut out[c * ns..(c + 1) * ns];
            for (t, &gv) in self.taps.iter().zip(&g[c * nd..(c + 1) * nd]) {
                for &(i, w) in t {
                    plane[i as usize] += w * gv;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_copies_and_shift_fills() {
        let img: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let w = Warp::new((3, 4), (3, 4), &Affine::IDENTITY, 0.5);
        assert_eq!(w.apply(&img, 1), img);
        // Reading one column to the right: the last column falls outside and reads the fill.
        let w = Warp::new((3, 4), (3, 4), &Affine::shift(0.0, 1.0), 0.5);
        assert_eq!(&w.apply(&img, 1)[..4], &[1.0, 2.0, 3.0, 0.5]);
        // Half a pixel: the mean of two neighbours.
        let w = Warp::new((3, 4), (3, 4), &Affine::shift(0.0, 0.5), 0.0);
        assert_eq!(w.apply(&img, 1)[0], 0.5);
    }

    #[test]
    fn compose_and_invert() {
        let m = Affine::rotate_about(30.0, 4.0, 5.0).after(&Affine::scale(1.1, 0.9));
        let p = m.inverse().apply(m.apply([1.5, -2.0]));
        assert!((p[0] - 1.5).abs() < 1e-12 && (p[1] + 2.0).abs() < 1e-12);
        // The centre of a rotation stays put.
        let c = Affine::rotate_about(17.0, 4.0, 5.0).apply([4.0, 5.0]);
        assert!((c[0] - 4.0).abs() < 1e-12 && (c[1] - 5.0).abs() < 1e-12);
    }

    #[test]
    fn adjoint_is_the_transpose() {
        let map = Affine::rotate_about(12.0, 3.0, 3.5).after(&Affine::scale(0.9, 1.1));
        let w = Warp::new((6, 7), (5, 8), &map, 0.0);
        let mut rng = crate::model::build::Rng::new(1);
        let x: Vec<f32> = (0..2 * 42).map(|_| rng.normal()).collect();
        let y: Vec<f32> = (0..2 * 40).map(|_| rng.normal()).collect();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f32>();
        let (lhs, rhs) = (dot(&w.apply(&x, 2), &y), dot(&x, &w.adjoint(&y, 2)));
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    }
}
