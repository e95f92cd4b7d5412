//! How the end of a job is recorded: what the way its process ended means
//! for the job (its outcome and notes), its packed logs and vote url, its
//! environment given back; and the error runs of jobs that could not run.

use std::path::{Path, PathBuf};

use super::{Batch, Event, Planned};
use crate::config::Config;
use crate::error::Result;
use crate::exec::Ended;
use crate::store::jobs::{JobEnd, JobOutcome, NewJobRun};
use crate::store::testenvs::Lease;
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

/// A job run recorded as started, with what its end is recorded with.
#[derive(Debug)]
pub struct Started {
    pub job_run: i64,
    pub lease: Option<Lease>,
    pub planned: Planned,
    pub log_dir: PathBuf,
}

impl Started {
    fn event(&self, outcome: JobOutcome, notes: String, url: String, seconds: f64) -> Event {
        Event::Ended {
            job_id: self.planned.instance.id.to_string(),
            full_hash: self.planned.build.full_hash.clone(),
            outcome,
            notes,
            url,
            seconds,
        }
    }

    fn release(&self, store: &mut Store, reason: &str) -> Result<()> {
        if let Some(l) = &self.lease {
            store.release_lease(l.id, reason, crate::clock::now())?;
        }
        Ok(())
    }
}

/// Records how the job of `r` ended after `seconds`: its final vote with
/// its packed logs, or an error run when its process could not be followed.
pub fn ended(store: &mut Store, b: &Batch, r: &Started, e: &Ended, seconds: f64) -> Result<Event> {
    let outcome = outcome(e);
    if outcome == JobOutcome::Error {
        return error(store, r, e.to_string());
    }
    let passed = outcome == JobOutcome::Passed;
    let notes = if passed { String::new() } else { e.to_string() };
    let (archive, mut notes) = match super::logs::pack(&r.log_dir) {
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
        Some(a) => log_url(b.cfg, a),
        None => r.log_dir.display().to_string(),
    };
    let archive_text = archive.as_ref().map(|a| a.display().to_string());
    store.finish_job_run(
        r.job_run,
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
    r.release(store, "released: the job ended")?;
    Ok(r.event(outcome, notes, url, seconds))
}

/// Records the job of `r` as an error run of this side (no vote): it could
/// not be started or followed, for `reason`.
pub fn error(store: &mut Store, r: &Started, reason: String) -> Result<Event> {
    store.error_job_run(r.job_run, &reason, crate::clock::now())?;
    r.release(store, "released: the job could not run")?;
    Ok(r.event(JobOutcome::Error, reason, String::new(), 0.0))
}

/// Records the job runs of `running` as interrupted with `note`, and gives
/// their environments back with `released`: all of them, whatever fails;
/// the first failure is returned.
pub fn interrupted(
    store: &mut Store,
    running: &[Started],
    note: &str,
    released: &str,
) -> Result<()> {
    let now = crate::clock::now();
    let mut first = Ok(());
    for r in running {
        let run = store.interrupt_job_run(r.job_run, note, now);
        let lease = match &r.lease {
            Some(l) => store.release_lease(l.id, released, now).map(drop),
            None => Ok(()),
        };
        for done in [run, lease] {
            if first.is_ok() {
                first = done;
            }
        }
    }
    first
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

/// The vote url of a log archive: under `logs_url` when configured, else
/// its path.
fn log_url(cfg: &Config, archive: &Path) -> String {
    match (&cfg.logs_url, archive.strip_prefix(&cfg.logs)) {
        (Some(base), Ok(rel)) => format!("{}/{}", base.trim_end_matches('/'), rel.display()),
        _ => archive.display().to_string(),
    }
}
