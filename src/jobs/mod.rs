//! The batch job runner: which jobs a promotion runs on which build (a pure
//! plan), a dispatcher that starts them in parallel with exclusive test
//! environments and records their runs and votes, and the executor that
//! runs their processes (local by default).

use crate::config::{Config, JobInstance, PromotionDef};
use crate::error::Result;
use crate::store::builds::Build;
use crate::store::jobs::JobOutcome;

mod dispatch;
pub mod executor;
mod launch;
pub mod logs;
pub mod record;
pub mod slurm;
pub mod supervisor;

pub use dispatch::{dispatch, Dispatched};
pub use executor::{Executor, Handle, Launch, Supervised};
pub use record::outcome;

/// One job instance to run on one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub instance: JobInstance,
    pub build: Build,
}

/// The final votes of one job on one build: whether one passed, and how
/// many failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: bool,
    pub failed: usize,
}

impl Tally {
    /// Whether the job is done with the build: it passed, or failed more
    /// times than its `retries` allow running it again.
    pub fn settled(self, retries: usize) -> bool {
        self.passed || self.failed > retries
    }
}

/// The jobs of `p` to run now: each enabled job instance runs on the newest
/// candidate it is not done with (no pass, and a failure only when its
/// `retries` are not used up); `rerun` names jobs (or job instances) to run
/// on the newest candidate anyway.
pub fn plan(
    cfg: &Config,
    p: &PromotionDef,
    candidates: &[Build],
    tally: impl Fn(&Build, &str) -> Result<Tally>,
    rerun: &[String],
) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    for name in &p.jobs {
        let Some(def) = cfg.job(name) else { continue };
        for instance in def.instances() {
            if instance.disabled.is_some() {
                continue;
            }
            let forced = rerun.iter().any(|r| r == name || r == instance.id.as_str());
            let mut chosen = None;
            for b in candidates {
                if forced || !tally(b, instance.id.as_str())?.settled(def.retries) {
                    chosen = Some(b.clone());
                    break;
                }
            }
            if let Some(build) = chosen {
                out.push(Planned {
                    instance: instance.clone(),
                    build,
                });
            }
        }
    }
    Ok(out)
}

/// The variable every process of a job inherits, naming its job run: what
/// finds a job's processes after its runner died, whatever their pids.
pub use crate::exec::MARKER_VAR;

/// The value of [`MARKER_VAR`]: the database's origin name and the job
/// run's id, unique across the releases of one host.
pub fn marker(origin: &str, job_run: i64) -> String {
    format!("{origin}:{job_run}")
}

/// What happened to a job, for the caller to log.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        job_id: String,
        full_hash: crate::ident::FullHash,
        testenv: Option<String>,
    },
    Ended {
        job_id: String,
        full_hash: crate::ident::FullHash,
        outcome: JobOutcome,
        notes: String,
        url: String,
        seconds: f64,
    },
}

/// Settings of a batch of jobs.
pub struct Batch<'a> {
    pub cfg: &'a Config,
    pub promotion: &'a str,
    pub run_id: i64,
    pub user: &'a str,
}

#[cfg(test)]
mod tests;
