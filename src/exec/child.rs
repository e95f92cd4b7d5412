//! A started child process, followed without a thread: [`Child::poll`]
//! looks whether it ended and enforces its timeout and grace period;
//! [`wait_any`] sleeps until one of several children ended or must be
//! stopped, woken by the kernel through a pidfd.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

use super::{kill_marked, signal_group, Ended, Signal, Spec, Status, Stop, MARKER_VAR};

/// How often a child is looked at when the kernel cannot wake us for it
/// (no pidfd).
const TICK_WITHOUT_PIDFD: Duration = Duration::from_millis(50);

/// A child process started by [`start`].
#[derive(Debug)]
pub struct Child {
    process: Option<std::process::Child>,
    pid: Option<u32>,
    /// Readable once the process has ended.
    pidfd: Option<OwnedFd>,
    marker: Option<String>,
    started: Instant,
    timeout: Duration,
    grace: Duration,
    stopping: Option<Stopping>,
    ended: Option<Ended>,
}

/// Its group was sent `sent` because of `why`; SIGKILL follows at
/// `kill_at` if it was SIGTERM.
#[derive(Debug, Clone, Copy)]
struct Stopping {
    why: Why,
    sent: Stop,
    kill_at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Timeout,
    Cancel,
}

/// Starts `spec` in a process group of its own, stdin closed, stdout and
/// stderr to its log. `Err` when the log cannot be written; a program that
/// cannot be started gives a child that has ended already
/// ([`Ended::NotStarted`]).
pub fn start(spec: &Spec) -> Result<Child, String> {
    let (out, err) = open_log(&spec.log)?;
    let mut child = Child {
        process: None,
        pid: None,
        pidfd: None,
        marker: spec
            .env
            .iter()
            .find(|(k, _)| k == MARKER_VAR)
            .map(|(_, v)| v.clone()),
        started: Instant::now(),
        timeout: spec.timeout,
        grace: spec.grace,
        stopping: None,
        ended: None,
    };
    let spawned = Command::new(&spec.program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn();
    match spawned {
        Ok(p) => {
            child.pid = Some(p.id());
            // Without one (an old kernel, a filter), it is looked at often.
            child.pidfd = pidfd_open(Pid::from_child(&p), PidfdFlags::empty()).ok();
            child.process = Some(p);
        }
        Err(e) => {
            child.ended = Some(Ended::NotStarted {
                program: spec.program.clone(),
                reason: e.to_string(),
            })
        }
    }
    Ok(child)
}

/// The log file, created with its directory, opened for stdout and stderr.
fn open_log(log: &Path) -> Result<(File, File), String> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("could not create the log directory {}: {e}", dir.display()))?;
    }
    let out = File::create(log).map_err(|e| format!("could not create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("could not open {} twice: {e}", log.display()))?;
    Ok((out, err))
}

impl Child {
    /// Its process id, which is also its process group's; `None` when it
    /// never started.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// How long since it was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// How it ended, once it has; meanwhile stops its group when its
    /// timeout or its grace period is over. Never blocks.
    pub fn poll(&mut self) -> Option<Ended> {
        if let Some(e) = &self.ended {
            return Some(e.clone());
        }
        let process = self.process.as_mut()?;
        match process.try_wait() {
            Ok(Some(status)) => Some(self.end(Ok(status))),
            Ok(None) => {
                self.enforce(Instant::now());
                None
            }
            Err(e) => Some(self.end(Err(e))),
        }
    }

    /// Waits for its end, enforcing its timeout.
    pub fn wait(&mut self) -> Ended {
        loop {
            if let Some(e) = self.poll() {
                return e;
            }
            wait_any([&*self], None);
        }
    }

    /// Stops its group now: with SIGTERM (SIGKILL follows after the grace
    /// period, at a later [`Child::poll`]) or with SIGKILL at once.
    pub fn cancel(&mut self, with: Stop) {
        if self.ended.is_some() {
            return;
        }
        match self.stopping {
            Some(s) if s.sent == Stop::Kill || s.sent == with => {}
            Some(s) => self.stop(s.why, with, Instant::now()),
            None => self.stop(Why::Cancel, with, Instant::now()),
        }
    }

    /// When [`Child::poll`] must look at it next to stop it in time.
    fn deadline(&self) -> Option<Instant> {
        match self.stopping {
            None => self.started.checked_add(self.timeout),
            Some(s) if s.sent == Stop::Term => Some(s.kill_at),
            Some(_) => None,
        }
    }

    fn enforce(&mut self, now: Instant) {
        match self.stopping {
            None if self.deadline().is_some_and(|d| now >= d) => {
                self.stop(Why::Timeout, Stop::Term, now)
            }
            Some(s) if s.sent == Stop::Term && now >= s.kill_at => {
                self.stop(s.why, Stop::Kill, now)
            }
            _ => {}
        }
    }

    fn stop(&mut self, why: Why, with: Stop, now: Instant) {
        if let Some(pid) = self.pid {
            signal_group(pid, with.signal());
        }
        self.stopping = Some(Stopping {
            why,
            sent: with,
            kill_at: now.checked_add(self.grace).unwrap_or(now),
        });
    }

    /// Records its end; whatever it left in its group goes with it, and so
    /// does every process that carries its marker, in whatever group or
    /// session.
    fn end(&mut self, status: std::io::Result<ExitStatus>) -> Ended {
        if let Some(pid) = self.pid {
            signal_group(pid, Signal::KILL);
        }
        if let Some(m) = &self.marker {
            kill_marked(m);
        }
        let ended = match (status, self.stopping) {
            (Err(e), _) => Ended::Lost(format!("could not wait for the process: {e}")),
            (Ok(s), Some(stop)) if stop.why == Why::Timeout => Ended::TimedOut {
                after: self.timeout,
                stopped_with: stop.sent,
                status: Status::of(s),
            },
            (Ok(s), _) => match Status::of(s) {
                Some(st) => Ended::Finished(st),
                None => Ended::Lost("ended with an unknown status".into()),
            },
        };
        self.pidfd = None;
        self.ended = Some(ended.clone());
        ended
    }
}

/// Sleeps until one of `children` has ended or must be stopped (its
/// timeout or grace period is over), a signal arrives, or `cap` has passed.
/// Returns at once when one has ended already.
pub fn wait_any<'a>(children: impl IntoIterator<Item = &'a Child>, cap: Option<Duration>) {
    let now = Instant::now();
    let mut until = cap.and_then(|c| now.checked_add(c));
    let mut fds = Vec::new();
    let mut blind = false;
    for c in children {
        if c.ended.is_some() {
            return;
        }
        if let Some(d) = c.deadline() {
            until = Some(until.map_or(d, |u| u.min(d)));
        }
        match &c.pidfd {
            Some(fd) => fds.push(PollFd::new(fd, PollFlags::IN)),
            None => blind = true,
        }
    }
    let mut timeout = until.map(|u| u.saturating_duration_since(now));
    if blind {
        timeout = Some(timeout.map_or(TICK_WITHOUT_PIDFD, |t| t.min(TICK_WITHOUT_PIDFD)));
    }
    if fds.is_empty() && timeout.is_none() {
        return;
    }
    let timeout = timeout.and_then(|t| Timespec::try_from(t).ok());
    // EINTR is a signal, for the caller to look at.
    let _ = rustix::event::poll(&mut fds, timeout.as_ref());
}
