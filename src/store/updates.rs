//! Updates: their builds and RPMs, their state and its history, the phase
//! jobs run for them, the combinations disabled by hand and the
//! must-provision list.

use rusqlite::{named_params, OptionalExtension, Row};
use serde::Serialize;

use super::Store;
use crate::config::Combination;
use crate::error::{DbContext, Result};

crate::stored_enum! {
    /// Where an update stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum UpdateState ("update state") {
        Submitted = "submitted",
        /// Its phase-1 jobs run.
        Testing = "testing",
        /// Phase 1 passed: it waits for phase 2.
        Passed = "passed",
        Failed = "failed",
        /// In the phase-2 pool.
        Pooled = "pooled",
        /// Phase 2 passed: it waits for stage.
        Ready = "ready",
        /// Published to stage, and the stage jobs passed.
        Staged = "staged",
        /// Published to production.
        Released = "released",
        Withdrawn = "withdrawn",
    }
}

crate::stored_enum! {
    /// The phase a job ran in.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Phase ("update phase") {
        Phase1 = "phase1",
        Phase2 = "phase2",
        Stage = "stage",
    }
}

crate::stored_enum! {
    /// How a phase job ended (or that it is running).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum PhaseOutcome ("phase job outcome") {
        Running = "running",
        Passed = "passed",
        Failed = "failed",
        TimedOut = "timed_out",
        /// Could not be run for a reason of this side.
        Error = "error",
    }
}

/// An update as listed.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateRow {
    pub id: i64,
    pub name: String,
    pub state: UpdateState,
    pub submitted_at: i64,
    pub submitted_by: String,
    pub passed_at: Option<i64>,
    pub reason: Option<String>,
}

/// One build of an update.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateBuild {
    pub nvr: String,
    pub release: String,
    pub dist: String,
    pub source: String,
}

/// One binary RPM of an update, as its header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rpm {
    pub name: String,
    pub epoch: i64,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// The promoter's copy.
    pub path: String,
}

/// An update to record.
pub struct NewUpdate<'a> {
    pub name: &'a str,
    pub file_text: &'a str,
    pub builds: &'a [UpdateBuild],
    /// The RPMs of each combination.
    pub rpms: &'a [(Combination, Rpm)],
}

/// One state change.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub state: UpdateState,
    pub at: i64,
    pub user: String,
    pub note: String,
}

/// One phase job on one combination.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseJob {
    pub id: i64,
    pub phase: Phase,
    pub update_id: Option<i64>,
    /// The updates a phase-2 or stage run tested, by id.
    pub pool: Vec<i64>,
    pub release: String,
    pub dist: String,
    pub job_id: String,
    pub outcome: PhaseOutcome,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub log: String,
    pub note: String,
}

/// A phase job to record as started.
pub struct NewPhaseJob<'a> {
    pub phase: Phase,
    pub update_id: Option<i64>,
    pub pool: &'a [i64],
    pub combination: &'a Combination,
    pub job_id: &'a str,
    pub log: &'a str,
}

/// A publish of a combination's repo to a target of source updates.
#[derive(Debug, Clone, Serialize)]
pub struct UpdatePublication {
    pub target: String,
    #[serde(flatten)]
    pub combination: Combination,
    pub version: String,
    pub dest: String,
    pub files: u64,
    pub bytes: u64,
    pub manifest_sha256: String,
    pub updates: Vec<i64>,
    pub published_at: i64,
}

/// A combination disabled by hand.
#[derive(Debug, Clone, Serialize)]
pub struct DisabledRow {
    pub id: i64,
    pub release: String,
    pub dist: String,
    pub reason: String,
    pub user: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// A package of the must-provision list.
#[derive(Debug, Clone, Serialize)]
pub struct MustProvision {
    pub package: String,
    pub user: String,
    pub added_at: i64,
}

const UPDATE_COLS: &str = "id, name, state, submitted_at, submitted_by, passed_at, reason";

fn update_row(r: &Row) -> rusqlite::Result<UpdateRow> {
    Ok(UpdateRow {
        id: r.get(0)?,
        name: r.get(1)?,
        state: r.get(2)?,
        submitted_at: r.get(3)?,
        submitted_by: r.get(4)?,
        passed_at: r.get(5)?,
        reason: r.get(6)?,
    })
}

fn phase_job(r: &Row) -> rusqlite::Result<PhaseJob> {
    let pool: String = r.get(3)?;
    Ok(PhaseJob {
        id: r.get(0)?,
        phase: r.get(1)?,
        update_id: r.get(2)?,
        pool: pool.split(',').filter_map(|s| s.parse().ok()).collect(),
        release: r.get(4)?,
        dist: r.get(5)?,
        job_id: r.get(6)?,
        outcome: r.get(7)?,
        started_at: r.get(8)?,
        finished_at: r.get(9)?,
        log: r.get(10)?,
        note: r.get(11)?,
    })
}

const JOB_COLS: &str =
    "id, phase, update_id, pool, release, dist, job_id, outcome, started_at, finished_at, log, note";

impl Store {
    /// Records an update, its builds and RPMs, and its first history row.
    pub fn add_update(&mut self, u: &NewUpdate, user: &str, now: i64) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO updates (name, state, file_text, submitted_at, submitted_by)
                 VALUES (:n, 'submitted', :f, :t, :u)",
                named_params! {":n": u.name, ":f": u.file_text, ":t": now, ":u": user},
            )
            .context("failed to record the update")?;
            let id = tx.last_insert_rowid();
            for b in u.builds {
                tx.execute(
                    "INSERT INTO update_builds (update_id, nvr, release, dist, source)
                     VALUES (:id, :nvr, :r, :d, :s)",
                    named_params! {":id": id, ":nvr": b.nvr, ":r": b.release, ":d": b.dist, ":s": b.source},
                )
                .context("failed to record the update's builds")?;
            }
            for (c, rpm) in u.rpms {
                tx.execute(
                    "INSERT INTO update_rpms (update_id, release, dist, name, epoch, version, rel, arch, path)
                     VALUES (:id, :r, :d, :n, :e, :v, :rel, :a, :p)",
                    named_params! {":id": id, ":r": c.release, ":d": c.dist, ":n": rpm.name,
                        ":e": rpm.epoch, ":v": rpm.version, ":rel": rpm.release, ":a": rpm.arch, ":p": rpm.path},
                )
                .context("failed to record the update's RPMs")?;
            }
            tx.execute(
                "INSERT INTO update_history (update_id, state, at, user, note)
                 VALUES (:id, 'submitted', :t, :u, '')",
                named_params! {":id": id, ":t": now, ":u": user},
            )
            .context("failed to record the update's history")?;
            Ok(id)
        })
    }

    /// Whether an update of this name is live (not failed, withdrawn or
    /// released).
    pub fn live_update_named(&self, name: &str) -> Result<Option<i64>> {
        self.conn()
            .query_row(
                "SELECT id FROM updates WHERE name = :n
                 AND state NOT IN ('failed', 'withdrawn', 'released')",
                named_params! {":n": name},
                |r| r.get(0),
            )
            .optional()
            .context("failed to read updates")
    }

    /// Moves updates to `state`, each with a history row; `reason` is kept
    /// on the update (why it failed, or was withdrawn).
    pub fn set_update_states(
        &mut self,
        ids: &[i64],
        state: UpdateState,
        note: &str,
        reason: Option<&str>,
        user: &str,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            for id in ids {
                // A withdrawn update stays withdrawn, whatever a run that
                // had it in hand when it was withdrawn finds afterwards.
                let changed = tx
                    .execute(
                        "UPDATE updates SET state = :s,
                             passed_at = CASE WHEN :s = 'passed' THEN :t ELSE passed_at END,
                             reason = COALESCE(:r, reason)
                         WHERE id = :id AND state <> 'withdrawn'",
                        named_params! {":s": state, ":t": now, ":r": reason, ":id": id},
                    )
                    .context("failed to change the update's state")?;
                if changed == 0 {
                    continue;
                }
                tx.execute(
                    "INSERT INTO update_history (update_id, state, at, user, note)
                     VALUES (:id, :s, :t, :u, :n)",
                    named_params! {":id": id, ":s": state, ":t": now, ":u": user, ":n": note},
                )
                .context("failed to record the update's history")?;
            }
            Ok(())
        })
    }

    pub fn update(&self, id: i64) -> Result<Option<UpdateRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {UPDATE_COLS} FROM updates WHERE id = :id"),
                named_params! {":id": id},
                update_row,
            )
            .optional()
            .context("failed to read the update")
    }

    /// Updates in `states` (all when empty), in the order phase 1 passed
    /// them, then by id.
    pub fn updates_in(&self, states: &[UpdateState]) -> Result<Vec<UpdateRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {UPDATE_COLS} FROM updates ORDER BY passed_at IS NULL, passed_at, id"
            ))
            .context("failed to read updates")?;
        let rows = stmt
            .query_map([], update_row)
            .context("failed to read updates")?;
        let mut out = Vec::new();
        for r in rows {
            let r = r.context("failed to read an update")?;
            if states.is_empty() || states.contains(&r.state) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The update file as it was submitted.
    pub fn update_file_text(&self, id: i64) -> Result<String> {
        self.conn()
            .query_row(
                "SELECT file_text FROM updates WHERE id = :id",
                named_params! {":id": id},
                |r| r.get(0),
            )
            .context("failed to read the update file")
    }

    pub fn update_builds(&self, id: i64) -> Result<Vec<UpdateBuild>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT nvr, release, dist, source FROM update_builds WHERE update_id = :id
                 ORDER BY release, dist, nvr",
            )
            .context("failed to read the update's builds")?;
        let rows = stmt
            .query_map(named_params! {":id": id}, |r| {
                Ok(UpdateBuild {
                    nvr: r.get(0)?,
                    release: r.get(1)?,
                    dist: r.get(2)?,
                    source: r.get(3)?,
                })
            })
            .context("failed to read the update's builds")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the update's builds")
    }

    /// The combinations an update has builds for.
    pub fn update_combinations(&self, id: i64) -> Result<Vec<Combination>> {
        let mut out: Vec<Combination> = Vec::new();
        for b in self.update_builds(id)? {
            let c = Combination {
                release: b.release,
                dist: b.dist,
            };
            if !out.contains(&c) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The RPMs of an update for one combination.
    pub fn update_rpms(&self, id: i64, c: &Combination) -> Result<Vec<Rpm>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT name, epoch, version, rel, arch, path FROM update_rpms
                 WHERE update_id = :id AND release = :r AND dist = :d ORDER BY name, arch",
            )
            .context("failed to read the update's RPMs")?;
        let rows = stmt
            .query_map(
                named_params! {":id": id, ":r": c.release, ":d": c.dist},
                |r| {
                    Ok(Rpm {
                        name: r.get(0)?,
                        epoch: r.get(1)?,
                        version: r.get(2)?,
                        release: r.get(3)?,
                        arch: r.get(4)?,
                        path: r.get(5)?,
                    })
                },
            )
            .context("failed to read the update's RPMs")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the update's RPMs")
    }

    pub fn update_history(&self, id: i64) -> Result<Vec<HistoryRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT state, at, user, note FROM update_history WHERE update_id = :id ORDER BY id",
            )
            .context("failed to read the update's history")?;
        let rows = stmt
            .query_map(named_params! {":id": id}, |r| {
                Ok(HistoryRow {
                    state: r.get(0)?,
                    at: r.get(1)?,
                    user: r.get(2)?,
                    note: r.get(3)?,
                })
            })
            .context("failed to read the update's history")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the update's history")
    }

    pub fn start_phase_job(&mut self, j: &NewPhaseJob, now: i64) -> Result<i64> {
        let pool: Vec<String> = j.pool.iter().map(i64::to_string).collect();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO update_job_runs (phase, update_id, pool, release, dist, job_id, outcome, started_at, log)
                 VALUES (:p, :u, :pool, :r, :d, :j, 'running', :t, :l)",
                named_params! {":p": j.phase, ":u": j.update_id, ":pool": pool.join(","),
                    ":r": j.combination.release, ":d": j.combination.dist, ":j": j.job_id, ":t": now, ":l": j.log},
            )
            .context("failed to record the phase job")?;
            Ok(tx.last_insert_rowid())
        })
    }

    pub fn finish_phase_job(
        &mut self,
        id: i64,
        outcome: PhaseOutcome,
        note: &str,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE update_job_runs SET outcome = :o, finished_at = :t, note = :n WHERE id = :id",
                named_params! {":o": outcome, ":t": now, ":n": note, ":id": id},
            )
            .context("failed to record the end of the phase job")?;
            Ok(())
        })
    }

    /// The phase-1 jobs of an update, and the phase-2 and stage jobs of
    /// every pool it was in, oldest first.
    pub fn phase_jobs_of(&self, update_id: i64) -> Result<Vec<PhaseJob>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {JOB_COLS} FROM update_job_runs
                 WHERE update_id = :id OR ',' || pool || ',' LIKE '%,' || :id || ',%' ORDER BY id"
            ))
            .context("failed to read the phase jobs")?;
        let rows = stmt
            .query_map(named_params! {":id": update_id}, phase_job)
            .context("failed to read the phase jobs")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the phase jobs")
    }

    pub fn phase_job(&self, id: i64) -> Result<Option<PhaseJob>> {
        self.conn()
            .query_row(
                &format!("SELECT {JOB_COLS} FROM update_job_runs WHERE id = :id"),
                named_params! {":id": id},
                phase_job,
            )
            .optional()
            .context("failed to read the phase job")
    }

    /// When the last phase 2 started, if one ever did.
    pub fn last_phase2(&self) -> Result<Option<i64>> {
        self.conn()
            .query_row(
                "SELECT MAX(started_at) FROM update_job_runs WHERE phase = 'phase2'",
                [],
                |r| r.get(0),
            )
            .context("failed to read the phase jobs")
    }

    /// The phase jobs recorded as running, by id.
    pub fn running_phase_jobs(&self) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT id FROM update_job_runs WHERE outcome = 'running' ORDER BY id")
            .context("failed to read the phase jobs")?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .context("failed to read the phase jobs")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the phase jobs")
    }

    /// Phase jobs left running by a run that died: they ended without an
    /// outcome.
    pub fn interrupt_phase_jobs(&mut self, now: i64) -> Result<usize> {
        self.write(|tx| {
            tx.execute(
                "UPDATE update_job_runs SET outcome = 'error', finished_at = :t,
                     note = 'its run ended before it did'
                 WHERE outcome = 'running'",
                named_params! {":t": now},
            )
            .context("failed to close the phase jobs of an earlier run")
        })
    }

    pub fn add_update_publication(&mut self, p: &UpdatePublication) -> Result<()> {
        let ids: Vec<String> = p.updates.iter().map(i64::to_string).collect();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO update_publications (target, release, dist, version, dest, files, bytes,
                     manifest_sha256, updates, published_at)
                 VALUES (:t, :r, :d, :v, :dest, :f, :b, :m, :u, :at)",
                named_params! {":t": p.target, ":r": p.combination.release, ":d": p.combination.dist,
                    ":v": p.version, ":dest": p.dest, ":f": p.files as i64, ":b": p.bytes as i64,
                    ":m": p.manifest_sha256, ":u": ids.join(","), ":at": p.published_at},
            )
            .context("failed to record the publish")?;
            Ok(())
        })
    }

    /// The newest publish of each target and combination, by target and
    /// combination.
    pub fn last_update_publications(&self) -> Result<Vec<UpdatePublication>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT target, release, dist, version, dest, files, bytes, manifest_sha256, updates, published_at
                 FROM update_publications p
                 WHERE id = (SELECT MAX(id) FROM update_publications q
                             WHERE q.target = p.target AND q.release = p.release AND q.dist = p.dist)
                 ORDER BY target, release, dist",
            )
            .context("failed to read the publishes of updates")?;
        let rows = stmt
            .query_map([], |r| {
                let ids: String = r.get(8)?;
                Ok(UpdatePublication {
                    target: r.get(0)?,
                    combination: Combination {
                        release: r.get(1)?,
                        dist: r.get(2)?,
                    },
                    version: r.get(3)?,
                    dest: r.get(4)?,
                    files: r.get::<_, i64>(5)? as u64,
                    bytes: r.get::<_, i64>(6)? as u64,
                    manifest_sha256: r.get(7)?,
                    updates: ids.split(',').filter_map(|s| s.parse().ok()).collect(),
                    published_at: r.get(9)?,
                })
            })
            .context("failed to read the publishes of updates")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the publishes of updates")
    }

    pub fn disable_combination(
        &mut self,
        c: &Combination,
        reason: &str,
        expires_at: Option<i64>,
        user: &str,
        now: i64,
    ) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO disabled_combinations (release, dist, reason, user, created_at, expires_at)
                 VALUES (:r, :d, :why, :u, :t, :e)",
                named_params! {":r": c.release, ":d": c.dist, ":why": reason, ":u": user, ":t": now, ":e": expires_at},
            )
            .context("failed to record the disabled combination")?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Ends every live disabling of `c`; how many there were.
    pub fn enable_combination(&mut self, c: &Combination, user: &str, now: i64) -> Result<usize> {
        self.write(|tx| {
            tx.execute(
                "UPDATE disabled_combinations SET enabled_at = :t, enabled_by = :u
                 WHERE release = :r AND dist = :d AND enabled_at IS NULL
                   AND (expires_at IS NULL OR expires_at > :t)",
                named_params! {":r": c.release, ":d": c.dist, ":u": user, ":t": now},
            )
            .context("failed to enable the combination")
        })
    }

    /// The combinations disabled by hand at `now`.
    pub fn disabled_combinations(&self, now: i64) -> Result<Vec<DisabledRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, release, dist, reason, user, created_at, expires_at FROM disabled_combinations
                 WHERE enabled_at IS NULL AND (expires_at IS NULL OR expires_at > :t) ORDER BY id",
            )
            .context("failed to read the disabled combinations")?;
        let rows = stmt
            .query_map(named_params! {":t": now}, |r| {
                Ok(DisabledRow {
                    id: r.get(0)?,
                    release: r.get(1)?,
                    dist: r.get(2)?,
                    reason: r.get(3)?,
                    user: r.get(4)?,
                    created_at: r.get(5)?,
                    expires_at: r.get(6)?,
                })
            })
            .context("failed to read the disabled combinations")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the disabled combinations")
    }

    /// Adds a package; false when it was listed already.
    pub fn add_must_provision(&mut self, package: &str, user: &str, now: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO must_provision (package, user, added_at) VALUES (:p, :u, :t)",
                    named_params! {":p": package, ":u": user, ":t": now},
                )
                .context("failed to add to the must-provision list")?;
            Ok(n == 1)
        })
    }

    /// Removes a package; false when it was not listed.
    pub fn remove_must_provision(&mut self, package: &str) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .execute(
                    "DELETE FROM must_provision WHERE package = :p",
                    named_params! {":p": package},
                )
                .context("failed to remove from the must-provision list")?;
            Ok(n == 1)
        })
    }

    pub fn must_provision(&self) -> Result<Vec<MustProvision>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT package, user, added_at FROM must_provision ORDER BY package")
            .context("failed to read the must-provision list")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MustProvision {
                    package: r.get(0)?,
                    user: r.get(1)?,
                    added_at: r.get(2)?,
                })
            })
            .context("failed to read the must-provision list")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the must-provision list")
    }
}
