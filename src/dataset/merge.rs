//! `convscope merge OUTDIR`: the shards' manifest parts joined into `OUTDIR/manifest.jsonl` —
//! the file a single run writes, sorted by path — and `summary.json`. Refused, before anything
//! is written, when a part is missing or unfinished, when the parts are of different shardings,
//! or when they come from different runs (another command, settings or model).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::manifest::{self, Record};
use super::Shard;
use crate::error::{Error, Result};

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
    let mut all: BTreeMap<String, Record> = BTreeMap::new();
    for index in 0..first.count {
        let shard = Shard {
            index,
            count: first.count,
        };
        let path = outdir.join(shard.manifest_name());
        if !parts.contains(&shard) {
            return Err(Error::Usage(format!(
                "part {shard} is missing ({} is not there); run that shard (--shard {shard}), \
                 then merge",
                path.display()
            )));
        }
        let records = manifest::read(&path)?;
        if let Some(r) = records
            .values()
            .find(|r| r.get("run").and_then(Value::as_str) != Some(run_id.as_str()))
        {
            return Err(Error::Usage(format!(
                "part {shard} comes from another run ({}) than run.json's {run_id} ({}); the \
                 parts were written by different commands or models — merge only one run's",
                r.get("run").and_then(Value::as_str).unwrap_or("unknown"),
                run["command"].as_str().unwrap_or("?"),
            )));
        }
        let done: Value = crate::files::read_bounded(
            &outdir.join(shard.done_name()),
            "a shard's end marker",
            1 << 16,
            "an end marker may hold",
        )
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
        if done["run"].as_str() != Some(run_id.as_str())
            || done["images"].as_u64() != Some(records.len() as u64)
        {
            return Err(Error::Usage(format!(
                "part {shard} did not finish (it was interrupted, or is still running); rerun \
                 that shard with the same command — it resumes — then merge"
            )));
        }
        for (rel, record) in records {
            if all.insert(rel.clone(), record).is_some() {
                return Err(Error::Usage(format!(
                    "{rel} is in two parts; the parts are not one sharding of one run"
                )));
            }
        }
    }
    manifest::rewrite(&outdir.join(manifest::MANIFEST), &all)?;
    let summary = manifest::summary(&run, &all);
    let text = serde_json::to_string_pretty(&summary).expect("JSON values serialize") + "\n";
    crate::imaging::atomic::write_atomic(&outdir.join(manifest::SUMMARY), text.as_bytes())?;
    Ok(Merged {
        parts: first.count,
        summary,
    })
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
