//! The README's Slurm array script, Kubernetes Indexed Job and Ray one-liner, run as written:
//! each block is read from README.md and run once per shard with the variable the scheduler
//! would set (`SLURM_ARRAY_TASK_ID`, `JOB_COMPLETION_INDEX`), a fixture network as `model.onnx`
//! and generated pictures as `val/`; the parts are then merged and every image must be done
//! once. Only the scheduler is simulated: `ray` is a shim that runs the entrypoint after `--`,
//! and the Job's `/data/` is a temporary folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::e2e_bin;

fn readme() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The fenced block of `lang` that contains `marker`.
fn block(lang: &str, marker: &str) -> String {
    let text = readme();
    text.split(&format!("```{lang}\n"))
        .skip(1)
        .map(|b| b.split("\n```").next().unwrap().to_string())
        .find(|b| b.contains(marker))
        .unwrap_or_else(|| panic!("README has no ```{lang} block with {marker}"))
}

/// A folder with `model.onnx`, `val/` (8 pictures in two folders) and `bin/convscope`.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let nets = crate::common::onnx::nets();
    fs::copy(nets.join("resnet_like.onnx"), tmp.path().join("model.onnx")).unwrap();
    let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/images/shapes");
    let mut shapes: Vec<PathBuf> = fs::read_dir(&photos)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    shapes.sort();
    for (i, shape) in shapes.iter().take(8).enumerate() {
        let dir = tmp.path().join(format!("val/class{}", i % 2));
        fs::create_dir_all(&dir).unwrap();
        fs::copy(shape, dir.join(shape.file_name().unwrap())).unwrap();
    }
    let bin = tmp.path().join("bin");
    fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(e2e_bin(), bin.join("convscope")).unwrap();
    (tmp, bin)
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Merges `out` and checks that the 8 pictures are each done once.
fn merged(bin: &Path, out: &Path) {
    run(Command::new(bin.join("convscope")).arg("merge").arg(out));
    let lines = fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let records: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 8, "{lines}");
    assert!(records.iter().all(|r| r["status"] == "ok"), "{lines}");
    assert!(
        out.join("class0").is_dir(),
        "the outputs mirror val/'s folders"
    );
}

#[test]
fn the_slurm_array_script_runs_as_written() {
    let (tmp, bin) = workspace();
    let script = block("bash", "#SBATCH --array=0-7");
    fs::write(tmp.path().join("maps.sbatch"), &script).unwrap();
    for task in 0..8 {
        run(Command::new("bash")
            .arg("maps.sbatch")
            .current_dir(tmp.path())
            .env("PATH", path_with(&bin))
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_ARRAY_TASK_MIN", "0")
            .env_remove("JOB_COMPLETION_INDEX"));
    }
    merged(&bin, &tmp.path().join("maps"));
}

#[test]
fn the_kubernetes_indexed_job_runs_as_written() {
    let (tmp, bin) = workspace();
    let job = block("yaml", "completionMode: Indexed");
    let completions: usize = job
        .lines()
        .find_map(|l| l.trim().strip_prefix("completions: "))
        .unwrap()
        .parse()
        .unwrap();
    let command = job
        .lines()
        .find_map(|l| l.trim().strip_prefix("command: "))
        .unwrap();
    let data = format!("{}/", tmp.path().display());
    let argv: Vec<String> = serde_json::from_str::<Vec<String>>(command)
        .unwrap()
        .into_iter()
        .map(|a| a.replace("/data/", &data))
        .collect();
    for index in 0..completions {
        run(Command::new(&argv[0])
            .args(&argv[1..])
            .env("PATH", path_with(&bin))
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env_remove("SLURM_ARRAY_TASK_ID"));
    }
    merged(&bin, &tmp.path().join("maps"));
}

#[test]
fn the_ray_one_liner_runs_as_written() {
    let (tmp, bin) = workspace();
    // `ray job submit [options] -- ENTRYPOINT`: the shim runs the entrypoint here.
    let shim = bin.join("ray");
    fs::write(
        &shim,
        "#!/bin/sh\nwhile [ \"$1\" != \"--\" ]; do shift; done\nshift\nexec \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
    let line = block("sh", "ray job submit");
    run(Command::new("bash")
        .arg("-c")
        .arg(line)
        .current_dir(tmp.path())
        .env("PATH", path_with(&bin))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX"));
    merged(&bin, &tmp.path().join("maps"));
}
