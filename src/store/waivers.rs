//! Waivers: recorded, expiring exceptions to a promotion's criteria.

use rusqlite::{named_params, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::decide::WaiverFact;
use crate::error::{DbContext, Error, Result};

/// A waiver as listed by `waivers`.
#[derive(Debug, Clone, Serialize)]
pub struct WaiverRow {
    pub id: i64,
    pub promotion: String,
    pub job_id: String,
    pub full_hash: Option<String>,
    pub reason: String,
    pub user: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub removed_at: Option<i64>,
    pub removed_by: Option<String>,
}

/// A waiver to record.
pub struct NewWaiver<'a> {
    pub promotion: &'a str,
    pub job_id: &'a str,
    pub build_id: Option<i64>,
    pub reason: &'a str,
    pub user: &'a str,
    pub expires_at: Option<i64>,
}

impl Store {
    pub fn add_waiver(&mut self, w: &NewWaiver, now: i64) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO waivers (promotion, job_id, build_id, reason, user, created_at, expires_at)
                 VALUES (:p, :j, :b, :r, :u, :t, :e)",
                named_params! {":p": w.promotion, ":j": w.job_id, ":b": w.build_id, ":r": w.reason,
                    ":u": w.user, ":t": now, ":e": w.expires_at},
            )
            .context("failed to record the waiver")?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// When the first waiver that counts at `now` expires, of any
    /// promotion.
    pub fn next_waiver_expiry(&self, now: i64) -> Result<Option<i64>> {
        self.conn()
            .prepare_cached(
                "SELECT min(expires_at) FROM waivers WHERE removed_at IS NULL AND expires_at > ?1",
            )
            .and_then(|mut st| st.query_row([now], |r| r.get(0)))
            .context("failed to read when the waivers expire")
    }

    /// The waivers of a promotion that count at `now`.
    pub fn live_waivers(&self, promotion: &str, now: i64) -> Result<Vec<WaiverFact>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, job_id, build_id, expires_at, reason, user FROM waivers
                 WHERE promotion = :p AND removed_at IS NULL AND (expires_at IS NULL OR expires_at > :now)
                 ORDER BY id",
            )
            .context("failed to read waivers")?;
        let rows = stmt
            .query_map(named_params! {":p": promotion, ":now": now}, |r| {
                Ok(WaiverFact {
                    id: r.get(0)?,
                    job_id: r.get(1)?,
                    build_id: r.get(2)?,
                    expires_at: r.get(3)?,
                    reason: r.get(4)?,
                    user: r.get(5)?,
                })
            })
            .context("failed to read waivers")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read waivers")
    }

    /// Waivers, newest first: the live ones, or all with `all`.
    pub fn waivers(&self, all: bool, now: i64) -> Result<Vec<WaiverRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT w.id, w.promotion, w.job_id, b.full_hash, w.reason, w.user, w.created_at,
                        w.expires_at, w.removed_at, w.removed_by
                 FROM waivers w LEFT JOIN builds b ON b.id = w.build_id
                 WHERE :all OR (w.removed_at IS NULL AND (w.expires_at IS NULL OR w.expires_at > :now))
                 ORDER BY w.id DESC",
            )
            .context("failed to read waivers")?;
        let rows = stmt
            .query_map(named_params! {":all": all, ":now": now}, |r| {
                Ok(WaiverRow {
                    id: r.get(0)?,
                    promotion: r.get(1)?,
                    job_id: r.get(2)?,
                    full_hash: r.get(3)?,
                    reason: r.get(4)?,
                    user: r.get(5)?,
                    created_at: r.get(6)?,
                    expires_at: r.get(7)?,
                    removed_at: r.get(8)?,
                    removed_by: r.get(9)?,
                })
            })
            .context("failed to read waivers")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read waivers")
    }

    /// Removes a live waiver, recording who and when.
    pub fn remove_waiver(&mut self, id: i64, user: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            let removed: Option<Option<i64>> = tx
                .query_row("SELECT removed_at FROM waivers WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .context("failed to read the waiver")?;
            match removed {
                None => Err(Error::NotFound(format!("no waiver {id}"))),
                Some(Some(_)) => Err(Error::NotFound(format!("waiver {id} was already removed"))),
                Some(None) => {
                    tx.execute(
                        "UPDATE waivers SET removed_at = ?1, removed_by = ?2 WHERE id = ?3",
                        (now, user, id),
                    )
                    .context("failed to remove the waiver")?;
                    Ok(())
                }
            }
        })
    }
}
