//! Container images: what the source registry held of a build's images
//! when last asked, and every tag a promotion made, with its digest.

use rusqlite::{named_params, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::error::{DbContext, Result};

/// What the source registry said of one image of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Never asked.
    Unknown,
    /// Missing at `<full_hash>` when asked (at that time).
    Missing { at: i64 },
    /// There, with this manifest digest.
    Found { digest: String },
}

/// One tag made and read back, to record.
#[derive(Debug, Clone)]
pub struct NewTag<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub tag: &'a str,
    pub digest: &'a str,
}

/// A recorded tag, for `history --containers`.
#[derive(Debug, Clone, Serialize)]
pub struct TagRow {
    pub id: i64,
    pub name: String,
    pub full_hash: String,
    pub image: String,
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub tagged_at: i64,
    /// The history row of the promotion, once it is done.
    pub promotion_id: Option<i64>,
}

impl Store {
    /// What the last look at `registry`/`repository` for `build_id` found.
    pub fn container_check(
        &self,
        build_id: i64,
        registry: &str,
        repository: &str,
    ) -> Result<Checked> {
        let row: Option<(Option<String>, i64)> = self
            .conn()
            .prepare_cached(
                "SELECT digest, checked_at FROM container_checks
                 WHERE build_id = :b AND registry = :r AND repository = :p",
            )
            .and_then(|mut s| {
                s.query_row(
                    named_params! {":b": build_id, ":r": registry, ":p": repository},
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .context("failed to read the container checks")?;
        Ok(match row {
            None => Checked::Unknown,
            Some((None, at)) => Checked::Missing { at },
            Some((Some(digest), _)) => Checked::Found { digest },
        })
    }

    /// Remembers what the registry said (`None`: missing). One statement,
    /// so that a read-only caller (`run --dry-run`, `why`) may remember too.
    pub fn remember_container_check(
        &self,
        build_id: i64,
        registry: &str,
        repository: &str,
        digest: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT OR REPLACE INTO container_checks (build_id, registry, repository, digest, checked_at)
                 VALUES (:b, :r, :p, :d, :t)",
            )
            .and_then(|mut s| {
                s.execute(named_params! {
                    ":b": build_id, ":r": registry, ":p": repository, ":d": digest, ":t": now,
                })
            })
            .context("failed to remember a container check")?;
        Ok(())
    }

    /// Records the tags made for `image` by attempt `attempt_id` (of label
    /// `name`, build `build_id`), in one transaction.
    pub fn record_container_tags(
        &mut self,
        attempt_id: i64,
        name: &str,
        build_id: i64,
        image: &str,
        tags: &[NewTag],
        now: i64,
    ) -> Result<()> {
        self.write(|tx| {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO container_tags
                       (attempt_id, name, build_id, image, registry, repository, tag, digest, tagged_at)
                     VALUES (:a, :n, :b, :i, :r, :p, :t, :d, :at)",
                )
                .context("failed to record a container tag")?;
            for t in tags {
                st.execute(named_params! {
                    ":a": attempt_id, ":n": name, ":b": build_id, ":i": image,
                    ":r": t.registry, ":p": t.repository, ":t": t.tag, ":d": t.digest, ":at": now,
                })
                .context("failed to record a container tag")?;
            }
            Ok(())
        })
    }

    /// The recorded tags, newest first: of label `name` when given, at
    /// most `limit`.
    pub fn container_tags(&self, name: Option<&str>, limit: i64) -> Result<Vec<TagRow>> {
        let mut st = self
            .conn()
            .prepare_cached(
                "SELECT t.id, t.name, b.full_hash, t.image, t.registry, t.repository, t.tag,
                        t.digest, t.tagged_at, a.promotion_id
                 FROM container_tags t
                 JOIN builds b ON b.id = t.build_id
                 JOIN attempts a ON a.id = t.attempt_id
                 WHERE :n IS NULL OR t.name = :n
                 ORDER BY t.id DESC LIMIT :l",
            )
            .context("failed to read the container tags")?;
        let rows = st
            .query_map(named_params! {":n": name, ":l": limit}, |r| {
                Ok(TagRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    full_hash: r.get(2)?,
                    image: r.get(3)?,
                    registry: r.get(4)?,
                    repository: r.get(5)?,
                    tag: r.get(6)?,
                    digest: r.get(7)?,
                    tagged_at: r.get(8)?,
                    promotion_id: r.get(9)?,
                })
            })
            .context("failed to read the container tags")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the container tags")
    }
}
