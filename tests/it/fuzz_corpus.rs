//! The fuzz targets' checks (fuzz/src/lib.rs, included here as is) run on every input a
//! fuzzer once crashed on (`fuzz/regressions/TARGET/`) and on the fixtures the corpora are
//! seeded from, without libFuzzer: a crash found once stays fixed in every `cargo test`.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
mod checks;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files in `dir` (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn replay(target: &str, check: fn(&[u8]), seeds: &[PathBuf]) -> usize {
    let mut inputs = files(&root().join("fuzz/regressions").join(target));
    inputs.extend(seeds.iter().cloned());
    for path in &inputs {
        let bytes = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(outcome.is_ok(), "{target}: {} panics", path.display());
    }
    inputs.len()
}

fn fixtures(sub: &str, ext: &str) -> Vec<PathBuf> {
    files(&root().join("tests/fixtures").join(sub))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

#[test]
fn every_regression_and_seed_passes_its_target() {
    let images: Vec<PathBuf> = files(&root().join("demo/images/shapes"));
    let counts = [
        replay("onnx", checks::onnx, &fixtures("nets", "onnx")),
        replay(
            "checkpoint",
            checks::checkpoint,
            &fixtures("checkpoints", "pth"),
        ),
        replay("keras", checks::keras, &fixtures("keras", "h5")),
        replay("pickle", checks::pickle, &fixtures("checkpoints", "pth")),
        replay("safetensors", checks::checkpoint, &[]),
        replay("npy", checks::npy, &fixtures("maps", "npy")),
        replay("image", checks::image, &images),
        replay(
            "labels",
            checks::labels,
            &[root().join("src/import/imagenet_classes.txt")],
        ),
    ];
    // The seeds alone make sure each check ran on something.
    assert!(counts.iter().take(4).all(|&n| n > 0), "{counts:?}");
}
