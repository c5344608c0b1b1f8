//! Atomic file creation: write to a hidden temporary file in the destination directory, then rename.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::{Error, Result};

/// Writes a file atomically.
///
/// `write` receives a buffered writer onto `.{name}.tmp.{pid}` in the same directory as `path`
/// (gzip-compressing when `path` ends in `.gz`). When `write` succeeds the data is flushed, fsynced
/// and renamed over `path`; when anything fails the temporary file is removed and `path` is left
/// untouched (absent if it did not exist before).
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let tmp = temp_path(path)?;
    let result = write_temp(&tmp, super::is_gz_path(path), write)
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    match result {
        Ok(()) => {
            sync_parent(path);
            Ok(())
        }
        Err(e) => {
            // Best effort: the temporary file may not exist if creating it failed.
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The hidden temporary path `.{name}.tmp.{pid}` next to `path`.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| Error::File {
        path: path.display().to_string(),
        message: "not a file name".into(),
    })?;
    let tmp_name = format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp_name))
}

/// Creates `tmp`, runs `write` on it (through gzip when `gz`), then flushes and fsyncs it.
fn write_temp(
    tmp: &Path,
    gz: bool,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let buffered = BufWriter::with_capacity(1 << 16, file);
    let buffered = if gz {
        let mut enc = GzEncoder::new(buffered, Compression::default());
        write(&mut enc)?;
        enc.finish().map_err(|e| Error::io(tmp, e))?
    } else {
        let mut buffered = buffered;
        write(&mut buffered)?;
        buffered
    };
    let file = buffered
        .into_inner()
        .map_err(|e| Error::io(tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(tmp, e))
}

/// Fsyncs the directory holding `path` so the rename itself is durable (best effort).
fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}
