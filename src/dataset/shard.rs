//! `--shard I/N`: this process's share of the images, for a scheduler that starts N copies of
//! one command (a Slurm job array, a Kubernetes Indexed Job, a loop of `&`).
//!
//! An image belongs to shard `FNV-1a(relative path) mod N`: each image to exactly one shard,
//! decided by its own name only, so adding images to the folder never moves an image that
//! was already done to another shard (a split of the sorted list by position would). `I` may
//! be left to the scheduler: `--shard N` reads it from `SLURM_ARRAY_TASK_ID` (less
//! `SLURM_ARRAY_TASK_MIN`, so `--array=1-4` works as `0-3`) or `JOB_COMPLETION_INDEX`.

use std::fmt;

use crate::error::{Error, Result};
use crate::model::build::fnv1a;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// The scheduler variables an index is read from, in order.
const INDEX_VARS: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

impl Shard {
    /// Whether the image at `rel` is this shard's.
    pub fn owns(&self, rel: &str) -> bool {
        (fnv1a(rel.as_bytes()) % self.count as u64) as usize == self.index
    }

    /// `I/N`, or `N` with the index from the scheduler's variables (`var` looks one up).
    pub fn parse(text: &str, var: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        let usage = |why: &str| {
            Error::Usage(format!(
                "--shard {text}: {why}; write --shard I/N (shard I of N, from 0), or --shard N \
                 inside a Slurm array or a Kubernetes Indexed Job"
            ))
        };
        let number = |s: &str, what: &str| -> Result<usize> {
            s.trim()
                .parse::<usize>()
                .map_err(|_| usage(&format!("{what} '{s}' is not a whole number")))
        };
        let (index, count) = match text.split_once('/') {
            Some((i, n)) => {
                if n.trim().is_empty() {
                    return Err(usage("the number of shards N is missing"));
                }
                let count = number(n, "N")?;
                let index = match i.trim() {
                    "" => scheduler_index(&var, count, text)?,
                    i => number(i, "I")?,
                };
                (index, count)
            }
            None => {
                let count = number(text, "N")?;
                (scheduler_index(&var, count, text)?, count)
            }
        };
        if count == 0 {
            return Err(usage("N must be at least 1"));
        }
        if index >= count {
            return Err(usage(&format!(
                "shard {index} does not exist among {count} (they are numbered 0 to {})",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// The file this shard writes its manifest to, in the output folder.
    pub fn manifest_name(&self) -> String {
        format!("manifest.part-{}-of-{}.jsonl", self.index, self.count)
    }

    /// The file a shard writes when it has handled all its images (a merge needs every one).
    pub fn done_name(&self) -> String {
        format!("manifest.part-{}-of-{}.done", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The index a scheduler gave this process, checked against `count`.
fn scheduler_index(
    var: &impl Fn(&str) -> Option<String>,
    count: usize,
    text: &str,
) -> Result<usize> {
    let Some((name, value)) = INDEX_VARS
        .iter()
        .find_map(|name| var(name).map(|v| (*name, v)))
    else {
        return Err(Error::Usage(format!(
            "--shard {text} gives no shard index, and neither SLURM_ARRAY_TASK_ID nor \
             JOB_COMPLETION_INDEX is set; write --shard I/N, with I from 0 to {}",
            count.saturating_sub(1)
        )));
    };
    let parse = |v: &str, n: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| Error::Usage(format!("{n}={v} is not a whole number; give --shard I/N")))
    };
    let mut index = parse(&value, name)?;
    if name == "SLURM_ARRAY_TASK_ID" {
        if let Some(min) = var("SLURM_ARRAY_TASK_MIN") {
            index = index.saturating_sub(parse(&min, "SLURM_ARRAY_TASK_MIN")?);
        }
    }
    Ok(index)
}

/// Whether a scheduler started this process as one of an array (a run without `--shard`
/// there does every image in every task).
pub fn in_scheduler_array(var: impl Fn(&str) -> Option<String>) -> Option<&'static str> {
    INDEX_VARS.into_iter().find(|name| var(name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn explicit_shards_parse_and_bad_ones_say_what_to_write() {
        assert_eq!(
            Shard::parse("2/4", none).unwrap(),
            Shard { index: 2, count: 4 }
        );
        for (bad, why) in [
            ("5/4", "does not exist among 4"),
            ("4/4", "numbered 0 to 3"),
            ("1/", "N is missing"),
            ("1/0", "at least 1"),
            ("a/4", "not a whole number"),
            ("4", "neither SLURM_ARRAY_TASK_ID"),
        ] {
            let e = Shard::parse(bad, none).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_index_comes_from_slurm_or_kubernetes() {
        let slurm = |n: &str| match n {
            "SLURM_ARRAY_TASK_ID" => Some("3".to_string()),
            "SLURM_ARRAY_TASK_MIN" => Some("1".to_string()),
            _ => None,
        };
        assert_eq!(
            Shard::parse("4", slurm).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let k8s = |n: &str| (n == "JOB_COMPLETION_INDEX").then(|| "0".to_string());
        assert_eq!(
            Shard::parse("/2", k8s).unwrap(),
            Shard { index: 0, count: 2 }
        );
        let e = Shard::parse("2", |n: &str| {
            (n == "JOB_COMPLETION_INDEX").then(|| "2".into())
        });
        assert!(e.unwrap_err().to_string().contains("does not exist"));
    }

    #[test]
    fn every_image_belongs_to_exactly_one_shard() {
        let rels: Vec<String> = (0..1000)
            .map(|i| format!("d{}/img{i}.jpg", i % 7))
            .collect();
        let shards: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for rel in &rels {
            let owners: Vec<usize> = shards
                .iter()
                .filter(|s| s.owns(rel))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners.len(), 1, "{rel}");
            sizes[owners[0]] += 1;
        }
        // A fair share each (the hash spreads names that differ in a digit).
        assert!(sizes.iter().all(|&n| (200..300).contains(&n)), "{sizes:?}");
    }
}
