//! Colormaps: a value in [0, 1] to an RGB colour, as matplotlib draws it.
//!
//! Every map is matplotlib's, entry for entry: matplotlib colours a float `t` by looking up entry
//! `min(floor(t * 256), 255)` of a 256-entry table, and so do we. `Viridis`, `Inferno` and
//! `Turbo` store matplotlib's tables (`matplotlib._cm_listed`, `_turbo_data` being Google's
//! published Turbo table), each float rounded to the nearest 8-bit level; `Jet` and `Gray`
//! evaluate matplotlib's segment data at the entry's position `i / 255`, as matplotlib builds its
//! table, with the same floating-point operations. Measured at 8193 evenly spaced `t` per map
//! (matplotlib 3.11): the error against `cmap(t)[:3] * 255` is at most half a level (the 8-bit
//! rounding itself), and the bytes equal `np.round(cmap(t)[:3] * 255)` exactly (half to even, as
//! `level` rounds); against `cmap(t, bytes=True)`, which truncates instead, it is at most 1.
//!
//! `Jet` is matplotlib's, not OpenCV's `COLORMAP_JET` (which pytorch-grad-cam's
//! `show_cam_on_image` uses): OpenCV's jet has different breakpoints and differs from
//! matplotlib's by up to 34 levels (around `t = 0.87`). matplotlib is the reference people
//! compare figures with (papers, notebooks, captum), and its segment data is published, so we
//! match it. OpenCV's `COLORMAP_TURBO` and `COLORMAP_VIRIDIS` equal matplotlib's byte for byte.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A sequential colormap for maps normalized to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Colormap {
    /// matplotlib's `jet`: dark blue, blue, cyan, yellow, red, dark red. Not perceptually uniform.
    #[default]
    Jet,
    /// Google's Turbo (matplotlib's `turbo`): a smoother, brighter rainbow.
    Turbo,
    /// matplotlib's `viridis`: dark purple to yellow, lightness increasing.
    Viridis,
    /// matplotlib's `inferno`: black to pale yellow through red, lightness increasing.
    Inferno,
    /// matplotlib's `gray`: black to white.
    Gray,
}

impl Colormap {
    /// Every colormap, in the order they are documented.
    pub const ALL: [Colormap; 5] = [
        Colormap::Jet,
        Colormap::Turbo,
        Colormap::Viridis,
        Colormap::Inferno,
        Colormap::Gray,
    ];

    /// The name used on the command line (matplotlib's name).
    pub fn as_str(self) -> &'static str {
        match self {
            Colormap::Jet => "jet",
            Colormap::Turbo => "turbo",
            Colormap::Viridis => "viridis",
            Colormap::Inferno => "inferno",
            Colormap::Gray => "gray",
        }
    }

    /// The colour of `t`, clamped to [0, 1]; NaN gets the colour of 0.
    pub fn rgb(self, t: f32) -> [u8; 3] {
        let i = lut_index(t);
        match self {
            Colormap::Jet => {
                // matplotlib's `255 * np.linspace(0, 1, 256)[i]`, computed as numpy does, so
                // that the entries that fall exactly between two levels round as its do.
                let x = 255.0 * (i as f64 * (1.0 / 255.0));
                [
                    level(segments(x, &JET_RED)),
                    level(segments(x, &JET_GREEN)),
                    level(segments(x, &JET_BLUE)),
                ]
            }
            Colormap::Turbo => TURBO[i],
            Colormap::Viridis => VIRIDIS[i],
            Colormap::Inferno => INFERNO[i],
            // matplotlib's gray is the segment 0 -> 1, so entry i is i / 255.
            Colormap::Gray => [i as u8; 3],
        }
    }
}

impl fmt::Display for Colormap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Colormap {
    type Err = Error;

    /// Parses a colormap name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self> {
        crate::error::choose(s, &Colormap::ALL, |c| c.as_str(), "colormap")
    }
}

/// Blue (-1) to white (0) to red (+1), for signed maps; `t` is clamped to [-1, 1], NaN is white.
///
/// The colours of matplotlib's `bwr` (linear in RGB from `(0, 0, 1)` through `(1, 1, 1)` to
/// `(1, 0, 0)`), but evaluated continuously rather than through a 256-entry table, so that 0 is
/// exactly white (matplotlib's table has no exact white entry: `bwr(0.5)` is `(255, 254, 254)`).
pub fn diverging(t: f32) -> [u8; 3] {
    if t.is_nan() {
        return [255; 3];
    }
    let t = f64::from(t.clamp(-1.0, 1.0));
    if t < 0.0 {
        let v = level(1.0 + t);
        [v, v, 255]
    } else {
        let v = level(1.0 - t);
        [255, v, v]
    }
}

/// matplotlib's table lookup: entry `floor(t * 256)`, with 1.0 and above in the last entry.
fn lut_index(t: f32) -> usize {
    if t.is_nan() || t <= 0.0 {
        0
    } else {
        ((f64::from(t) * 256.0) as usize).min(255)
    }
}

/// A value in [0, 1] to the nearest 8-bit level.
fn level(v: f64) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round_ties_even() as u8
}

/// Evaluates a matplotlib segment list `(x, y)` (x increasing from 0 to 1; every jet segment
/// has equal left and right values, so one `y` per breakpoint) linearly at `x255 / 255`, with
/// the operations of matplotlib's `_create_lookup_table` (which scales the breakpoints by 255).
fn segments(x255: f64, seg: &[(f64, f64)]) -> f64 {
    for w in seg.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let (x0, x1) = (x0 * 255.0, x1 * 255.0);
        if x255 <= x1 {
            return (x255 - x0) / (x1 - x0) * (y1 - y0) + y0;
        }
    }
    seg[seg.len() - 1].1
}

/// matplotlib's `_jet_data`.
const JET_RED: [(f64, f64); 5] = [
    (0.0, 0.0),
    (0.35, 0.0),
    (0.66, 1.0),
    (0.89, 1.0),
    (1.0, 0.5),
];
const JET_GREEN: [(f64, f64); 6] = [
    (0.0, 0.0),
    (0.125, 0.0),
    (0.375, 1.0),
    (0.64, 1.0),
    (0.91, 0.0),
    (1.0, 0.0),
];
const JET_BLUE: [(f64, f64); 5] = [
    (0.0, 0.5),
    (0.11, 1.0),
    (0.34, 1.0),
    (0.65, 0.0),
    (1.0, 0.0),
];

/// Decodes 256 colours written as `rrggbb` hex, at compile time.
const fn table(hex: &str) -> [[u8; 3]; 256] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("colormap table: not a lowercase hex digit"),
        }
    }
    let b = hex.as_bytes();
    assert!(b.len() == 256 * 6, "colormap table: not 256 colours");
    let mut out = [[0u8; 3]; 256];
    let mut i = 0;
    while i < 256 * 3 {
        out[i / 3][i % 3] = nibble(b[2 * i]) * 16 + nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

// The tables below are matplotlib 3.11's, made by:
//   lut = np.round(colormaps[name](np.arange(256) / 256 + 1e-9)[:, :3] * 255).astype(int)
//   "".join("%02x%02x%02x" % tuple(c) for c in lut)

const VIRIDIS: [[u8; 3]; 256] = table(
    "\
    44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769\
    48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a\
    472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85\
    4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b\
    3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d\
    33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e\
    2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e\
    26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d\
    21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88\
    1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81\
    28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74\
    3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863\
    5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d\
    84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32\
    addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a\
    d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725",
);

const INFERNO: [[u8; 3]; 256] = table(
    "\
    00000401000501010601010802010a02020c02020e03021004031204031405041706041907051b08051d09061f0a0722\
    0b07240c08260d08290e092b10092d110a30120a32140b34150b37160b39180c3c190c3e1b0c411c0c431e0c451f0c48\
    210c4a230c4c240c4f260c51280b53290b552b0b572d0b592f0a5b310a5c320a5e340a5f3609613809623909633b0964\
    3d09653e0966400a67420a68440a68450a69470b6a490b6a4a0c6b4c0c6b4d0d6c4f0d6c510e6c520e6d540f6d550f6d\
    57106e59106e5a116e5c126e5d126e5f136e61136e62146e64156e65156e67166e69166e6a176e6c186e6d186e6f196e\
    71196e721a6e741a6e751b6e771c6d781c6d7a1d6d7c1d6d7d1e6d7f1e6c801f6c82206c84206b85216b87216b88226a\
    8a226a8c23698d23698f24699025689225689326679526679727669827669a28659b29649d29649f2a63a02a63a22b62\
    a32c61a52c60a62d60a82e5fa92e5eab2f5ead305dae305cb0315bb1325ab3325ab43359b63458b73557b93556ba3655\
    bc3754bd3853bf3952c03a51c13a50c33b4fc43c4ec63d4dc73e4cc83f4bca404acb4149cc4248ce4347cf4446d04545\
    d24644d34743d44842d54a41d74b3fd84c3ed94d3dda4e3cdb503bdd513ade5238df5337e05536e15635e25734e35933\
    e45a31e55c30e65d2fe75e2ee8602de9612bea632aeb6429eb6628ec6726ed6925ee6a24ef6c23ef6e21f06f20f1711f\
    f1731df2741cf3761bf37819f47918f57b17f57d15f67e14f68013f78212f78410f8850ff8870ef8890cf98b0bf98c0a\
    f98e09fa9008fa9207fa9407fb9606fb9706fb9906fb9b06fb9d07fc9f07fca108fca309fca50afca60cfca80dfcaa0f\
    fcac11fcae12fcb014fcb216fcb418fbb61afbb81dfbba1ffbbc21fbbe23fac026fac228fac42afac62df9c72ff9c932\
    f9cb35f8cd37f8cf3af7d13df7d340f6d543f6d746f5d949f5db4cf4dd4ff4df53f4e156f3e35af3e55df2e661f2e865\
    f2ea69f1ec6df1ed71f1ef75f1f179f2f27df2f482f3f586f3f68af4f88ef5f992f6fa96f8fb9af9fc9dfafda1fcffa4",
);

const TURBO: [[u8; 3]; 256] = table(
    "\
    30123b32154333184a341b51351e5836215f37246638276d392a733a2d793b2f803c32863d358b3e38913f3b973f3e9c\
    4040a24143a74146ac4249b1424bb5434eba4451bf4454c34456c74559cb455ccf455ed34661d64664da4666dd4669e0\
    466be3476ee64771e94773eb4776ee4778f0477bf2467df44680f64682f84685fa4687fb458afc458cfd448ffe4391fe\
    4294ff4196ff4099ff3e9bfe3d9efe3ba0fd3aa3fc38a5fb37a8fa35abf833adf731aff52fb2f42eb4f22cb7f02ab9ee\
    28bceb27bee925c0e723c3e422c5e220c7df1fc9dd1ecbda1ccdd81bd0d51ad2d21ad4d019d5cd18d7ca18d9c818dbc5\
    18ddc218dec018e0bd19e2bb19e3b91ae4b61ce6b41de7b21fe9af20eaac22ebaa25eca727eea42aefa12cf09e2ff19b\
    32f29835f39438f4913cf58e3ff68a43f78746f8844af8804ef97d52fa7a55fa7659fb735dfc6f61fc6c65fd6969fd66\
    6dfe6271fe5f75fe5c79fe597dff5680ff5384ff5188ff4e8bff4b8fff4992ff4796fe4499fe429cfe409ffd3fa1fd3d\
    a4fc3ca7fc3aa9fb39acfb38affa37b1f936b4f836b7f735b9f635bcf534bef434c1f334c3f134c6f034c8ef34cbed34\
    cdec34d0ea34d2e935d4e735d7e535d9e436dbe236dde037dfdf37e1dd37e3db38e5d938e7d739e9d539ebd339ecd13a\
    eecf3aefcd3af1cb3af2c93af4c73af5c53af6c33af7c13af8be39f9bc39faba39fbb838fbb637fcb336fcb136fdae35\
    fdac34fea933fea732fea431fea130fe9e2ffe9b2dfe992cfe962bfe932afe9029fd8d27fd8a26fc8725fc8423fb8122\
    fb7e21fa7b1ff9781ef9751df8721cf76f1af66c19f56918f46617f36315f26014f15d13f05b12ef5811ed5510ec530f\
    eb500eea4e0de84b0ce7490ce5470be4450ae2430ae14109df3f08dd3d08dc3b07da3907d83706d63506d43305d23105\
    d02f05ce2d04cc2b04ca2a04c82803c52603c32503c12302be2102bc2002b91e02b71d02b41b01b21a01af1801ac1701\
    a91601a71401a41301a112019e10019b0f01980e01950d01920b018e0a018b09028808028507028106027e05027a0403",
);

#[cfg(test)]
#[path = "colormap_tests.rs"]
mod tests;
