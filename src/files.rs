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

/// Maps a regular file read-only (as [`open_regular`] opens it): the checkpoint and HDF5
/// readers read only the parts a layer needs.
fn map_regular(path: &Path, what: &str) -> Result<memmap2::Mmap> {
    let (file, _) = open_regular(path, what)?;
    // SAFETY: the map is read-only; a file truncated by another process while mapped could
    // fault, as with every memory-mapping reader (safetensors, PyTorch's mmap=True).
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))
}

/// A read-only map of a weight file, or of bytes held in memory (the fuzz targets' way in),
/// that can let go of the pages whose values have been copied out.
///
/// A file map's pages count in the process's resident set as long as they stay mapped, beside
/// the tensors decoded from them: a VGG16 checkpoint would show twice in `top`. They are the
/// page cache's pages, so [`ReadMap::release`] unmaps them (the file stays cached, and a later
/// read faults them back from the cache). A map of memory holds the only copy, so its pages
/// stay.
pub struct ReadMap {
    map: memmap2::Mmap,
    /// The bytes held (a map of no bytes maps one, as mmap takes no empty maps).
    len: usize,
    of_file: bool,
}

impl ReadMap {
    /// Maps the regular file `path` (see [`map_regular`]).
    pub fn of_file(path: &Path, what: &str) -> Result<ReadMap> {
        let map = map_regular(path, what)?;
        Ok(ReadMap {
            len: map.len(),
            map,
            of_file: true,
        })
    }

    /// Copies `bytes` into a private anonymous map, so that what reads a file map reads them
    /// the same way.
    pub fn of_bytes(bytes: &[u8]) -> io::Result<ReadMap> {
        let mut anon = memmap2::MmapMut::map_anon(bytes.len().max(1))?;
        anon[..bytes.len()].copy_from_slice(bytes);
        Ok(ReadMap {
            map: anon.make_read_only()?,
            len: bytes.len(),
            of_file: false,
        })
    }

    /// Lets the pages under `range` (and the partial pages at its ends) leave the resident set
    /// of a file map; their contents are unchanged for every reader. Does nothing on a map of
    /// memory, or off Linux, or when the kernel refuses (it is only a saving).
    pub fn release(&self, range: std::ops::Range<usize>) {
        if !self.of_file || range.start >= range.end || range.end > self.len {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use memmap2::UncheckedAdvice::DontNeed;
            // SAFETY: MADV_DONTNEED on a shared, read-only file mapping drops this process's
            // page-table entries only; the next access reads the same bytes from the page cache
            // (madvise(2)). It would zero a private anonymous map, which `of_file` rules out.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(DontNeed, range.start, range.end - range.start)
            };
        }
    }

    /// How much of the map is in this process's resident set, in kB (from /proc/self/smaps,
    /// so Linux only): what tests and benchmarks check [`ReadMap::release`] by.
    pub fn resident_kb(&self) -> Option<u64> {
        let at = self.map.as_ptr() as usize;
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            // A mapping's header line starts with its address range, `start-end`, in hex.
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((Ok(start), Ok(end))) = first
                .split_once('-')
                .map(|(a, b)| (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)))
            {
                inside = (start..end).contains(&at);
            } else if let Some(kb) = line.strip_prefix("Rss:").filter(|_| inside) {
                return kb.trim().trim_end_matches("kB").trim().parse().ok();
            }
        }
        None
    }
}

impl std::ops::Deref for ReadMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map[..self.len]
    }
}

impl std::fmt::Debug for ReadMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.of_file { "file" } else { "memory" };
        write!(f, "ReadMap({} bytes of {kind})", self.len)
    }
}

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

    /// A file map's released pages leave the resident set and read back the same bytes; a map
    /// of memory keeps its bytes (there, releasing like a file map would zero them).
    #[cfg(target_os = "linux")]
    #[test]
    fn released_pages_leave_the_resident_set_and_keep_their_bytes() {
        let bytes: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("w.safetensors");
        std::fs::write(&f, &bytes).unwrap();
        let map = ReadMap::of_file(&f, "weights").unwrap();
        assert_eq!(&map[..], &bytes[..]); // reads every page
        assert!(
            map.resident_kb().unwrap() >= 1000,
            "{} kB",
            map.resident_kb().unwrap()
        );
        map.release(4096..map.len());
        assert!(
            map.resident_kb().unwrap() <= 4,
            "{} kB",
            map.resident_kb().unwrap()
        );
        assert_eq!(&map[..], &bytes[..]);

        let memory = ReadMap::of_bytes(&bytes).unwrap();
        memory.release(0..memory.len());
        assert_eq!(&memory[..], &bytes[..]);
        assert!(memory.resident_kb().unwrap() >= 1000);
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
