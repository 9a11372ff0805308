//! Weight files read in place. The importers parse a file's headers, pickles and protobuf
//! through a read-only map, and record where each tensor's bytes lie; the values are copied out
//! when a pass needs them, with `pread` from the file rather than through the map, so that
//! - the weights are resident once, as tensors: the file's pages never enter this process's
//!   resident set for them (they stay in the page cache), where a mapped VGG16 checkpoint used
//!   to count twice in `top`;
//! - a file truncated or rewritten by another process after it was opened (a training script
//!   saving over it while the interface is open) is an error naming the file, never a SIGBUS
//!   from a mapped page past the file's new end, nor weights mixed from two versions.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::{Error, Result};

/// A read-only map of a weight file, or of bytes held in memory (the demo model, the fuzz
/// targets), that tensors' values are copied out of.
pub struct ReadMap {
    map: memmap2::Mmap,
    /// The bytes held (a map of no bytes maps one, as mmap takes no empty maps).
    len: usize,
    /// None for bytes held in memory.
    file: Option<Opened>,
}

/// The mapped file, and what it was when opened.
struct Opened {
    file: File,
    path: PathBuf,
    modified: Option<SystemTime>,
}

impl ReadMap {
    /// Maps the regular file `path` (opened as [`super::open_regular`] opens it); `what` names
    /// the expected content in messages.
    pub fn of_file(path: &Path, what: &str) -> Result<ReadMap> {
        let (file, _) = super::open_regular(path, what)?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only. A file truncated by another process while it is being
        // parsed could fault, as with every memory-mapping reader (safetensors, PyTorch's
        // mmap=True); values are read later with pread, which sees such a change as an error.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(ReadMap {
            len: map.len(),
            map,
            file: Some(Opened {
                file,
                path: path.to_path_buf(),
                modified: meta.modified().ok(),
            }),
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
            file: None,
        })
    }

    /// The file named in messages (None for bytes held in memory).
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// Copies the bytes at `offset..offset + out.len()` into `out`: from the file, after checking
    /// that it is still the file that was mapped (same length, same modification time), or from
    /// memory.
    pub fn copy_at(&self, offset: usize, out: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(out.len())
            .filter(|&end| end <= self.len)
            .ok_or_else(|| io::Error::other("a tensor lies outside the file"))?;
        let Some(opened) = &self.file else {
            out.copy_from_slice(&self.map[offset..end]);
            return Ok(());
        };
        let meta = opened.file.metadata()?;
        if meta.len() != self.len as u64 || meta.modified().ok() != opened.modified {
            return Err(io::Error::other(
                "the file changed on disk since it was opened (saved over?); open the model again",
            ));
        }
        #[cfg(unix)]
        return std::os::unix::fs::FileExt::read_exact_at(&opened.file, out, offset as u64);
        #[cfg(not(unix))]
        {
            out.copy_from_slice(&self.map[offset..end]);
            Ok(())
        }
    }

    /// Lets the pages under `range` (and the partial pages at its ends) leave the resident set
    /// of a file map: for readers that must read through the map (the HDF5 reader), once they
    /// have copied the values out. Their contents are unchanged for every reader; the next
    /// access faults them back from the page cache. Does nothing on a map of memory, or off
    /// Linux, or when the kernel refuses (it is only a saving).
    pub fn release(&self, range: Range<usize>) {
        if self.file.is_none() || range.start >= range.end || range.end > self.len {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use memmap2::UncheckedAdvice::DontNeed;
            // SAFETY: MADV_DONTNEED on a shared, read-only file mapping drops this process's
            // page-table entries only; the next access reads the same bytes from the page cache
            // (madvise(2)). It would zero a private anonymous map, which `file` rules out.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(DontNeed, range.start, range.end - range.start)
            };
        }
    }

    /// How much of the map is in this process's resident set, in kB (from /proc/self/smaps,
    /// so Linux only): what tests check that values are not read through the map by.
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

/// A range of a shared map that keeps the map alive: what readers that take an owner of bytes
/// are given (prost's `Bytes`, which then slices fields out of it without a copy; the HDF5
/// reader, for a whole file or a `.keras` archive's member).
pub struct MapSlice {
    map: Arc<ReadMap>,
    range: Range<usize>,
}

impl MapSlice {
    /// None when `range` is not within the map.
    pub fn new(map: Arc<ReadMap>, range: Range<usize>) -> Option<MapSlice> {
        (range.start <= range.end && range.end <= map.len()).then_some(MapSlice { map, range })
    }

    /// All of the map.
    pub fn whole(map: Arc<ReadMap>) -> MapSlice {
        let range = 0..map.len();
        MapSlice { map, range }
    }
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.range.clone()]
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
        match self.path() {
            Some(path) => write!(f, "ReadMap({} bytes of {})", self.len, path.display()),
            None => write!(f, "ReadMap({} bytes of memory)", self.len),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn file_of(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    /// Copying out does not bring the file's pages into the resident set; releasing pages read
    /// through the map takes them out again, and a map of memory keeps its bytes (releasing
    /// like a file map would zero them).
    #[test]
    fn values_are_copied_without_the_map_and_released_pages_keep_their_bytes() {
        let bytes: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let (_dir, path) = file_of(&bytes);
        let map = ReadMap::of_file(&path, "weights").unwrap();
        let mut out = vec![0u8; bytes.len() - 10];
        map.copy_at(10, &mut out).unwrap();
        assert_eq!(out, bytes[10..]);
        assert!(map.resident_kb().unwrap() <= 4, "{:?}", map.resident_kb());

        assert_eq!(&map[..], &bytes[..]); // reads every page through the map
        assert!(map.resident_kb().unwrap() >= 1000);
        map.release(4096..map.len());
        assert!(map.resident_kb().unwrap() <= 4, "{:?}", map.resident_kb());
        assert_eq!(&map[..], &bytes[..]);

        let memory = ReadMap::of_bytes(&bytes).unwrap();
        memory.release(0..memory.len());
        assert_eq!(&memory[..], &bytes[..]);
        memory.copy_at(10, &mut out).unwrap();
        assert_eq!(out, bytes[10..]);
        assert!(memory.copy_at(bytes.len() - 5, &mut out).is_err());
    }

    /// A file saved over after it was opened is an error when values are copied out, not a
    /// SIGBUS (shorter) nor values from the new file (same length, rewritten).
    #[test]
    fn a_file_changed_on_disk_is_an_error() {
        let bytes = vec![7u8; 64 << 10];
        let (_dir, path) = file_of(&bytes);
        let map = ReadMap::of_file(&path, "weights").unwrap();
        let mut out = vec![0u8; 4096];
        map.copy_at(60 << 10, &mut out).unwrap();

        std::fs::write(&path, &bytes[..1000]).unwrap();
        let e = map.copy_at(60 << 10, &mut out).unwrap_err().to_string();
        assert!(e.contains("changed on disk"), "{e}");

        let rewritten = vec![9u8; 64 << 10];
        std::fs::write(&path, &rewritten).unwrap();
        let file = File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        let e = map.copy_at(0, &mut out).unwrap_err().to_string();
        assert!(e.contains("changed on disk"), "{e}");
    }
}
