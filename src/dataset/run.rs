//! The loop over a run's images: what is left to do (resuming from the manifest), images
//! decoded and prepared on a background thread while the model computes, each image's files
//! staged and renamed into place before its record is appended, and a clean stop when the
//! cancel flag is set (by SIGINT/SIGTERM): the current image is abandoned, its staged files
//! removed, and the manifest left for the rerun to resume.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::inputs::Item;
use super::manifest::{self, Appender, Index, Record, RunInfo, Scan, FAILED, OK};
use super::Shard;
use crate::error::{Error, Result};
use crate::exec::CancelToken;
use crate::imaging::atomic::{stage_stream, stage_unsynced};
use crate::input::Input;

/// What a command makes of one image.
pub struct Done {
    /// Files to write, relative to the output folder, with their kind (`png`, `npy`).
    pub files: Vec<(&'static str, String, Vec<u8>)>,
    /// The record's own fields (top-k, target, metrics, timings…).
    pub fields: Record,
}

/// A command's work on one prepared image (`render`'s map, `predict`'s classes), or on a
/// few at once.
pub trait Work {
    /// The files `run` writes for `item`, relative to the output folder.
    fn outputs(&self, item: &Item) -> Vec<String>;
    fn run(&mut self, item: &Item, input: Input) -> Result<Done>;

    /// How many prepared images [`Self::run_many`] is handed at a time (the last group of a
    /// run may be smaller). Groups are the next images in order that decoded, so the same
    /// list always forms the same groups.
    fn per_pass(&self) -> usize {
        1
    }

    /// Several images, their results in order: by default one after another.
    fn run_many(&mut self, group: Vec<(&Item, Input)>) -> Vec<Result<Done>> {
        group
            .into_iter()
            .map(|(item, input)| self.run(item, input))
            .collect()
    }
}

/// Where a run writes, who it is, and which images are its.
pub struct Plan<'a> {
    pub outdir: &'a Path,
    pub run: &'a RunInfo,
    pub shard: Option<Shard>,
    /// Set by a signal: stop at the next image, or inside the current one's method.
    pub cancel: CancelToken,
}

impl Plan<'_> {
    /// This process's manifest: the run's, or its shard's part.
    pub fn manifest_path(&self) -> PathBuf {
        match self.shard {
            Some(s) => self.outdir.join(s.manifest_name()),
            None => self.outdir.join(manifest::MANIFEST),
        }
    }
}

/// How far a run is, for a progress line.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Images handled by this process so far (ok or failed), of `todo`.
    pub done: usize,
    pub todo: usize,
    pub failed: usize,
    /// Images a previous run had already done (skipped).
    pub resumed: usize,
    pub elapsed: Duration,
}

/// What a run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// This process's images (its shard's).
    pub images: usize,
    /// Done by an earlier run and kept.
    pub resumed: usize,
    pub ok: usize,
    pub failed: usize,
    /// Stopped by the cancel flag before every image was handled.
    pub interrupted: bool,
    /// The process's resident memory after its first image and at the end, in KiB (Linux):
    /// the run's memory is flat when the two stay close over many images.
    pub rss_first_kib: Option<u64>,
    pub rss_end_kib: Option<u64>,
}

/// The resident set of this process, in KiB (Linux's `/proc/self/status`; None elsewhere).
pub fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How many prepared images may wait for the model: enough to hide decoding, few enough that
/// memory stays flat (each is one input tensor).
const READ_AHEAD: usize = 4;

/// Runs `work` over this process's share of `items`, resuming from its manifest.
pub fn run(
    plan: &Plan,
    items: &[Item],
    prepare: impl Fn(&Item) -> Result<Input> + Send + 'static,
    work: &mut dyn Work,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome> {
    let start = Instant::now();
    std::fs::create_dir_all(plan.outdir).map_err(|source| Error::Write {
        path: plan.outdir.to_path_buf(),
        source,
    })?;
    plan.run.claim(plan.outdir)?;
    let mine: Vec<&Item> = items
        .iter()
        .filter(|i| plan.shard.is_none_or(|s| s.owns(&i.rel)))
        .collect();
    let manifest_path = plan.manifest_path();
    if let Some(shard) = plan.shard {
        // This shard is running again: it is not finished until it says so at the end.
        let _ = std::fs::remove_file(plan.outdir.join(shard.done_name()));
    }
    let owned: HashSet<&str> = mine.iter().map(|i| i.rel.as_str()).collect();
    let (mut index, kept) = resume(plan, &manifest_path, &owned)?;
    let todo: Vec<Item> = mine
        .iter()
        .filter(|i| !kept.contains(&i.rel))
        .map(|i| (*i).clone())
        .collect();
    let resumed = kept.len();
    drop(kept);
    remove_stale_stages(plan.outdir, todo.iter().flat_map(|item| work.outputs(item)));
    let mut appender = Appender::open(&manifest_path)?;

    let mut outcome = Outcome {
        images: mine.len(),
        resumed,
        ok: 0,
        failed: 0,
        interrupted: false,
        rss_first_kib: None,
        rss_end_kib: None,
    };
    let (tx, rx) = mpsc::sync_channel::<(Item, Result<Input>, f64)>(READ_AHEAD);
    let reader_cancel = plan.cancel.clone();
    let to_read = todo.clone();
    let reader = std::thread::spawn(move || {
        for item in to_read {
            if reader_cancel.is_cancelled() {
                break;
            }
            let t = Instant::now();
            // A decoder that panics on a hostile file fails that image, not the run.
            let input = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(&item)))
                .unwrap_or_else(|_| {
                    Err(Error::Input(format!(
                        "{}: the image decoder crashed on this file",
                        item.path.display()
                    )))
                });
            if tx.send((item, input, ms(t))).is_err() {
                break;
            }
        }
    });
    let mut report = |o: &Outcome| {
        progress(Progress {
            done: o.ok + o.failed,
            todo: todo.len(),
            failed: o.failed,
            resumed,
            elapsed: start.elapsed(),
        })
    };
    report(&outcome);
    let per_pass = work.per_pass().max(1);
    let mut arrivals = rx.iter();
    let mut ended = false;
    while !ended && !plan.cancel.is_cancelled() {
        // The next `per_pass` images that decoded; one that did not is recorded on arrival.
        let mut group: Vec<(Item, Input, f64)> = Vec::with_capacity(per_pass);
        while group.len() < per_pass {
            match arrivals.next() {
                None => {
                    ended = true;
                    break;
                }
                Some((item, Ok(input), read_ms)) => group.push((item, input, read_ms)),
                Some((item, Err(e), _)) => {
                    outcome.failed += 1;
                    let record = failed(plan.run, &item, &e);
                    let (at, len) = appender.append(&record)?;
                    index.push(item.rel.clone(), at, len);
                    report(&outcome);
                }
            }
        }
        if group.is_empty() || plan.cancel.is_cancelled() {
            break;
        }
        let t = Instant::now();
        let n = group.len();
        let (inputs, arrived): (Vec<Input>, Vec<(Item, f64)>) = group
            .into_iter()
            .map(|(item, input, read_ms)| (input, (item, read_ms)))
            .unzip();
        let results = work.run_many(arrived.iter().map(|(item, _)| item).zip(inputs).collect());
        // Each image's share of the group's time.
        let total_ms = ms(t) / n as f64;
        for ((item, read_ms), result) in arrived.iter().zip(results) {
            let record = match result.and_then(|done| commit(plan.outdir, done)) {
                Err(Error::Cancelled) => {
                    ended = true;
                    break;
                }
                Ok((files, mut fields)) => {
                    outcome.ok += 1;
                    if files.as_object().is_some_and(|f| !f.is_empty()) {
                        fields.insert("files".into(), files);
                    }
                    let timings = fields.entry("timings").or_insert_with(|| json!({}));
                    timings["read_ms"] = json!(read_ms);
                    timings["total_ms"] = json!((total_ms * 10.0).round() / 10.0);
                    record(plan.run, item, OK, fields)
                }
                Err(e) => {
                    outcome.failed += 1;
                    failed(plan.run, item, &e)
                }
            };
            let (at, len) = appender.append(&record)?;
            index.push(item.rel.clone(), at, len);
            if outcome.rss_first_kib.is_none() {
                outcome.rss_first_kib = resident_kib();
            }
            report(&outcome);
        }
    }
    drop(rx);
    let _ = reader.join();
    outcome.interrupted = outcome.ok + outcome.failed < todo.len();
    outcome.rss_end_kib = resident_kib();
    if !outcome.interrupted {
        // Sorted by path: a single run and the merge of its shards write the same file.
        let summary = index.rewrite_sorted(&manifest_path, &plan.run.json())?;
        if let Some(shard) = plan.shard {
            let done = json!({"images": outcome.images, "run": plan.run.id});
            crate::imaging::atomic::write_atomic(
                &plan.outdir.join(shard.done_name()),
                (done.to_string() + "\n").as_bytes(),
            )?;
        } else {
            manifest::write_summary(plan.outdir, &summary)?;
        }
    }
    Ok(outcome)
}

/// What an earlier run of this command left in `manifest_path`: the records of this
/// process's images that are done with their files intact, streamed into a fresh manifest
/// (the rest are redone: failures too, as a fixed file is explained on the rerun). Returns
/// where each kept line now is and which images they are.
fn resume(
    plan: &Plan,
    manifest_path: &Path,
    owned: &HashSet<&str>,
) -> Result<(Index, HashSet<String>)> {
    let mut index = Index::default();
    let mut kept = HashSet::new();
    let Some(scan) = Scan::open(manifest_path)? else {
        return Ok((index, kept));
    };
    let mut failure = None;
    let staged = stage_stream(manifest_path, |out| {
        let mut at = 0u64;
        for line in scan {
            let checked = line
                .and_then(|l| manifest::check_run(manifest_path, &l.record, plan.run).map(|()| l));
            let line = match checked {
                Ok(l) => l,
                Err(e) => {
                    failure = Some(e);
                    return Err(std::io::Error::other("refused"));
                }
            };
            let done = owned.contains(line.rel.as_str())
                && line.record.get("status").and_then(Value::as_str) == Some(OK)
                && manifest::files_intact(plan.outdir, &line.record);
            if done {
                out.write_all(line.text.as_bytes())?;
                index.push(line.rel.clone(), at, line.text.len());
                at += line.text.len() as u64;
                kept.insert(line.rel);
            }
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    staged?.commit()?;
    Ok((index, kept))
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e4).round() / 10.0
}

/// The record of an image that could not be done.
fn failed(run: &RunInfo, item: &Item, e: &Error) -> Record {
    let mut fields = Record::new();
    fields.insert("error".into(), json!(e.to_string()));
    record(run, item, FAILED, fields)
}

/// An image's record: its key, status and run first, then the command's fields.
fn record(run: &RunInfo, item: &Item, status: &str, fields: Record) -> Record {
    let mut r = Record::new();
    r.insert("path".into(), json!(item.rel));
    r.insert("status".into(), json!(status));
    r.insert("run".into(), json!(run.id));
    r.extend(fields);
    r
}

/// Writes an image's files: all staged first, then renamed into place, so that an image has
/// all its files or none (unsynced: the manifest's sizes and hashes catch a file a power loss
/// cut short). Returns the record's `files` and the command's fields.
fn commit(outdir: &Path, done: Done) -> Result<(Value, Record)> {
    let mut staged = Vec::new();
    let mut files = serde_json::Map::new();
    for (kind, rel, bytes) in &done.files {
        let path = outdir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        staged.push(stage_unsynced(&path, bytes)?);
        files.insert((*kind).into(), manifest::file_entry(rel, bytes));
    }
    for s in staged {
        s.commit()?;
    }
    Ok((Value::Object(files), done.fields))
}

/// Staged files an earlier process of this shard left when it was killed (`.NAME.PID-N.tmp`
/// next to each output): only this shard writes these images' files, so they are its. Each
/// folder is read once.
fn remove_stale_stages(outdir: &Path, outputs: impl Iterator<Item = String>) {
    let mut by_dir: HashMap<PathBuf, HashSet<String>> = HashMap::new();
    for rel in outputs {
        let path = outdir.join(rel);
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
            by_dir
                .entry(dir.to_path_buf())
                .or_default()
                .insert(name.to_string_lossy().into_owned());
        }
    }
    for (dir, names) in by_dir {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            let Some(staged) = n.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
                continue;
            };
            // `NAME.PID-N`: the target's name is what precedes the last dot.
            if staged
                .rsplit_once('.')
                .is_some_and(|(name, _)| names.contains(name))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::input::preprocess::Preprocess;
    use crate::input::Source;

    /// Writes each image's name as its one file.
    struct Names;

    impl Work for Names {
        fn outputs(&self, item: &Item) -> Vec<String> {
            vec![format!("{}.txt", item.stem)]
        }

        fn run(&mut self, item: &Item, _: Input) -> Result<Done> {
            Ok(Done {
                files: vec![(
                    "txt",
                    format!("{}.txt", item.stem),
                    item.rel.clone().into_bytes(),
                )],
                fields: Record::new(),
            })
        }
    }

    #[test]
    fn a_decoder_that_panics_fails_its_image_and_the_run_goes_on() {
        let d = tempfile::tempdir().unwrap();
        let graph = Arc::new(crate::import::demo::graph().unwrap());
        let sample = graph.sample_image.unwrap().1;
        let items: Vec<Item> = ["a", "b", "c"]
            .iter()
            .map(|n| {
                let path = d.path().join(format!("{n}.png"));
                std::fs::write(&path, sample).unwrap();
                Item {
                    path,
                    rel: format!("{n}.png"),
                    stem: n.to_string(),
                }
            })
            .collect();
        let out = d.path().join("out");
        let run = RunInfo::new("test".into(), "demo".into(), 0, String::new());
        let plan = Plan {
            outdir: &out,
            run: &run,
            shard: None,
            cancel: CancelToken::new(),
        };
        let prepare = move |item: &Item| {
            assert!(item.rel != "b.png", "a hostile file");
            Input::load(
                &graph,
                &Source::Image(item.path.clone()),
                Preprocess::Imagenet,
            )
        };
        let outcome = run_all(&plan, &items, prepare);
        assert_eq!(
            (outcome.ok, outcome.failed, outcome.interrupted),
            (2, 1, false)
        );
        let manifest = std::fs::read_to_string(out.join(manifest::MANIFEST)).unwrap();
        assert!(manifest.contains("the image decoder crashed"), "{manifest}");
        assert_eq!(std::fs::read_to_string(out.join("c.txt")).unwrap(), "c.png");
    }

    fn run_all(
        plan: &Plan,
        items: &[Item],
        prepare: impl Fn(&Item) -> Result<Input> + Send + 'static,
    ) -> Outcome {
        run(plan, items, prepare, &mut Names, &mut |_| {}).unwrap()
    }
}
