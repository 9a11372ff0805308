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
//!
//! Memory stays flat however many images a run has: records are read and written a line at a
//! time ([`Scan`]), a run keeps only where each line is ([`Index`]), and the summary is
//! counted as the sorted file is written.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
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

/// A manifest line this long is refused (a record is about a kilobyte).
const MAX_LINE_BYTES: u64 = 16 << 20;

/// One line of a manifest: its record, the path it is keyed by, and its text (with the newline).
pub struct Line {
    pub rel: String,
    pub record: Record,
    pub text: String,
}

/// The records of a manifest file, a line at a time. A torn last line (no newline: the write
/// a kill interrupted) is dropped; any other line that is not a record is an error.
pub struct Scan {
    reader: BufReader<std::fs::File>,
    path: PathBuf,
    number: usize,
}

impl Scan {
    /// `None` when there is no manifest yet.
    pub fn open(path: &Path) -> Result<Option<Scan>> {
        match crate::files::open_regular(path, "a manifest") {
            Ok((file, _)) => Ok(Some(Scan {
                reader: BufReader::new(file),
                path: path.to_path_buf(),
                number: 0,
            })),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn damaged(&self, why: &str) -> Error {
        Error::Usage(format!(
            "{} line {}: {why}; the file is damaged — delete it to redo every image",
            self.path.display(),
            self.number
        ))
    }
}

impl Iterator for Scan {
    type Item = Result<Line>;

    fn next(&mut self) -> Option<Result<Line>> {
        loop {
            let mut bytes = Vec::new();
            self.number += 1;
            let read = (&mut self.reader)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut bytes);
            match read {
                Err(e) => return Some(Err(Error::io(&self.path, e))),
                Ok(0) => return None,
                Ok(_) => {}
            }
            if !bytes.ends_with(b"\n") {
                if bytes.len() as u64 >= MAX_LINE_BYTES {
                    return Some(Err(self.damaged("a line longer than 16 MB")));
                }
                // The last line without its newline: the write a kill interrupted.
                return None;
            }
            let Ok(text) = String::from_utf8(bytes) else {
                return Some(Err(self.damaged("not UTF-8 text")));
            };
            if text.trim().is_empty() {
                continue;
            }
            let record = match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) if m.get("path").and_then(Value::as_str).is_some() => m,
                _ => return Some(Err(self.damaged("not a manifest record"))),
            };
            let rel = record["path"].as_str().expect("checked").to_string();
            return Some(Ok(Line { rel, record, text }));
        }
    }
}

/// Refuses a record of another run: its files are another command's.
pub fn check_run(path: &Path, record: &Record, run: &RunInfo) -> Result<()> {
    match record.get("run").and_then(Value::as_str) {
        Some(id) if id == run.id => Ok(()),
        other => Err(Error::Usage(format!(
            "{} was written by another command or model (run {}, this is {}); give another -o, \
             or delete the folder to start over",
            path.display(),
            other.unwrap_or("unknown"),
            run.id
        ))),
    }
}

/// One record as its line, with the newline.
pub fn line(record: &Record) -> String {
    let mut s = serde_json::to_string(record).expect("JSON values serialize");
    s.push('\n');
    s
}

/// Where each record of a manifest file is: all a run keeps of its records.
#[derive(Default)]
pub struct Index {
    /// (path, byte offset, length) of each line; a later entry for a path replaces an earlier.
    entries: Vec<(String, u64, u32)>,
}

impl Index {
    pub fn push(&mut self, rel: String, offset: u64, len: usize) {
        self.entries.push((rel, offset, len as u32));
    }

    /// Rewrites `path`'s indexed lines sorted by path, each once (atomically), and returns
    /// their summary.
    pub fn rewrite_sorted(mut self, path: &Path, run: &Value) -> Result<Value> {
        // Stable: the last line of a path stays last among its equals.
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut keep: Vec<&(String, u64, u32)> = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            match keep.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => keep.push(e),
            }
        }
        let (file, _) = crate::files::open_regular(path, "a manifest")?;
        let mut summary = Summary::default();
        let mut failure = None;
        let staged = crate::imaging::atomic::stage_stream(path, |out| {
            let mut buf = Vec::new();
            for (_, offset, len) in keep {
                buf.resize(*len as usize, 0);
                read_at(&file, &mut buf, *offset)?;
                match serde_json::from_slice::<Value>(&buf) {
                    Ok(Value::Object(r)) => summary.add(&r),
                    _ => failure = Some(offset),
                }
                out.write_all(&buf)?;
            }
            Ok(())
        })?;
        if let Some(offset) = failure {
            return Err(Error::Usage(format!(
                "{} changed while the run wrote it (no record at byte {offset}); is another \
                 process writing to the same folder with the same shard?",
                path.display()
            )));
        }
        staged.commit()?;
        Ok(summary.json(run))
    }
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(mut file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// Appends records as images finish, saying where each line went.
pub struct Appender {
    file: std::fs::File,
    path: PathBuf,
    at: u64,
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
        let at = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok(Appender {
            file,
            path: path.to_path_buf(),
            at,
        })
    }

    /// Writes the record's line in one call (a kill leaves a line whole or torn at the end);
    /// returns its offset and length.
    pub fn append(&mut self, record: &Record) -> Result<(u64, usize)> {
        let text = line(record);
        self.file
            .write_all(text.as_bytes())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })?;
        let at = self.at;
        self.at += text.len() as u64;
        Ok((at, text.len()))
    }
}

/// The summary of a whole manifest, counted a record at a time: how many images in each
/// status, the predicted classes, and each metric's mean per method (over the images that
/// have it).
#[derive(Default)]
pub struct Summary {
    images: usize,
    status: BTreeMap<String, usize>,
    predicted: BTreeMap<String, usize>,
    sums: BTreeMap<(String, String), (f64, usize)>,
}

impl Summary {
    pub fn add(&mut self, r: &Record) {
        self.images += 1;
        let s = r.get("status").and_then(Value::as_str).unwrap_or("unknown");
        *self.status.entry(s.to_string()).or_default() += 1;
        if let Some(top) = r.get("top").and_then(|t| t.get(0)) {
            let class = match (top["index"].as_u64(), top["label"].as_str()) {
                (Some(i), Some(l)) => Some(format!("{i} {l}")),
                (Some(i), None) => Some(i.to_string()),
                _ => None,
            };
            if let Some(class) = class {
                *self.predicted.entry(class).or_default() += 1;
            }
        }
        let Some(metrics) = r.get("metrics").and_then(Value::as_object) else {
            return;
        };
        for (method, figures) in metrics {
            for (metric, v) in figures.as_object().into_iter().flatten() {
                if let Some(v) = v.as_f64() {
                    let e = self
                        .sums
                        .entry((method.clone(), metric.clone()))
                        .or_default();
                    e.0 += v;
                    e.1 += 1;
                }
            }
        }
    }

    /// The summary document, with `run`'s description.
    pub fn json(&self, run: &Value) -> Value {
        let mut means = Map::new();
        for ((method, metric), (sum, n)) in &self.sums {
            let entry = means.entry(method.clone()).or_insert_with(|| json!({}));
            entry[metric] = json!(sum / *n as f64);
        }
        json!({
            "run": run,
            "images": self.images,
            "status": self.status,
            "predicted": self.predicted,
            "metric_means": means,
        })
    }
}

/// Writes `summary.json` into `outdir`.
pub fn write_summary(outdir: &Path, summary: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(summary).expect("JSON values serialize") + "\n";
    write_atomic(&outdir.join(SUMMARY), text.as_bytes())
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

    fn scan(p: &Path) -> Result<Vec<String>> {
        match Scan::open(p)? {
            None => Ok(Vec::new()),
            Some(scan) => scan.map(|l| l.map(|l| l.rel)).collect(),
        }
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_damaged_middle_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(MANIFEST);
        let good = line(&record("a.jpg", "r")) + &line(&record("b.jpg", "r"));
        std::fs::write(&p, format!("{good}{{\"path\": \"c.j")).unwrap();
        assert_eq!(scan(&p).unwrap(), ["a.jpg", "b.jpg"]);
        std::fs::write(&p, format!("{{oops\n{good}")).unwrap();
        assert!(scan(&p).unwrap_err().to_string().contains("line 1"));
        assert!(scan(&d.path().join("none.jsonl")).unwrap().is_empty());
    }

    #[test]
    fn a_rewrite_sorts_keeps_the_last_line_of_a_path_and_counts() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(MANIFEST);
        let mut appender = Appender::open(&p).unwrap();
        let mut index = Index::default();
        let mut failed = record("a.jpg", "r");
        failed.insert("status".into(), json!(FAILED));
        for r in [
            record("c.jpg", "r"),
            failed,
            record("b.jpg", "r"),
            record("a.jpg", "r"),
        ] {
            let (at, len) = appender.append(&r).unwrap();
            index.push(r["path"].as_str().unwrap().into(), at, len);
        }
        let summary = index.rewrite_sorted(&p, &json!("run")).unwrap();
        assert_eq!(scan(&p).unwrap(), ["a.jpg", "b.jpg", "c.jpg"]);
        assert_eq!(summary["images"], 3);
        assert_eq!(summary["status"], json!({"ok": 3}));
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
        let r = record("a.jpg", &a.id);
        assert!(check_run(Path::new("m"), &r, &a).is_ok());
        assert!(check_run(Path::new("m"), &r, &b).is_err());
    }
}
