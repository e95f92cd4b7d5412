//! The dispatcher: which planned job starts next (in order, at most
//! `max_parallel_jobs` at a time, each holding a test environment of its
//! pool when it asks for one), what is recorded when one starts and when it
//! ends, and stopping them all when the runner is asked to stop or fails.
//! Where and how a job's process runs is its [`Executor`]'s business.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::executor::{Cancel, Executor, Handle, Launch};
use super::record::{self, Started};
use super::{launch, marker, Batch, Event, Planned};
use crate::error::{Error, Result};
use crate::store::jobs::NewJobRun;
use crate::store::testenvs::{Holder, Lease};
use crate::store::Store;

/// The longest sleep between two looks at stop requests.
const TICK: Duration = Duration::from_millis(250);
/// The longest sleep while jobs wait for an environment held elsewhere,
/// between two looks at the environments.
const TESTENV_TICK: Duration = Duration::from_secs(1);
/// How long stopped jobs get, past their grace period, to end.
const STOP_MARGIN: Duration = Duration::from_secs(5);

/// Runs the planned jobs on `exec`, at most `max_parallel_jobs` at a time,
/// each holding a test environment of its pool when it asks for one.
/// Records each job's in-progress vote when it starts and its final vote
/// when it ends; returns when all have ended.
pub fn dispatch(
    store: &mut Store,
    b: &Batch,
    planned: Vec<Planned>,
    exec: &mut dyn Executor,
    on: &mut dyn FnMut(Event),
) -> Result<()> {
    let origin = store.origin()?;
    let mut d = Dispatcher {
        store,
        b,
        exec,
        on,
        origin,
        pending: planned.into(),
        running: Vec::new(),
        blocked_since: None,
    };
    let done = d.run();
    if done.is_err() {
        // On an error (the database failing, say), the jobs still running
        // are stopped and waited for, not left to run for hours while the
        // error waits. Best effort: they are recorded as interrupted and
        // their environments are free again; the next run runs them again.
        let stopped = d.cancel_all(Cancel::Abort);
        let _ = record::interrupted(
            d.store,
            &stopped,
            "interrupted: the runner failed before the job ended",
            "released: the runner failed",
        );
    }
    done
}

/// A job recorded as started, and its executor's handle once it has one.
struct Running {
    started: Started,
    handle: Option<Handle>,
    since: Instant,
}

/// What a job waits for before it can start.
enum Seat {
    /// Nothing: it starts now, with the environment it holds, if any.
    Ready(Option<Lease>),
    /// Every environment of its pool is held.
    Wait,
}

struct Dispatcher<'a, 'b> {
    store: &'a mut Store,
    b: &'a Batch<'b>,
    exec: &'a mut dyn Executor,
    on: &'a mut dyn FnMut(Event),
    origin: String,
    pending: VecDeque<Planned>,
    running: Vec<Running>,
    /// Since when the first pending job has waited for an environment.
    blocked_since: Option<Instant>,
}

impl Dispatcher<'_, '_> {
    fn run(&mut self) -> Result<()> {
        loop {
            // Asked to stop: the jobs are stopped, each recorded as
            // interrupted (not a vote), their environments given back.
            if let Some(signal) = crate::signals::stop_requested() {
                let stopped = self.cancel_all(Cancel::Stop);
                record::interrupted(
                    self.store,
                    &stopped,
                    "interrupted: its runner was asked to stop before the job ended",
                    "released: the job was stopped",
                )?;
                return Err(Error::Interrupted {
                    signal,
                    what: format!(
                        "{} running job(s) were stopped and recorded as interrupted; the next run runs them again",
                        stopped.len()
                    ),
                });
            }
            let blocked = self.start_ready()?;
            if self.running.is_empty() {
                if self.pending.is_empty() {
                    return Ok(());
                }
                // Only jobs waiting for an environment someone else holds:
                // given up on once the wait is over.
                let waited = self.blocked_since.map(|t| t.elapsed());
                if waited.unwrap_or_default() >= self.b.cfg.testenv_wait {
                    return self.give_up();
                }
            }
            self.exec.wait(if blocked { TESTENV_TICK } else { TICK });
            self.collect()?;
        }
    }

    /// Starts what can start, in order; a job waiting for an environment
    /// does not hold up the ones behind it. Returns whether one waits.
    fn start_ready(&mut self) -> Result<bool> {
        let mut still_pending = VecDeque::new();
        let mut blocked = false;
        while let Some(p) = self.pending.pop_front() {
            if self.running.len() >= self.b.cfg.max_parallel_jobs {
                still_pending.push_back(p);
                continue;
            }
            match self.seat(&p)? {
                Seat::Ready(lease) => self.launch(p, lease)?,
                Seat::Wait => {
                    blocked = true;
                    still_pending.push_back(p);
                }
            }
        }
        self.pending = still_pending;
        if blocked {
            self.blocked_since.get_or_insert_with(Instant::now);
        } else {
            self.blocked_since = None;
        }
        Ok(blocked)
    }

    /// Leases an environment of `p`'s pool, when it asks for one.
    fn seat(&mut self, p: &Planned) -> Result<Seat> {
        let def = self
            .b
            .cfg
            .job(&p.instance.job)
            .expect("planned jobs are configured");
        let Some(pool) = &def.testenv else {
            return Ok(Seat::Ready(None));
        };
        let holder = format!(
            "run {} job {} on {}",
            self.b.run_id, p.instance.id, p.build.full_hash
        );
        let holder = Holder {
            name: &holder,
            pid: Some(std::process::id()),
            expires_at: None,
        };
        let lease = self
            .store
            .acquire_testenv(pool, &holder, crate::clock::now())?;
        Ok(lease.map_or(Seat::Wait, |l| Seat::Ready(Some(l))))
    }

    /// Records `p` as started, holding `lease`, and starts it.
    fn launch(&mut self, p: Planned, lease: Option<Lease>) -> Result<()> {
        let log_dir = launch::log_dir(self.b, &p);
        let _ = std::fs::remove_dir_all(&log_dir);
        let recorded = self.store.start_job_run(
            &NewJobRun {
                run_id: self.b.run_id,
                promotion: self.b.promotion,
                job_id: p.instance.id.as_str(),
                build_id: p.build.id,
                log_dir: &log_dir.display().to_string(),
                testenv: lease.as_ref().map(|l| l.testenv.as_str()),
                user: self.b.user,
            },
            crate::clock::now(),
        );
        let job_run = match recorded {
            Ok(id) => id,
            Err(e) => {
                if let Some(l) = &lease {
                    let _ = self.store.release_lease(
                        l.id,
                        "released: the runner failed",
                        crate::clock::now(),
                    );
                }
                return Err(e);
            }
        };
        let mark = marker(&self.origin, job_run);
        let job = launch::launch(self.b, &p, lease.as_ref(), &log_dir, job_run, &mark);
        let started = Event::Started {
            job_id: p.instance.id.to_string(),
            full_hash: p.build.full_hash.clone(),
            testenv: lease.as_ref().map(|l| l.testenv.clone()),
        };
        let lease_id = lease.as_ref().map(|l| l.id);
        self.running.push(Running {
            started: Started {
                job_run,
                lease,
                planned: p,
                log_dir,
            },
            handle: None,
            since: Instant::now(),
        });
        if let Some(id) = lease_id {
            // The lease lasts as long as any process of the job.
            self.store.set_lease_marker(id, &mark)?;
        }
        (self.on)(started);
        self.start(&job)
    }

    /// Hands the newest running job to the executor.
    fn start(&mut self, job: &Launch) -> Result<()> {
        match self.exec.start(job) {
            Ok(h) => {
                let pid = h.pid;
                if let Some(r) = self.running.last_mut() {
                    r.handle = Some(h);
                }
                if let Some(pid) = pid {
                    self.store.set_job_pid(job.job_run, pid)?;
                }
            }
            Err(reason) => {
                // The promoter's side failed, not the job: no vote.
                let r = self.running.pop().expect("the job was recorded");
                let event = record::error(self.store, &r.started, reason)?;
                (self.on)(event);
            }
        }
        Ok(())
    }

    /// Records the jobs that have ended.
    fn collect(&mut self) -> Result<()> {
        let mut i = 0;
        while i < self.running.len() {
            let handle = self.running[i].handle.as_ref();
            let Some(ended) = handle.and_then(|h| self.exec.poll(h)) else {
                i += 1;
                continue;
            };
            let r = self.running.remove(i);
            let seconds = r.since.elapsed().as_secs_f64();
            let event = record::ended(self.store, self.b, &r.started, &ended, seconds)?;
            (self.on)(event);
        }
        Ok(())
    }

    /// Records the jobs that never got an environment as error runs.
    fn give_up(&mut self) -> Result<()> {
        for p in std::mem::take(&mut self.pending) {
            let event = record::unscheduled(self.store, self.b, &p)?;
            (self.on)(event);
        }
        Ok(())
    }

    /// Cancels every running job and waits, bounded by the grace period
    /// and a margin, until they have ended; returns them.
    fn cancel_all(&mut self, why: Cancel) -> Vec<Started> {
        let running = std::mem::take(&mut self.running);
        let mut left: Vec<&Handle> = running.iter().filter_map(|r| r.handle.as_ref()).collect();
        for h in &left {
            self.exec.cancel(h, why);
        }
        let until = Instant::now() + self.b.cfg.kill_grace + STOP_MARGIN;
        loop {
            left.retain(|h| self.exec.poll(h).is_none());
            let now = Instant::now();
            if left.is_empty() || now >= until {
                break;
            }
            self.exec.wait((until - now).min(TICK));
        }
        running.into_iter().map(|r| r.started).collect()
    }
}

#[cfg(test)]
mod tests;
