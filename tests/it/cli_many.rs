//! `--images` runs as they will be used: shards as separate processes, one killed with SIGKILL
//! mid-run and rerun, merged and compared byte for byte with a single process's run; a run
//! stopped by SIGTERM and resumed; a corrupt image in the middle recorded and skipped; and the
//! bad inputs of issue 22, each one `error:` line.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

use crate::common::{e2e_bin, expect_error};

/// A method slow enough on the demo (~20–50 ms an image) that a process can be stopped
/// mid-run, fast enough for CI.
const SLOW: [&str; 4] = ["render", "smoothgrad", "--samples", "16"];

pub(crate) fn convscope() -> Command {
    Command::new(e2e_bin())
}

/// `n` pictures made from the demo's shapes (turned, flipped, brightened by their number), in
/// three nested folders: a generated dataset.
pub(crate) fn pictures(dir: &Path, n: usize) -> Vec<String> {
    let shapes = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/images/shapes");
    let mut sources: Vec<PathBuf> = fs::read_dir(&shapes)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    sources.sort();
    let mut rels = Vec::new();
    for i in 0..n {
        let mut img = image::open(&sources[i % sources.len()]).unwrap().to_rgb8();
        if (i / sources.len()) % 2 == 1 {
            img = image::imageops::rotate90(&img);
        }
        if (i / (2 * sources.len())) % 2 == 1 {
            img = image::imageops::flip_horizontal(&img);
        }
        for p in img.pixels_mut() {
            p.0 = p.0.map(|v| v.saturating_add((i * 3) as u8));
        }
        let rel = format!("d{}/sub{}/p{i:03}.png", i % 3, i % 2);
        let path = dir.join(&rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        img.save(&path).unwrap();
        rels.push(rel);
    }
    rels.sort();
    rels
}

fn spawn(args: &[&str]) -> Child {
    StdCommand::new(e2e_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The manifest's records by path, each without its timings (the only field that differs
/// between two runs of one command).
pub(crate) fn records(path: &Path) -> BTreeMap<String, Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            v.as_object_mut().unwrap().remove("timings");
            (v["path"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.matches('\n').count())
}

/// Waits until `path` has `n` lines (a process's progress), or panics after a minute.
fn wait_for_lines(path: &Path, n: usize, child: &mut Child) {
    let start = Instant::now();
    while lines(path) < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it wrote {n} records"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Every file below `dir` by relative path, with its bytes (the outputs, not the manifests).
fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            assert!(!rel.ends_with(".tmp"), "a staged file was left: {rel}");
            if !rel.starts_with("manifest.") && rel != "summary.json" {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

pub(crate) fn json_out(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn four_shards_one_killed_and_rerun_merge_to_the_single_runs_outputs() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let rels = pictures(&data, 32);
    let (single, sharded) = (tmp.path().join("single"), tmp.path().join("sharded"));
    let run = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = SLOW.iter().map(|s| s.to_string()).collect();
        args.extend(["--images".into(), data.display().to_string()]);
        args.extend([
            "-o".into(),
            out.display().to_string(),
            "--npy".into(),
            "--json".into(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let status = StdCommand::new(e2e_bin())
        .args(run(&single, &[]))
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let mut children: Vec<Child> = (0..4)
        .map(|i| {
            let args = run(&sharded, &["--shard", &format!("{i}/4")]);
            spawn(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect();
    // Shard 1 dies the hard way once it has written its first record.
    let part1 = sharded.join("manifest.part-1-of-4.jsonl");
    wait_for_lines(&part1, 1, &mut children[1]);
    children[1].kill().unwrap();
    let killed = children[1].wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed),
        Some(9)
    );
    for (i, c) in children.into_iter().enumerate().filter(|(i, _)| *i != 1) {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "shard {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The merge refuses while a part is unfinished.
    expect_error(
        convscope().args(["merge", sharded.to_str().unwrap()]),
        &["part 1/4 did not finish", "rerun"],
    );
    let args = run(&sharded, &["--shard", "1/4"]);
    let rerun = StdCommand::new(e2e_bin()).args(&args).output().unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let report = json_out(&rerun);
    assert!(report["done_before"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["failed"], 0);

    convscope()
        .args(["merge", sharded.to_str().unwrap()])
        .assert()
        .success();
    let (a, b) = (outputs(&single), outputs(&sharded));
    assert_eq!(a.len(), 2 * 32 + 1, "{:?}", a.keys().collect::<Vec<_>>());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (rel, bytes) in &a {
        assert!(
            bytes == &b[rel],
            "{rel} differs between the single and the sharded run"
        );
    }
    let (ra, rb) = (
        records(&single.join("manifest.jsonl")),
        records(&sharded.join("manifest.jsonl")),
    );
    assert_eq!(
        ra.keys().cloned().collect::<Vec<_>>(),
        rels,
        "every image once, sorted"
    );
    for (rel, r) in &ra {
        assert_eq!(r, &rb[rel], "{rel}: the records differ");
    }
    // Sorted by path in both files, line for line.
    let order = |p: &Path| -> Vec<String> {
        fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["path"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        order(&single.join("manifest.jsonl")),
        order(&sharded.join("manifest.jsonl"))
    );
    let summary = |p: &Path| -> Value {
        serde_json::from_slice(&fs::read(p.join("summary.json")).unwrap()).unwrap()
    };
    assert_eq!(summary(&single), summary(&sharded));
    assert_eq!(summary(&single)["status"]["ok"], 32);
}

#[test]
fn sigterm_stops_cleanly_and_the_rerun_resumes() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    pictures(&data, 24);
    let out = tmp.path().join("out");
    let mut args: Vec<&str> = SLOW.to_vec();
    args.extend([
        "--images",
        data.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let mut child = spawn(&args);
    let manifest = out.join("manifest.jsonl");
    wait_for_lines(&manifest, 2, &mut child);
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let stopped = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(128 + libc::SIGTERM), "{stderr}");
    assert!(
        stderr.contains("error: stopped by SIGTERM") && stderr.contains("rerun the same command"),
        "{stderr}"
    );
    // Whole lines only, and every file a record names is there: nothing partial.
    let done = records(&manifest);
    assert!(done.len() >= 2 && done.len() < 24, "{}", done.len());
    let written = outputs(&out);
    assert_eq!(
        written.len(),
        done.len() + 1,
        "{:?}",
        written.keys().collect::<Vec<_>>()
    );

    let rerun = StdCommand::new(e2e_bin())
        .args(&args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let report = json_out(&rerun);
    assert_eq!(
        report["done_before"].as_u64().unwrap() as usize,
        done.len(),
        "{report}"
    );
    assert_eq!(report["ok"], 24);
    assert_eq!(records(&manifest).len(), 24);
    // A third run has nothing left to do.
    let again = StdCommand::new(e2e_bin())
        .args(&args)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(json_out(&again)["done_before"], 24);
}

#[test]
fn a_corrupt_image_in_the_middle_is_recorded_and_the_others_done() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let rels = pictures(&data, 6);
    let bad = &rels[3];
    let good = fs::read(data.join(bad)).unwrap();
    fs::write(data.join(bad), &good[..good.len() / 3]).unwrap();
    let out = tmp.path().join("out");
    let cmd = || {
        let mut c = convscope();
        c.args([
            "render",
            "gradcam",
            "--images",
            data.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        c
    };
    let assert = cmd().assert().code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("error: 1 of 6 images failed"), "{stderr}");
    let r = records(&out.join("manifest.jsonl"));
    assert_eq!(r.len(), 6);
    assert_eq!(r[bad]["status"], "failed");
    assert!(
        r[bad]["error"].as_str().unwrap().contains("cannot decode"),
        "{}",
        r[bad]
    );
    assert_eq!(r.values().filter(|v| v["status"] == "ok").count(), 5);
    // Fixed, it is the only one redone.
    fs::write(data.join(bad), &good).unwrap();
    let report = json_out(&cmd().arg("--json").output().unwrap());
    assert_eq!(
        (report["done_before"].as_u64(), report["ok"].as_u64()),
        (Some(5), Some(6)),
        "{report}"
    );
}

#[test]
fn evaluate_over_a_folder_records_each_images_figures_as_evaluate_gives_them() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let rels = pictures(&data, 3);
    let out = tmp.path().join("out");
    let args = [
        "--methods",
        "gradcam,random",
        "--metrics",
        "deletion,insertion",
        "--steps",
        "16",
    ];
    convscope()
        .arg("evaluate")
        .args(args)
        .args([
            "--images",
            data.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .assert()
        .success();
    let r = records(&out.join("manifest.jsonl"));
    let mut sum = 0.0;
    for rel in &rels {
        let one = convscope()
            .arg("evaluate")
            .args(args)
            .args(["--image", data.join(rel).to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        let one = json_out(&one);
        for map in one["maps"].as_array().unwrap() {
            let name = map["name"].as_str().unwrap();
            for key in ["deletion_auc", "insertion_auc"] {
                assert_eq!(r[rel]["metrics"][name][key], map[key], "{rel} {name} {key}");
            }
        }
        assert_eq!(r[rel]["target"]["index"], one["target"]["index"]);
        sum += r[rel]["metrics"]["gradcam"]["deletion_auc"]
            .as_f64()
            .unwrap();
    }
    let summary: Value =
        serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    let mean = summary["metric_means"]["gradcam"]["deletion_auc"]
        .as_f64()
        .unwrap();
    assert!((mean - sum / 3.0).abs() < 1e-12, "{mean} vs {}", sum / 3.0);
}
