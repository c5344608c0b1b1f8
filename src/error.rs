//! The one error type of the library.
//!
//! Every fallible function returns [`Result`]. Variants carry enough context to say *what* went wrong
//! and *where* (file, line, column, or command-line flag). [`Error::exit_code`] maps them to the
//! command line's exit codes: 2 for usage and input errors, 1 for everything else.

use std::path::Path;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in ntk-perturb.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed cell or row in an input table.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// File being read.
        path: String,
        /// 1-based line number in the (decompressed) text.
        line: u64,
        /// 1-based column (field) number; 0 when the whole line is at fault.
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// A problem with a whole input file (empty, header only, corrupt gzip, …).
    #[error("{path}: {message}")]
    File {
        /// File being read.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A parameter with an invalid value. The library names parameters (`width`, `record_every`);
    /// configuration files name their keys, and the command line turns parameters into its flags.
    #[error("invalid value for `{parameter}`: {message}")]
    InvalidArgument {
        /// Parameter (`width`) or configuration key (`lr_f`).
        parameter: String,
        /// Why the value is refused.
        message: String,
    },
    /// Mistakes in a configuration file, all of them at once, each with its position and key.
    #[error("{}", render_config(path, problems))]
    Config {
        /// The configuration file.
        path: String,
        /// What is wrong, in the order of the file.
        problems: Vec<ConfigProblem>,
    },
    /// Inputs that are individually valid but do not fit together (e.g. train/test dimensions).
    #[error("{0}")]
    Mismatch(String),
    /// A request whose matrices would not fit in memory, refused before any allocation.
    #[error(
        "{what} needs about {} of memory but only {} is available; reduce the problem size",
        human_bytes(*needed_bytes),
        human_bytes(*available_bytes)
    )]
    OutOfMemory {
        /// The stage that was refused.
        what: String,
        /// Estimated peak bytes the stage needs.
        needed_bytes: u64,
        /// Bytes available on this machine.
        available_bytes: u64,
    },
    /// A numerical routine failed (non-convergence, step size underflow, …).
    #[error("numerical failure in {context}: {message}")]
    Numerical {
        /// Routine that failed.
        context: String,
        /// What happened.
        message: String,
    },
    /// An output file that could not be written (full disk, file-size limit, a directory that
    /// became unwritable, …). Writers leave no partial file behind, so the message says so.
    #[error("{path}: could not write this file: {source}; {note}")]
    Write {
        /// The destination path (never the temporary file).
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
        /// What was left on disk (for a single file: nothing; for an appended table: its
        /// complete rows).
        note: &'static str,
    },
    /// An operating-system I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// Path being read or written.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Exit code for the command line: 2 for usage/input errors, 1 for other failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Parse { .. }
            | Error::File { .. }
            | Error::Config { .. }
            | Error::InvalidArgument { .. }
            | Error::Mismatch(_)
            | Error::OutOfMemory { .. } => 2,
            // A missing or unreadable input (or output location) is the caller's to fix.
            Error::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::IsADirectory
                        | std::io::ErrorKind::NotADirectory
                ) =>
            {
                2
            }
            // Outputs are checked when the run starts; a write failing later is a run-time failure.
            Error::Numerical { .. } | Error::Io { .. } | Error::Write { .. } => 1,
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    /// Checks that `value` is finite and > 0, else an [`Error::InvalidArgument`] for `flag` saying
    /// "the `what` must be positive and finite, got `value`".
    pub fn require_positive(parameter: &str, what: &str, value: f64) -> Result<()> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(
                parameter,
                format!("the {what} must be positive and finite, got {value}"),
            ))
        }
    }

    /// Shorthand for [`Error::Io`] on a path.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// An [`Error::Write`] on the destination `path` of a file written atomically: nothing was left
    /// at `path`.
    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.display().to_string(),
            source,
            note: "no partial file was left behind (free some space or fix the permissions, then run again)",
        }
    }

    /// Shorthand for [`Error::Numerical`].
    pub fn numerical(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Numerical {
            context: context.into(),
            message: message.into(),
        }
    }
}

/// One mistake in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// 1-based line and column of the key or value at fault; `None` for a key that is missing.
    pub position: Option<(usize, usize)>,
    /// The key (empty for a mistake of the file's syntax outside any key).
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigProblem {
    /// `path:line:column: `key`: message` (without the position when there is none).
    fn render(&self, path: &str) -> String {
        let at = match self.position {
            Some((line, column)) => format!("{path}:{line}:{column}"),
            None => path.to_string(),
        };
        if self.key.is_empty() {
            format!("{at}: {}", self.message)
        } else {
            format!("{at}: `{}`: {}", self.key, self.message)
        }
    }
}

/// One problem on one line; several as a count followed by one line each.
fn render_config(path: &str, problems: &[ConfigProblem]) -> String {
    match problems {
        [one] => one.render(path),
        many => {
            let mut text = format!("{path}: {} mistakes in the configuration:", many.len());
            for p in many {
                text.push_str("\n  ");
                text.push_str(&p.render(path));
            }
            text
        }
    }
}

/// Formats a byte count with a binary unit (`1.5 GiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
