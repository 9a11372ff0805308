//! The manifest: one JSON line per image (`OUTDIR/manifest.jsonl`, or a shard's
//! `manifest.part-I-of-N.jsonl`), saying what became of it: `path` (relative, the key),
//! `status` (`ok` or `failed`), `run` (the command's identity), the files written with their
//! size and FNV-1a hash, the command's own facts (top-k, target, metrics, timings) or the
//! `error`.
//!
//! It is what makes a run resumable: a rerun keeps the records whose files are all there with
//! the size and hash recorded, and does the rest. Lines are appended as images finish, so a
//! run killed mid-write leaves at most one torn last line, which a rerun drops; a finished run
//! rewrites the file sorted by path (atomically), so a single run and the merge of its shards
//! write the same file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::imaging::atomic::write_atomic;
use crate::model::build::fnv1a;

/// The merged (or single-run) manifest's file name.
pub const MANIFEST: &str = "manifest.jsonl";
/// What the run is: the command, the model's identity, the settings; written by every process.
pub const RUN: &str = "run.json";
/// The counts and means over the whole manifest.
pub const SUMMARY: &str = "summary.json";
/// A manifest this large is refused before it is read.
const MAX_MANIFEST_BYTES: u64 = 4 << 30;

/// One image's line.
pub type Record = Map<String, Value>;

/// The status of an image that was explained and written.
pub const OK: &str = "ok";
/// The status of an image that could not be.
pub const FAILED: &str = "failed";

/// What a run computes, independent of where its images come from and where it runs: two
/// processes with the same identity write the same files for the same image.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// 16 hex digits: FNV-1a of `settings` and the model's digest.
    pub id: String,
    /// The command as a person reads it (`render gradcam`).
    pub command: String,
    /// The model as named on the command line (for people; the digest identifies it).
    pub model: String,
    /// FNV-1a of the model's graph and weights.
    pub model_digest: String,
    /// Every setting that changes an image's outputs, as text.
    pub settings: String,
}

impl RunInfo {
    pub fn new(command: String, model: String, model_digest: u64, settings: String) -> RunInfo {
        let model_digest = format!("{model_digest:016x}");
        let id = fnv1a(
            format!(
                "convscope {}\n{command}\n{model_digest}\n{settings}",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes(),
        );
        RunInfo {
            id: format!("{id:016x}"),
            command,
            model,
            model_digest,
            settings,
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "run": self.id,
            "convscope": env!("CARGO_PKG_VERSION"),
            "command": self.command,
            "model": self.model,
            "model_digest": self.model_digest,
            "settings": self.settings,
        })
    }

    /// Claims `outdir` for this run: writes `run.json`, or checks that the one there is this
    /// run's (another command's outputs would be mixed with these, and its manifest resumed).
    pub fn claim(&self, outdir: &Path) -> Result<()> {
        let path = outdir.join(RUN);
        if let Ok(bytes) =
            crate::files::read_bounded(&path, "a run description", 1 << 20, "run.json may hold")
        {
            let theirs: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if theirs["run"].as_str() != Some(&self.id) {
                return Err(Error::Usage(format!(
                    "{} holds the outputs of another run ({} on {}); give another -o, or delete \
                     the folder to start over",
                    outdir.display(),
                    theirs["command"].as_str().unwrap_or("unknown command"),
                    theirs["model"].as_str().unwrap_or("an unknown model"),
                )));
            }
            return Ok(());
        }
        let mut text = serde_json::to_string_pretty(&self.json()).expect("JSON values serialize");
        text.push('\n');
        write_atomic(&path, text.as_bytes())
    }
}

/// A file an image's record names, as written.
pub fn file_entry(rel: &str, bytes: &[u8]) -> Value {
    json!({"path": rel, "bytes": bytes.len(), "fnv1a": format!("{:016x}", fnv1a(bytes))})
}

/// Whether every file `record` names is in `outdir` with the size and hash recorded.
pub fn files_intact(outdir: &Path, record: &Record) -> bool {
    let Some(files) = record.get("files").and_then(Value::as_object) else {
        return true;
    };
    files.values().all(|f| {
        let (Some(rel), Some(len), Some(hash)) =
            (f["path"].as_str(), f["bytes"].as_u64(), f["fnv1a"].as_str())
        else {
            return false;
        };
        let path = outdir.join(rel);
        match crate::files::read_bounded(&path, "an output", len, "the manifest records") {
            Ok(bytes) => bytes.len() as u64 == len && format!("{:016x}", fnv1a(&bytes)) == hash,
            Err(_) => false,
        }
    })
}

/// The records of a manifest file, by path (a later line for a path replaces an earlier one).
/// A missing file is empty; a torn last line (a run killed as it wrote) is dropped; any other
/// line that is not a record is an error.
pub fn read(path: &Path) -> Result<BTreeMap<String, Record>> {
    let bytes = match crate::files::read_bounded(
        path,
        "a manifest",
        MAX_MANIFEST_BYTES,
        "a manifest may hold",
    ) {
        Err(Error::NotFound { .. }) => return Ok(BTreeMap::new()),
        other => other?,
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut records = BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| match v {
                Value::Object(m) if m.get("path").and_then(Value::as_str).is_some() => Some(m),
                _ => None,
            });
        match parsed {
            Some(record) => {
                let key = record["path"].as_str().expect("checked").to_string();
                records.insert(key, record);
            }
            // The last line without its newline: the write a kill interrupted.
            None if n + 1 == lines.len() => {}
            None => {
                return Err(Error::Usage(format!(
                    "{} line {}: not a manifest record; the file is damaged — delete it to redo \
                     every image",
                    path.display(),
                    n + 1
                )))
            }
        }
    }
    Ok(records)
}

/// Refuses records of another run: their files are another command's.
pub fn check_run(path: &Path, records: &BTreeMap<String, Record>, run: &RunInfo) -> Result<()> {
    match records
        .values()
        .find(|r| r.get("run").and_then(Value::as_str) != Some(&run.id))
    {
        Some(r) => Err(Error::Usage(format!(
            "{} was written by another command or model (run {}, this is {}); give another -o, \
             or delete the folder to start over",
            path.display(),
            r.get("run").and_then(Value::as_str).unwrap_or("unknown"),
            run.id
        ))),
        None => Ok(()),
    }
}

/// One record as its line, with the newline.
pub fn line(record: &Record) -> String {
    let mut s = serde_json::to_string(record).expect("JSON values serialize");
    s.push('\n');
    s
}

/// Replaces `path` with `records`, sorted by path (atomically).
pub fn rewrite(path: &Path, records: &BTreeMap<String, Record>) -> Result<()> {
    let text: String = records.values().map(line).collect();
    write_atomic(path, text.as_bytes())
}

/// Appends records as images finish.
pub struct Appender {
    file: std::fs::File,
    path: PathBuf,
}

impl Appender {
    pub fn open(path: &Path) -> Result<Appender> {
        crate::files::check_output_target(path)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Appender {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Writes the record's line in one call (a kill leaves a line whole or torn at the end).
    pub fn append(&mut self, record: &Record) -> Result<()> {
        self.file
            .write_all(line(record).as_bytes())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })
    }
}

/// The summary of a whole manifest: how many images in each status, the predicted classes,
/// and each metric's mean per method (over the images that have it).
pub fn summary(run: &Value, records: &BTreeMap<String, Record>) -> Value {
    let mut status: BTreeMap<String, usize> = BTreeMap::new();
    let mut predicted: BTreeMap<String, usize> = BTreeMap::new();
    let mut sums: BTreeMap<(String, String), (f64, usize)> = BTreeMap::new();
    for r in records.values() {
        let s = r.get("status").and_then(Value::as_str).unwrap_or("unknown");
        *status.entry(s.to_string()).or_default() += 1;
        if let Some(top) = r.get("top").and_then(|t| t.get(0)) {
            let class = match (top["index"].as_u64(), top["label"].as_str()) {
                (Some(i), Some(l)) => format!("{i} {l}"),
                (Some(i), None) => i.to_string(),
                _ => continue,
            };
            *predicted.entry(class).or_default() += 1;
        }
        let Some(metrics) = r.get("metrics").and_then(Value::as_object) else {
            continue;
        };
        for (method, figures) in metrics {
            for (metric, v) in figures.as_object().into_iter().flatten() {
                if let Some(v) = v.as_f64() {
                    let e = sums.entry((method.clone(), metric.clone())).or_default();
                    e.0 += v;
                    e.1 += 1;
                }
            }
        }
    }
    let mut means = Map::new();
    for ((method, metric), (sum, n)) in sums {
        let entry = means.entry(method).or_insert_with(|| json!({}));
        entry[metric] = json!(sum / n as f64);
    }
    json!({
        "run": run,
        "images": records.len(),
        "status": status,
        "predicted": predicted,
        "metric_means": means,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, run: &str) -> Record {
        let Value::Object(m) = json!({"path": path, "status": OK, "run": run}) else {
            unreachable!()
        };
        m
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_damaged_middle_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(MANIFEST);
        let good = line(&record("a.jpg", "r")) + &line(&record("b.jpg", "r"));
        std::fs::write(&p, format!("{good}{{\"path\": \"c.j")).unwrap();
        assert_eq!(read(&p).unwrap().len(), 2);
        std::fs::write(&p, format!("{{oops\n{good}")).unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("line 1"));
        assert!(read(&d.path().join("none.jsonl")).unwrap().is_empty());
    }

    #[test]
    fn files_are_intact_only_with_the_recorded_size_and_hash() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.png"), b"pixels").unwrap();
        let mut r = record("a.jpg", "r");
        r.insert(
            "files".into(),
            json!({"png": file_entry("a.png", b"pixels")}),
        );
        assert!(files_intact(d.path(), &r));
        std::fs::write(d.path().join("a.png"), b"pixelz").unwrap();
        assert!(!files_intact(d.path(), &r));
        std::fs::write(d.path().join("a.png"), b"pix").unwrap();
        assert!(!files_intact(d.path(), &r));
        std::fs::remove_file(d.path().join("a.png")).unwrap();
        assert!(!files_intact(d.path(), &r));
    }

    #[test]
    fn another_runs_outputs_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let a = RunInfo::new("render gradcam".into(), "demo".into(), 1, "x".into());
        let b = RunInfo::new("render saliency".into(), "demo".into(), 1, "x".into());
        a.claim(d.path()).unwrap();
        a.claim(d.path()).unwrap();
        let e = b.claim(d.path()).unwrap_err().to_string();
        assert!(e.contains("render gradcam on demo"), "{e}");
        let records = BTreeMap::from([("a.jpg".to_string(), record("a.jpg", &a.id))]);
        assert!(check_run(Path::new("m"), &records, &a).is_ok());
        assert!(check_run(Path::new("m"), &records, &b).is_err());
    }
}
