//! Mirrors: the history rows `export` writes, this database's name in
//! them (its origin), and what `replay` has applied from other databases.

use rusqlite::{named_params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{DbContext, Result};

/// One promotion of the history, as exported: enough for a mirror to move
/// the same label to the same build. JSON fields are a contract: add,
/// never rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedPromotion {
    /// The exporting database's name (see the `origin` table).
    pub origin: String,
    /// The row's id in the exporting database.
    pub id: i64,
    pub label: String,
    pub component: Option<String>,
    pub commit_hash: String,
    pub distro_hash: String,
    pub extended_hash: Option<String>,
    pub full_hash: String,
    #[serde(default)]
    pub previous_full_hash: Option<String>,
    #[serde(default)]
    pub aggregate_hash: Option<String>,
    /// promote, manual, rollback or replay, on the source.
    pub kind: String,
    /// When the source moved the label, seconds since the epoch.
    pub timestamp: i64,
    pub user: String,
    #[serde(default)]
    pub reason: String,
}

crate::stored_enum! {
    /// What became of an exported row here.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Replayed ("replayed outcome") {
        /// The links were being moved when the process died.
        Applying = "applying",
        /// The links moved; a local history row records it.
        Applied = "applied",
        /// The label already pointed at the build.
        Unchanged = "unchanged",
        /// A later move of the same label from the same origin came first.
        Superseded = "superseded",
    }
}

/// A replayed row as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedRow {
    pub outcome: Replayed,
    /// The newest local history row before the links were moved.
    pub history_mark: i64,
}

impl Store {
    /// This database's name in its exports.
    pub fn origin(&self) -> Result<String> {
        self.conn()
            .query_row("SELECT name FROM origin WHERE id = 1", [], |r| r.get(0))
            .context("failed to read this database's origin name")
    }

    /// The history rows after `since`, oldest first, as exported.
    pub fn exported_promotions(&self, since: i64) -> Result<Vec<ExportedPromotion>> {
        let origin = self.origin()?;
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT p.id, p.name, p.component, b.commit_hash, b.distro_hash, b.extended_hash,
                        b.full_hash, pb.full_hash, p.aggregate_hash, p.kind, p.timestamp, p.user,
                        p.reason
                 FROM promotions p
                 JOIN builds b ON b.id = p.build_id
                 LEFT JOIN builds pb ON pb.id = p.previous_build_id
                 WHERE p.id > :since ORDER BY p.id",
            )
            .context("failed to read the promotion history")?;
        let rows = stmt
            .query_map(named_params! {":since": since}, |r| {
                let ext: String = r.get(5)?;
                Ok(ExportedPromotion {
                    origin: origin.clone(),
                    id: r.get(0)?,
                    label: r.get(1)?,
                    component: r.get(2)?,
                    commit_hash: r.get(3)?,
                    distro_hash: r.get(4)?,
                    extended_hash: if ext.is_empty() { None } else { Some(ext) },
                    full_hash: r.get(6)?,
                    previous_full_hash: r.get(7)?,
                    aggregate_hash: r.get(8)?,
                    kind: r.get(9)?,
                    timestamp: r.get(10)?,
                    user: r.get(11)?,
                    reason: r.get(12)?,
                })
            })
            .context("failed to read the promotion history")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the promotion history")
    }

    /// What became of row `source_id` of `origin` here, if it was dealt with.
    pub fn replayed(&self, origin: &str, source_id: i64) -> Result<Option<ReplayedRow>> {
        self.conn()
            .prepare_cached(
                "SELECT outcome, history_mark FROM replayed WHERE origin = :o AND source_id = :s",
            )
            .and_then(|mut st| {
                st.query_row(named_params! {":o": origin, ":s": source_id}, |r| {
                    Ok(ReplayedRow {
                        outcome: r.get(0)?,
                        history_mark: r.get(1)?,
                    })
                })
                .optional()
            })
            .context("failed to read what was replayed")
    }

    /// Whether a later move of the same label from the same origin was
    /// already applied (or found in place) here.
    pub fn replayed_later(&self, e: &ExportedPromotion) -> Result<bool> {
        self.conn()
            .prepare_cached(
                "SELECT 1 FROM replayed
                 WHERE origin = :o AND name = :n AND component IS :c AND source_id > :s
                   AND outcome IN ('applying', 'applied', 'unchanged')
                 LIMIT 1",
            )
            .and_then(|mut st| {
                st.exists(named_params! {
                    ":o": e.origin, ":n": e.label, ":c": e.component, ":s": e.id,
                })
            })
            .context("failed to read what was replayed")
    }

    /// The id of the newest history row (0 when there is none).
    pub fn last_promotion_id(&self) -> Result<i64> {
        self.conn()
            .query_row("SELECT coalesce(max(id), 0) FROM promotions", [], |r| {
                r.get(0)
            })
            .context("failed to read the promotion history")
    }

    /// The replay history row written after `mark` that moved `label` to
    /// `build_id`, if any: how an interrupted replay finds out whether it
    /// got that far.
    pub fn replay_row_after(&self, mark: i64, label: &str, build_id: i64) -> Result<Option<i64>> {
        self.conn()
            .prepare_cached(
                "SELECT id FROM promotions
                 WHERE id > :m AND name = :n AND build_id = :b AND kind = 'replay'
                 ORDER BY id LIMIT 1",
            )
            .and_then(|mut st| {
                st.query_row(
                    named_params! {":m": mark, ":n": label, ":b": build_id},
                    |r| r.get(0),
                )
                .optional()
            })
            .context("failed to read the promotion history")
    }

    /// Records what became of an exported row (replacing an `applying`
    /// record of it).
    pub fn record_replayed(
        &mut self,
        e: &ExportedPromotion,
        outcome: Replayed,
        promotion_id: Option<i64>,
        history_mark: i64,
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO replayed (origin, source_id, name, component, full_hash, source_kind,
                     source_time, source_user, outcome, promotion_id, history_mark, replayed_at)
                 VALUES (:o, :s, :n, :c, :f, :k, :t, :u, :out, :p, :m, :now)
                 ON CONFLICT (origin, source_id) DO UPDATE SET
                     outcome = excluded.outcome, promotion_id = excluded.promotion_id,
                     replayed_at = excluded.replayed_at",
            )
            .and_then(|mut st| {
                st.execute(named_params! {
                    ":o": e.origin, ":s": e.id, ":n": e.label, ":c": e.component,
                    ":f": e.full_hash, ":k": e.kind, ":t": e.timestamp, ":u": e.user,
                    ":out": outcome.as_str(), ":p": promotion_id, ":m": history_mark, ":now": now,
                })
            })
            .context("failed to record a replayed promotion")?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, label: &str) -> ExportedPromotion {
        ExportedPromotion {
            origin: "up".into(),
            id,
            label: label.into(),
            component: None,
            commit_hash: "c".into(),
            distro_hash: "d".into(),
            extended_hash: None,
            full_hash: "c_d".into(),
            previous_full_hash: None,
            aggregate_hash: None,
            kind: "promote".into(),
            timestamp: 1,
            user: "u".into(),
            reason: String::new(),
        }
    }

    #[test]
    fn every_database_names_itself_once() {
        let s = Store::in_memory().unwrap();
        let o = s.origin().unwrap();
        assert_eq!(o.len(), 32, "{o}");
        assert_eq!(s.origin().unwrap(), o);
        assert_ne!(Store::in_memory().unwrap().origin().unwrap(), o);
    }

    #[test]
    fn a_later_applied_move_of_the_same_label_supersedes_an_earlier_one() {
        let mut s = Store::in_memory().unwrap();
        s.record_replayed(&row(7, "a"), Replayed::Applied, None, 0, 1)
            .unwrap();
        assert!(s.replayed_later(&row(5, "a")).unwrap());
        assert!(!s.replayed_later(&row(8, "a")).unwrap());
        assert!(!s.replayed_later(&row(5, "b")).unwrap());
        let other_origin = ExportedPromotion {
            origin: "elsewhere".into(),
            ..row(5, "a")
        };
        assert!(!s.replayed_later(&other_origin).unwrap());
    }

    #[test]
    fn recording_again_replaces_the_applying_record() {
        let mut s = Store::in_memory().unwrap();
        s.record_replayed(&row(3, "a"), Replayed::Applying, None, 9, 1)
            .unwrap();
        assert_eq!(
            s.replayed("up", 3).unwrap(),
            Some(ReplayedRow {
                outcome: Replayed::Applying,
                history_mark: 9
            })
        );
        s.record_replayed(&row(3, "a"), Replayed::Unchanged, None, 9, 2)
            .unwrap();
        assert_eq!(
            s.replayed("up", 3).unwrap().unwrap().outcome,
            Replayed::Unchanged
        );
        assert_eq!(s.replayed("up", 4).unwrap(), None);
    }
}
