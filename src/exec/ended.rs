//! How a child process ended, in the process's own terms: the status it
//! ended with, its timeout, or why it never ran or could not be followed.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use super::Signal;

/// The status a process ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It exited with this code; 0 is a success.
    Code(i32),
    /// This signal killed it.
    Signal(i32),
}

impl Status {
    /// The status of `s`; `None` for one that is neither (a stopped
    /// process, which a wait without `WUNTRACED` never reports).
    pub fn of(s: ExitStatus) -> Option<Status> {
        match (s.code(), s.signal()) {
            (Some(c), _) => Some(Status::Code(c)),
            (None, Some(sig)) => Some(Status::Signal(sig)),
            (None, None) => None,
        }
    }

    pub fn exit_code(self) -> Option<i32> {
        match self {
            Status::Code(c) => Some(c),
            Status::Signal(_) => None,
        }
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            Status::Code(_) => None,
            Status::Signal(s) => Some(s),
        }
    }
}

/// "exit status 3" or "killed by signal 9".
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Code(c) => write!(f, "exit status {c}"),
            Status::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// The signal a process group is stopped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: the group may clean up, for the grace period.
    Term,
    /// SIGKILL.
    Kill,
}

impl Stop {
    pub fn signal(self) -> Signal {
        match self {
            Stop::Term => Signal::TERM,
            Stop::Kill => Signal::KILL,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stop::Term => "SIGTERM",
            Stop::Kill => "SIGKILL",
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It ended by itself.
    Finished(Status),
    /// It outlived its timeout `after`: its group was stopped, at last with
    /// `stopped_with`; `status` is the one it ended with then, when known.
    TimedOut {
        after: Duration,
        stopped_with: Stop,
        status: Option<Status>,
    },
    /// It could not be started (no such program, not executable): the
    /// command's failure.
    NotStarted { program: PathBuf, reason: String },
    /// It could not be followed to its end, for a reason of this side:
    /// nothing is known of the command.
    Lost(String),
}

impl Ended {
    /// Whether it exited with status 0.
    pub fn passed(&self) -> bool {
        matches!(self, Ended::Finished(Status::Code(0)))
    }

    /// The status it ended with, when it ran and that is known.
    pub fn status(&self) -> Option<Status> {
        match self {
            Ended::Finished(s) => Some(*s),
            Ended::TimedOut { status, .. } => *status,
            Ended::NotStarted { .. } | Ended::Lost(_) => None,
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        self.status().and_then(Status::exit_code)
    }

    pub fn signal(&self) -> Option<i32> {
        self.status().and_then(Status::signal)
    }
}

/// What a job's notes say: "exit status 3", "killed by signal 9", "timed
/// out after 1h: its process group was stopped with SIGTERM", "could not
/// start jobs/x.sh: …".
impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Finished(s) => s.fmt(f),
            Ended::TimedOut {
                after,
                stopped_with,
                ..
            } => write!(
                f,
                "timed out after {}: its process group was stopped with {}",
                crate::duration::format_secs(after.as_secs() as i64),
                stopped_with.name()
            ),
            Ended::NotStarted { program, reason } => {
                write!(f, "could not start {}: {reason}", program.display())
            }
            Ended::Lost(reason) => f.write_str(reason),
        }
    }
}
