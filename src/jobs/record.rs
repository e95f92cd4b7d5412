//! How the end of a job run is recorded, wherever it ran: what the way its
//! process ended means for the job (its outcome and notes), its packed logs
//! and vote url, its environment given back; and the error runs of jobs
//! that could not run. A local job's supervisor records its end with these;
//! a run records what it could not start.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Batch, Event, Planned};
use crate::config::Config;
use crate::error::Result;
use crate::exec::Ended;
use crate::store::jobs::{JobEnd, JobOutcome, NewJobRun};
use crate::store::Store;

/// The outcome of a job whose process ended so: a pass, a failure, a
/// timeout, or an error of this side when it could not be followed.
pub fn outcome(ended: &Ended) -> JobOutcome {
    match ended {
        e if e.passed() => JobOutcome::Passed,
        Ended::TimedOut { .. } => JobOutcome::TimedOut,
        Ended::Lost(_) => JobOutcome::Error,
        Ended::Finished(_) | Ended::NotStarted { .. } => JobOutcome::Failed,
    }
}

/// What the end of a job run is recorded with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finish {
    pub job_run: i64,
    /// The lease it holds, given back when it ends.
    pub lease: Option<i64>,
    pub log_dir: PathBuf,
    /// The log tree, and the url it is served under (`logs_url`), for the
    /// vote's url.
    pub logs: PathBuf,
    pub logs_url: Option<String>,
    /// The shared broker that holds the lease (`testenv_db`), if any.
    #[serde(default)]
    pub broker: Option<PathBuf>,
}

impl Finish {
    /// The release's database, with the broker that holds this run's lease.
    pub fn open(&self, database: &Path) -> Result<Store> {
        let store = Store::open(database)?;
        match &self.broker {
            Some(b) => store.with_broker(b),
            None => Ok(store),
        }
    }

    pub fn new(cfg: &Config, job_run: i64, lease: Option<i64>, log_dir: &Path) -> Finish {
        Finish {
            job_run,
            lease,
            log_dir: log_dir.to_path_buf(),
            logs: cfg.logs.clone(),
            logs_url: cfg.logs_url.clone(),
            broker: cfg.testenv_db.clone(),
        }
    }

    fn release(&self, store: &mut Store, reason: &str) -> Result<()> {
        if let Some(l) = self.lease {
            // Taken back already (its holder seen gone) is released too.
            match store.release_lease(l, reason, crate::clock::now()) {
                Ok(_) | Err(crate::error::Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The vote url of a log archive: under `logs_url` when configured,
    /// else its path.
    fn url(&self, archive: &Path) -> String {
        match (&self.logs_url, archive.strip_prefix(&self.logs)) {
            (Some(base), Ok(rel)) => format!("{}/{}", base.trim_end_matches('/'), rel.display()),
            _ => archive.display().to_string(),
        }
    }
}

/// Records how the job run of `f` ended after `seconds`: its final vote
/// with its packed logs, or an error run when its process could not be
/// followed; its environment is given back. Returns its outcome and notes.
pub fn finish(
    store: &mut Store,
    f: &Finish,
    e: &Ended,
    seconds: f64,
) -> Result<(JobOutcome, String)> {
    let outcome = outcome(e);
    if outcome == JobOutcome::Error {
        let reason = e.to_string();
        error(store, f, &reason)?;
        return Ok((outcome, reason));
    }
    let passed = outcome == JobOutcome::Passed;
    let notes = if passed { String::new() } else { e.to_string() };
    let (archive, mut notes) = match super::logs::pack(&f.log_dir) {
        Ok(a) => (Some(a), notes),
        Err(err) => (
            None,
            format!("{notes} (its logs could not be packed: {err})"),
        ),
    };
    if notes.is_empty() && passed {
        notes = format!("passed in {seconds:.0}s");
    }
    let url = match &archive {
        Some(a) => f.url(a),
        None => f.log_dir.display().to_string(),
    };
    let archive_text = archive.as_ref().map(|a| a.display().to_string());
    store.finish_job_run(
        f.job_run,
        &JobEnd {
            outcome,
            exit_code: e.exit_code(),
            signal: e.signal(),
            notes: &notes,
            archive: archive_text.as_deref(),
            url: &url,
        },
        crate::clock::now(),
    )?;
    f.release(store, "released: the job ended")?;
    Ok((outcome, notes))
}

/// Records the job run of `f` as an error run of this side (no vote): it
/// could not be started or followed, for `reason`.
pub fn error(store: &mut Store, f: &Finish, reason: &str) -> Result<()> {
    store.error_job_run(f.job_run, reason, crate::clock::now())?;
    f.release(store, "released: the job could not run")
}

/// Records the job run of `f` as interrupted with `note` (stopped before
/// its end, or its supervisor gone): not a vote that counts, so the next
/// run runs it again if it is still wanted. Its logs so far are packed as
/// a finished job's are, and its environment is given back.
pub fn interrupted(store: &mut Store, f: &Finish, note: &str) -> Result<()> {
    store.interrupt_job_run(f.job_run, note, crate::clock::now())?;
    if f.log_dir.is_dir() {
        if let Ok(archive) = super::logs::pack(&f.log_dir) {
            store.set_job_archive(f.job_run, &archive.display().to_string())?;
        }
    }
    f.release(store, "released: the job was interrupted")
}

/// Records a job that never started because no environment came free: an
/// error of this side, not a vote; the next run tries again.
pub fn unscheduled(store: &mut Store, b: &Batch, p: &Planned) -> Result<Event> {
    let cfg = b.cfg;
    let pool = cfg
        .job(&p.instance.job)
        .and_then(|d| d.testenv.clone())
        .unwrap_or_default();
    let notes = format!(
        "not run: no test environment of pool {pool} came free within {}",
        crate::duration::format_secs(cfg.testenv_wait.as_secs() as i64)
    );
    let id = store.start_job_run(
        &NewJobRun {
            run_id: b.run_id,
            promotion: b.promotion,
            job_id: p.instance.id.as_str(),
            build_id: p.build.id,
            log_dir: "",
            testenv: None,
            lease: None,
            user: b.user,
        },
        crate::clock::now(),
    )?;
    store.error_job_run(id, &notes, crate::clock::now())?;
    Ok(Event::Ended {
        job_id: p.instance.id.to_string(),
        full_hash: p.build.full_hash.clone(),
        outcome: JobOutcome::Error,
        notes,
        url: String::new(),
        seconds: 0.0,
    })
}
