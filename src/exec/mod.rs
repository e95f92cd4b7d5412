//! One way to run a child process, for jobs, hooks and rsync pushes alike:
//! its own process group, stdin closed, stdout and stderr to one log file,
//! a timeout that sends SIGTERM to the whole group, then SIGKILL after a
//! grace period. When it ends, whatever is left of its group is killed, and
//! so is every process that carries its marker (one that left the group
//! with `setsid` or a double fork), so nothing of it outlives it.
//!
//! This room knows processes, not jobs: how a process ended ([`Ended`]) is
//! for the caller to turn into a vote, a failed hook or a failed push.

use std::path::PathBuf;
use std::time::Duration;

mod child;
mod ended;
mod group;

pub use child::{start, wait_any, Child};
pub use ended::{Ended, Status, Stop};
pub use group::{
    alive, children_of, kill_children, kill_marked, marked, signal, signal_group, Signal,
};

/// The variable every process of a run inherits, naming it: what finds the
/// processes of a run after they left its group, whatever their pids, and
/// after the process that started them died.
pub const MARKER_VAR: &str = crate::model::JOB_MARKER_VAR;

/// What to run. A [`MARKER_VAR`] in `env` marks every process of the run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Variables added to the promoter's own environment.
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub cwd: PathBuf,
    /// Where stdout and stderr go; its directory is created.
    pub log: PathBuf,
    pub timeout: Duration,
    /// How long the group has between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// Runs `spec` to its end. `Err` when it could not be started for a reason
/// of this side (its log cannot be written): that is not the command's
/// failure.
pub fn run(spec: &Spec) -> Result<Ended, String> {
    Ok(start(spec)?.wait())
}

/// Runs `program args` (with `env` added) in a scratch directory of its
/// own, within `timeout` and `grace`: how it ended and what it wrote
/// (stdout and stderr). `Err` when it could not be run for a reason of
/// this side.
pub fn output(
    program: &str,
    args: Vec<String>,
    env: &[(String, String)],
    timeout: Duration,
    grace: Duration,
) -> Result<(Ended, String), String> {
    let scratch =
        tempfile::tempdir().map_err(|e| format!("no scratch directory for {program}: {e}"))?;
    let log = scratch.path().join("out");
    let spec = Spec {
        program: PathBuf::from(program),
        args,
        env: env.to_vec(),
        cwd: scratch.path().to_path_buf(),
        log: log.clone(),
        timeout,
        grace,
    };
    let ended = run(&spec)?;
    Ok((ended, std::fs::read_to_string(&log).unwrap_or_default()))
}

/// `'…'` for a POSIX shell: `s` reaches it as one word, as written.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests;
