//! Issue 18's findings from trying to break convscope as a hostile user would, one test each:
//! outputs that replaced devices and followed symlinks, unbounded reads of `/dev/zero`, panics
//! on degenerate shapes and long names, counts and batches that aborted the process, FIFOs that
//! hung it, escape sequences from model files reaching the terminal, and a symlink around the
//! external-data containment. Then the weaker points, each decided and tested.
//!
//! Each case runs the binary (`CONVSCOPE_E2E_BIN` when set, as `.ci/run` sets it) with a time
//! limit, so that a regression shows as a failure, not as a hung or swapping test run.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::expect_error;
use crate::common::onnx::*;
use assert_cmd::Command;
use convscope::import::onnx::proto::{attr_type, data_type, AttributeProto, TensorProto};
use predicates::prelude::*;
use tempfile::TempDir;

fn convscope() -> Command {
    let mut c = Command::new(crate::common::e2e_bin());
    c.timeout(Duration::from_secs(120));
    c
}

fn run(args: &[&str]) -> Command {
    let mut c = convscope();
    c.args(args);
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A character device made in `dir` (as root; None otherwise), like /dev/null (1,3) or
/// /dev/full (1,7), so that a regression replaces a test file and not the system's device.
fn char_device(dir: &Path, name: &str, minor: u32) -> Option<PathBuf> {
    if !is_root() {
        return None;
    }
    let path = dir.join(name);
    let c = std::ffi::CString::new(s(&path)).unwrap();
    // SAFETY: a valid path; mknod creates a node and touches nothing else.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, minor)) };
    (made == 0).then_some(path)
}

fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let c = std::ffi::CString::new(s(&path)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    path
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---- 1: outputs ----

#[test]
fn outputs_replace_only_regular_files() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let gradcam = |flag: &str, path: &Path| {
        let mut c = run(&["render", "gradcam", flag, s(path)]);
        c.current_dir(d);
        c
    };
    if let Some(null) = char_device(d, "null", 3) {
        expect_error(
            &mut gradcam("-o", &null),
            &["character device", "regular files"],
        );
        assert!(fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    if let Some(full) = char_device(d, "full", 7) {
        expect_error(&mut gradcam("--npy", &full), &["character device"]);
        assert!(fs::symlink_metadata(&full)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    let pipe = fifo(d, "pipe.png");
    expect_error(&mut gradcam("-o", &pipe), &["FIFO"]);
    assert!(fs::symlink_metadata(&pipe).unwrap().file_type().is_fifo());

    let target = d.join("target.png");
    fs::write(&target, b"keep").unwrap();
    let link = d.join("link.png");
    symlink(&target, &link).unwrap();
    expect_error(&mut gradcam("-o", &link), &["symbolic link"]);
    assert_eq!(fs::read(&target).unwrap(), b"keep");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());

    // A directory where the picture would go.
    let sub = d.join("sub.png");
    fs::create_dir(&sub).unwrap();
    expect_error(&mut gradcam("-o", &sub), &["directory"]);

    // Nothing staged is left behind by any of these.
    let left: Vec<String> = names(d)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");

    // The same file for the picture and the array.
    let mut same = run(&["render", "gradcam", "-o", "a.png", "--npy", "./a.png"]);
    same.current_dir(d);
    expect_error(&mut same, &["-o and --npy", "a.png"]);
    assert!(!d.join("a.png").exists());
}

// ---- 4 and 7: inputs that are not regular files ----

#[test]
fn devices_and_fifos_as_inputs_are_refused_at_once() {
    let dir = TempDir::new().unwrap();
    expect_error(
        &mut run(&["predict", "--input-npy", "/dev/zero"]),
        &["/dev/zero", "character device"],
    );
    expect_error(&mut run(&["summary", "/dev/zero"]), &["character device"]);
    expect_error(
        &mut run(&["predict", "--labels", "/dev/zero"]),
        &["character device"],
    );
    let pipe = fifo(dir.path(), "f.png");
    expect_error(
        &mut run(&["predict", "--image", s(&pipe)]),
        &["FIFO", "f.png"],
    );
    expect_error(&mut run(&["summary", s(&pipe)]), &["FIFO"]);
}

#[test]
fn npy_files_are_read_only_as_far_as_their_header_allows() {
    let dir = TempDir::new().unwrap();
    // A header declaring 2^30 values and a (sparse) file of that size: refused from the
    // header, before 4 GB are read.
    let big = dir.path().join("big.npy");
    let header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1024, 1024, 1024), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let hlen = header.len() + pad + 1;
    bytes.extend_from_slice(&(hlen as u16).to_le_bytes());
    bytes.extend_from_slice(header);
    bytes.extend(std::iter::repeat_n(b' ', pad));
    bytes.push(b'\n');
    fs::write(&big, &bytes).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&big).unwrap();
    f.set_len(bytes.len() as u64 + (4u64 << 30)).unwrap();
    expect_error(
        &mut run(&["predict", "--input-npy", s(&big)]),
        &["(1, 1024, 1024, 1024)", "more than"],
    );
}

// ---- 5: panics ----

fn conv_model(filters: i64) -> convscope::import::onnx::proto::ModelProto {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![filters, 3, 3, 3],
        data_type: data_type::FLOAT,
        float_data: vec![0.1; (filters * 27) as usize],
        ..Default::default()
    };
    let mut m = tiny_model(vec![node("conv0", "Conv", &["x", "w"], &["y"])], "y");
    let g = graph_mut(&mut m);
    g.initializer.push(w);
    m
}

#[test]
fn degenerate_shapes_and_long_names_are_errors_or_tables_not_panics() {
    let dir = TempDir::new().unwrap();
    let empty = write_model(dir.path(), "empty_conv.onnx", &conv_model(0));
    expect_error(&mut run(&["summary", s(&empty)]), &["conv0", "size 0"]);
    expect_error(
        &mut run(&["predict", s(&empty), "--input-npy", s(&vgg_input())]),
        &["size 0"],
    );

    let mut long = conv_model(2);
    graph_mut(&mut long).node[0].name = "n".repeat(65_530);
    let path = write_model(dir.path(), "long.onnx", &long);
    let out = run(&["summary", s(&path)]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.lines().all(|l| l.chars().count() < 400),
        "a line runs on"
    );

    let mut wide = tiny_model(vec![node("relu0", "Relu", &["x"], &["y"])], "y");
    graph_mut(&mut wide).input = vec![float_input("x", &vec![1; 1_000_000])];
    let path = write_model(dir.path(), "wide.onnx", &wide);
    expect_error(&mut run(&["summary", s(&path)]), &["1000000 dimensions"]);
}

// ---- 6: counts and memory ----

#[test]
fn counts_are_bounded_before_anything_is_allocated() {
    expect_error(
        &mut run(&[
            "render",
            "smoothgrad",
            "--samples",
            "1000000000",
            "--npy",
            "x.npy",
        ]),
        &["--samples 1000000000", "100000"],
    );
    expect_error(
        &mut run(&["render", "ig", "--steps", "100000000", "--npy", "x.npy"]),
        &["--steps 100000000"],
    );
    expect_error(
        &mut run(&[
            "render",
            "smoothgrad",
            "--batch",
            "1000000000",
            "--npy",
            "x.npy",
        ]),
        &["--batch 1000000000", "MB", "available"],
    );
}

/// Runs `args` under `ulimit -v KIB` (address space), through the shell.
fn limited(kib: u64, args: &[&str], dir: &Path) -> Command {
    let bin = crate::common::e2e_bin();
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .current_dir(dir)
        .timeout(Duration::from_secs(300));
    c
}

#[test]
fn running_out_of_address_space_is_an_error_line_not_an_abort() {
    let dir = TempDir::new().unwrap();
    // VGG16's random weights alone are 528 MB: they cannot be made in 400 MB.
    let out = limited(400_000, &["predict", "--arch", "vgg16"], dir.path())
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("panicked").not());
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    // The line before says which architecture was built (with random weights).
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: out of memory: "), "{err}");
    assert!(err.lines().count() <= 2, "{err}");
}

#[test]
fn smoothgrad_sizes_its_batch_to_the_address_space_it_has() {
    let dir = TempDir::new().unwrap();
    // At the fixed 2 GiB budget the batch was 17 inputs, and its activations alone more than
    // this limit allows: the process aborted. Sized to what is left, it is a few.
    let out = limited(
        2_000_000,
        &[
            "render",
            "smoothgrad",
            "--arch",
            "vgg16",
            "--samples",
            "24",
            "--npy",
            "m.npy",
            "--json",
        ],
        dir.path(),
    )
    .assert()
    .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let batch = report["batch"].as_u64().unwrap();
    assert!((1..17).contains(&batch), "batch {batch}");
    assert!(dir.path().join("m.npy").is_file());
}

// ---- 8: text from model files ----

const HOSTILE: &str = "conv\x1b]0;pwned\x07\x1b[2J\u{9b}1m";

#[test]
fn text_from_model_files_reaches_the_terminal_escaped() {
    let dir = TempDir::new().unwrap();
    let mut m = conv_model(2);
    graph_mut(&mut m).node[0].name = HOSTILE.into();
    let path = write_model(dir.path(), "hostile.onnx", &m);
    let clean = |c: &mut Command| {
        let out = c.output().unwrap();
        for text in [&out.stdout, &out.stderr] {
            let t = String::from_utf8_lossy(text);
            assert!(
                !t.chars().any(|c| c.is_control() && c != '\n'),
                "a control character got out: {t:?}"
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let summary = clean(&mut run(&["summary", s(&path)]));
    assert!(summary.contains("conv\\x1b]0;pwned"), "{summary}");
    clean(&mut run(&["config", s(&path), HOSTILE]));
    // A name that is not there: the suggestion quotes the model's names.
    let e = clean(&mut run(&["config", s(&path), "conv\x1b"]));
    assert!(e.starts_with("error: "), "{e}");
    clean(&mut run(&["summary", s(&path), "--json"]));
    // Class names from a labels file.
    let labels = dir.path().join("labels.txt");
    let names: Vec<String> = (0..10).map(|i| format!("class{i}\x1b[31m")).collect();
    fs::write(&labels, names.join("\n")).unwrap();
    clean(&mut run(&[
        "predict",
        s(&vgg()),
        "--input-npy",
        s(&vgg_input()),
        "--labels",
        s(&labels),
    ]));
}

// ---- 9: external data through a symlink ----

fn with_external_weights(dir: &Path, location: &str) -> PathBuf {
    let mut m = vgg_proto();
    externalize(&mut m, location);
    write_model(dir, "ext.onnx", &m)
}

#[test]
fn external_data_cannot_leave_the_models_folder_through_a_symlink() {
    let dir = TempDir::new().unwrap();
    let secret = dir.path().join("secret.bin");
    fs::write(&secret, vec![7u8; 4 * 16 * 3 * 3 * 3]).unwrap();
    let models = dir.path().join("models");
    fs::create_dir(&models).unwrap();
    let model = with_external_weights(&models, "w.bin");
    symlink(&secret, models.join("w.bin")).unwrap();
    let npy = dir.path().join("o.npy");
    expect_error(
        &mut run(&[
            "render",
            "filters",
            s(&model),
            "--layer",
            "features.0",
            "--npy",
            s(&npy),
        ]),
        &["w.bin", "outside the model's folder"],
    );
    assert!(!npy.exists());

    // The Hugging Face cache's layout is allowed: the model and its data are both symlinks
    // into one blobs folder.
    let blobs = dir.path().join("blobs");
    let snap = dir.path().join("snapshots/rev");
    fs::create_dir_all(&blobs).unwrap();
    fs::create_dir_all(&snap).unwrap();
    let real_model = with_external_weights(&blobs, "w.bin");
    fs::rename(&real_model, blobs.join("a1b2")).unwrap();
    let vgg_w = externalize(&mut vgg_proto(), "w.bin");
    fs::write(blobs.join("c3d4"), vgg_w).unwrap();
    symlink(blobs.join("a1b2"), snap.join("ext.onnx")).unwrap();
    symlink(blobs.join("c3d4"), snap.join("w.bin")).unwrap();
    run(&[
        "predict",
        s(&snap.join("ext.onnx")),
        "--input-npy",
        s(&vgg_input()),
    ])
    .assert()
    .success();
}

// ---- the weaker points ----

#[test]
fn opsets_outside_what_convscope_reads_are_refused() {
    let dir = TempDir::new().unwrap();
    for (opset, ok) in [
        (1, false),
        (6, false),
        (7, true),
        (13, true),
        (25, true),
        (99, false),
    ] {
        let mut m = conv_model(2);
        m.opset_import[0].version = opset;
        let path = write_model(dir.path(), &format!("opset{opset}.onnx"), &m);
        if ok {
            run(&["summary", s(&path)]).assert().success();
        } else {
            expect_error(
                &mut run(&["summary", s(&path)]),
                &[&format!("opset {opset}")],
            );
        }
    }
}

#[test]
fn a_pool_padded_past_its_kernel_is_refused_as_onnxruntime_does() {
    let dir = TempDir::new().unwrap();
    let ints = |name: &str, v: &[i64]| AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: attr_type::INTS,
        ..Default::default()
    };
    let mut pool = node("pool0", "AveragePool", &["x"], &["y"]);
    pool.attribute = vec![ints("kernel_shape", &[2, 2]), ints("pads", &[2, 2, 2, 2])];
    let path = write_model(dir.path(), "pool.onnx", &tiny_model(vec![pool], "y"));
    expect_error(
        &mut run(&["summary", s(&path)]),
        &["pool0", "smaller than kernel_shape"],
    );
}

#[test]
fn a_truncated_jpeg_is_refused_as_pil_refuses_it() {
    let dir = TempDir::new().unwrap();
    let jpeg =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/images/rocket.jpg")).unwrap();
    let cut = dir.path().join("cut.jpg");
    fs::write(&cut, &jpeg[..jpeg.len() / 2]).unwrap();
    expect_error(
        &mut run(&["predict", s(&vgg()), "--image", s(&cut)]),
        &["cut.jpg", "truncated"],
    );
    let whole = dir.path().join("whole.jpg");
    fs::write(&whole, &jpeg).unwrap();
    run(&["predict", "--image", s(&whole)]).assert().success();
}

#[test]
fn broken_weight_files_are_named_as_weight_files() {
    let dir = TempDir::new().unwrap();
    let st = dir.path().join("model.safetensors");
    fs::write(&st, noise(256, 3)).unwrap();
    let e = expect_error(&mut run(&["summary", s(&st)]), &["safetensors"]);
    assert!(!e.contains("ONNX") && !e.contains("pickle"), "{e}");

    // A valid safetensors file whose header length's low byte is 0x80, like a pickle's first
    // byte: read as safetensors (its one tensor fits no architecture, and the message says so).
    let mut json = br#"{"fc.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.to_vec();
    json.resize(0x180, b' ');
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(&1f32.to_le_bytes());
    let odd = dir.path().join("odd.safetensors");
    fs::write(&odd, &bytes).unwrap();
    let e = expect_error(&mut run(&["summary", s(&odd)]), &["odd.safetensors"]);
    assert!(!e.contains("pickle") && !e.contains("ONNX"), "{e}");
}

#[test]
fn print_without_a_terminal_writes_the_picture_and_prints_its_path() {
    let dir = TempDir::new().unwrap();
    let mut c = run(&["render", "gradcam", "--print"]);
    c.current_dir(dir.path());
    c.assert()
        .success()
        .stdout(predicate::str::contains("star.gradcam.png"));
    assert!(dir.path().join("star.gradcam.png").is_file());
}

#[test]
fn actmax_on_the_demo_needs_no_image() {
    let dir = TempDir::new().unwrap();
    let mut c = run(&["render", "actmax", "--steps", "5", "-o", "a.png"]);
    c.current_dir(dir.path());
    c.assert()
        .success()
        .stdout(predicate::str::contains("star"));
    assert!(dir.path().join("a.png").is_file());
}

/// A 64 KiB tmpfs mounted on a fresh directory, unmounted when dropped; `None` where mounting
/// is not allowed (not root, or no CAP_SYS_ADMIN in a container).
struct SmallDisk(TempDir);

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = TempDir::new().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// A genuinely full file system (ENOSPC from a real mount; /dev/full is a device, which outputs
/// refuse before writing): the picture does not fit a 64 KiB tmpfs. One line naming the file and the cause, a non-zero exit, the file that
/// was there unchanged, and nothing else left (no staged temporary, no NPY). Runs where a tmpfs
/// can be mounted (root with CAP_SYS_ADMIN, as here and in CI's container); elsewhere it says
/// so on stderr and checks nothing.
#[test]
fn a_full_disk_is_one_line_and_leaves_what_was_there() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!(
            "a_full_disk_is_one_line_and_leaves_what_was_there: cannot mount a tmpfs here, not run"
        );
        return;
    };
    let dir = disk.0.path();
    let png = dir.join("cam.png");
    fs::write(&png, "old picture").unwrap();
    let mut cmd = run(&[
        "render",
        "gradcam",
        "--size",
        "2000x2000",
        "-o",
        s(&png),
        "--npy",
    ]);
    cmd.arg(dir.join("cam.npy"));
    expect_error(
        &mut cmd,
        &["cannot write", "cam.png", "no space left on device"],
    );
    assert_eq!(fs::read_to_string(&png).unwrap(), "old picture");
    let left: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["cam.png"], "left behind: {left:?}");
}
