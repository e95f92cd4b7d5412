//! Runs of the pipeline and the promotions they carry out step by step.

use rusqlite::{named_params, Connection, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::error::{DbContext, Result};

/// The recorded steps of a promotion being carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Decided,
    Hooks,
    Images,
    Trunk,
    Done,
    Stopped,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Decided => "decided",
            Step::Hooks => "hooks",
            Step::Images => "images",
            Step::Trunk => "trunk",
            Step::Done => "done",
            Step::Stopped => "stopped",
        }
    }

    fn parse(s: &str) -> Step {
        match s {
            "hooks" => Step::Hooks,
            "images" => Step::Images,
            "trunk" => Step::Trunk,
            "done" => Step::Done,
            "stopped" => Step::Stopped,
            _ => Step::Decided,
        }
    }
}

/// A promotion being carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub run_id: i64,
    pub name: String,
    pub build_id: i64,
    pub previous_repo_dir: Option<String>,
    pub previous_image: Option<String>,
    pub step: Step,
}

/// The last run, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: String,
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

    pub fn finish_run(
        &mut self,
        id: i64,
        outcome: &str,
        promoted: i64,
        blocked: i64,
        summary: &str,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE runs SET ended_at = :t, outcome = :o, promoted = :p, blocked = :b, summary = :s
                 WHERE id = :id",
                named_params! {":t": now, ":o": outcome, ":p": promoted, ":b": blocked, ":s": summary, ":id": id},
            )
            .context("failed to record the end of the run")?;
            Ok(())
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

    /// Promotions a run started and did not finish.
    pub fn open_attempts(&self) -> Result<Vec<Attempt>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, run_id, name, build_id, previous_repo_dir, previous_image, step
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
                    step: Step::parse(&r.get::<_, String>(6)?),
                })
            })
            .context("failed to read unfinished promotions")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read unfinished promotions")
    }

    pub fn new_attempt(
        &mut self,
        run_id: i64,
        name: &str,
        build_id: i64,
        previous_repo_dir: Option<&str>,
        previous_image: Option<&str>,
        now: i64,
    ) -> Result<Attempt> {
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO attempts (run_id, name, build_id, previous_repo_dir, previous_image, step, started_at, updated_at)
                 VALUES (:r, :n, :b, :pr, :pi, 'decided', :t, :t)",
                named_params! {":r": run_id, ":n": name, ":b": build_id, ":pr": previous_repo_dir, ":pi": previous_image, ":t": now},
            )
            .context("failed to record the promotion's start")?;
            Ok(tx.last_insert_rowid())
        })?;
        Ok(Attempt {
            id,
            run_id,
            name: name.to_string(),
            build_id,
            previous_repo_dir: previous_repo_dir.map(String::from),
            previous_image: previous_image.map(String::from),
            step: Step::Decided,
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
