//! Aggregates (component mode): the combined repo of component builds,
//! named by the md5 of its `delorean.repo`.

use std::collections::HashSet;

use rusqlite::{named_params, OptionalExtension};
use serde::Serialize;

use super::builds::{self, Build};
use super::Store;
use crate::error::{DbContext, Result};

/// A recorded aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    pub id: i64,
    pub agg_hash: String,
    /// Its directory, relative to the trunk (`consistent/ab/cd/<md5>`).
    pub repo_dir: Option<String>,
    /// The build time of its newest component build.
    pub created_at: i64,
}

/// An aggregate to record, with the builds it combines.
#[derive(Debug, Clone)]
pub struct NewAggregate {
    pub agg_hash: String,
    /// Its directory, relative to the trunk; `None` for one known only from
    /// a history (a DLRN database taken over).
    pub repo_dir: Option<String>,
    pub created_at: i64,
    pub build_ids: Vec<i64>,
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Aggregate> {
    Ok(Aggregate {
        id: r.get(0)?,
        agg_hash: r.get(1)?,
        repo_dir: r.get(2)?,
        created_at: r.get(3)?,
    })
}

impl Store {
    pub fn known_aggregate_hashes(&self) -> Result<HashSet<String>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT agg_hash FROM aggregates")
            .context("failed to read aggregates")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .context("failed to read aggregates")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read aggregates")
    }

    /// Records aggregates (one transaction); returns how many were new.
    pub fn record_aggregates(&mut self, aggs: &[NewAggregate]) -> Result<usize> {
        self.write(|tx| {
            let mut added = 0;
            for a in aggs {
                added += insert_aggregate(tx, a)?.1 as usize;
            }
            Ok(added)
        })
    }

    pub fn aggregate_by_hash(&self, agg_hash: &str) -> Result<Option<Aggregate>> {
        self.conn()
            .prepare_cached(
                "SELECT id, agg_hash, repo_dir, created_at FROM aggregates WHERE agg_hash = ?1",
            )
            .and_then(|mut s| s.query_row([agg_hash], from_row).optional())
            .context("failed to read aggregates")
    }

    pub fn aggregate_by_id(&self, id: i64) -> Result<Option<Aggregate>> {
        self.conn()
            .prepare_cached(
                "SELECT id, agg_hash, repo_dir, created_at FROM aggregates WHERE id = ?1",
            )
            .and_then(|mut s| s.query_row([id], from_row).optional())
            .context("failed to read aggregates")
    }

    /// The component builds of an aggregate, by component.
    pub fn aggregate_builds(&self, id: i64) -> Result<Vec<Build>> {
        let sql = format!(
            "SELECT {} FROM aggregate_builds ab JOIN builds b ON b.id = ab.build_id
             WHERE ab.aggregate_id = :a ORDER BY b.component, b.id",
            builds::COLUMNS
        );
        let mut stmt = self
            .conn()
            .prepare_cached(&sql)
            .context("failed to read an aggregate's builds")?;
        let rows = stmt
            .query_map(named_params! {":a": id}, builds::from_row)
            .context("failed to read an aggregate's builds")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read an aggregate's builds")
    }

    /// The newest aggregates the builder wrote under `<label>/` (current or
    /// consistent), newest first.
    pub fn newest_aggregates(&self, label: &str, limit: usize) -> Result<Vec<i64>> {
        // Every aggregate was current once; consistent ones are recorded
        // under consistent/.
        let label = if label == crate::model::CURRENT {
            ""
        } else {
            label
        };
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id FROM aggregates WHERE repo_dir LIKE :p ESCAPE '\\'
                 ORDER BY created_at DESC, id DESC LIMIT :l",
            )
            .context("failed to read aggregates")?;
        let pattern = if label.is_empty() {
            "%".to_string()
        } else {
            format!("{}/%", label.replace('%', "\\%").replace('_', "\\_"))
        };
        let rows = stmt
            .query_map(named_params! {":p": pattern, ":l": limit as i64}, |r| {
                r.get(0)
            })
            .context("failed to read aggregates")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read aggregates")
    }

    /// The aggregates label `name` was moved to, newest first by their
    /// latest move.
    pub fn aggregate_label_history(&self, name: &str, limit: usize) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT a.id FROM promotions p JOIN aggregates a ON a.agg_hash = p.aggregate_hash
                 WHERE p.name = :n GROUP BY a.id ORDER BY max(p.id) DESC LIMIT :l",
            )
            .context("failed to read a label's history")?;
        let rows = stmt
            .query_map(named_params! {":n": name, ":l": limit as i64}, |r| r.get(0))
            .context("failed to read a label's history")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read a label's history")
    }

    /// Which of `aggregates` were ever promoted to `name`.
    pub fn ever_promoted_aggregates(&self, name: &str, aggregates: &[i64]) -> Result<HashSet<i64>> {
        let mut out = HashSet::new();
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT 1 FROM promotions p JOIN aggregates a ON a.agg_hash = p.aggregate_hash
                 WHERE a.id = :a AND p.name = :n LIMIT 1",
            )
            .context("failed to read the promotion history")?;
        for &a in aggregates {
            if stmt
                .exists(named_params! {":a": a, ":n": name})
                .context("failed to read the promotion history")?
            {
                out.insert(a);
            }
        }
        Ok(out)
    }

    /// Whether `label`'s candidates are aggregates: the builder's aggregate
    /// directories for current/consistent, or a label promoted as aggregates.
    pub fn label_has_aggregates(&self, label: &str) -> Result<bool> {
        if label == crate::model::CURRENT || label == crate::model::CONSISTENT {
            return Ok(!self.newest_aggregates(label, 1)?.is_empty());
        }
        self.conn()
            .prepare_cached(
                // The planner, seeing the labels' aggregate rows as many,
                // may walk them all by hash instead: one probe by name is
                // what this index is for (schema 16).
                "SELECT 1 FROM promotions INDEXED BY promotions_aggregate_name
                 WHERE name = ?1 AND aggregate_hash IS NOT NULL LIMIT 1",
            )
            .and_then(|mut s| s.exists([label]))
            .context("failed to read the promotion history")
    }

    /// What the decision needs of the votes of an aggregate.
    pub fn aggregate_vote_facts(&self, aggregate_id: i64) -> Result<Vec<crate::decide::VoteFact>> {
        Ok(self
            .votes_of_aggregate(aggregate_id, None)?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// Inserts an aggregate if new; returns (id, whether it was new).
pub(crate) fn insert_aggregate(tx: &rusqlite::Connection, a: &NewAggregate) -> Result<(i64, bool)> {
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM aggregates WHERE agg_hash = ?1")
        .and_then(|mut s| s.query_row([&a.agg_hash], |r| r.get(0)).optional())
        .context("failed to read aggregates")?;
    if let Some(id) = existing {
        return Ok((id, false));
    }
    tx.prepare_cached(
        "INSERT INTO aggregates (agg_hash, repo_dir, created_at) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut s| s.execute((&a.agg_hash, &a.repo_dir, a.created_at)))
    .context("failed to record an aggregate")?;
    let id = tx.last_insert_rowid();
    for b in &a.build_ids {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO aggregate_builds (aggregate_id, build_id) VALUES (?1, ?2)",
        )
        .and_then(|mut s| s.execute((id, b)))
        .context("failed to record an aggregate's builds")?;
    }
    Ok((id, true))
}
