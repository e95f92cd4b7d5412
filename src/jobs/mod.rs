//! The batch job runner: which jobs a promotion runs on which build (a pure
//! plan), a dispatcher that starts them in parallel with exclusive test
//! environments and records their runs and votes, and the executor that
//! runs their processes (local by default).

use crate::config::{Config, JobInstance, PromotionDef};
use crate::error::Result;
use crate::store::builds::Build;
use crate::store::jobs::JobOutcome;
use crate::store::Store;

mod dispatch;
pub mod executor;
mod launch;
pub mod logs;
mod record;

pub use dispatch::dispatch;
pub use executor::{Cancel, Executor, Handle, Launch, Local};
pub use record::outcome;

/// One job instance to run on one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub instance: JobInstance,
    pub build: Build,
}

/// The jobs of `p` to run now: each enabled job instance runs on the newest
/// candidate that has no final vote from it yet; `rerun` names jobs (or job
/// instances) to run on the newest candidate anyway.
pub fn plan(
    cfg: &Config,
    p: &PromotionDef,
    candidates: &[Build],
    has_final_vote: impl Fn(&Build, &str) -> Result<bool>,
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
                if forced || !has_final_vote(b, instance.id.as_str())? {
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

/// Runs the planned jobs as local processes, at most `max_parallel_jobs`
/// at a time, each holding a test environment of its pool when it asks for
/// one. Records each job's in-progress vote when it starts and its final
/// vote when it ends; returns when all have ended.
pub fn run_all(
    store: &mut Store,
    b: &Batch,
    planned: Vec<Planned>,
    on: &mut dyn FnMut(Event),
) -> Result<()> {
    dispatch(store, b, planned, &mut Local::default(), on)
}

#[cfg(test)]
mod tests;
