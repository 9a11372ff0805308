//! The bad inputs of a run over many images (issue 22): each one `error:` line, nothing
//! written; a list naming missing paths and a folder with a link loop; the merge's refusals.
//! The helpers and the generated pictures are `cli_many.rs`'s.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

use crate::cli_many::{convscope, pictures, records};
use crate::common::expect_error;

#[test]
fn bad_inputs_are_one_line_each_and_write_nothing() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    pictures(&data, 3);
    let d = data.to_str().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let render = |extra: &[&str]| {
        let mut c = convscope();
        c.args(["render", "gradcam"])
            .args(extra)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX");
        c
    };
    expect_error(
        &mut render(&["--images", empty.to_str().unwrap(), "-o", o]),
        &["holds no png or jpeg"],
    );
    expect_error(
        &mut render(&["--images", &format!("{d}/*.gif"), "-o", o]),
        &["matches no file"],
    );
    expect_error(
        &mut render(&["--images", d, "-o", o, "--shard", "5/4"]),
        &["shard 5 does not exist among 4"],
    );
    expect_error(
        &mut render(&["--images", d, "-o", o, "--shard", "4"]),
        &["no shard index", "SLURM_ARRAY_TASK_ID"],
    );
    expect_error(
        &mut render(&["--images", d, "-o", o, "--shard", "1/"]),
        &["N is missing"],
    );
    expect_error(&mut render(&["--images", d]), &["needs -o OUTDIR"]);
    expect_error(
        &mut render(&["--images", d, "-o", o, "--npy", "x.npy"]),
        &["--npy without a path"],
    );
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    expect_error(
        &mut render(&["--images", d, "-o", file.to_str().unwrap()]),
        &["is a file", "folder"],
    );
    // A folder that cannot be made (its parent is a file: refused even for root).
    expect_error(
        &mut render(&["--images", d, "-o", file.join("sub").to_str().unwrap()]),
        &["cannot write"],
    );
    assert!(!out.exists(), "a refused command made the output folder");
    // Another command's output folder is not resumed into.
    render(&["--images", d, "-o", o]).assert().success();
    expect_error(
        convscope().args(["render", "saliency", "--images", d, "-o", o]),
        &["another run", "render gradcam"],
    );
    // Nor another model's (the digest, not the path, says which).
    expect_error(
        convscope()
            .args(["render", "gradcam", "--images", d, "-o", o])
            .arg(crate::common::onnx::nets().join("resnet_like.onnx")),
        &["another run"],
    );
    #[cfg(unix)]
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let locked = tmp.path().join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();
        expect_error(
            &mut render(&["--images", d, "-o", locked.join("out").to_str().unwrap()]),
            &["cannot write"],
        );
    }
}

#[test]
fn a_list_with_missing_paths_records_them_and_a_link_loop_is_walked_once() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    let rels = pictures(&data, 2);
    std::os::unix::fs::symlink(&data, data.join("d0/loop")).unwrap();
    let list = tmp.path().join("list.txt");
    let listed: Vec<String> = rels
        .iter()
        .map(|r| data.join(r).display().to_string())
        .collect();
    fs::write(
        &list,
        format!("{}\n{}/missing.png\n", listed.join("\n"), data.display()),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let assert = convscope()
        .args([
            "predict",
            "--images",
            list.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("error: 1 of 3 images failed"), "{stderr}");
    let r = records(&out.join("manifest.jsonl"));
    let missing = r.values().find(|v| v["status"] == "failed").unwrap();
    assert!(missing["path"].as_str().unwrap().ends_with("missing.png"));
    assert!(
        missing["error"].as_str().unwrap().contains("not found"),
        "{missing}"
    );

    let walked = tmp.path().join("walked");
    let assert = convscope()
        .args([
            "predict",
            "--images",
            data.to_str().unwrap(),
            "-o",
            walked.to_str().unwrap(),
        ])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("a loop"), "{stderr}");
    assert_eq!(records(&walked.join("manifest.jsonl")).len(), 2);
}

#[test]
fn merge_refuses_missing_parts_and_mixed_runs() {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    pictures(&data, 6);
    let out = tmp.path().join("out");
    let shard = |method: &str, s: &str, dir: &Path| {
        convscope()
            .args([
                "render",
                method,
                "--images",
                data.to_str().unwrap(),
                "-o",
                dir.to_str().unwrap(),
                "--shard",
                s,
            ])
            .assert()
            .success();
    };
    shard("gradcam", "0/2", &out);
    expect_error(
        convscope().args(["merge", out.to_str().unwrap()]),
        &["part 1/2 is missing", "--shard 1/2"],
    );
    // A part of another run, copied in: refused by name.
    let other = tmp.path().join("other");
    shard("saliency", "1/2", &other);
    fs::copy(
        other.join("manifest.part-1-of-2.jsonl"),
        out.join("manifest.part-1-of-2.jsonl"),
    )
    .unwrap();
    fs::copy(
        other.join("manifest.part-1-of-2.done"),
        out.join("manifest.part-1-of-2.done"),
    )
    .unwrap();
    expect_error(
        convscope().args(["merge", out.to_str().unwrap()]),
        &["part 1/2"],
    );
    expect_error(
        convscope().args(["merge", tmp.path().join("nope").to_str().unwrap()]),
        &["not found"],
    );
    assert!(!out.join("manifest.jsonl").exists());
}
