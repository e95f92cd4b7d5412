//! One job as a child process: its own process group, stdin closed, output
//! to `console.log`, a timeout that sends SIGTERM to the whole group, then
//! SIGKILL after a grace period. When the job ends, whatever is left of its
//! group is killed, so no grandchild outlives it.

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
    /// The job's log directory, also its working directory.
    pub log_dir: PathBuf,
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
/// known (it is also the process group id).
pub fn run(spec: &Spec, started: impl FnOnce(u32)) -> Ended {
    let t0 = Instant::now();
    let fail = |notes: String| Ended {
        outcome: JobOutcome::Failed,
        exit_code: None,
        signal: None,
        notes,
        seconds: t0.elapsed().as_secs_f64(),
    };
    if let Err(e) = std::fs::create_dir_all(&spec.log_dir) {
        return fail(format!("could not create the log directory: {e}"));
    }
    let console = match File::create(spec.log_dir.join("console.log")) {
        Ok(f) => f,
        Err(e) => return fail(format!("could not create console.log: {e}")),
    };
    let err = match console.try_clone() {
        Ok(f) => f,
        Err(e) => return fail(format!("could not open console.log twice: {e}")),
    };
    let mut child = match Command::new(&spec.program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.log_dir)
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(err)
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return fail(format!("could not start {}: {e}", spec.program.display())),
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
    // Whatever the job left behind in its group goes with it.
    signal_group(pid, libc::SIGKILL);
    let seconds = t0.elapsed().as_secs_f64();
    let status = match status {
        Ok(s) => s,
        Err(e) => return fail(format!("could not wait for the job: {e}")),
    };
    if let Some(how) = timed_out {
        return Ended {
            outcome: JobOutcome::TimedOut,
            exit_code: status.code(),
            signal: status.signal(),
            notes: format!(
                "timed out after {}: its process group was stopped with {how}",
                format_secs(spec.timeout.as_secs() as i64)
            ),
            seconds,
        };
    }
    match (status.code(), status.signal()) {
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
    }
}

/// Kills, with their process groups, the processes whose environment has
/// `PROMOTER_JOB_RUN=<marker>`. Returns how many were found.
pub fn kill_marked(marker: &str) -> usize {
    let needle = format!("{}={marker}", super::MARKER_VAR);
    let me = std::process::id();
    let mut found = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            found += 1;
            // SAFETY: getpgid and kill on a pid read from /proc.
            unsafe {
                let pgid = libc::getpgid(pid as i32);
                if pgid > 0 && pgid as u32 != me {
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
