//! The dispatcher: which planned jobs start now (in order, at most
//! `max_parallel_jobs` of a promotion at a time counting those already
//! running, each holding a test environment of its pool when it asks for
//! one, never a job already running on that build), and what is recorded
//! when one starts. It never waits for a job: how a job ends is recorded
//! by its executor's side (a local job's supervisor), and the next run
//! decides on it.

use super::executor::{Executor, Launch};
use super::record::{self, Finish};
use super::{launch, marker, Batch, Event, Planned};
use crate::error::Result;
use crate::store::jobs::{JobOutcome, NewJobRun, RunningJob};
use crate::store::testenvs::{Holder, Lease};
use crate::store::Store;

/// What one dispatch did with the planned jobs.
#[derive(Debug, Default)]
pub struct Dispatched {
    /// The job runs it started.
    pub started: Vec<i64>,
    /// Jobs that wait for a test environment someone else holds.
    pub waiting: Vec<Planned>,
    /// Jobs that wait for one of the promotion's `max_parallel_jobs` slots.
    pub queued: Vec<Planned>,
    /// Jobs already running on that build: never started twice.
    pub running: Vec<Planned>,
    /// Jobs the executor could not start (error runs, not votes).
    pub errors: usize,
}

/// Starts what can start of `planned` on `exec`, and returns at once.
pub fn dispatch(
    store: &mut Store,
    b: &Batch,
    planned: Vec<Planned>,
    exec: &mut dyn Executor,
    on: &mut dyn FnMut(Event),
) -> Result<Dispatched> {
    let origin = store.origin()?;
    // A job running on a build for any promotion is its vote to come:
    // never a second copy. Slots are the promotion's own.
    let running: Vec<RunningJob> = store.running_job_runs()?;
    let here = running
        .iter()
        .filter(|r| r.promotion == b.promotion && r.executor == exec.name())
        .count();
    let mut slots = exec.slots(b.cfg.max_parallel_jobs).saturating_sub(here);
    let mut d = Dispatched::default();
    for p in planned {
        let on_it = |r: &RunningJob| r.build_id == p.build.id && r.job_id == p.instance.id.as_str();
        if running.iter().any(on_it) {
            d.running.push(p);
            continue;
        }
        if slots == 0 {
            d.queued.push(p);
            continue;
        }
        match seat(store, b, &p)? {
            Seat::Wait => d.waiting.push(p),
            Seat::Ready(lease) => {
                slots -= 1;
                match launch(store, b, &origin, p, lease, exec, on)? {
                    Some(id) => d.started.push(id),
                    None => d.errors += 1,
                }
            }
        }
    }
    Ok(d)
}

/// What a job waits for before it can start.
enum Seat {
    /// Nothing: it starts now, with the environment it holds, if any.
    Ready(Option<Lease>),
    /// Every environment of its pool is held.
    Wait,
}

/// Leases an environment of `p`'s pool, when it asks for one.
fn seat(store: &mut Store, b: &Batch, p: &Planned) -> Result<Seat> {
    let def = b
        .cfg
        .job(&p.instance.job)
        .expect("planned jobs are configured");
    let Some(pool) = &def.testenv else {
        return Ok(Seat::Ready(None));
    };
    let holder = format!(
        "run {} job {} on {}",
        b.run_id, p.instance.id, p.build.full_hash
    );
    // Held by this run until its job run is recorded: a run that dies
    // before gives it back.
    let holder = Holder {
        name: &holder,
        pid: Some(std::process::id()),
        expires_at: None,
    };
    let lease = store.acquire_testenv(pool, &holder, crate::clock::now())?;
    Ok(lease.map_or(Seat::Wait, |l| Seat::Ready(Some(l))))
}

/// Records `p` as started, holding `lease`, and hands it to `exec`. The
/// job run's id, or `None` when the executor could not start it (recorded
/// as an error run).
fn launch(
    store: &mut Store,
    b: &Batch,
    origin: &str,
    p: Planned,
    lease: Option<Lease>,
    exec: &mut dyn Executor,
    on: &mut dyn FnMut(Event),
) -> Result<Option<i64>> {
    let log_dir = launch::log_dir(b, &p);
    let _ = std::fs::remove_dir_all(&log_dir);
    let recorded = store.start_job_run(
        &NewJobRun {
            run_id: b.run_id,
            promotion: b.promotion,
            job_id: p.instance.id.as_str(),
            build_id: p.build.id,
            log_dir: &log_dir.display().to_string(),
            testenv: lease.as_ref().map(|l| l.testenv.as_str()),
            lease: lease.as_ref().map(|l| l.id),
            user: b.user,
        },
        crate::clock::now(),
    );
    let job_run = match recorded {
        Ok(id) => id,
        Err(e) => {
            if let Some(l) = &lease {
                let _ =
                    store.release_lease(l.id, "released: the runner failed", crate::clock::now());
            }
            return Err(e);
        }
    };
    let mark = marker(origin, job_run);
    if let Some(l) = &lease {
        // The lease lasts as long as any process of the job.
        store.set_lease_marker(l.id, &mark)?;
    }
    let finish = Finish::new(b.cfg, job_run, lease.as_ref().map(|l| l.id), &log_dir);
    let job = launch::launch(b, &p, lease.as_ref(), &log_dir, job_run, &mark, finish);
    if exec.name() != "local" {
        // Recorded before it is submitted: a run killed while sbatch runs
        // leaves a job run the next one knows is not a local process.
        store.set_job_executor(job_run, exec.name(), None)?;
        // Its lease is the job run's from now on, whatever happens to this
        // run: given back when the executor says the job ended.
        if let Some(l) = &lease {
            store.clear_lease_pid(l.id)?;
        }
    }
    on(Event::Started {
        job_id: p.instance.id.to_string(),
        full_hash: p.build.full_hash.clone(),
        testenv: lease.as_ref().map(|l| l.testenv.clone()),
    });
    start(store, &job, &p, exec, on)
}

/// Hands a recorded job to the executor; an executor that cannot start it
/// makes it an error run of this side, not the job's failure.
fn start(
    store: &mut Store,
    job: &Launch,
    p: &Planned,
    exec: &mut dyn Executor,
    on: &mut dyn FnMut(Event),
) -> Result<Option<i64>> {
    match exec.start(job) {
        Ok(h) => {
            if exec.name() != "local" || h.id.is_some() {
                store.set_job_executor(job.job_run, exec.name(), h.id.as_deref())?;
            }
            Ok(Some(job.job_run))
        }
        Err(reason) => {
            record::error(store, &job.finish, &reason)?;
            on(Event::Ended {
                job_id: p.instance.id.to_string(),
                full_hash: p.build.full_hash.clone(),
                outcome: JobOutcome::Error,
                notes: reason,
                url: String::new(),
                seconds: 0.0,
            });
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests;
