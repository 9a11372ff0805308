//! Opening the files a user names, which are untrusted: a path may be a FIFO that never
//! delivers a byte, a device that never ends (`/dev/zero`), a directory, or a huge file. Every
//! read in convscope goes through here, so that each one
//! - opens without blocking (a FIFO with no writer would block `open` forever),
//! - takes regular files only, after following symlinks (the Hugging Face cache is symlinks),
//!   and says what the path is instead,
//! - is bounded by a size the caller states for what it expects, checked before reading, and
//!   allocated fallibly, so that a large file is an error line and never an abort.
//!
//! Writing is the other half: [`check_output_target`] keeps the staged rename of
//! `imaging::atomic` from replacing a device, a FIFO or a symlink.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};

mod read_map;
pub use read_map::{MapSlice, ReadMap};

/// Opens `path` for reading if it is (or links to) a regular file, without blocking on FIFOs;
/// returns the file and its length. `what` names the expected content in messages ("an image").
pub fn open_regular(path: &Path, what: &str) -> Result<(File, u64)> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO for reading waits for a writer otherwise. O_NOCTTY: a
        // terminal device named as input must not become our controlling terminal.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Usage(format!(
            "{} is {}, not a regular file; give the path of {what}",
            path.display(),
            describe(&meta)
        )));
    }
    Ok((file, meta.len()))
}

/// Reads all of the regular file `path`, refusing one of over `cap` bytes before reading it.
/// `what` names the content, and `why` says where the cap comes from.
pub fn read_bounded(path: &Path, what: &str, cap: u64, why: &str) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path, what)?;
    if len > cap {
        return Err(Error::Usage(format!(
            "{} is {} bytes, more than the {cap} that {why}",
            path.display(),
            len
        )));
    }
    read_exactly(file, len, path)
}

/// Reads the `len` bytes a regular file holds, allocating them fallibly; a file that grew or
/// shrank since it was measured is an error, not a surprise.
pub fn read_exactly(file: File, len: u64, path: &Path) -> Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| too_big(path, len))?;
    let mut bytes = Vec::new();
    crate::alloc::fallible(|| bytes.try_reserve_exact(len))
        .map_err(|_| too_big(path, len as u64))?;
    file.take(len as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() != len {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: io::Error::other("the file changed size while it was read"),
        });
    }
    Ok(bytes)
}

fn too_big(path: &Path, len: u64) -> Error {
    Error::Usage(format!(
        "{}: not enough memory to read its {len} bytes; free memory or use a smaller file",
        path.display()
    ))
}

/// Checks that `path` may be written by replacing it: it does not exist yet, or it is a regular
/// file (not a symlink, device, FIFO, socket or directory). Renaming a staged file over a
/// device would turn `/dev/null` into a regular file; over a symlink, it would replace the link
/// and not what the user thought they were writing.
pub fn check_output_target(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Write {
            path: path.to_path_buf(),
            source: e,
        }),
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(Error::Write {
            path: path.to_path_buf(),
            source: io::Error::other(format!(
                "it is {}, and convscope only creates or replaces regular files; \
                 remove it or choose another path",
                describe(&m)
            )),
        }),
    }
}

/// "a directory", "a FIFO", … for messages.
fn describe(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_symlink() {
        return "a symbolic link";
    }
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_and_others_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_bounded(&f, "a text", 5, "test").unwrap(), b"hello");
        let e = read_bounded(&f, "a text", 4, "a test allows").unwrap_err();
        assert!(e.to_string().contains("more than the 4"), "{e}");
        let e = read_bounded(dir.path(), "a text", 5, "t").unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        #[cfg(unix)]
        {
            let e = read_bounded(Path::new("/dev/zero"), "a text", 5, "t").unwrap_err();
            assert!(e.to_string().contains("character device"), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f.png");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo, "an image").unwrap_err().to_string();
        assert!(e.contains("FIFO") && e.contains("an image"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn outputs_replace_only_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.png");
        assert!(check_output_target(&file).is_ok());
        std::fs::write(&file, b"x").unwrap();
        assert!(check_output_target(&file).is_ok());
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = check_output_target(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let e = check_output_target(Path::new("/dev/null"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("character device"), "{e}");
        let e = check_output_target(dir.path()).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
    }
}
