//! Where a job's process runs: the small interface the dispatcher drives
//! (start, poll, cancel, wait), and its local implementation on
//! [`crate::exec`]. Nothing in it assumes the process is on this host: a
//! handle is an id the executor understands.

use std::collections::HashMap;
use std::time::Duration;

use crate::exec::{self, Ended, Stop};

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
}

/// A started job, as its executor names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle {
    /// The executor's id of the job: a local child's number, a Slurm job id.
    pub id: String,
    /// Its process id when it runs as a process of this host, recorded for
    /// the next run to find it.
    pub pid: Option<u32>,
}

/// Why a job is stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The runner was asked to stop: SIGTERM, the grace period, SIGKILL,
    /// or the executor's own way to let a job clean up.
    Stop,
    /// The runner failed: the job is killed at once.
    Abort,
}

/// Starts, watches and stops the processes of jobs.
pub trait Executor {
    /// Starts `job`. `Err` when it could not be started for a reason of
    /// this side (its log cannot be written, the executor cannot be
    /// reached): an error, not the job's failure.
    fn start(&mut self, job: &Launch) -> Result<Handle, String>;
    /// How the job ended, once it has; `None` while it runs. A handle is
    /// polled until it ended, not after.
    fn poll(&mut self, h: &Handle) -> Option<Ended>;
    /// Stops the job; a later [`Executor::poll`] tells when it has ended.
    fn cancel(&mut self, h: &Handle, why: Cancel);
    /// Sleeps until a started job may have ended or `timeout` has passed.
    fn wait(&mut self, timeout: Duration);
}

/// Jobs as child processes of this one, each with its own process group.
#[derive(Debug, Default)]
pub struct Local {
    children: HashMap<String, exec::Child>,
    started: u64,
}

impl Executor for Local {
    fn start(&mut self, job: &Launch) -> Result<Handle, String> {
        let child = exec::start(&job.spec)?;
        self.started += 1;
        let h = Handle {
            id: self.started.to_string(),
            pid: child.pid(),
        };
        self.children.insert(h.id.clone(), child);
        Ok(h)
    }

    fn poll(&mut self, h: &Handle) -> Option<Ended> {
        let Some(child) = self.children.get_mut(&h.id) else {
            return Some(Ended::Lost(format!("no local job {} is known", h.id)));
        };
        let ended = child.poll()?;
        self.children.remove(&h.id);
        Some(ended)
    }

    fn cancel(&mut self, h: &Handle, why: Cancel) {
        if let Some(child) = self.children.get_mut(&h.id) {
            child.cancel(match why {
                Cancel::Stop => Stop::Term,
                Cancel::Abort => Stop::Kill,
            });
        }
    }

    fn wait(&mut self, timeout: Duration) {
        exec::wait_any(self.children.values(), Some(timeout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Status;

    fn launch(dir: &std::path::Path, script: &str) -> Launch {
        Launch {
            job_run: 1,
            job_id: "check".into(),
            spec: exec::Spec {
                program: "sh".into(),
                args: vec!["-c".into(), script.into()],
                env: Vec::new(),
                cwd: dir.to_path_buf(),
                log: dir.join("console.log"),
                timeout: Duration::from_secs(60),
                grace: Duration::from_secs(5),
            },
        }
    }

    #[test]
    fn the_local_executor_runs_polls_and_cancels_child_processes() {
        let d = tempfile::tempdir().unwrap();
        let mut local = Local::default();
        let quick = local.start(&launch(d.path(), "exit 4")).unwrap();
        let slow = local.start(&launch(d.path(), "exec sleep 300")).unwrap();
        assert_ne!(quick.id, slow.id);
        assert!(slow.pid.is_some_and(|p| exec::alive(i64::from(p))));
        let mut quick_end = None;
        while quick_end.is_none() {
            local.wait(Duration::from_secs(30));
            quick_end = local.poll(&quick);
        }
        assert_eq!(quick_end, Some(Ended::Finished(Status::Code(4))));
        assert_eq!(local.poll(&slow), None);
        local.cancel(&slow, Cancel::Stop);
        let mut slow_end = None;
        while slow_end.is_none() {
            local.wait(Duration::from_secs(30));
            slow_end = local.poll(&slow);
        }
        assert_eq!(slow_end, Some(Ended::Finished(Status::Signal(15))));
        assert!(matches!(local.poll(&slow), Some(Ended::Lost(_))));
    }
}
