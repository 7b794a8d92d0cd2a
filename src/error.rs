//! Typed errors of the library. Every variant says *where*: the file, the line,
//! the column or the config key, so the CLI can print one message a user can act on.
//!
//! Per-record problems are not errors: they become rows of `rejected.csv`
//! (see [`crate::ingest`]). Errors here stop the run.

use std::path::PathBuf;

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is wrong; every problem found is listed.
    #[error("invalid configuration {}:\n  - {}", path.display(), problems.join("\n  - "))]
    Config {
        path: PathBuf,
        problems: Vec<String>,
    },
    /// A command-line argument is wrong (usage error, exit code 2).
    #[error("{0}")]
    Usage(String),
    /// An input file cannot be used as a whole (empty, unreadable, no data rows).
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    /// An input file has a problem at a precise place.
    #[error("{}:{line}: {message}", path.display())]
    InputAt {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A file could not be read or written.
    /// (The I/O error is part of the message, not a `#[source]`, so the CLI's error
    /// chain does not print it twice.)
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The candidate index failed.
    #[error("index: {0}")]
    Index(String),
}

impl Error {
    /// Exit code for this error: 2 for usage and configuration, 1 for data and I/O.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) => 2,
            _ => 1,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }

    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<tantivy::TantivyError> for Error {
    fn from(e: tantivy::TantivyError) -> Self {
        Error::Index(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
