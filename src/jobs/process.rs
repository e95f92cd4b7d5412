//! One child process (a job, a hook): its own process group, stdin closed,
//! output to one log file, a timeout that sends SIGTERM to the whole group,
//! then SIGKILL after a grace period. When it ends, whatever is left of its
//! group is killed, and so is every process that carries its job's marker
//! (one that left the group with `setsid` or a double fork), so nothing
//! of it outlives it.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::duration::format_secs;
use crate::store::jobs::JobOutcome;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub cwd: PathBuf,
    /// Where stdout and stderr go; its directory is created.
    pub log: PathBuf,
    pub timeout: Duration,
    pub grace: Duration,
}

/// How it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub outcome: JobOutcome,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub notes: String,
    pub seconds: f64,
}

/// Runs `spec` to the end; `started` gets the process id as soon as it is
/// known (it is also the process group id). `Err` when it could not be
/// started or watched for a reason of this side (its log cannot be
/// written): that is not the command's failure.
pub fn run(spec: &Spec, started: impl FnOnce(u32)) -> Result<Ended, String> {
    let t0 = Instant::now();
    let fail = |notes: String| Ended {
        outcome: JobOutcome::Failed,
        exit_code: None,
        signal: None,
        notes,
        seconds: t0.elapsed().as_secs_f64(),
    };
    if let Some(dir) = spec.log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("could not create the log directory {}: {e}", dir.display()))?;
    }
    let console = File::create(&spec.log)
        .map_err(|e| format!("could not create {}: {e}", spec.log.display()))?;
    let err = console
        .try_clone()
        .map_err(|e| format!("could not open {} twice: {e}", spec.log.display()))?;
    let mut child = match Command::new(&spec.program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(err)
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Ok(fail(format!(
                "could not start {}: {e}",
                spec.program.display()
            )))
        }
    };
    let pid = child.id();
    started(pid);
    let (tx, rx) = mpsc::channel::<std::io::Result<ExitStatus>>();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let mut timed_out = None;
    let status = match rx.recv_timeout(spec.timeout) {
        Ok(s) => s,
        Err(_) => {
            signal_group(pid, libc::SIGTERM);
            match rx.recv_timeout(spec.grace) {
                Ok(s) => {
                    timed_out = Some("SIGTERM");
                    s
                }
                Err(_) => {
                    signal_group(pid, libc::SIGKILL);
                    timed_out = Some("SIGKILL");
                    rx.recv()
                        .unwrap_or_else(|_| Err(std::io::Error::other("the waiter is gone")))
                }
            }
        }
    };
    let _ = waiter.join();
    // Whatever the job left behind in its group goes with it, and so does
    // every process that carries its marker, in whatever group or session.
    signal_group(pid, libc::SIGKILL);
    if let Some((_, m)) = spec.env.iter().find(|(k, _)| k == super::MARKER_VAR) {
        kill_marked(m);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let status = status.map_err(|e| format!("could not wait for the process: {e}"))?;
    if let Some(how) = timed_out {
        return Ok(Ended {
            outcome: JobOutcome::TimedOut,
            exit_code: status.code(),
            signal: status.signal(),
            notes: format!(
                "timed out after {}: its process group was stopped with {how}",
                format_secs(spec.timeout.as_secs() as i64)
            ),
            seconds,
        });
    }
    Ok(match (status.code(), status.signal()) {
        (Some(0), _) => Ended {
            outcome: JobOutcome::Passed,
            exit_code: Some(0),
            signal: None,
            notes: String::new(),
            seconds,
        },
        (Some(c), _) => Ended {
            outcome: JobOutcome::Failed,
            exit_code: Some(c),
            signal: None,
            notes: format!("exit status {c}"),
            seconds,
        },
        (None, Some(s)) => Ended {
            outcome: JobOutcome::Failed,
            exit_code: None,
            signal: Some(s),
            notes: format!("killed by signal {s}"),
            seconds,
        },
        (None, None) => fail("ended with an unknown status".into()),
    })
}

/// Kills, with their process groups, the processes whose environment has
/// `PROMOTER_JOB_RUN=<marker>`, until none is left (a process may fork
/// while its siblings are killed). Returns how many were found.
pub fn kill_marked(marker: &str) -> usize {
    let mut found = 0;
    for _ in 0..20 {
        let pids = crate::store::lock::marked(super::MARKER_VAR, marker);
        if pids.is_empty() {
            break;
        }
        found += pids.len();
        for pid in pids {
            // SAFETY: getpgid and kill on a pid read from /proc.
            unsafe {
                let pgid = libc::getpgid(pid as i32);
                if pgid > 0 && pgid != libc::getpgrp() {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
    found
}

pub use crate::store::lock::alive;

/// Sends `sig` to process group `pgid`; a group that is gone is fine.
pub fn signal_group(pgid: u32, sig: i32) {
    if pgid == 0 || pgid > i32::MAX as u32 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals a process group.
    unsafe {
        libc::kill(-(pgid as i32), sig);
    }
}

/// "exit status 3" or "killed by signal 9".
pub fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown status".into(),
    }
}
