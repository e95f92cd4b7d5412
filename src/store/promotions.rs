//! The promotion history (append-only) and where each label points.

use rusqlite::{named_params, Connection, OptionalExtension, ToSql};
use serde::Serialize;

use super::builds::{self, Build};
use super::Store;
use crate::error::{DbContext, Result};

crate::stored_enum! {
    /// How a label came to move.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Kind ("kind of promotion") {
        /// `run` promoted a build that met the criteria.
        Promote = "promote",
        /// `repo-promote`: forced by hand, criteria not checked.
        Manual = "manual",
        /// `rollback`: pointed back at an earlier build.
        Rollback = "rollback",
        /// `replay`: applied from another host's history.
        Replay = "replay",
    }
}

/// A row of the history, with its build.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionRow {
    pub id: i64,
    pub name: String,
    pub build: Build,
    pub previous_build_id: Option<i64>,
    pub aggregate_hash: Option<String>,
    pub component: Option<String>,
    pub kind: Kind,
    pub timestamp: i64,
    pub user: String,
    pub reason: String,
}

/// A promotion to record.
#[derive(Debug, Clone)]
pub struct NewPromotion<'a> {
    pub name: &'a str,
    pub build_id: i64,
    pub previous_build_id: Option<i64>,
    pub aggregate_hash: Option<&'a str>,
    /// The build's component, recorded as DLRN records it.
    pub component: Option<&'a str>,
    /// The component whose directory holds the label's link: the build's
    /// in component mode, none in a flat trunk.
    pub label_component: Option<&'a str>,
    pub kind: Kind,
    pub timestamp: i64,
    pub user: &'a str,
    pub reason: &'a str,
}

/// Filters of `promotion-get` and `history`.
#[derive(Debug, Clone, Default)]
pub struct PromotionFilter<'a> {
    pub name: Option<&'a str>,
    pub build_id: Option<i64>,
    pub aggregate_hash: Option<&'a str>,
    pub component: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
}

/// Where a label points, as last recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelRow {
    pub name: String,
    pub component: Option<String>,
    pub build_id: Option<i64>,
    pub previous_build_id: Option<i64>,
    pub source: String,
    pub updated_at: i64,
}

impl Store {
    /// Promotions matching `f`, newest first (by insertion order).
    pub fn promotions(&self, f: &PromotionFilter) -> Result<Vec<PromotionRow>> {
        let mut sql = format!(
            "SELECT p.id, p.name, p.previous_build_id, p.aggregate_hash, p.component, p.kind,
                    p.timestamp, p.user, p.reason, {}
             FROM promotions p JOIN builds b ON b.id = p.build_id WHERE 1",
            builds::COLUMNS
        );
        let mut params: Vec<(&str, &dyn ToSql)> = Vec::new();
        if let Some(n) = &f.name {
            sql.push_str(" AND p.name = :n");
            params.push((":n", n));
        }
        if let Some(b) = &f.build_id {
            sql.push_str(" AND p.build_id = :b");
            params.push((":b", b));
        }
        if let Some(a) = &f.aggregate_hash {
            sql.push_str(" AND p.aggregate_hash = :a");
            params.push((":a", a));
        }
        if let Some(c) = &f.component {
            sql.push_str(" AND p.component = :c");
            params.push((":c", c));
        }
        sql.push_str(" ORDER BY p.id DESC LIMIT :limit OFFSET :offset");
        params.push((":limit", &f.limit));
        params.push((":offset", &f.offset));
        let mut stmt = self
            .conn()
            .prepare_cached(&sql)
            .context("failed to read the promotion history")?;
        let rows = stmt
            .query_map(params.as_slice(), |r| {
                Ok(PromotionRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    previous_build_id: r.get(2)?,
                    aggregate_hash: r.get(3)?,
                    component: r.get(4)?,
                    kind: r.get(5)?,
                    timestamp: r.get(6)?,
                    user: r.get(7)?,
                    reason: r.get(8)?,
                    build: builds::from_row_at(r, 9)?,
                })
            })
            .context("failed to read the promotion history")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the promotion history")
    }

    /// The builds label `name` was moved to, newest first by their latest
    /// move, at most `limit` of them.
    pub fn label_history(&self, name: &str, limit: usize) -> Result<Vec<i64>> {
        // Newest first along the (name, id) index, each build once, until
        // `limit` builds: a label's history is read back only as far as it
        // is needed, not grouped whole.
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT build_id FROM promotions WHERE name = :n AND build_id IS NOT NULL
                 ORDER BY id DESC",
            )
            .context("failed to read a label's history")?;
        let mut rows = stmt
            .query(named_params! {":n": name})
            .context("failed to read a label's history")?;
        let mut out: Vec<i64> = Vec::with_capacity(limit);
        while out.len() < limit {
            let Some(row) = rows.next().context("failed to read a label's history")? else {
                break;
            };
            let id: i64 = row.get(0).context("failed to read a label's history")?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Which of `builds` were ever promoted to `name`.
    pub fn ever_promoted(
        &self,
        name: &str,
        builds: &[i64],
    ) -> Result<std::collections::HashSet<i64>> {
        let mut out = std::collections::HashSet::new();
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT 1 FROM promotions WHERE build_id = :b AND name = :n LIMIT 1")
            .context("failed to read the promotion history")?;
        for &b in builds {
            if stmt
                .exists(named_params! {":b": b, ":n": name})
                .context("failed to read the promotion history")?
            {
                out.insert(b);
            }
        }
        Ok(out)
    }

    /// Where label `name` points, as last recorded.
    pub fn label(&self, name: &str, component: Option<&str>) -> Result<Option<LabelRow>> {
        self.conn()
            .prepare_cached(
                "SELECT name, component, build_id, previous_build_id, source, updated_at
                 FROM labels WHERE name = :n AND component = :c",
            )
            .and_then(|mut st| {
                st.query_row(
                    named_params! {":n": name, ":c": component.unwrap_or("")},
                    label_from_row,
                )
                .optional()
            })
            .context("failed to read a label")
    }

    /// Every recorded label, by name.
    pub fn labels(&self) -> Result<Vec<LabelRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT name, component, build_id, previous_build_id, source, updated_at
                 FROM labels ORDER BY component, name",
            )
            .context("failed to read the labels")?;
        let rows = stmt
            .query_map([], label_from_row)
            .context("failed to read the labels")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the labels")
    }
}

fn label_from_row(r: &rusqlite::Row) -> rusqlite::Result<LabelRow> {
    let c: String = r.get(1)?;
    Ok(LabelRow {
        name: r.get(0)?,
        component: if c.is_empty() { None } else { Some(c) },
        build_id: r.get(2)?,
        previous_build_id: r.get(3)?,
        source: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

/// Appends a history row and moves the label's record, in `tx`.
pub(crate) fn record_promotion(tx: &Connection, p: &NewPromotion) -> Result<i64> {
    tx.prepare_cached(
        "INSERT INTO promotions (name, build_id, previous_build_id, aggregate_hash, component, kind, timestamp, user, reason)
         VALUES (:n, :b, :pb, :a, :c, :k, :t, :u, :r)",
    )
    .and_then(|mut st| {
        st.execute(named_params! {
            ":n": p.name, ":b": p.build_id, ":pb": p.previous_build_id, ":a": p.aggregate_hash,
            ":c": p.component, ":k": p.kind.as_str(), ":t": p.timestamp, ":u": p.user, ":r": p.reason,
        })
    })
    .context("failed to record the promotion")?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO labels (name, component, build_id, previous_build_id, source, updated_at)
         VALUES (:n, :c, :b, :pb, 'promoter', :t)
         ON CONFLICT (name, component) DO UPDATE SET
           build_id = excluded.build_id, previous_build_id = excluded.previous_build_id,
           source = 'promoter', updated_at = excluded.updated_at",
    )
    .and_then(|mut st| {
        st.execute(named_params! {
            ":n": p.name, ":c": p.label_component.unwrap_or(""), ":b": p.build_id,
            ":pb": p.previous_build_id, ":t": p.timestamp,
        })
    })
    .context("failed to record where the label points")?;
    Ok(id)
}
