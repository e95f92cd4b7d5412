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
            environ(dir).is_some_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// A process's environment from its `/proc` directory; `None` when it is
/// gone or not ours to read.
///
/// A process inside `execve` reads as having no environment for a moment
/// (its new memory is in place, its new stack not yet laid out), and a job
/// that execs at that moment must not escape its sweep: an empty
/// environment is read again, for up to 20 ms. When the process's own
/// bounds say it is empty, which is what one started without an
/// environment shows as well as one laying its environment out, that is
/// only while it runs (`execve` never waits there), and for 2 ms when it
/// waits. A zombie (gone already) and a kernel thread (it never has one)
/// are not waited for.
fn environ(dir: &std::path::Path) -> Option<Vec<u8>> {
    let start = std::time::Instant::now();
    loop {
        let env = read_at_once(&dir.join("environ")).ok()?;
        let bound = match env.is_empty().then(|| layout(dir)).flatten() {
            Some(Layout::Empty { running: false }) => std::time::Duration::from_millis(2),
            Some(_) => std::time::Duration::from_millis(20),
            None => return Some(env),
        };
        if start.elapsed() >= bound {
            return Some(env);
        }
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}

/// Where a live user process's environment stands, from its `stat`.
enum Layout {
    /// Its bounds are not set: it is inside `execve`.
    Unset,
    /// Its bounds are equal: inside `execve`, or started without one.
    Empty { running: bool },
    /// It is there (it was not yet when it was read: read it again).
    Set,
}

/// The layout of the environment of the process of `dir`; `None` for a
/// zombie, a kernel thread, or a process that is gone.
fn layout(dir: &std::path::Path) -> Option<Layout> {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // After `pid (comm)`: state is field 3, flags 9, env_start 50 and
    // env_end 51 (proc(5)); comm may hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let number = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    if matches!(fields.first(), Some(&("Z" | "X"))) || number(9)? & PF_KTHREAD != 0 {
        return None;
    }
    match (number(50)?, number(51)?) {
        (_, 0) => Some(Layout::Unset),
        (start, end) if start == end => Some(Layout::Empty {
            running: fields.first() == Some(&"R"),
        }),
        _ => Some(Layout::Set),
    }
}

/// A `/proc` file read in as few reads as its size allows: a process's
/// environment read in small pieces (what `std::fs::read` starts with for
/// a file of no size) may end early when the process execs between two of
/// them, and leave out the marker of the job it belongs to.
fn read_at_once(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0; 1 << 16];
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
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
