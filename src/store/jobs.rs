//! Job runs and the votes they cast: in progress when a job starts,
//! replaced by the final vote when it ends.

use rusqlite::{named_params, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::error::{DbContext, Result};

crate::stored_enum! {
    /// How a job run ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum JobOutcome ("job outcome") {
        Passed = "passed",
        Failed = "failed",
        TimedOut = "timed_out",
        /// Could not be started or finished because of the promoter's side
        /// (its log directory not writable, no test environment in time): no
        /// vote, never the build's failure; the next run tries again.
        Error = "error",
    }
}

crate::stored_enum! {
    /// Where a recorded job run stands: running, one of the ends of
    /// [`JobOutcome`], or ended without one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RunState ("job run state") {
        Running = "running",
        Passed = "passed",
        Failed = "failed",
        TimedOut = "timed_out",
        /// Its runner died, or was stopped, before it ended.
        Interrupted = "interrupted",
        /// No test environment was free in time.
        Unscheduled = "unscheduled",
        Error = "error",
    }
}

/// A job run to record as started.
pub struct NewJobRun<'a> {
    pub run_id: i64,
    pub promotion: &'a str,
    pub job_id: &'a str,
    pub build_id: i64,
    pub log_dir: &'a str,
    pub testenv: Option<&'a str>,
    /// The lease it holds.
    pub lease: Option<i64>,
    pub user: &'a str,
}

/// The end of a job run.
pub struct JobEnd<'a> {
    pub outcome: JobOutcome,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub notes: &'a str,
    pub archive: Option<&'a str>,
    pub url: &'a str,
}

/// A recorded job run, for `why`.
#[derive(Debug, Clone, Serialize)]
pub struct JobRunRow {
    pub id: i64,
    pub job_id: String,
    pub outcome: RunState,
    pub notes: String,
    pub archive: Option<String>,
    pub log_dir: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

/// A job run recorded as running: what a run needs to follow it, stop it
/// when it is superseded, or recover it when its supervisor died.
#[derive(Debug, Clone, Serialize)]
pub struct RunningJob {
    pub id: i64,
    pub run_id: Option<i64>,
    pub promotion: String,
    pub job_id: String,
    pub build_id: i64,
    pub full_hash: crate::ident::FullHash,
    /// The job's process (and group) id, once started.
    pub pid: Option<i64>,
    /// Its supervisor's (at first, the run that recorded it).
    pub runner_pid: i64,
    pub testenv: Option<String>,
    pub lease_id: Option<i64>,
    pub started_at: i64,
    /// Its log directory, left unpacked until it ends.
    pub log_dir: String,
    /// The executor that runs it (`local`, or an executor's name), and
    /// that executor's id of it (a Slurm job id).
    pub executor: String,
    pub executor_id: Option<String>,
}

impl RunningJob {
    /// Whether it runs under a supervisor of this host.
    pub fn is_local(&self) -> bool {
        self.executor == "local"
    }
}

/// How a job run ended, with its vote's url, for the run that waits for it.
#[derive(Debug, Clone)]
pub struct JobRunEnd {
    pub promotion: String,
    pub job_id: String,
    pub full_hash: crate::ident::FullHash,
    pub outcome: RunState,
    pub notes: String,
    pub url: String,
    pub seconds: i64,
}

impl Store {
    /// Records a job as started, with its in-progress vote. Returns the job
    /// run's id.
    pub fn start_job_run(&mut self, j: &NewJobRun, now: i64) -> Result<i64> {
        // A lease of the shared broker is not a lease of this database.
        let (own, broker) = match self.has_broker() {
            true => (None, j.lease),
            false => (j.lease, None),
        };
        self.write(|tx| {
            tx.execute(
                "INSERT INTO votes (build_id, job_id, success, in_progress, url, notes, timestamp, user, recorded_at)
                 VALUES (:b, :j, 0, 1, '', 'running', :t, :u, :t)",
                named_params! {":b": j.build_id, ":j": j.job_id, ":t": now, ":u": j.user},
            )
            .context("failed to record the in-progress vote")?;
            let vote = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO job_runs (run_id, promotion, job_id, build_id, vote_id, runner_pid, testenv, lease_id, broker_lease_id, started_at, log_dir)
                 VALUES (:r, :p, :j, :b, :v, :rp, :te, :le, :ble, :t, :l)",
                named_params! {":r": j.run_id, ":p": j.promotion, ":j": j.job_id, ":b": j.build_id,
                    ":v": vote, ":rp": std::process::id(), ":te": j.testenv, ":le": own, ":ble": broker, ":t": now, ":l": j.log_dir},
            )
            .context("failed to record the job run")?;
            Ok(tx.last_insert_rowid())
        })
    }

    pub fn set_job_pid(&mut self, id: i64, pid: u32) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE job_runs SET pid = ?1 WHERE id = ?2", (pid, id))
                .context("failed to record the job's pid")?;
            Ok(())
        })
    }

    /// Records how a job ended and replaces its in-progress vote by the final one.
    pub fn finish_job_run(&mut self, id: i64, end: &JobEnd, now: i64) -> Result<()> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE job_runs SET ended_at = :t, outcome = :o, exit_code = :c, signal = :s,
                        notes = :n, archive = :a WHERE id = :id AND outcome = 'running'",
                named_params! {":t": now, ":o": end.outcome.as_str(), ":c": end.exit_code,
                    ":s": end.signal, ":n": end.notes, ":a": end.archive, ":id": id},
            )
            .context("failed to record the end of the job")?;
            // A run already ended (found interrupted meanwhile) keeps what
            // it recorded: the run and its vote agree.
            if changed == 0 {
                return Ok(());
            }
            tx.execute(
                "UPDATE votes SET success = :ok, in_progress = 0, url = :u, notes = :n, recorded_at = :t
                 WHERE id = (SELECT vote_id FROM job_runs WHERE id = :id)",
                named_params! {":ok": end.outcome == JobOutcome::Passed, ":u": end.url,
                    ":n": end.notes, ":t": now, ":id": id},
            )
            .context("failed to record the job's vote")?;
            Ok(())
        })
    }

    /// Records that a job run could not run because of the promoter's side:
    /// outcome `error`, and its in-progress vote is withdrawn, since it says
    /// nothing about the build.
    pub fn error_job_run(&mut self, id: i64, reason: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            let vote: Option<i64> = tx
                .query_row("SELECT vote_id FROM job_runs WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .context("failed to read the job run")?;
            let changed = tx.execute(
                "UPDATE job_runs SET outcome = 'error', ended_at = :t, notes = :n, vote_id = NULL
                 WHERE id = :id AND outcome = 'running'",
                named_params! {":t": now, ":n": reason, ":id": id},
            )
            .context("failed to record the job's error")?;
            if changed == 0 {
                return Ok(());
            }
            if let Some(v) = vote {
                tx.execute("DELETE FROM votes WHERE id = ?1 AND in_progress = 1", [v])
                    .context("failed to withdraw the job's vote")?;
            }
            Ok(())
        })
    }

    /// Records a job run its runner stopped (asked to stop itself): like a
    /// job whose runner died, its vote is a failure that says so and does
    /// not count as voted on.
    pub fn interrupt_job_run(&mut self, id: i64, note: &str, now: i64) -> Result<()> {
        self.write(|tx| mark_interrupted(tx, id, note, now))
    }

    /// The job runs recorded as running, oldest first.
    pub fn running_job_runs(&self) -> Result<Vec<RunningJob>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT j.id, j.run_id, j.promotion, j.job_id, j.build_id, b.full_hash, j.pid,
                        j.runner_pid, j.testenv, j.started_at, j.log_dir, COALESCE(j.lease_id, j.broker_lease_id),
                        j.executor, j.executor_id
                 FROM job_runs j JOIN builds b ON b.id = j.build_id
                 WHERE j.outcome = 'running' ORDER BY j.id",
            )
            .context("failed to read running jobs")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunningJob {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    promotion: r.get(2)?,
                    job_id: r.get(3)?,
                    build_id: r.get(4)?,
                    full_hash: r.get(5)?,
                    pid: r.get(6)?,
                    runner_pid: r.get(7)?,
                    testenv: r.get(8)?,
                    started_at: r.get(9)?,
                    log_dir: r.get(10)?,
                    lease_id: r.get(11)?,
                    executor: r.get(12)?,
                    executor_id: r.get(13)?,
                })
            })
            .context("failed to read running jobs")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read running jobs")
    }

    /// Records the process that supervises a job run now (its supervisor,
    /// once detached): the one whose life the job run's is.
    pub fn set_job_supervisor(&mut self, id: i64, pid: u32) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE job_runs SET runner_pid = ?1 WHERE id = ?2",
                (pid, id),
            )
            .context("failed to record the job's supervisor")?;
            Ok(())
        })
    }

    /// Records the executor that runs job run `id`, and its id there.
    pub fn set_job_executor(
        &mut self,
        id: i64,
        executor: &str,
        executor_id: Option<&str>,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE job_runs SET executor = ?1, executor_id = ?2 WHERE id = ?3",
                (executor, executor_id, id),
            )
            .context("failed to record the job's executor")?;
            Ok(())
        })
    }

    /// How job run `id` ended; `None` while it runs.
    pub fn job_run_end(&self, id: i64) -> Result<Option<JobRunEnd>> {
        self.conn()
            .prepare_cached(
                "SELECT j.promotion, j.job_id, b.full_hash, j.outcome, j.notes, coalesce(v.url, ''),
                        coalesce(j.ended_at, j.started_at) - j.started_at
                 FROM job_runs j JOIN builds b ON b.id = j.build_id
                 LEFT JOIN votes v ON v.id = j.vote_id
                 WHERE j.id = ?1 AND j.outcome != 'running'",
            )
            .and_then(|mut s| {
                s.query_row([id], |r| {
                    Ok(JobRunEnd {
                        promotion: r.get(0)?,
                        job_id: r.get(1)?,
                        full_hash: r.get(2)?,
                        outcome: r.get(3)?,
                        notes: r.get(4)?,
                        url: r.get(5)?,
                        seconds: r.get(6)?,
                    })
                })
                .optional()
            })
            .context("failed to read the job run")
    }

    /// The final votes of `job_id` on a build: whether one passed, and how
    /// many failed (the votes of interrupted or unscheduled runs do not
    /// count).
    pub fn vote_tally(&self, build_id: i64, job_id: &str) -> Result<(bool, i64)> {
        self.conn()
            .prepare_cached(
                "SELECT coalesce(max(v.success), 0), coalesce(sum(1 - v.success), 0)
                 FROM votes v WHERE v.build_id = :b AND v.job_id = :j AND v.in_progress = 0
                   AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.vote_id = v.id
                                   AND r.outcome IN ('interrupted', 'unscheduled'))",
            )
            .and_then(|mut s| {
                s.query_row(named_params! {":b": build_id, ":j": job_id}, |r| {
                    Ok((r.get::<_, i64>(0)? != 0, r.get(1)?))
                })
            })
            .context("failed to read votes")
    }

    /// Records the packed logs of a job run after the fact (an interrupted
    /// job's, packed by the next run), and makes its vote point at them.
    pub fn set_job_archive(&mut self, id: i64, archive: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE job_runs SET archive = ?1 WHERE id = ?2",
                (archive, id),
            )
            .context("failed to record the job's logs")?;
            tx.execute(
                "UPDATE votes SET url = ?1 WHERE id = (SELECT vote_id FROM job_runs WHERE id = ?2) AND url = ''",
                (archive, id),
            )
            .context("failed to record the job's logs")?;
            Ok(())
        })
    }

    /// Whether `job_id` has a final vote on the build (the vote of a run
    /// that was interrupted or never scheduled does not count).
    pub fn has_final_vote(&self, build_id: i64, job_id: &str) -> Result<bool> {
        self.conn()
            .prepare_cached(
                "SELECT 1 FROM votes v WHERE v.build_id = :b AND v.job_id = :j AND v.in_progress = 0
                   AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.vote_id = v.id
                                   AND r.outcome IN ('interrupted', 'unscheduled'))
                 LIMIT 1",
            )
            .and_then(|mut s| s.exists(named_params! {":b": build_id, ":j": job_id}))
            .context("failed to read votes")
    }

    /// The newest run of `job_id` on a build.
    pub fn last_job_run(&self, build_id: i64, job_id: &str) -> Result<Option<JobRunRow>> {
        self.conn()
            .prepare_cached(
                "SELECT id, job_id, outcome, notes, archive, log_dir, started_at, ended_at FROM job_runs
                 WHERE build_id = :b AND job_id = :j ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(named_params! {":b": build_id, ":j": job_id}, |r| {
                    Ok(JobRunRow {
                        id: r.get(0)?,
                        job_id: r.get(1)?,
                        outcome: r.get(2)?,
                        notes: r.get(3)?,
                        archive: r.get(4)?,
                        log_dir: r.get(5)?,
                        started_at: r.get(6)?,
                        ended_at: r.get(7)?,
                    })
                })
                .optional()
            })
            .context("failed to read job runs")
    }
}

/// Marks a running job run `interrupted` with `note`; its vote becomes a
/// failure that says so (and, being an interrupted run's, does not count
/// as voted on).
fn mark_interrupted(tx: &rusqlite::Connection, id: i64, note: &str, now: i64) -> Result<()> {
    let changed = tx
        .execute(
            "UPDATE job_runs SET outcome = 'interrupted', ended_at = :t, notes = :n WHERE id = :id AND outcome = 'running'",
            named_params! {":t": now, ":n": note, ":id": id},
        )
        .context("failed to mark a job interrupted")?;
    // A run that already ended keeps its vote: the run and its vote agree.
    if changed == 0 {
        return Ok(());
    }
    tx.execute(
        "UPDATE votes SET in_progress = 0, success = 0, notes = :n, recorded_at = :t
         WHERE id = (SELECT vote_id FROM job_runs WHERE id = :id)",
        named_params! {":t": now, ":n": note, ":id": id},
    )
    .context("failed to mark a job interrupted")?;
    Ok(())
}
