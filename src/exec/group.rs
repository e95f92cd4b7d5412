//! Signals to process groups, whether a process lives, and the processes
//! that carry a run's marker wherever they went.

use rustix::io::Errno;
use rustix::process::{getpgid, getpgrp, kill_process, kill_process_group, test_kill_process, Pid};

pub use rustix::process::Signal;

use super::MARKER_VAR;

/// A process id as the kernel takes it; `None` for 0 and for what does not
/// fit.
fn pid(raw: i64) -> Option<Pid> {
    i32::try_from(raw)
        .ok()
        .filter(|p| *p > 0)
        .and_then(Pid::from_raw)
}

/// Sends `sig` to process group `pgid`; a group that is gone is fine.
pub fn signal_group(pgid: u32, sig: Signal) {
    if let Some(g) = pid(i64::from(pgid)) {
        let _ = kill_process_group(g, sig);
    }
}

/// Whether a local process is alive (a lock's or a lease's holder, a
/// runner). One that exists but is not ours to signal is alive.
pub fn alive(raw: i64) -> bool {
    match pid(raw) {
        Some(p) => match test_kill_process(p) {
            Ok(()) => true,
            Err(e) => e == Errno::PERM,
        },
        None => false,
    }
}

/// The live processes (zombies aside) whose environment holds
/// `<var>=<value>`: a run's processes carry its marker wherever they went.
pub fn marked(var: &str, value: &str) -> Vec<u32> {
    let needle = format!("{var}={value}");
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // A zombie's environment reads empty: it is gone already.
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// Kills, with their process groups, the processes whose environment has
/// `PROMOTER_JOB_RUN=<marker>`, until none is left (a process may fork
/// while its siblings are killed). Returns how many were found.
pub fn kill_marked(marker: &str) -> usize {
    let mut found = 0;
    for _ in 0..20 {
        let pids = marked(MARKER_VAR, marker);
        if pids.is_empty() {
            break;
        }
        found += pids.len();
        for p in pids.into_iter().filter_map(|p| pid(i64::from(p))) {
            if let Ok(g) = getpgid(Some(p)) {
                if g != getpgrp() {
                    let _ = kill_process_group(g, Signal::KILL);
                }
            }
            let _ = kill_process(p, Signal::KILL);
        }
    }
    found
}
