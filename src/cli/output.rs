//! Output handling shared by the subcommands: an output directory that is cleaned up again if the
//! run fails, the resolved configuration, and progress bars.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use ntk_perturb::error::Result;
use ntk_perturb::io::OutputDir;

/// The output directory of one run. If the run fails, a directory this run created is removed, and
/// from a directory that existed every entry this run added is removed, so a failed run leaves
/// nothing behind.
pub struct Outputs {
    dir: OutputDir,
    created: bool,
    committed: bool,
    /// Names in the directory when it was prepared.
    before: Vec<std::ffi::OsString>,
}

impl Outputs {
    /// Prepares `path` (refusing a non-empty directory unless `force`).
    pub fn prepare(path: &Path, force: bool) -> Result<Outputs> {
        let existed = path.exists();
        let dir = OutputDir::prepare(path, force)?;
        Ok(Outputs {
            before: entries(dir.path()),
            dir,
            created: !existed,
            committed: false,
        })
    }

    /// Path of a file inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.file(name)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `config.toml`: the command, the version, the thread count and every resolved argument.
    pub fn write_config<T: Serialize>(
        &self,
        command: &str,
        threads: usize,
        args: &T,
    ) -> Result<()> {
        ntk_perturb::io::write_config(self.path(), &ResolvedConfig::new(command, threads, args))
    }

    /// Marks the run as complete: the directory is kept.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if self.created {
            let _ = std::fs::remove_dir_all(self.dir.path());
            return;
        }
        for name in entries(self.dir.path()) {
            if !self.before.contains(&name) {
                let path = self.dir.path().join(&name);
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
}

/// The names of the entries of `dir` (empty when it cannot be read).
fn entries(dir: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(dir)
        .map(|it| it.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default()
}

/// What `config.toml` holds.
#[derive(Serialize)]
pub struct ResolvedConfig<'a, T: Serialize> {
    /// Subcommand name.
    pub command: &'a str,
    /// ntk-perturb version.
    pub version: &'a str,
    /// Threads used (results do not depend on it).
    pub threads: usize,
    /// Every argument, defaults resolved.
    pub args: &'a T,
}

impl<'a, T: Serialize> ResolvedConfig<'a, T> {
    /// Bundles a command's arguments with its name, version and thread count.
    pub fn new(command: &'a str, threads: usize, args: &'a T) -> Self {
        ResolvedConfig {
            command,
            version: env!("CARGO_PKG_VERSION"),
            threads,
            args,
        }
    }
}

/// A progress bar on stderr, hidden with `--quiet` or when stderr is not a terminal.
pub fn progress_bar(len: u64, message: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({elapsed} / ~{eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}

/// Prints a line on stderr unless `quiet`.
pub fn say(quiet: bool, text: impl AsRef<str>) {
    if !quiet {
        eprintln!("{}", text.as_ref());
    }
}
