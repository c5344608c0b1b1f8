//! Atomic file creation: write to a hidden temporary file in the destination directory, then rename.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::{Error, Result};

/// Writes a file atomically.
///
/// `write` receives a buffered writer onto `.{name}.tmp.{pid}` in the same directory as `path`
/// (gzip-compressing when `path` ends in `.gz`). When `write` succeeds the data is flushed, fsynced
/// and renamed over `path`; when anything fails the temporary file is removed and `path` is left
/// untouched (absent if it did not exist before). Every I/O failure — creating the temporary file,
/// writing (a full disk, a file-size limit), flushing, syncing or renaming — is an
/// [`Error::Write`] naming `path`, never the temporary name.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    write_atomic_to(path, |p: &Path| File::create(p), write)
}

/// Storage behind a temporary file: a byte sink that can be made durable.
pub(crate) trait Sink: Write {
    /// Makes the written bytes durable (fsync for a file).
    fn sync(&mut self) -> io::Result<()>;
}

impl Sink for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

/// [`write_atomic`] with the temporary file opened by `open` (a plain file in production; tests
/// wrap it in a sink that fails after a number of bytes, as a full disk does).
pub(crate) fn write_atomic_to<S: Sink>(
    path: &Path,
    open: impl FnOnce(&Path) -> io::Result<S>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(path)?;
    let result = write_temp(&tmp, open, super::is_gz_path(path), write)
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    match result {
        Ok(()) => {
            sync_parent(path);
            Ok(())
        }
        Err(e) => {
            // Best effort: the temporary file may not exist if creating it failed.
            let _ = fs::remove_file(&tmp);
            Err(match e {
                Error::Io { source, .. } => Error::write(path, source),
                other => other,
            })
        }
    }
}

/// The hidden temporary path `.{name}.tmp.{pid}` next to `path`.
pub(crate) fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| Error::File {
        path: path.display().to_string(),
        message: "not a file name".into(),
    })?;
    let tmp_name = format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp_name))
}

/// Opens `tmp`, runs `write` on it (through gzip when `gz`), then flushes and syncs it.
fn write_temp<S: Sink>(
    tmp: &Path,
    open: impl FnOnce(&Path) -> io::Result<S>,
    gz: bool,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let sink = open(tmp).map_err(|e| Error::io(tmp, e))?;
    let buffered = BufWriter::with_capacity(1 << 16, sink);
    let buffered = if gz {
        let mut enc = GzEncoder::new(buffered, Compression::default());
        write(&mut enc)?;
        enc.finish().map_err(|e| Error::io(tmp, e))?
    } else {
        let mut buffered = buffered;
        write(&mut buffered)?;
        buffered
    };
    let mut sink = buffered
        .into_inner()
        .map_err(|e| Error::io(tmp, e.into_error()))?;
    sink.sync().map_err(|e| Error::io(tmp, e))
}

/// Fsyncs the directory holding `path` so the rename itself is durable (best effort).
pub(crate) fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that accepts `left` more bytes and then fails like a full disk (ENOSPC), after a
    /// short write of what still fits.
    struct FailAfter {
        file: File,
        left: usize,
    }

    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let n = buf.len().min(self.left);
            let written = self.file.write(&buf[..n])?;
            self.left -= written;
            Ok(written)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.file.flush()
        }
    }

    impl Sink for FailAfter {
        fn sync(&mut self) -> io::Result<()> {
            self.file.sync_all()
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Writes `len` bytes of a repeating pattern through `write_atomic_to` onto a sink that fails
    /// after `limit` bytes.
    fn write_limited(path: &Path, len: usize, limit: usize) -> Result<()> {
        let open = |p: &Path| File::create(p).map(|file| FailAfter { file, left: limit });
        write_atomic_to(path, open, |w| {
            let chunk: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
            let mut done = 0;
            while done < len {
                let n = chunk.len().min(len - done);
                w.write_all(&chunk[..n]).map_err(|e| Error::io(path, e))?;
                done += n;
            }
            Ok(())
        })
    }

    #[test]
    fn a_full_disk_leaves_no_file_and_names_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        // 200 kB through a 64 KiB buffer fails inside the writer; 10 kB fails when the buffer is
        // flushed at the end; a gzip stream fails in the encoder.
        for (name, len, limit) in [
            ("big.csv", 200_000, 70_000),
            ("small.csv", 10_000, 4_096),
            ("zero.csv", 10_000, 0),
            ("big.csv.gz", 2_000_000, 100),
        ] {
            let path = dir.path().join(name);
            let err = write_limited(&path, len, limit).unwrap_err();
            match &err {
                Error::Write {
                    path: p, source, ..
                } => {
                    assert_eq!(p, &path.display().to_string());
                    assert_eq!(source.kind(), io::ErrorKind::StorageFull, "{name}");
                }
                other => panic!("{name}: expected Error::Write, got {other:?}"),
            }
            let text = err.to_string();
            assert!(text.starts_with(&path.display().to_string()), "{text}");
            assert!(!text.contains(".tmp."), "{text}");
            assert_eq!(err.exit_code(), 1);
            assert!(
                names(dir.path()).is_empty(),
                "{name}: {:?}",
                names(dir.path())
            );
        }
    }

    #[test]
    fn a_failed_rewrite_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        fs::write(&path, b"old contents\n").unwrap();
        write_limited(&path, 100_000, 1_000).unwrap_err();
        assert_eq!(fs::read(&path).unwrap(), b"old contents\n");
        assert_eq!(names(dir.path()), ["results.csv"]);
        // With room to spare the same write succeeds and replaces the file.
        write_limited(&path, 3_000, usize::MAX).unwrap();
        assert_eq!(fs::read(&path).unwrap().len(), 3_000);
    }

    #[test]
    fn a_missing_directory_is_a_write_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone").join("k.npy");
        let err = write_atomic(&path, |_| Ok(())).unwrap_err();
        assert!(
            matches!(&err, Error::Write { path: p, .. } if p.ends_with("k.npy")),
            "{err}"
        );
        assert_eq!(err.exit_code(), 1);
    }
}
