//! Runs of the pipeline and the promotions they carry out step by step.

use rusqlite::{named_params, Connection, OptionalExtension};
use serde::Serialize;

use super::promotions::Kind;
use super::Store;
use crate::error::{DbContext, Result};

crate::stored_enum! {
    /// The recorded steps of a promotion being carried out.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Step ("promotion step") {
        Decided = "decided",
        Hooks = "hooks",
        /// The build's container images tagged and copied, every tag read
        /// back.
        Containers = "containers",
        Images = "images",
        Trunk = "trunk",
        Done = "done",
        Stopped = "stopped",
    }
}

crate::stored_enum! {
    /// How a run ended (or that it is still going).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum RunOutcome ("run outcome") {
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        /// Stopped by a signal, or its process died.
        Interrupted = "interrupted",
    }
}

/// A promotion being carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    /// `None` for a command other than `run` (`repo-promote`, `rollback`, `replay`).
    pub run_id: Option<i64>,
    pub name: String,
    pub build_id: i64,
    pub previous_repo_dir: Option<String>,
    pub previous_image: Option<String>,
    pub step: Step,
    /// What the history row will say.
    pub kind: Kind,
    /// `None`: whoever carries it out.
    pub user: Option<String>,
    pub reason: String,
    pub aggregate_hash: Option<String>,
    /// Whether it writes `<trunk>/<name>/` as an aggregate of its members.
    pub aggregate: bool,
    /// The builds it moves the label to, with the link each found: its one
    /// build, or the component builds of a batch.
    pub members: Vec<Member>,
}

/// One build an attempt moves its label to, and where that label (of the
/// build's component) pointed when the attempt was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub build_id: i64,
    pub previous_repo_dir: Option<String>,
}

/// What a new attempt is, besides its build and the links it found.
#[derive(Debug, Clone)]
pub struct NewAttempt<'a> {
    pub run_id: Option<i64>,
    pub name: &'a str,
    pub build_id: i64,
    pub previous_repo_dir: Option<&'a str>,
    pub previous_image: Option<&'a str>,
    pub kind: Kind,
    pub user: Option<&'a str>,
    pub reason: &'a str,
    pub aggregate_hash: Option<&'a str>,
    pub aggregate: bool,
    /// A batch's members; empty for an attempt of one build.
    pub members: &'a [Member],
}

/// What a run that had nothing to do leaves for the next (`run_memo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMemo {
    /// What it found: see `usecase::memo`.
    pub fingerprint: String,
    /// [`Store::data_version`] before it read anything.
    pub data_version: i64,
    /// When it stops standing.
    pub valid_until: i64,
    pub blocked: i64,
    pub idle: i64,
    /// What it said of each promotion: a JSON array of `[level, line]`.
    pub lines: String,
}

/// The memo of the last quiet run, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMemo {
    pub fingerprint: String,
    pub run_id: i64,
    pub decided_at: i64,
    pub valid_until: i64,
    pub blocked: i64,
    pub idle: i64,
    pub lines: String,
}

/// The last run, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: RunOutcome,
    pub promoted: i64,
    pub blocked: i64,
    pub summary: String,
}

impl Store {
    /// Records the start of a run; runs left `running` by a process that
    /// died are marked `interrupted` first (the caller holds the run lock).
    pub fn start_run(&mut self, now: i64) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET outcome = 'interrupted', summary = 'the process died before the run ended'
                 WHERE outcome = 'running'",
                [],
            )
            .context("failed to close interrupted runs")?;
            tx.execute(
                "INSERT INTO runs (started_at, pid) VALUES (?1, ?2)",
                (now, std::process::id()),
            )
            .context("failed to record the run")?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Records the end of run `id`. With `memo`, a run that had nothing to
    /// do also leaves what it decided for the next run to repeat, unless
    /// another connection wrote since the run read [`Store::data_version`]
    /// as `memo.data_version` (a vote that came in while it decided): then
    /// the next run decides anew. Whether the memo was left.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_run(
        &mut self,
        id: i64,
        outcome: RunOutcome,
        promoted: i64,
        blocked: i64,
        summary: &str,
        now: i64,
        memo: Option<&NewMemo>,
    ) -> Result<bool> {
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET ended_at = :t, outcome = :o, promoted = :p, blocked = :b, summary = :s
                 WHERE id = :id",
                named_params! {":t": now, ":o": outcome, ":p": promoted, ":b": blocked, ":s": summary, ":id": id},
            )
            .context("failed to record the end of the run")?;
            let Some(m) = memo else {
                return Ok(false);
            };
            // Inside the write transaction: every commit before it is seen.
            if super::data_version(tx)? != m.data_version {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO run_memo (id, fingerprint, run_id, decided_at, valid_until, blocked, idle, lines)
                 VALUES (1, :f, :r, :t, :u, :b, :i, :l)",
                named_params! {
                    ":f": m.fingerprint, ":r": id, ":t": now, ":u": m.valid_until,
                    ":b": m.blocked, ":i": m.idle, ":l": m.lines,
                },
            )
            .context("failed to record what the run decided")?;
            Ok(true)
        })
    }

    /// The memo of the last quiet run, if no write came after it.
    pub fn run_memo(&self) -> Result<Option<RunMemo>> {
        self.conn()
            .prepare_cached(
                "SELECT fingerprint, run_id, decided_at, valid_until, blocked, idle, lines
                 FROM run_memo WHERE id = 1",
            )
            .and_then(|mut st| {
                st.query_row([], |r| {
                    Ok(RunMemo {
                        fingerprint: r.get(0)?,
                        run_id: r.get(1)?,
                        decided_at: r.get(2)?,
                        valid_until: r.get(3)?,
                        blocked: r.get(4)?,
                        idle: r.get(5)?,
                        lines: r.get(6)?,
                    })
                })
                .optional()
            })
            .context("failed to read the last quiet run")
    }

    /// Records a run that repeated the memo of run `memo.run_id`, whole
    /// (started and ended), keeping the memo for the next one.
    pub fn record_repeated_run(
        &mut self,
        memo: &RunMemo,
        summary_of: impl FnOnce(i64) -> String,
        started: i64,
        now: i64,
    ) -> Result<(i64, String)> {
        self.write_as(super::Memo::Keep, |tx| {
            tx.prepare_cached(
                "INSERT INTO runs (started_at, pid, ended_at, outcome, promoted, blocked, summary)
                 VALUES (?1, ?2, ?3, 'completed', 0, ?4, '')",
            )
            .and_then(|mut st| st.execute((started, std::process::id(), now, memo.blocked)))
            .context("failed to record the run")?;
            let id = tx.last_insert_rowid();
            let summary = summary_of(id);
            tx.prepare_cached("UPDATE runs SET summary = ?1 WHERE id = ?2")
                .and_then(|mut st| st.execute((&summary, id)))
                .context("failed to record the run")?;
            Ok((id, summary))
        })
    }

    pub fn last_run(&self) -> Result<Option<RunRow>> {
        self.conn()
            .query_row(
                "SELECT id, started_at, ended_at, outcome, promoted, blocked, summary
                 FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(RunRow {
                        id: r.get(0)?,
                        started_at: r.get(1)?,
                        ended_at: r.get(2)?,
                        outcome: r.get(3)?,
                        promoted: r.get(4)?,
                        blocked: r.get(5)?,
                        summary: r.get(6)?,
                    })
                },
            )
            .optional()
            .context("failed to read the last run")
    }

    /// Promotions a command started and did not finish.
    pub fn open_attempts(&self) -> Result<Vec<Attempt>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, run_id, name, build_id, previous_repo_dir, previous_image, step,
                        kind, user, reason, aggregate_hash, aggregate
                 FROM attempts WHERE step NOT IN ('done', 'stopped') ORDER BY id",
            )
            .context("failed to read unfinished promotions")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Attempt {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    name: r.get(2)?,
                    build_id: r.get(3)?,
                    previous_repo_dir: r.get(4)?,
                    previous_image: r.get(5)?,
                    step: r.get(6)?,
                    kind: r.get(7)?,
                    user: r.get(8)?,
                    reason: r.get(9)?,
                    aggregate_hash: r.get(10)?,
                    aggregate: r.get(11)?,
                    members: Vec::new(),
                })
            })
            .context("failed to read unfinished promotions")?;
        let mut attempts: Vec<Attempt> = rows
            .collect::<rusqlite::Result<_>>()
            .context("failed to read unfinished promotions")?;
        for a in &mut attempts {
            a.members = self.members(a)?;
        }
        Ok(attempts)
    }

    /// A batch's recorded members; for an attempt of one build, that build.
    fn members(&self, a: &Attempt) -> Result<Vec<Member>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT build_id, previous_repo_dir FROM attempt_members
                 WHERE attempt_id = ?1 ORDER BY position",
            )
            .context("failed to read a batch's builds")?;
        let rows = stmt
            .query_map([a.id], |r| {
                Ok(Member {
                    build_id: r.get(0)?,
                    previous_repo_dir: r.get(1)?,
                })
            })
            .context("failed to read a batch's builds")?;
        let members: Vec<Member> = rows
            .collect::<rusqlite::Result<_>>()
            .context("failed to read a batch's builds")?;
        if members.is_empty() {
            return Ok(vec![Member {
                build_id: a.build_id,
                previous_repo_dir: a.previous_repo_dir.clone(),
            }]);
        }
        Ok(members)
    }

    pub fn new_attempt(&mut self, a: &NewAttempt, now: i64) -> Result<Attempt> {
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO attempts (run_id, name, build_id, previous_repo_dir, previous_image, step,
                                       started_at, updated_at, kind, user, reason, aggregate_hash,
                                       aggregate)
                 VALUES (:r, :n, :b, :pr, :pi, 'decided', :t, :t, :k, :u, :why, :agg, :batch)",
                named_params! {":r": a.run_id, ":n": a.name, ":b": a.build_id,
                    ":pr": a.previous_repo_dir, ":pi": a.previous_image, ":t": now,
                    ":k": a.kind.as_str(), ":u": a.user, ":why": a.reason, ":agg": a.aggregate_hash,
                    ":batch": a.aggregate},
            )
            .context("failed to record the promotion's start")?;
            let id = tx.last_insert_rowid();
            for (i, m) in a.members.iter().enumerate() {
                tx.prepare_cached(
                    "INSERT INTO attempt_members (attempt_id, position, build_id, previous_repo_dir)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut st| st.execute((id, i as i64, m.build_id, &m.previous_repo_dir)))
                .context("failed to record a batch's builds")?;
            }
            Ok(id)
        })?;
        let members = if a.members.is_empty() {
            vec![Member {
                build_id: a.build_id,
                previous_repo_dir: a.previous_repo_dir.map(String::from),
            }]
        } else {
            a.members.to_vec()
        };
        Ok(Attempt {
            id,
            run_id: a.run_id,
            name: a.name.to_string(),
            build_id: a.build_id,
            previous_repo_dir: a.previous_repo_dir.map(String::from),
            previous_image: a.previous_image.map(String::from),
            step: Step::Decided,
            kind: a.kind,
            user: a.user.map(String::from),
            reason: a.reason.to_string(),
            aggregate_hash: a.aggregate_hash.map(String::from),
            aggregate: a.aggregate,
            members,
        })
    }

    /// Records that `attempt` reached `step`.
    pub fn set_step(&mut self, attempt: i64, step: Step, note: &str) -> Result<()> {
        let now = super::now();
        self.write(|tx| set_step(tx, attempt, step, note, now))
    }
}

pub(crate) fn set_step(
    tx: &Connection,
    attempt: i64,
    step: Step,
    note: &str,
    now: i64,
) -> Result<()> {
    tx.prepare_cached("UPDATE attempts SET step = :s, note = :n, updated_at = :t WHERE id = :id")
        .and_then(|mut st| {
            st.execute(named_params! {":s": step.as_str(), ":n": note, ":t": now, ":id": attempt})
        })
        .context("failed to record a promotion step")?;
    Ok(())
}

pub(crate) fn link_attempt(tx: &Connection, attempt: i64, promotion_id: i64) -> Result<()> {
    tx.prepare_cached("UPDATE attempts SET promotion_id = ?1 WHERE id = ?2")
        .and_then(|mut st| st.execute((promotion_id, attempt)))
        .context("failed to record a promotion step")?;
    Ok(())
}
