use super::*;

/// CIE L* (D65) of an sRGB colour.
fn lightness([r, g, b]: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let y = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    if y > 216.0 / 24389.0 {
        116.0 * y.cbrt() - 16.0
    } else {
        y * 24389.0 / 27.0
    }
}

#[test]
fn matches_matplotlib_at_sample_points() {
    // np.round(colormaps[name](ts)[:, :3] * 255), matplotlib 3.11.
    let ts = [0.0, 0.1, 0.25, 0.5, 0.7, 0.87, 1.0];
    let expected: [(Colormap, [[u8; 3]; 7]); 5] = [
        (
            Colormap::Jet,
            [
                [0, 0, 128],
                [0, 0, 241],
                [0, 128, 255],
                [125, 255, 122],
                [255, 196, 0],
                [255, 37, 0],
                [128, 0, 0],
            ],
        ),
        (
            Colormap::Turbo,
            [
                [48, 18, 59],
                [69, 89, 203],
                [40, 188, 235],
                [164, 252, 60],
                [254, 164, 49],
                [212, 51, 5],
                [122, 4, 3],
            ],
        ),
        (
            Colormap::Viridis,
            [
                [68, 1, 84],
                [72, 36, 117],
                [59, 82, 139],
                [33, 145, 140],
                [68, 191, 112],
                [168, 219, 52],
                [253, 231, 37],
            ],
        ),
        (
            Colormap::Inferno,
            [
                [0, 0, 4],
                [22, 11, 57],
                [87, 16, 110],
                [188, 55, 84],
                [243, 120, 25],
                [249, 199, 47],
                [252, 255, 164],
            ],
        ),
        (
            Colormap::Gray,
            [
                [0, 0, 0],
                [25, 25, 25],
                [64, 64, 64],
                [128, 128, 128],
                [179, 179, 179],
                [222, 222, 222],
                [255, 255, 255],
            ],
        ),
    ];
    for (cmap, colours) in expected {
        for (&t, want) in ts.iter().zip(colours) {
            assert_eq!(cmap.rgb(t), want, "{cmap}({t})");
        }
    }
}

#[test]
fn end_colours() {
    assert_eq!(Colormap::Jet.rgb(0.0), [0, 0, 128]);
    assert_eq!(Colormap::Jet.rgb(1.0), [128, 0, 0]);
    assert_eq!(Colormap::Viridis.rgb(0.0), [68, 1, 84]);
    assert_eq!(Colormap::Viridis.rgb(1.0), [253, 231, 37]);
    assert_eq!(Colormap::Inferno.rgb(0.0), [0, 0, 4]);
    assert_eq!(Colormap::Inferno.rgb(1.0), [252, 255, 164]);
    assert_eq!(Colormap::Turbo.rgb(0.0), [48, 18, 59]);
    assert_eq!(Colormap::Turbo.rgb(1.0), [122, 4, 3]);
    assert_eq!(Colormap::Gray.rgb(0.0), [0, 0, 0]);
    assert_eq!(Colormap::Gray.rgb(1.0), [255, 255, 255]);
}

#[test]
fn out_of_range_is_clamped_and_nan_is_the_zero_colour() {
    for cmap in Colormap::ALL {
        assert_eq!(cmap.rgb(-3.0), cmap.rgb(0.0), "{cmap}");
        assert_eq!(cmap.rgb(7.5), cmap.rgb(1.0), "{cmap}");
        assert_eq!(cmap.rgb(f32::INFINITY), cmap.rgb(1.0), "{cmap}");
        assert_eq!(cmap.rgb(f32::NEG_INFINITY), cmap.rgb(0.0), "{cmap}");
        assert_eq!(cmap.rgb(f32::NAN), cmap.rgb(0.0), "{cmap}");
    }
}

#[test]
fn perceptual_maps_get_lighter() {
    for cmap in [Colormap::Viridis, Colormap::Inferno, Colormap::Gray] {
        let mut prev = f64::NEG_INFINITY;
        for i in 0..64 {
            let l = lightness(cmap.rgb(i as f32 / 63.0));
            assert!(l >= prev - 0.05, "{cmap}: L* falls at sample {i}");
            prev = l;
        }
        assert!(prev > lightness(cmap.rgb(0.0)) + 50.0, "{cmap}");
    }
}

#[test]
fn diverging_is_blue_white_red() {
    assert_eq!(diverging(0.0), [255, 255, 255]);
    assert_eq!(diverging(-1.0), [0, 0, 255]);
    assert_eq!(diverging(1.0), [255, 0, 0]);
    assert_eq!(diverging(-0.5), [128, 128, 255]);
    assert_eq!(diverging(0.5), [255, 128, 128]);
    assert_eq!(diverging(-9.0), [0, 0, 255]);
    assert_eq!(diverging(9.0), [255, 0, 0]);
    assert_eq!(diverging(f32::NAN), [255, 255, 255]);
}

#[test]
fn names_round_trip() {
    for cmap in Colormap::ALL {
        assert_eq!(cmap.as_str().parse::<Colormap>().unwrap(), cmap);
        assert_eq!(cmap.to_string(), cmap.as_str());
    }
    assert_eq!(" Viridis ".parse::<Colormap>().unwrap(), Colormap::Viridis);
    let err = "rainbow".parse::<Colormap>().unwrap_err();
    assert!(matches!(err, Error::Usage(_)));
    assert_eq!(
        err.to_string(),
        "unknown colormap 'rainbow'; valid: jet, turbo, viridis, inferno, gray"
    );
}
