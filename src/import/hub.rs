//! `hf:ORG/REPO`: weights from the local Hugging Face cache, laid out as `huggingface_hub`
//! leaves it: `HUB/models--ORG--REPO/refs/main` names a snapshot, and
//! `snapshots/REV/model.safetensors` (or `pytorch_model.bin`) holds the weights. When they are
//! not there, they are downloaded into that cache (the `hf-hub` crate), unless
//! `HF_HUB_OFFLINE` is set; `HF_ENDPOINT` and `HF_TOKEN` are honoured as by `huggingface_hub`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How often a cut-off transfer is resumed within one run.
const DOWNLOAD_RETRIES: usize = 3;

/// Weight files tried in a snapshot, in order.
const FILES: [&str; 3] = [
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
];

/// The file a MODEL argument names: a path as given, or an `hf:` reference resolved in the
/// cache.
pub fn resolve(model: &str) -> Result<PathBuf> {
    let Some(repo) = model.strip_prefix("hf:") else {
        return Ok(PathBuf::from(model));
    };
    let hub = cache_dir();
    match cached(repo, &hub)? {
        Some(path) => Ok(path),
        None if offline() => Err(absent(repo, &hub, "HF_HUB_OFFLINE is set")),
        None => download(repo, &hub),
    }
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

fn absent(repo: &str, hub: &Path, why: &str) -> Error {
    Error::Usage(format!(
        "hf:{repo} is not in the Hugging Face cache ({}) and {why}; download it where there is a \
         network (`huggingface-cli download {repo}`) and copy the cache, or set HF_HOME to the \
         cache you use",
        hub.display()
    ))
}

/// Fetches the first weight file the repository has into the cache, with a progress bar on a
/// terminal.
fn download(repo: &str, hub: &Path) -> Result<PathBuf> {
    use hf_hub::api::sync::ApiBuilder;
    use std::io::IsTerminal;
    // A transfer cut off part way is resumed from its partial file, up to three times, before
    // the download gives up (a later run resumes it again).
    let mut builder = ApiBuilder::from_env()
        .with_cache_dir(hub.to_path_buf())
        .with_retries(DOWNLOAD_RETRIES)
        .with_progress(std::io::stderr().is_terminal());
    if let Ok(token) = std::env::var("HF_TOKEN") {
        builder = builder.with_token(Some(token));
    }
    let api = builder
        .build()
        .map_err(|e| absent(repo, hub, &format!("the download could not start ({e})")))?;
    let remote = api.model(repo.to_string());
    let mut first_error = None;
    for file in FILES {
        match remote.get(file) {
            Ok(path) => return Ok(path),
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let mut why = first_error.unwrap_or_default();
    if why.len() > 160 {
        why.truncate(why.floor_char_boundary(160));
        why.push('…');
    }
    Err(absent(
        repo,
        hub,
        &format!("could not be downloaded ({why}); check the name and the network"),
    ))
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

/// The weight file of `repo` in the cache at `hub`; None when the repository is not cached.
fn cached(repo: &str, hub: &Path) -> Result<Option<PathBuf>> {
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
    // A commit hash; anything longer is not one.
    let refs = dir.join("refs").join("main");
    let Ok(revision) = crate::files::read_bounded(&refs, "a revision", 4096, "a revision has")
    else {
        return Ok(None);
    };
    let revision = String::from_utf8_lossy(&revision);
    let revision = revision.trim();
    if !valid(revision) {
        return Ok(None);
    }
    let snapshot = dir.join("snapshots").join(revision);
    Ok(FILES.iter().map(|f| snapshot.join(f)).find(|p| p.is_file()))
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
        let got = cached("timm/resnet18.a1_in1k", hub.path())
            .unwrap()
            .unwrap();
        assert_eq!(got, snap.join("model.safetensors"));
        assert_eq!(std::fs::read(got).unwrap(), b"weights");

        assert!(cached("timm/absent", hub.path()).unwrap().is_none());
        let e = absent("timm/absent", hub.path(), "HF_HUB_OFFLINE is set").to_string();
        assert!(
            e.contains("not in the Hugging Face cache")
                && e.contains("huggingface-cli download timm/absent"),
            "{e}"
        );
        for bad in ["timm", "a/b/c", "../x/y", "a/.."] {
            let e = cached(bad, hub.path()).err().unwrap().to_string();
            assert!(e.contains("not a Hugging Face model id"), "{bad}: {e}");
        }
    }
}
