//! Winograd's per-tile transforms of one channel, `V = Bᵀ d B` of the input tiles and
//! `y = Aᵀ m A` of the products (see the parent module for the matrices), over the part of a
//! block of tile rows that lies in one image.

use super::super::geometry::ConvGeometry;
use super::super::simd::vectorized;

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

/// One input channel's tiles over a part's tile rows, into `v` as `[ξ][tile]` (`n` tiles a
/// position, the part's from its first tile on). `buf` holds the
/// four zero-padded input rows a tile row reads, each split into its even and odd columns,
/// and one padded row before that split (`5 × 2 × (tw + 1)`), so that every loop below runs
/// over consecutive tiles with unit stride and vectorizes.
pub(super) fn input_transform(
    g: &ConvGeometry,
    plane: &[f32],
    part: &Segment,
    tw: usize,
    v: &mut [f32],
    n: usize,
    buf: &mut [f32],
) {
    let rows = part.rows.clone();
    let (h, w) = (g.in_hw[0] as isize, g.in_hw[1] as isize);
    let half = tw + 1;
    // Padded column xo reads input column xo − pad; the valid ones are a contiguous run.
    let left = g.pad[1];
    let from = left.clamp(0, 2 * half as isize);
    let to = (w + left).clamp(from, 2 * half as isize);
    vectorized(
        #[inline(always)]
        || {
            for (r, ty) in rows.enumerate() {
                let (rows4, line) = buf.split_at_mut(8 * half);
                for (i, row) in rows4.chunks_exact_mut(2 * half).enumerate() {
                    let iy = (2 * ty + i) as isize - g.pad[0];
                    line.fill(0.0);
                    if (0..h).contains(&iy) {
                        let src = &plane[(iy * w) as usize..][..w as usize];
                        let (a, b) = (from as usize, to as usize);
                        line[a..b].copy_from_slice(&src[(from - left) as usize..][..b - a]);
                    }
                    let (even, odd) = row.split_at_mut(half);
                    for ((pair, e), o) in line.chunks_exact(2).zip(even).zip(odd) {
                        *e = pair[0];
                        *o = pair[1];
                    }
                }
                // Bᵀ down the columns, for the even and the odd columns at once.
                let (d0, rest) = rows4.split_at_mut(2 * half);
                let (d1, rest) = rest.split_at_mut(2 * half);
                let (d2, d3) = rest.split_at_mut(2 * half);
                for x in 0..2 * half {
                    let (a, b, c, d) = (d0[x], d1[x], d2[x], d3[x]);
                    d0[x] = a - c;
                    d1[x] = b + c;
                    d2[x] = c - b;
                    d3[x] = b - d;
                }
                // B across each row: tile tx reads columns 2tx .. 2tx+3, i.e. even[tx], odd[tx],
                // even[tx+1], odd[tx+1].
                let base = part.first_tile + r * tw;
                for (i, e) in [&*d0, &*d1, &*d2, &*d3].into_iter().enumerate() {
                    let (even, odd) = e.split_at(half);
                    let out = &mut v[4 * i * n + base..];
                    for tx in 0..tw {
                        let (a, b, c, d) = (even[tx], odd[tx], even[tx + 1], odd[tx + 1]);
                        out[tx] = a - c;
                        out[n + tx] = b + c;
                        out[2 * n + tx] = c - b;
                        out[3 * n + tx] = b - d;
                    }
                }
            }
        },
    )
}

/// One output channel's products `m` (`[ξ][tile]`, `n` tiles a position) over a part's tile rows
/// back to its output rows `dst` (`ow` wide; the last tile row or column may fall outside and
/// is dropped). `tmp`
/// holds one tile row's four outputs per tile (`4 × tw`), computed with unit stride before
/// they are interleaved into the rows.
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
    let tile_rows = part.rows.len();
    let out_rows = dst.len() / ow.max(1);
    tmp.resize(4 * tw, 0.0);
    vectorized(
        #[inline(always)]
        || {
            for r in 0..tile_rows {
                let (y00, rest) = tmp.split_at_mut(tw);
                let (y01, rest) = rest.split_at_mut(tw);
                let (y10, y11) = rest.split_at_mut(tw);
                let at = |xi: usize| &m[xi * n + part.first_tile + r * tw..][..tw];
                let row = |i: usize| [at(4 * i), at(4 * i + 1), at(4 * i + 2), at(4 * i + 3)];
                let [m0, m1, m2, m3] = [row(0), row(1), row(2), row(3)];
                for tx in 0..tw {
                    // Aᵀ down each column, then A across.
                    let col = |j: usize| {
                        let (a, b, c, d) = (m0[j][tx], m1[j][tx], m2[j][tx], m3[j][tx]);
                        (a + b + c, b - c - d)
                    };
                    let [(s0, t0), (s1, t1), (s2, t2), (s3, t3)] = [col(0), col(1), col(2), col(3)];
                    y00[tx] = s0 + s1 + s2 + bias;
                    y01[tx] = s1 - s2 - s3 + bias;
                    y10[tx] = t0 + t1 + t2 + bias;
                    y11[tx] = t1 - t2 - t3 + bias;
                }
                for (i, (even, odd)) in [(&*y00, &*y01), (&*y10, &*y11)].into_iter().enumerate() {
                    let oy = 2 * r + i;
                    if oy >= out_rows {
                        break;
                    }
                    for (ox, d) in dst[oy * ow..][..ow].iter_mut().enumerate() {
                        *d = if ox % 2 == 0 {
                            even[ox / 2]
                        } else {
                            odd[ox / 2]
                        };
                    }
                }
            }
        },
    )
}
