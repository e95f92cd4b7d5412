//! The use cases: import, run, publish. Each takes what it needs (the
//! config, the store, who acts) and a [`Sink`] for what it has to say, and
//! returns a value; `commands/` only parse the command line, call one, and
//! render what it returns.

pub mod import;
pub mod memo;
pub mod publish;
pub mod run;
pub mod updates;

use crate::error::Result;

/// How much a diagnostic line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// The level [`Level::as_str`] names `name`.
    pub fn named(name: &str) -> Option<Level> {
        [Level::Debug, Level::Info, Level::Warn, Level::Error]
            .into_iter()
            .find(|l| l.as_str() == name)
    }
}

/// Where a use case says what it does: diagnostics (stderr, for people)
/// and data (stdout, for scripts).
pub trait Sink {
    /// A diagnostic line.
    fn log(&self, level: Level, msg: &str);
    /// A line of data.
    fn print(&self, text: &str) -> Result<()>;
    /// Whether a progress bar may be drawn (a terminal, not `-q`).
    fn progress(&self) -> bool {
        false
    }
}
