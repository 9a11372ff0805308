//! Writing files so that a failure never leaves a partial file behind: each file is written in
//! full to a temporary file in the same folder, then renamed over the target. Several outputs
//! can be staged first and committed together, so that a failure on the second leaves neither.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A fully written temporary file waiting to be renamed into place; removed if dropped.
pub struct Staged {
    tmp: Option<PathBuf>,
    target: PathBuf,
}

impl Staged {
    /// Renames the temporary file over the target.
    pub fn commit(mut self) -> Result<()> {
        // Checked again: the target may have become a link or a device since it was staged.
        crate::files::check_output_target(&self.target)?;
        let tmp = self.tmp.take().expect("not yet committed");
        fs::rename(&tmp, &self.target).map_err(|source| {
            let _ = fs::remove_file(&tmp);
            Error::Write {
                path: self.target.clone(),
                source,
            }
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Writes `bytes` to a fresh temporary file next to `path`, which must be absent or a regular
/// file (see [`crate::files::check_output_target`]), and syncs it to the disk.
pub fn stage(path: &Path, bytes: &[u8]) -> Result<Staged> {
    stage_with(path, bytes, true)
}

/// [`stage`] without the sync: for a run over many images, whose manifest records each file's
/// size and hash, so that a file a power loss left empty or short is found and redone on the
/// rerun. Two syncs an image cost more than the rest of the writing, and far more on a
/// cluster's network file system.
pub fn stage_unsynced(path: &Path, bytes: &[u8]) -> Result<Staged> {
    stage_with(path, bytes, false)
}

fn stage_with(path: &Path, bytes: &[u8], sync: bool) -> Result<Staged> {
    stage_written(path, sync, |file| file.write_all(bytes))
}

/// [`stage`] for a file too large to hold in memory: `write` writes it (buffered) into the
/// temporary file, which is synced and renamed into place on commit.
pub fn stage_stream(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<Staged> {
    stage_written(path, true, |file| {
        let mut buffered = io::BufWriter::new(file);
        write(&mut buffered)?;
        buffered.flush()
    })
}

fn stage_written(
    path: &Path,
    sync: bool,
    write: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<Staged> {
    crate::files::check_output_target(path)?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let werr = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        werr(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}-{n}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(werr(e)),
        }
    };
    let staged = Staged {
        tmp: Some(tmp),
        target: path.to_path_buf(),
    };
    write(&mut file)
        .and_then(|()| if sync { file.sync_all() } else { Ok(()) })
        .map_err(werr)?;
    Ok(staged)
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    stage(path, bytes)?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_stages_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        let staged = stage(&a, b"hello").unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        stage(&a, b"hello").unwrap().commit().unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"hello");
        assert!(stage(&dir.path().join("missing/x.bin"), b"x").is_err());
    }
}
