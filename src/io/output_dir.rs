//! The output directory of a run.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A directory that exists, is writable, and was empty (or `--force` was given) when prepared.
#[derive(Debug, Clone)]
pub struct OutputDir {
    path: PathBuf,
}

impl OutputDir {
    /// Creates `path` (and its parents) and checks that a file can be written in it.
    ///
    /// An existing non-empty directory is refused unless `force`; an existing non-directory is
    /// always refused. Both are [`Error::InvalidArgument`] for `--out`.
    pub fn prepare(path: &Path, force: bool) -> Result<OutputDir> {
        if path.exists() {
            check_existing(path, force)?;
        } else {
            fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
        probe_writable(path)?;
        Ok(OutputDir {
            path: path.to_path_buf(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of file `name` inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Refuses an existing `path` that is not a directory, or is a non-empty one without `force`.
fn check_existing(path: &Path, force: bool) -> Result<()> {
    if !path.is_dir() {
        return Err(Error::invalid(
            "out",
            format!("{} exists and is not a directory", path.display()),
        ));
    }
    let mut entries = fs::read_dir(path).map_err(|e| Error::io(path, e))?;
    if entries.next().is_some() && !force {
        return Err(Error::invalid(
            "out",
            format!(
                "directory {} is not empty; pass `force` to write into it anyway",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Creates and removes a small hidden file to check that `path` is writable.
fn probe_writable(path: &Path) -> Result<()> {
    let probe = path.join(format!(".write-test.{}", std::process::id()));
    fs::write(&probe, b"").map_err(|e| Error::File {
        path: path.display().to_string(),
        message: format!("output directory is not writable: {e}"),
    })?;
    fs::remove_file(&probe).map_err(|e| Error::io(&probe, e))
}
