//! Where a job's process runs: the small interface the dispatcher drives
//! (start, poll, cancel), and its local implementation, a detached
//! supervisor per job ([`super::supervisor`]). Nothing in it assumes the
//! process is on this host: a handle is an id the executor understands.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

use super::record::Finish;
use super::supervisor::{self, Order};
use crate::exec;

/// One job run's process, as an executor is asked to run it.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The job run's id in the store.
    pub job_run: i64,
    /// The job instance's id (`<job>` or `<job>-<value>…`).
    pub job_id: String,
    /// Its command, variables (its marker among them), log file, timeout
    /// and grace period.
    pub spec: exec::Spec,
    /// What its end is recorded with.
    pub finish: Finish,
}

/// A started job, as its executor names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle {
    /// The job run it is.
    pub job_run: i64,
    /// Its process id when it runs as a process of this host (for a local
    /// job, its supervisor's).
    pub pid: Option<u32>,
    /// The executor's own id of it (a Slurm job id), when it has one.
    pub id: Option<String>,
}

/// Starts and stops the processes of jobs. How a job ended is recorded by
/// the executor's side (a local job's supervisor records it itself).
pub trait Executor {
    /// The executor's name, as `job_runs.executor` records it.
    fn name(&self) -> &str;
    /// How many jobs of one promotion it runs at once, given the config's
    /// `max_parallel_jobs`.
    fn slots(&self, max_parallel_jobs: usize) -> usize;
    /// Starts `job`. `Err` when it could not be started for a reason of
    /// this side (its log cannot be written, the executor cannot be
    /// reached): an error, not the job's failure, for the caller to record.
    fn start(&mut self, job: &Launch) -> Result<Handle, String>;
    /// Stops a started job; its end is recorded as an interruption.
    fn cancel(&mut self, h: &Handle);
}

/// Jobs as processes of this host, each under a supervisor of its own,
/// detached from the run: the supervisor records the job's end.
#[derive(Debug)]
pub struct Supervised {
    database: PathBuf,
    /// The supervisors this process started and has not reaped yet, by
    /// job run, each with a descriptor that is readable once it ended.
    children: HashMap<i64, (std::process::Child, Option<OwnedFd>)>,
}

impl Supervised {
    pub fn new(database: &Path) -> Supervised {
        Supervised {
            database: database.to_path_buf(),
            children: HashMap::new(),
        }
    }

    /// The job runs whose supervisors this process started that have not
    /// ended yet.
    pub fn running(&self) -> usize {
        self.children.len()
    }

    /// Sleeps until one of the supervisors this process started ended, a
    /// signal arrives, or `cap` has passed.
    pub fn wait(&mut self, cap: Duration) {
        let mut fds: Vec<PollFd> = self
            .children
            .values()
            .filter_map(|(_, fd)| fd.as_ref().map(|f| PollFd::new(f, PollFlags::IN)))
            .collect();
        let blind = fds.len() < self.children.len();
        let cap = if blind {
            cap.min(Duration::from_millis(50))
        } else {
            cap
        };
        let timeout = Timespec::try_from(cap).ok();
        let _ = rustix::event::poll(&mut fds, timeout.as_ref());
    }

    /// The job runs whose supervisors ended since the last call, reaped.
    pub fn reap(&mut self) -> Vec<i64> {
        let ended: Vec<i64> = self
            .children
            .iter_mut()
            .filter_map(|(id, (c, _))| (!matches!(c.try_wait(), Ok(None))).then_some(*id))
            .collect();
        for id in &ended {
            self.children.remove(id);
        }
        ended
    }
}

impl Executor for Supervised {
    fn name(&self) -> &str {
        "local"
    }

    fn slots(&self, max_parallel_jobs: usize) -> usize {
        max_parallel_jobs
    }

    fn start(&mut self, job: &Launch) -> Result<Handle, String> {
        let order = Order::new(&self.database, job.finish.clone(), &job.spec);
        let spawned = supervisor::spawn(&order)?;
        let pid = spawned.child.id();
        let fd = pidfd_open(Pid::from_child(&spawned.child), PidfdFlags::empty()).ok();
        self.children.insert(job.job_run, (spawned.child, fd));
        Ok(Handle {
            job_run: job.job_run,
            pid: Some(pid),
            id: None,
        })
    }

    fn cancel(&mut self, h: &Handle) {
        // Only a live supervisor is signalled: a pid whose lock is free may
        // be anyone's by now.
        if let Some(pid) = h.pid {
            if supervisor::supervised(&self.database, h.job_run) {
                exec::signal(i64::from(pid), exec::Signal::TERM);
            }
        }
    }
}
