//! `hf:ORG/REPO`: weights from the local Hugging Face cache, laid out as `huggingface_hub`
//! leaves it: `HUB/models--ORG--REPO/refs/main` names a snapshot, and
//! `snapshots/REV/model.safetensors` (or `pytorch_model.bin`) holds the weights.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Weight files tried in a snapshot, in order.
const FILES: [&str; 3] = [
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
];

/// The file a MODEL argument names: a path as given, or an `hf:` reference resolved in the
/// cache.
pub fn resolve(model: &str) -> Result<PathBuf> {
    match model.strip_prefix("hf:") {
        Some(repo) => resolve_hf(repo, &cache_dir()),
        None => Ok(PathBuf::from(model)),
    }
}

/// Where `huggingface_hub` keeps downloads: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `~/.cache/huggingface/hub` (`XDG_CACHE_HOME` moves `~/.cache`).
pub fn cache_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(hub) = var("HF_HUB_CACHE") {
        return hub;
    }
    if let Some(home) = var("HF_HOME") {
        return home.join("hub");
    }
    let cache = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("huggingface").join("hub")
}

fn resolve_hf(repo: &str, hub: &Path) -> Result<PathBuf> {
    let valid = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() != 2 || !parts.iter().all(|p| valid(p)) {
        return Err(Error::Usage(format!(
            "hf:{repo} is not a Hugging Face model id; write hf:ORG/REPO, e.g. hf:timm/resnet50.a1_in1k"
        )));
    }
    let dir = hub.join(format!("models--{}--{}", parts[0], parts[1]));
    let offline = || {
        Error::Usage(format!(
            "hf:{repo} is not in the Hugging Face cache ({}); convscope reads the cache but \
             does not download: run `huggingface-cli download {repo}` (or set HF_HOME to the \
             cache you use), then try again",
            hub.display()
        ))
    };
    let revision = std::fs::read_to_string(dir.join("refs").join("main")).map_err(|_| offline())?;
    let revision = revision.trim();
    if !valid(revision) {
        return Err(offline());
    }
    let snapshot = dir.join("snapshots").join(revision);
    FILES
        .iter()
        .map(|f| snapshot.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Usage(format!(
                "hf:{repo} is cached at {} but holds none of {}; download the weights with \
                 `huggingface-cli download {repo}`",
                snapshot.display(),
                FILES.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake cache in the layout huggingface_hub writes (files in snapshots are usually
    /// symlinks into blobs/; a plain file is read the same way).
    #[test]
    fn cached_snapshots_resolve_and_absent_ones_explain() {
        let hub = tempfile::tempdir().unwrap();
        let repo = hub.path().join("models--timm--resnet18.a1_in1k");
        let snap = repo.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "abc123\n").unwrap();
        let blob = repo.join("blobs").join("deadbeef");
        std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
        std::fs::write(&blob, b"weights").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&blob, snap.join("model.safetensors")).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&blob, snap.join("model.safetensors")).unwrap();
        let got = resolve_hf("timm/resnet18.a1_in1k", hub.path()).unwrap();
        assert_eq!(got, snap.join("model.safetensors"));
        assert_eq!(std::fs::read(got).unwrap(), b"weights");

        let e = resolve_hf("timm/absent", hub.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("not in the Hugging Face cache")
                && e.contains("huggingface-cli download timm/absent"),
            "{e}"
        );
        for bad in ["timm", "a/b/c", "../x/y", "a/.."] {
            let e = resolve_hf(bad, hub.path()).err().unwrap().to_string();
            assert!(e.contains("not a Hugging Face model id"), "{bad}: {e}");
        }
    }
}
