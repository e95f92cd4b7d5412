//! The top-level error and the exit codes it maps to (PRODUCT.md, "Exit codes").

use std::path::Path;

/// Exit statuses, in one place.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const REFUSED: u8 = 4;
    pub const BUSY: u8 = 75;
    /// 128 + the signal, as a shell reports a process the signal ended.
    pub const SIGNALLED: u8 = 128;
}

/// Every failure a command can report. The message reads well after
/// "error: "; the source chain becomes `caused by:` lines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or bad input: a malformed hash, name, timestamp or job id.
    #[error("{0}")]
    Invalid(String),
    /// The configuration file has one or more errors.
    #[error("{0}")]
    Config(crate::config::ConfigErrors),
    /// The database file cannot be used: not SQLite, or newer than this binary.
    #[error("{0}")]
    BadDatabase(String),
    /// No such build, label, lease, …
    #[error("{0}")]
    NotFound(String),
    /// The request is understood and refused: a reserved name, a FAILED build…
    #[error("{0}")]
    Refused(String),
    /// Another process holds the lock.
    #[error("{0}")]
    Busy(String),
    /// Asked to stop (SIGTERM, SIGINT, SIGHUP): what was running was
    /// stopped and recorded as interrupted.
    #[error("stopped by signal {signal}: {what}")]
    Interrupted { signal: i32, what: String },
    /// An I/O operation failed.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A database operation failed.
    #[error("{context}")]
    Db {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    /// An operation failed for a reason that is not an I/O error.
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

// Not `#[from]`: that would also make the errors the source, and every one
// would be printed twice (once more as a `caused by:` line).
impl From<crate::ident::IdError> for Error {
    fn from(e: crate::ident::IdError) -> Error {
        match e {
            crate::ident::IdError::Invalid(m) => Error::Invalid(m),
            crate::ident::IdError::Refused(m) => Error::Refused(m),
        }
    }
}

impl From<crate::config::ConfigErrors> for Error {
    fn from(e: crate::config::ConfigErrors) -> Error {
        Error::Config(e)
    }
}

impl Error {
    /// The process exit status for this error.
    pub fn code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::Config(_) | Error::BadDatabase(_) => exit::USAGE,
            Error::NotFound(_) => exit::NOT_FOUND,
            Error::Refused(_) => exit::REFUSED,
            Error::Busy(_) => exit::BUSY,
            Error::Interrupted { signal, .. } => exit::SIGNALLED + *signal as u8,
            Error::Io { .. } | Error::Db { .. } | Error::Failed(_) => exit::FAILED,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn db(context: impl Into<String>, source: rusqlite::Error) -> Self {
        Error::Db {
            context: context.into(),
            source,
        }
    }
}

/// Attaches a "failed to …" context to I/O results.
pub trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
    fn at(self, verb: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }

    fn at(self, verb: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(format!("failed to {verb} {}", path.display()), e))
    }
}

/// Attaches a context to database results.
pub trait DbContext<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T> DbContext<T> for rusqlite::Result<T> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| Error::db(what.to_string(), e))
    }
}
