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
/// runner). One that exists but is not ours to signal is alive; a zombie
/// (ended, not yet reaped by its parent) is not.
pub fn alive(raw: i64) -> bool {
    let exists = match pid(raw) {
        Some(p) => match test_kill_process(p) {
            Ok(()) => true,
            Err(e) => e == Errno::PERM,
        },
        None => false,
    };
    exists && !zombie(raw)
}

/// Whether process `raw` has ended and waits to be reaped.
fn zombie(raw: i64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{raw}/stat")) else {
        return false;
    };
    // `pid (comm) state …`; comm may hold spaces and parentheses.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some("Z" | "X"))
}

/// The processes of `/proc`: each one's pid and its directory there.
fn processes() -> Vec<(u32, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, e.path()))
        })
        .collect()
}

/// The live processes (zombies aside) whose environment holds
/// `<var>=<value>`: a run's processes carry its marker wherever they went.
pub fn marked(var: &str, value: &str) -> Vec<u32> {
    let needle = format!("{var}={value}");
    let me = std::process::id();
    processes()
        .into_iter()
        .filter(|(pid, _)| *pid != me)
        .filter(|(_, dir)| {
            // A zombie's environment reads empty: it is gone already.
            std::fs::read(dir.join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .map(|(pid, _)| pid)
        .collect()
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

/// Sends `sig` to process `raw`; one that is gone is fine.
pub fn signal(raw: i64, sig: Signal) {
    if let Some(p) = pid(raw) {
        let _ = kill_process(p, sig);
    }
}

/// The processes whose parent is `parent`, from `/proc`.
pub fn children_of(parent: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(_, dir)| {
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            std::fs::read_to_string(dir.join("stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Kills every child of this process and reaps them until none is left or
/// `bound` has passed: what a subreaper does once the job it supervised
/// ended, for the processes that left the job's group (`setsid`, a double
/// fork) and were handed to it when their parent died. Returns how many
/// it killed.
pub fn kill_children(bound: std::time::Duration) -> usize {
    use rustix::process::{wait, WaitOptions};
    let me = std::process::id();
    let until = std::time::Instant::now() + bound;
    let mut killed = std::collections::HashSet::new();
    loop {
        while let Ok(Some(_)) = wait(WaitOptions::NOHANG) {}
        let left: Vec<u32> = children_of(me);
        if left.is_empty() || std::time::Instant::now() >= until {
            return killed.len();
        }
        for p in left {
            // A zombie among them is reaped at the next turn.
            signal(i64::from(p), Signal::KILL);
            killed.insert(p);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
