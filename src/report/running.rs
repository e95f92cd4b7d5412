//! The jobs running now, as `status`, `why`, the page and the metrics show
//! them: which build, since when, where (this host and its processes, or
//! an executor's id), and how long before its timeout stops it.

use serde::Serialize;

use crate::config::Config;
use crate::error::Result;
use crate::ident::FullHash;
use crate::store::Store;

/// One running job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningJob {
    pub job_run: i64,
    pub promotion: String,
    pub job_id: String,
    pub full_hash: FullHash,
    pub started_at: i64,
    /// Where it runs: this host's name, for a local job.
    pub host: String,
    /// The job's process (and group), and its supervisor's.
    pub pid: Option<i64>,
    pub supervisor_pid: i64,
    pub testenv: Option<String>,
    /// The executor that runs it (`local`, or an executor's name), and its
    /// id there (a Slurm job id).
    pub executor: String,
    pub executor_id: Option<String>,
    /// When its timeout stops it, and how long that is from now.
    pub timeout_at: Option<i64>,
    pub seconds_left: Option<i64>,
}

/// The jobs recorded as running, oldest first.
pub fn running(store: &Store, cfg: &Config, now: i64) -> Result<Vec<RunningJob>> {
    let host = hostname();
    Ok(store
        .running_job_runs()?
        .into_iter()
        .map(|r| {
            let timeout_at = timeout(cfg, &r.job_id).map(|t| r.started_at + t);
            let host = if r.is_local() {
                host.clone()
            } else {
                format!("Slurm executor {}", r.executor)
            };
            RunningJob {
                job_run: r.id,
                promotion: r.promotion,
                job_id: r.job_id,
                full_hash: r.full_hash,
                started_at: r.started_at,
                host,
                pid: r.pid,
                supervisor_pid: r.runner_pid,
                testenv: r.testenv,
                executor: r.executor,
                executor_id: r.executor_id,
                timeout_at,
                seconds_left: timeout_at.map(|t| (t - now).max(0)),
            }
        })
        .collect())
}

impl RunningJob {
    /// "since 10:02 (12m), on host (pid 4321), 2h 48m left".
    pub fn describe(&self, now: i64) -> String {
        let pid = match (&self.executor_id, self.pid) {
            (Some(id), _) if self.executor != "local" => format!("Slurm job {id}"),
            (_, Some(p)) => format!("pid {p}"),
            _ => format!("supervisor pid {}", self.supervisor_pid),
        };
        let left = match self.seconds_left {
            Some(s) => format!(", {} left before its timeout", super::age(s)),
            None => String::new(),
        };
        format!(
            "since {} ({}), on {} ({pid}){left}",
            crate::clock::short(self.started_at),
            super::age(now - self.started_at),
            self.host,
        )
    }
}

/// The timeout of job instance `job_id`, in seconds, if it is configured.
fn timeout(cfg: &Config, job_id: &str) -> Option<i64> {
    cfg.job_of_instance(job_id)
        .map(|j| j.timeout.as_secs() as i64)
}

/// This host's name, as the kernel has it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
