//! Publications: which build each target shows, and what it cost.

use rusqlite::{named_params, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::error::{DbContext, Result};

/// A publication to record.
#[derive(Debug, Clone)]
pub struct NewPublication<'a> {
    pub target: &'a str,
    pub build_id: i64,
    pub full_hash: &'a str,
    pub dest: &'a str,
    pub files: u64,
    pub bytes: u64,
    pub copied_files: u64,
    pub copied_bytes: u64,
    pub manifest_sha256: &'a str,
    pub removed: &'a str,
    pub user: &'a str,
    pub started_at: i64,
    pub finished_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicationRow {
    pub id: i64,
    pub target: String,
    pub build_id: i64,
    pub full_hash: crate::ident::FullHash,
    pub finished_at: i64,
}

impl Store {
    pub fn add_publication(&mut self, p: &NewPublication) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO publications (target, build_id, full_hash, dest, files, bytes, copied_files,
                    copied_bytes, manifest_sha256, removed, user, started_at, finished_at)
                 VALUES (:t, :b, :f, :d, :n, :by, :cn, :cb, :m, :r, :u, :s, :e)",
                named_params! {":t": p.target, ":b": p.build_id, ":f": p.full_hash, ":d": p.dest,
                    ":n": p.files as i64, ":by": p.bytes as i64, ":cn": p.copied_files as i64,
                    ":cb": p.copied_bytes as i64, ":m": p.manifest_sha256, ":r": p.removed,
                    ":u": p.user, ":s": p.started_at, ":e": p.finished_at},
            )
            .context("failed to record the publication")?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// The publications of a target, newest first.
    pub fn publications(&self, target: &str, limit: i64) -> Result<Vec<PublicationRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, target, build_id, full_hash, finished_at FROM publications
                 WHERE target = :t ORDER BY id DESC LIMIT :l",
            )
            .context("failed to read publications")?;
        let rows = stmt
            .query_map(named_params! {":t": target, ":l": limit}, |r| {
                Ok(PublicationRow {
                    id: r.get(0)?,
                    target: r.get(1)?,
                    build_id: r.get(2)?,
                    full_hash: r.get(3)?,
                    finished_at: r.get(4)?,
                })
            })
            .context("failed to read publications")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read publications")
    }

    /// The newest promotion to any of `labels`: the build a target that
    /// these promotions publish should show.
    pub fn newest_promotion_of(&self, labels: &[&str]) -> Result<Option<(i64, String)>> {
        let mut best: Option<(i64, i64, String)> = None;
        for l in labels {
            let row: Option<(i64, i64, String)> = self
                .conn()
                .prepare_cached(
                    "SELECT p.id, p.build_id, p.name FROM promotions p WHERE p.name = :n ORDER BY p.id DESC LIMIT 1",
                )
                .and_then(|mut s| {
                    s.query_row(named_params! {":n": l}, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()
                })
                .context("failed to read the promotion history")?;
            if let Some(r) = row {
                if best.as_ref().is_none_or(|b| r.0 > b.0) {
                    best = Some(r);
                }
            }
        }
        Ok(best.map(|(_, b, n)| (b, n)))
    }

    /// The full hashes every label and previous- label points at: versions
    /// that retention never removes.
    pub fn labelled_full_hashes(&self) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT b.full_hash FROM labels l JOIN builds b ON b.id = l.build_id
                 UNION SELECT b.full_hash FROM labels l JOIN builds b ON b.id = l.previous_build_id",
            )
            .context("failed to read the labels")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .context("failed to read the labels")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the labels")
    }
}
