//! Votes: CI job results on builds and aggregates.

use rusqlite::{named_params, OptionalExtension, ToSql};
use serde::Serialize;

use super::builds::Build;
use super::Store;
use crate::error::{DbContext, Result};

/// The job id of the vote DLRN casts on every consistent build.
pub const CONSISTENT_JOB: &str = "consistent";

/// Who records the builder's votes (the `consistent` vote of the import).
/// DLRN's builder records them with no user: the dlrnapi answers show
/// this one as `null`, as DLRN's do.
pub const BUILDER_USER: &str = "dlrn";

/// A recorded vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vote {
    pub id: i64,
    pub build_id: Option<i64>,
    pub aggregate_id: Option<i64>,
    pub job_id: String,
    pub success: bool,
    pub in_progress: bool,
    pub url: String,
    pub notes: String,
    pub timestamp: i64,
    pub user: String,
}

/// A vote to record.
#[derive(Debug, Clone)]
pub struct NewVote<'a> {
    pub target: VoteTarget,
    pub job_id: &'a str,
    pub success: bool,
    pub in_progress: bool,
    pub url: &'a str,
    pub notes: &'a str,
    pub timestamp: i64,
    pub user: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteTarget {
    Build(i64),
    Aggregate(i64),
}

/// Filters of DLRN's `last_tested_repo`.
#[derive(Debug, Clone, Default)]
pub struct VoteQuery<'a> {
    /// Only votes newer than this (seconds).
    pub newer_than: i64,
    pub success: Option<bool>,
    pub job_id: Option<&'a str>,
    pub component: Option<&'a str>,
}

const VOTE_COLUMNS: &str =
    "v.id, v.build_id, v.aggregate_id, v.job_id, v.success, v.in_progress, v.url, v.notes, v.timestamp, v.user";

fn vote_from_row(r: &rusqlite::Row) -> rusqlite::Result<Vote> {
    Ok(Vote {
        id: r.get(0)?,
        build_id: r.get(1)?,
        aggregate_id: r.get(2)?,
        job_id: r.get(3)?,
        success: r.get(4)?,
        in_progress: r.get(5)?,
        url: r.get(6)?,
        notes: r.get(7)?,
        timestamp: r.get(8)?,
        user: r.get(9)?,
    })
}

impl Store {
    /// Records one vote in its own transaction; returns its id.
    pub fn add_vote(&mut self, v: &NewVote) -> Result<i64> {
        let now = super::now();
        self.write(|tx| insert_vote(tx, v, now))
    }

    /// The votes of a build, oldest first, optionally only (un)successful.
    pub fn votes_of_build(&self, build_id: i64, success: Option<bool>) -> Result<Vec<Vote>> {
        self.votes_where("v.build_id = :id", build_id, success)
    }

    /// The votes of an aggregate, oldest first.
    pub fn votes_of_aggregate(
        &self,
        aggregate_id: i64,
        success: Option<bool>,
    ) -> Result<Vec<Vote>> {
        self.votes_where("v.aggregate_id = :id", aggregate_id, success)
    }

    fn votes_where(&self, cond: &str, id: i64, success: Option<bool>) -> Result<Vec<Vote>> {
        let sql = format!(
            "SELECT {VOTE_COLUMNS} FROM votes v WHERE {cond} AND (:s IS NULL OR v.success = :s) ORDER BY v.id"
        );
        let mut stmt = self
            .conn()
            .prepare_cached(&sql)
            .context("failed to read votes")?;
        let rows = stmt
            .query_map(named_params! {":id": id, ":s": success}, vote_from_row)
            .context("failed to read votes")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read votes")
    }

    /// The newest vote on a successful build matching `q`, and its build:
    /// one step of DLRN's `last_tested_repo` search. Votes are walked newest
    /// first by their own index, each build checked as it comes (a join
    /// would let SQLite start at the builds and sort every vote). `consistent` chooses
    /// between real CI votes (false) and DLRN's consistent votes (true).
    pub fn newest_vote(&self, q: &VoteQuery, consistent: bool) -> Result<Option<(Vote, Build)>> {
        let mut build_cond = String::from("b.id = v.build_id AND b.status = 'SUCCESS'");
        let mut params: Vec<(&str, &dyn ToSql)> = vec![(":ts", &q.newer_than)];
        if let Some(c) = &q.component {
            // An unknown component matches nothing: say so without walking
            // every vote.
            let known = self
                .conn()
                .prepare_cached("SELECT 1 FROM builds WHERE component = ?1 LIMIT 1")
                .and_then(|mut st| st.exists([c]))
                .context("failed to search the votes")?;
            if !known {
                return Ok(None);
            }
            build_cond.push_str(" AND b.component = :c");
            params.push((":c", c));
        }
        let mut sql = format!(
            "SELECT {VOTE_COLUMNS} FROM votes v
             WHERE v.timestamp > :ts
               AND EXISTS (SELECT 1 FROM builds b WHERE {build_cond})"
        );
        sql.push_str(if consistent {
            " AND v.job_id = 'consistent'"
        } else {
            " AND v.job_id <> 'consistent'"
        });
        if let Some(s) = &q.success {
            sql.push_str(" AND v.success = :s");
            params.push((":s", s));
        }
        if let Some(j) = &q.job_id {
            sql.push_str(" AND v.job_id = :j");
            params.push((":j", j));
        }
        sql.push_str(" ORDER BY v.timestamp DESC, v.id DESC LIMIT 1");
        let vote = self
            .conn()
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row(params.as_slice(), vote_from_row).optional())
            .context("failed to search the votes")?;
        let Some(vote) = vote else { return Ok(None) };
        let build = self
            .build_by_id(vote.build_id.expect("a build vote"))?
            .expect("the vote's build exists");
        Ok(Some((vote, build)))
    }

    /// What the decision needs of the votes of a build: the votes of
    /// `jobs` (the required jobs and their alternatives), oldest first. A
    /// build with a long record of other jobs' votes costs no more to
    /// decide on than one without.
    pub fn vote_facts(&self, build_id: i64, jobs: &[&str]) -> Result<Vec<crate::decide::VoteFact>> {
        let timed_out = self.timed_out_votes(build_id)?;
        let mut jobs = jobs.to_vec();
        jobs.sort_unstable();
        jobs.dedup();
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {VOTE_COLUMNS} FROM votes v WHERE v.build_id = :id AND v.job_id = :j"
            ))
            .context("failed to read votes")?;
        let mut out = Vec::new();
        for job in jobs {
            let rows = stmt
                .query_map(named_params! {":id": build_id, ":j": job}, vote_from_row)
                .context("failed to read votes")?;
            for v in rows {
                let v = v.context("failed to read votes")?;
                let late = timed_out.contains(&v.id);
                out.push(crate::decide::VoteFact {
                    timed_out: late,
                    ..v.into()
                });
            }
        }
        out.sort_unstable_by_key(|v| v.id);
        Ok(out)
    }

    /// The votes of `build_id` cast by job runs that ran out of time.
    fn timed_out_votes(&self, build_id: i64) -> Result<std::collections::HashSet<i64>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT vote_id FROM job_runs
                 WHERE build_id = ?1 AND outcome = 'timed_out' AND vote_id IS NOT NULL",
            )
            .context("failed to read job runs")?;
        let rows = stmt
            .query_map([build_id], |r| r.get::<_, i64>(0))
            .context("failed to read job runs")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read job runs")
    }

    /// How many votes are recorded.
    pub fn vote_count(&self) -> Result<i64> {
        self.conn()
            .query_row("SELECT count(*) FROM votes", [], |r| r.get(0))
            .context("failed to count votes")
    }
}

impl From<Vote> for crate::decide::VoteFact {
    fn from(v: Vote) -> Self {
        crate::decide::VoteFact {
            id: v.id,
            job_id: v.job_id,
            success: v.success,
            in_progress: v.in_progress,
            timestamp: v.timestamp,
            url: v.url,
            notes: v.notes,
            timed_out: false,
        }
    }
}

pub(crate) fn insert_vote(tx: &rusqlite::Connection, v: &NewVote, now: i64) -> Result<i64> {
    let (build, agg) = match v.target {
        VoteTarget::Build(b) => (Some(b), None),
        VoteTarget::Aggregate(a) => (None, Some(a)),
    };
    tx.prepare_cached(
        "INSERT INTO votes (build_id, aggregate_id, job_id, success, in_progress, url, notes, timestamp, user, recorded_at)
         VALUES (:b, :a, :j, :s, :p, :u, :n, :t, :usr, :now)",
    )
    .and_then(|mut st| {
        st.execute(named_params! {
            ":b": build, ":a": agg, ":j": v.job_id, ":s": v.success, ":p": v.in_progress,
            ":u": v.url, ":n": v.notes, ":t": v.timestamp, ":usr": v.user, ":now": now,
        })
    })
    .context("failed to record the vote")?;
    Ok(tx.last_insert_rowid())
}
