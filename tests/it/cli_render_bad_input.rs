//! `convscope render`'s out-of-range method options, beyond those in cli_render.rs: each a
//! one-line message that names the option, the limit and what to do, and nothing written.

use crate::common::{expect_error, fixtures};
use assert_cmd::Command;

/// `render METHOD NET --npy OUT` on a fixture net; the NPY must not appear.
fn refused(method: &str, net: &str, args: &[&str], keywords: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("out.npy");
    let nets = fixtures().join("nets");
    let mut c = Command::cargo_bin("convscope").unwrap();
    c.args(["render", method])
        .arg(nets.join(format!("{net}.onnx")))
        .arg("--input-npy")
        .arg(nets.join(format!("{net}.input.npy")))
        .args(args)
        .arg("--npy")
        .arg(&npy);
    let line = expect_error(&mut c, keywords);
    assert!(!npy.exists(), "{method} {args:?} wrote its NPY");
    line
}

#[test]
fn occlusion_window_larger_than_the_input_names_the_axis() {
    // vgg_like's input is 3x16x16.
    refused(
        "occlusion",
        "vgg_like",
        &["--window", "4,4,4"],
        &[
            "--window 4,4,4",
            "larger than the input",
            "C,H,W = 3,16,16",
            "along C",
        ],
    );
    refused(
        "occlusion",
        "vgg_like",
        &["--window", "3,4,17"],
        &["larger than the input", "along W"],
    );
    // NHWC models take the same C,H,W order: keras_nhwc is 32x32x3.
    refused(
        "occlusion",
        "keras_nhwc",
        &["--window", "3,33,8"],
        &["C,H,W = 3,32,32", "along H"],
    );
}

#[test]
fn occlusion_stride_larger_than_the_window_names_the_axis() {
    refused(
        "occlusion",
        "vgg_like",
        &["--window", "1,4,4", "--stride", "2,4,4"],
        &[
            "--stride 2,4,4",
            "larger than the window 1,4,4",
            "along C",
            "never be occluded",
        ],
    );
    refused(
        "occlusion",
        "vgg_like",
        &["--window", "4,4", "--stride", "4,5"],
        &["along W", "no larger than the window"],
    );
}

#[test]
fn occlusion_window_needs_two_or_three_sizes() {
    refused(
        "occlusion",
        "vgg_like",
        &["--window", "1,2,3,4"],
        &["--window 1,2,3,4", "H,W or C,H,W"],
    );
}

#[test]
fn channel_indices_out_of_range() {
    refused(
        "features",
        "resnet_like",
        &["--layer", "conv1", "--channels", "999"],
        &[
            "channel 999 is out of range",
            "'conv1' has 8 channels (0..7)",
        ],
    );
    // The first convolution's kernels are RGB; asking for one input channel checks it.
    refused(
        "filters",
        "resnet_like",
        &["--in-channel", "999"],
        &[
            "--in-channel 999 is out of range",
            "'conv1'",
            "3 input channels",
        ],
    );
}

#[test]
fn filters_on_a_layer_without_kernels_lists_the_nearest_that_have_them() {
    // mobilenet_like has 12 convolutions: the 6 nearest the BatchNorm are named, with the count.
    refused(
        "filters",
        "mobilenet_like",
        &["--layer", "block2.block.1.1"],
        &[
            "'block2.block.1.1' (BatchNormalization) has no convolution kernels",
            "block2.block.1.0",
            "6 nearest of 12",
            "convscope summary",
        ],
    );
    // Few convolutions: all of them.
    let line = refused(
        "filters",
        "vgg_like",
        &["--layer", "features.1"],
        &["features.0"],
    );
    assert!(
        line.ends_with("layers with kernels: features.0, features.2, features.5"),
        "{line}"
    );
}

#[test]
fn values_clap_cannot_parse_are_one_line_too() {
    refused(
        "occlusion",
        "vgg_like",
        &["--view", "mask", "--threshold", "half"],
        &["invalid value 'half'", "--threshold", "see --help"],
    );
    refused(
        "features",
        "vgg_like",
        &["--layer-s", "features.0"],
        &[
            "unexpected argument '--layer-s'",
            "similar argument exists: '--layers'",
        ],
    );
}
