use super::*;

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w}");
    }
}

#[test]
fn bilinear_upsample_matches_torch() {
    // x = torch.tensor([[0., 1., 2.], [3., 5., 4.]]).reshape(1, 1, 2, 3)
    // torch.nn.functional.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False)
    // (cv2.resize(x[0, 0].numpy(), (7, 5), interpolation=cv2.INTER_LINEAR) agrees within 5e-7)
    let src = Heatmap::new(2, 3, vec![0., 1., 2., 3., 5., 4.]);
    #[rustfmt::skip]
    let want = [
        0.0, 0.1428571, 0.5714286, 1.0, 1.4285715, 1.8571429, 2.0,
        0.3, 0.4571429, 0.9285715, 1.4, 1.7428571, 2.0857143, 2.2,
        1.5, 1.7142859, 2.357143, 3.0, 3.0, 3.0, 3.0,
        2.7, 2.9714286, 3.7857144, 4.6000004, 4.257143, 3.9142857, 3.8,
        3.0, 3.2857146, 4.142857, 5.0, 4.571429, 4.142857, 4.0,
    ];
    let up = src.resize_bilinear(5, 7);
    assert_eq!((up.height, up.width), (5, 7));
    assert_close(&up.data, &want, 1e-6);
}

#[test]
fn bilinear_downsample_matches_torch() {
    // r = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    // torch.nn.functional.interpolate(torch.from_numpy(r)[None, None], size=(3, 4),
    //                                 mode="bilinear", align_corners=False)
    #[rustfmt::skip]
    let r = vec![
        0.6369617, 0.2697867, 0.0409735, 0.0165276, 0.8132702, 0.9127555, 0.6066357,
        0.7294965, 0.543625, 0.9350724, 0.8158535, 0.0027385, 0.8574043, 0.0335856,
        0.7296554, 0.1756556, 0.8631789, 0.5414612, 0.2997119, 0.4226872, 0.0283197,
        0.1242833, 0.6706244, 0.6471895, 0.6153851, 0.3836775, 0.9972099, 0.9808353,
        0.685542, 0.6504593, 0.6884468, 0.3889214, 0.1350965, 0.7214884, 0.5253543,
    ];
    #[rustfmt::skip]
    let want = [
        0.552779, 0.3320019, 0.5105776, 0.5951263,
        0.5219055, 0.8229642, 0.3299305, 0.1762075,
        0.5579777, 0.6484087, 0.2487635, 0.7282617,
    ];
    let down = Heatmap::new(5, 7, r).resize_bilinear(3, 4);
    assert_close(&down.data, &want, 1e-6);
}

#[test]
fn resize_to_same_size_is_identity_and_to_empty_is_empty() {
    let m = Heatmap::new(2, 2, vec![1., 2., 3., 4.]);
    assert_eq!(m.resize_bilinear(2, 2), m);
    assert_eq!(m.resize_bilinear(0, 5).data.len(), 0);
    let one = Heatmap::new(1, 1, vec![7.]).resize_bilinear(3, 2);
    assert_eq!(one.data, vec![7.; 6]);
}

#[test]
fn normalize_is_scale_cam_image() {
    // (x - min) / (1e-7 + max - min)
    let n = normalize(&[2.0, 4.0, 3.0]);
    assert_close(&n, &[0.0, 2.0 / (2.0 + 1e-7), 1.0 / (2.0 + 1e-7)], 1e-7);
    assert_eq!(normalize(&[5.0; 4]), vec![0.0; 4]);
    assert!(normalize(&[]).is_empty());
    let m = Heatmap::new(1, 2, vec![-1.0, 1.0]).normalized();
    assert_close(&m.data, &[0.0, 1.0], 1e-6);
}

#[test]
fn check_finds_problems() {
    assert_eq!(check(&[0.0, 1.0, f32::NAN]), Some(MapProblem::NonFinite));
    assert_eq!(check(&[f32::INFINITY, 1.0]), Some(MapProblem::NonFinite));
    assert_eq!(check(&[0.0, -0.0, 0.0]), Some(MapProblem::AllZero));
    assert_eq!(check(&[]), Some(MapProblem::AllZero));
    assert_eq!(check(&[3.5; 9]), Some(MapProblem::Constant));
    assert_eq!(check(&[1000.0, 1000.0001]), Some(MapProblem::Constant));
    assert_eq!(check(&[-2.0, -2.0]), Some(MapProblem::Constant));
    assert_eq!(check(&[0.0, 1.0]), None);
    // Tiny but varying values (small gradients) are a real map.
    assert_eq!(check(&[1e-9, 3e-9, 2e-9]), None);
    assert_eq!(check(&[1.0, 1.001]), None);
    for p in [
        MapProblem::NonFinite,
        MapProblem::AllZero,
        MapProblem::Constant,
    ] {
        assert!(!p.to_string().contains('\n'));
    }
}

#[test]
fn channel_reductions() {
    // 3 channels of 1x2.
    let attr = [1.0, -5.0, -3.0, 2.0, 0.5, 4.0];
    let m = channel_max_abs(&attr, 3, 1, 2);
    assert_eq!((m.height, m.width), (1, 2));
    assert_eq!(m.data, vec![3.0, 5.0]);
    let s = channel_sum(&attr, 3, 1, 2);
    assert_eq!(s.data, vec![-1.5, 1.0]);
    let nan = channel_max_abs(&[f32::NAN, 1.0, 2.0, 3.0], 2, 1, 2);
    assert!(nan.data[0].is_nan());
    assert_eq!(nan.data[1], 3.0);
}

#[test]
#[should_panic(expected = "channel reduction")]
fn channel_reduction_checks_length() {
    channel_max_abs(&[1.0; 5], 3, 1, 2);
}

#[test]
fn colorize_uses_the_colormap() {
    let m = Heatmap::new(1, 3, vec![0.0, 0.5, 1.0]);
    let img = m.colorize(Colormap::Viridis);
    assert_eq!(img.dimensions(), (3, 1));
    for (x, t) in [(0, 0.0), (1, 0.5), (2, 1.0)] {
        assert_eq!(img.get_pixel(x, 0).0, Colormap::Viridis.rgb(t));
    }
}

#[test]
fn colorize_signed_scales_by_max_abs() {
    let m = Heatmap::new(2, 2, vec![-2.0, 0.0, 1.0, 2.0]);
    let img = m.colorize_signed();
    assert_eq!(img.dimensions(), (2, 2));
    assert_eq!(img.get_pixel(0, 0).0, [0, 0, 255]);
    assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
    assert_eq!(img.get_pixel(0, 1).0, diverging(0.5));
    assert_eq!(img.get_pixel(1, 1).0, [255, 0, 0]);
    let zero = Heatmap::new(1, 2, vec![0.0, 0.0]).colorize_signed();
    assert!(zero.pixels().all(|p| p.0 == [255, 255, 255]));
}
