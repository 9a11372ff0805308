//! Winograd's per-tile transforms of one channel, `V = Bᵀ d B` of the input tiles and
//! `y = Aᵀ m A` of the products (see the parent module for the matrices), over the part of a
//! block of tile rows that lies in one image.

use super::super::geometry::ConvGeometry;
use super::super::simd::vectorized;
use super::super::strided::split_padded;

/// The part of a block of tile rows that lies in one image: the image, its tile rows there,
/// and where their tiles start among the block's.
pub(super) struct Segment {
    pub image: usize,
    pub rows: std::ops::Range<usize>,
    pub first_tile: usize,
}

/// The block of tile rows `rows`, counted through images of `th` tile rows (`tw` tiles each),
/// split at the images' edges.
pub(super) fn segments(rows: std::ops::Range<usize>, th: usize, tw: usize) -> Vec<Segment> {
    let mut parts = Vec::new();
    let mut r = rows.start;
    while r < rows.end {
        let image = r / th;
        let end = rows.end.min((image + 1) * th);
        parts.push(Segment {
            image,
            rows: r - image * th..end - image * th,
            first_tile: (r - rows.start) * tw,
        });
        r = end;
    }
    parts
}

/// Floats of the row buffer [`input_transform`] needs for tiles `tw` wide: four padded input
/// rows split into their even and odd columns, kept from one tile row to the next (each reads
/// two of the previous one's), and the four rows `Bᵀ` makes of them.
pub(super) fn input_buffer_len(tw: usize) -> usize {
    8 * 2 * (tw + 1)
}

/// One input channel's tiles over a part's tile rows, into `v` as `[ξ][tile]` (`n` tiles a
/// position, the part's from its first tile on); `buf` as [`input_buffer_len`] says. Every
/// loop below runs over consecutive tiles with unit stride on slices of known length, so that
/// it vectorizes: indexed by tile into `v` directly, the compiler kept the bounds checks and
/// the loops ran one float at a time (12% of ResNet50's deletion and insertion went to the
/// two transforms).
pub(super) fn input_transform(
    g: &ConvGeometry,
    plane: &[f32],
    part: &Segment,
    tw: usize,
    v: &mut [f32],
    n: usize,
    buf: &mut [f32],
) {
    let (h, w) = (g.in_hw[0] as isize, g.in_hw[1] as isize);
    let half = tw + 1;
    let width = 2 * half;
    let (raw, rows4) = buf[..8 * width].split_at_mut(4 * width);
    let row = PaddedRow {
        plane,
        h,
        w,
        top: g.pad[0],
        left: g.pad[1],
    };
    vectorized(
        #[inline(always)]
        || {
            for (r, ty) in part.rows.clone().enumerate() {
                // Tile row ty reads padded rows 2ty .. 2ty+3; the previous one loaded the first two.
                let fresh = if r == 0 { 0 } else { 2 };
                for i in fresh..4 {
                    row.load(raw, width, 2 * ty + i);
                }
                let d = |i: usize| &raw[(2 * ty + i) % 4 * width..][..width];
                let (d0, d1, d2, d3) = (d(0), d(1), d(2), d(3));
                // Bᵀ down the columns, for the even and the odd columns at once.
                let (t0, t) = rows4.split_at_mut(width);
                let (t1, t) = t.split_at_mut(width);
                let (t2, t3) = t.split_at_mut(width);
                let columns = d0.iter().zip(d1).zip(d2).zip(d3);
                let rows = t0
                    .iter_mut()
                    .zip(t1.iter_mut())
                    .zip(t2.iter_mut())
                    .zip(t3.iter_mut());
                for ((((a, b), c), d), (((t0, t1), t2), t3)) in columns.zip(rows) {
                    *t0 = a - c;
                    *t1 = b + c;
                    *t2 = c - b;
                    *t3 = b - d;
                }
                // B across each row: tile tx reads columns 2tx .. 2tx+3, i.e. even[tx], odd[tx],
                // even[tx+1], odd[tx+1].
                let base = part.first_tile + r * tw;
                for (i, t) in [&*t0, &*t1, &*t2, &*t3].into_iter().enumerate() {
                    let (even, odd) = t.split_at(half);
                    let (a, b, c, d) = (&even[..tw], &odd[..tw], &even[1..][..tw], &odd[1..][..tw]);
                    let (o0, o) = v[4 * i * n..].split_at_mut(n);
                    let (o1, o) = o.split_at_mut(n);
                    let (o2, o3) = o.split_at_mut(n);
                    let (o0, o1) = (&mut o0[base..][..tw], &mut o1[base..][..tw]);
                    let (o2, o3) = (&mut o2[base..][..tw], &mut o3[base..][..tw]);
                    let tiles = a.iter().zip(b).zip(c).zip(d);
                    let outs = o0.iter_mut().zip(o1.iter_mut()).zip(o2.iter_mut()).zip(o3);
                    for ((((a, b), c), d), (((o0, o1), o2), o3)) in tiles.zip(outs) {
                        *o0 = a - c;
                        *o1 = b + c;
                        *o2 = c - b;
                        *o3 = b - d;
                    }
                }
            }
        },
    )
}

/// One output channel's products `m` (`[ξ][tile]`, `n` tiles a position) over a part's tile
/// rows back to its output rows `dst` (`ow` wide; the last tile row or column may fall
/// outside and is dropped). `Aᵀ` down the columns first, into `tmp` (eight rows of `tw`), then
/// `A` across, written straight into the output rows as pairs of columns: two passes over few
/// streams each, with unit stride, that vectorize (see [`input_transform`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn output_transform(
    m: &[f32],
    part: &Segment,
    tw: usize,
    ow: usize,
    n: usize,
    bias: f32,
    dst: &mut [f32],
    tmp: &mut Vec<f32>,
) {
    let out_rows = dst.len() / ow.max(1);
    tmp.resize(8 * tw, 0.0);
    vectorized(
        #[inline(always)]
        || {
            for r in 0..part.rows.len() {
                let at = |xi: usize| &m[xi * n + part.first_tile + r * tw..][..tw];
                // Column j of the 4x4 products: s_j = m0j + m1j + m2j, t_j = m1j − m2j − m3j.
                let (s, t) = tmp.split_at_mut(4 * tw);
                for (j, (s, t)) in s
                    .chunks_exact_mut(tw)
                    .zip(t.chunks_exact_mut(tw))
                    .enumerate()
                {
                    let products = at(j).iter().zip(at(4 + j)).zip(at(8 + j)).zip(at(12 + j));
                    for ((((a, b), c), d), (s, t)) in products.zip(s.iter_mut().zip(t)) {
                        *s = a + b + c;
                        *t = b - c - d;
                    }
                }
                // Output rows 2r (from s) and 2r + 1 (from t): y0 = c0 + c1 + c2, y1 = c1 − c2 − c3.
                for (i, cols) in tmp.chunks_exact(4 * tw).enumerate() {
                    let oy = 2 * r + i;
                    if oy >= out_rows {
                        break;
                    }
                    let c = |j: usize| &cols[j * tw..][..tw];
                    let (c0, c1, c2, c3) = (c(0), c(1), c(2), c(3));
                    let row = &mut dst[oy * ow..][..ow];
                    let mut pairs = row.chunks_exact_mut(2);
                    let tiles = c0.iter().zip(c1).zip(c2).zip(c3);
                    for (pair, (((a, b), c), d)) in pairs.by_ref().zip(tiles) {
                        pair[0] = a + b + c + bias;
                        pair[1] = b - c - d + bias;
                    }
                    // An odd width: the last tile's first column only.
                    if let [last] = pairs.into_remainder() {
                        let tx = tw - 1;
                        *last = c0[tx] + c1[tx] + c2[tx] + bias;
                    }
                }
            }
        },
    )
}

/// Where the padded input rows of one channel come from.
struct PaddedRow<'a> {
    plane: &'a [f32],
    h: isize,
    w: isize,
    top: isize,
    left: isize,
}

impl PaddedRow<'_> {
    /// Padded row `p` (0 = the first row of padding) into slot `p % 4` of `raw` (`width`
    /// floats a slot), split into its even and odd columns ([`split_padded`]). Always inlined,
    /// so that it is compiled inside `vectorized`.
    #[inline(always)]
    fn load(&self, raw: &mut [f32], width: usize, p: usize) {
        let (even, odd) = raw[p % 4 * width..][..width].split_at_mut(width / 2);
        let iy = p as isize - self.top;
        if (0..self.h).contains(&iy) {
            let row = &self.plane[(iy * self.w) as usize..][..self.w as usize];
            split_padded(row, self.left, even, odd);
        } else {
            even.fill(0.0);
            odd.fill(0.0);
        }
    }
}
