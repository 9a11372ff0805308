//! `convscope merge OUTDIR`: the shards' manifest parts joined into `OUTDIR/manifest.jsonl` —
//! the file a single run writes, sorted by path — and `summary.json`. Refused, before anything
//! is written, when a part is missing or unfinished, when the parts are of different shardings,
//! or when they come from different runs (another command, settings or model).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::manifest::{self, Line, Scan, Summary};
use super::Shard;
use crate::error::{Error, Result};
use crate::imaging::atomic::stage_stream;

/// What a merge wrote.
pub struct Merged {
    pub parts: usize,
    pub summary: Value,
}

/// `manifest.part-I-of-N.jsonl` → the shard it is.
fn part_of(name: &str) -> Option<Shard> {
    let rest = name
        .strip_prefix("manifest.part-")?
        .strip_suffix(".jsonl")?;
    let (i, n) = rest.split_once("-of-")?;
    let shard = Shard {
        index: i.parse().ok()?,
        count: n.parse().ok()?,
    };
    (shard.index < shard.count && shard.manifest_name() == name).then_some(shard)
}

pub fn merge(outdir: &Path) -> Result<Merged> {
    let meta = std::fs::metadata(outdir).map_err(|e| Error::io(outdir, e))?;
    if !meta.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a folder; give the -o folder the shards wrote to",
            outdir.display()
        )));
    }
    let mut parts: Vec<Shard> = std::fs::read_dir(outdir)
        .map_err(|e| Error::io(outdir, e))?
        .flatten()
        .filter_map(|e| part_of(&e.file_name().to_string_lossy()))
        .collect();
    parts.sort_by_key(|s| (s.count, s.index));
    let Some(first) = parts.first().copied() else {
        return Err(Error::Usage(format!(
            "{} holds no manifest parts (manifest.part-I-of-N.jsonl); run the shards with \
             --shard first",
            outdir.display()
        )));
    };
    if let Some(other) = parts.iter().find(|s| s.count != first.count) {
        return Err(Error::Usage(format!(
            "{} holds parts of two shardings (of {} and of {}); delete the parts of the one you \
             do not want",
            outdir.display(),
            first.count,
            other.count
        )));
    }
    let run = read_run(outdir)?;
    let run_id = run["run"].as_str().unwrap_or_default().to_string();
    let mut parts = Vec::new();
    for index in 0..first.count {
        let shard = Shard {
            index,
            count: first.count,
        };
        let path = outdir.join(shard.manifest_name());
        let scan = match Scan::open(&path)? {
            Some(scan) => scan,
            None => {
                return Err(Error::Usage(format!(
                    "part {shard} is missing ({} is not there); run that shard (--shard \
                     {shard}), then merge",
                    path.display()
                )))
            }
        };
        let done: Value = crate::files::read_bounded(
            &outdir.join(shard.done_name()),
            "a shard's end marker",
            1 << 16,
            "an end marker may hold",
        )
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
        let images = match (done["run"].as_str(), done["images"].as_u64()) {
            (Some(id), Some(n)) if id == run_id => n,
            (Some(id), Some(_)) => return Err(another_run(shard, id, &run_id, &run)),
            _ => {
                return Err(Error::Usage(format!(
                    "part {shard} did not finish (it was interrupted, or is still running); \
                     rerun that shard with the same command — it resumes — then merge"
                )))
            }
        };
        parts.push(Part {
            shard,
            scan,
            images,
        });
    }
    let mut summary = Summary::default();
    let mut failure = None;
    let staged = stage_stream(&outdir.join(manifest::MANIFEST), |out| {
        interleave(parts, &run_id, &run, out, &mut summary).map_err(|e| {
            failure = Some(e);
            std::io::Error::other("refused")
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    staged?.commit()?;
    let summary = summary.json(&run);
    manifest::write_summary(outdir, &summary)?;
    Ok(Merged {
        parts: first.count,
        summary,
    })
}

/// A shard's part being merged, with the number of records its end marker promises.
struct Part {
    shard: Shard,
    scan: Scan,
    images: u64,
}

fn another_run(shard: Shard, theirs: &str, ours: &str, run: &Value) -> Error {
    Error::Usage(format!(
        "part {shard} comes from another run ({theirs}) than run.json's {ours} ({}); the parts \
         were written by different commands or models — merge only one run's",
        run["command"].as_str().unwrap_or("?"),
    ))
}

/// A part's next record, refused if it is another run's.
fn next_line(part: &mut Part, run_id: &str, run: &Value) -> Result<Option<Line>> {
    match part.scan.next().transpose()? {
        Some(line) => {
            let id = line
                .record
                .get("run")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            if id != run_id {
                return Err(another_run(part.shard, id, run_id, run));
            }
            Ok(Some(line))
        }
        None => Ok(None),
    }
}

/// Writes the parts' records into `out` in path order (each part is sorted: a finished shard
/// rewrites it so), a line at a time, checking each record's run, each part's order and
/// count, and that no image is in two parts.
fn interleave(
    mut parts: Vec<Part>,
    run_id: &str,
    run: &Value,
    out: &mut dyn Write,
    summary: &mut Summary,
) -> Result<()> {
    let mut heads: Vec<Option<Line>> = Vec::with_capacity(parts.len());
    let mut counts = vec![0u64; parts.len()];
    let mut heap = BinaryHeap::new();
    for (k, part) in parts.iter_mut().enumerate() {
        let head = next_line(part, run_id, run)?;
        if let Some(line) = &head {
            heap.push(Reverse((line.rel.clone(), k)));
        }
        heads.push(head);
    }
    let mut last: Option<String> = None;
    while let Some(Reverse((rel, k))) = heap.pop() {
        let line = heads[k].take().expect("a head for each entry");
        if last.as_deref() == Some(rel.as_str()) {
            return Err(Error::Usage(format!(
                "{rel} is in two parts (or twice in part {}); the parts are not one sharding of \
                 one run",
                parts[k].shard
            )));
        }
        out.write_all(line.text.as_bytes())
            .map_err(|e| Error::io("manifest.jsonl", e))?;
        summary.add(&line.record);
        counts[k] += 1;
        if let Some(following) = next_line(&mut parts[k], run_id, run)? {
            if following.rel <= rel {
                return Err(Error::Usage(format!(
                    "part {} is not sorted by path at {}; rerun that shard to rewrite it",
                    parts[k].shard, following.rel
                )));
            }
            heap.push(Reverse((following.rel.clone(), k)));
            heads[k] = Some(following);
        }
        last = Some(rel);
    }
    for (part, n) in parts.iter().zip(counts) {
        if n != part.images {
            return Err(Error::Usage(format!(
                "part {} has {n} records but its shard finished {}; it changed since — rerun \
                 that shard",
                part.shard, part.images
            )));
        }
    }
    Ok(())
}

fn read_run(outdir: &Path) -> Result<Value> {
    let path = outdir.join(manifest::RUN);
    let bytes =
        crate::files::read_bounded(&path, "a run description", 1 << 20, "run.json may hold")
            .map_err(|_| {
                Error::Usage(format!(
                "{} is missing or unreadable; every shard writes it — is this the -o folder of a \
                 sharded run?",
                path.display()
            ))
            })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) if v["run"].is_string() => Ok(v),
        _ => Err(Error::Usage(format!(
            "{} is not a convscope run description",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_well_formed_part_names_are_parts() {
        use super::part_of;
        assert_eq!(
            part_of("manifest.part-2-of-4.jsonl").map(|s| s.index),
            Some(2)
        );
        for bad in [
            "manifest.part-4-of-4.jsonl",
            "manifest.part-02-of-4.jsonl",
            "manifest.jsonl",
            "manifest.part-1-of-2.done",
        ] {
            assert!(part_of(bad).is_none(), "{bad}");
        }
    }
}
