//! The test-environment broker: environments by pool, and exclusive,
//! expiring leases on them.

use rusqlite::{named_params, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::error::{DbContext, Error, Result};

/// An environment and who holds it.
#[derive(Debug, Clone, Serialize)]
pub struct TestenvRow {
    pub name: String,
    pub pool: String,
    pub data_file: String,
    pub lease: Option<LeaseRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeaseRow {
    pub id: i64,
    pub holder: String,
    pub pid: Option<i64>,
    pub acquired_at: i64,
    pub expires_at: Option<i64>,
}

/// A lease just taken.
#[derive(Debug, Clone, Serialize)]
pub struct Lease {
    pub id: i64,
    pub testenv: String,
    pub pool: String,
    pub data_file: String,
    pub expires_at: Option<i64>,
}

/// Who asks for a lease.
pub struct Holder<'a> {
    pub name: &'a str,
    /// A local process: the lease is taken back when it is gone.
    pub pid: Option<u32>,
    pub expires_at: Option<i64>,
}

/// Whether a local process is alive.
use super::lock::alive;

impl Store {
    pub fn add_testenv(&mut self, name: &str, pool: &str, data_file: &str, now: i64) -> Result<()> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.add_testenv(name, pool, data_file, now);
        }
        self.write(|tx| {
            let exists = tx
                .prepare_cached("SELECT 1 FROM testenvs WHERE name = ?1")
                .and_then(|mut s| s.exists([name]))
                .context("failed to read test environments")?;
            if exists {
                return Err(Error::Refused(format!(
                    "a test environment named {name:?} exists already"
                )));
            }
            tx.execute(
                "INSERT INTO testenvs (name, pool, data_file, added_at) VALUES (?1, ?2, ?3, ?4)",
                (name, pool, data_file, now),
            )
            .context("failed to record the test environment")?;
            Ok(())
        })
    }

    /// Removes an environment nobody holds; returns its descriptor's path.
    pub fn remove_testenv(&mut self, name: &str, now: i64) -> Result<String> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.remove_testenv(name, now);
        }
        self.reclaim_leases(now)?;
        self.write(|tx| {
            let file: Option<String> = tx
                .query_row(
                    "SELECT data_file FROM testenvs WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .context("failed to read test environments")?;
            let file =
                file.ok_or_else(|| Error::NotFound(format!("no test environment {name:?}")))?;
            let holder: Option<String> = tx
                .query_row(
                    "SELECT holder FROM leases WHERE testenv = ?1 AND released_at IS NULL",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .context("failed to read leases")?;
            if let Some(h) = holder {
                return Err(Error::Refused(format!(
                    "{name} is held by {h}; release its lease first"
                )));
            }
            tx.execute("DELETE FROM leases WHERE testenv = ?1", [name])
                .context("failed to remove the environment's leases")?;
            tx.execute("DELETE FROM testenvs WHERE name = ?1", [name])
                .context("failed to remove the test environment")?;
            Ok(file)
        })
    }

    pub fn testenvs(&self) -> Result<Vec<TestenvRow>> {
        if let Some(b) = self.broker.as_deref() {
            return b.testenvs();
        }
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT t.name, t.pool, t.data_file, l.id, l.holder, l.pid, l.acquired_at, l.expires_at
                 FROM testenvs t LEFT JOIN leases l ON l.testenv = t.name AND l.released_at IS NULL
                 ORDER BY t.pool, t.name",
            )
            .context("failed to read test environments")?;
        let rows = stmt
            .query_map([], |r| {
                let lease = match r.get::<_, Option<i64>>(3)? {
                    Some(id) => Some(LeaseRow {
                        id,
                        holder: r.get(4)?,
                        pid: r.get(5)?,
                        acquired_at: r.get(6)?,
                        expires_at: r.get(7)?,
                    }),
                    None => None,
                };
                Ok(TestenvRow {
                    name: r.get(0)?,
                    pool: r.get(1)?,
                    data_file: r.get(2)?,
                    lease,
                })
            })
            .context("failed to read test environments")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read test environments")
    }

    /// Takes back leases whose time ran out or whose local holder is gone.
    /// Returns how many.
    pub fn reclaim_leases(&mut self, now: i64) -> Result<usize> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.reclaim_leases(now);
        }
        // (lease, holder pid, expiry, job marker)
        type Live = (i64, Option<i64>, Option<i64>, Option<String>);
        let live: Vec<Live> = {
            let mut stmt = self
                .conn()
                .prepare_cached(
                    "SELECT id, pid, expires_at, marker FROM leases WHERE released_at IS NULL",
                )
                .context("failed to read leases")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .context("failed to read leases")?;
            rows.collect::<rusqlite::Result<_>>()
                .context("failed to read leases")?
        };
        let mut taken = Vec::new();
        for (id, pid, expires, marker) in live {
            // A job's processes may outlive the runner that took the lease:
            // the lease is theirs while any of them lives.
            let job_alive = marker
                .is_some_and(|m| !super::lock::marked(crate::model::JOB_MARKER_VAR, &m).is_empty());
            if expires.is_some_and(|e| e <= now) {
                taken.push((id, "its time ran out".to_string()));
            } else if let Some(p) = pid.filter(|p| !alive(*p) && !job_alive) {
                taken.push((
                    id,
                    format!("its holder (pid {p}) and its job's processes are gone"),
                ));
            }
        }
        if taken.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            for (id, why) in &taken {
                tx.execute(
                    "UPDATE leases SET released_at = ?1, release_reason = ?2 WHERE id = ?3 AND released_at IS NULL",
                    (now, format!("taken back: {why}"), id),
                )
                .context("failed to take a lease back")?;
            }
            Ok(taken.len())
        })
    }

    /// Names the job run a lease was taken for (its marker): the lease is
    /// then held while any process carrying the marker lives.
    pub fn set_lease_marker(&mut self, lease: i64, marker: &str) -> Result<()> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.set_lease_marker(lease, marker);
        }
        self.write(|tx| {
            tx.execute(
                "UPDATE leases SET marker = ?1 WHERE id = ?2",
                (marker, lease),
            )
            .context("failed to record the lease's job")?;
            Ok(())
        })
    }

    /// Makes `pid` the local holder of a lease: a job's supervisor, once
    /// detached, holds its job's lease.
    pub fn set_lease_pid(&mut self, lease: i64, pid: u32) -> Result<()> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.set_lease_pid(lease, pid);
        }
        self.write(|tx| {
            tx.execute("UPDATE leases SET pid = ?1 WHERE id = ?2", (pid, lease))
                .context("failed to record the lease's holder")?;
            Ok(())
        })
    }

    /// Makes a lease its job run's alone, with no local holder: a job that
    /// runs elsewhere holds it until its executor says it ended.
    pub fn clear_lease_pid(&mut self, lease: i64) -> Result<()> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.clear_lease_pid(lease);
        }
        self.write(|tx| {
            tx.execute("UPDATE leases SET pid = NULL WHERE id = ?1", [lease])
                .context("failed to record the lease's holder")?;
            Ok(())
        })
    }

    /// Extends a live lease held with a ttl to `expires_at`; the testenv it
    /// holds. A lease without a ttl (a job's) is refused: it lasts as long
    /// as its job.
    pub fn renew_lease(&mut self, id: i64, expires_at: i64, now: i64) -> Result<String> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.renew_lease(id, expires_at, now);
        }
        self.reclaim_leases(now)?;
        self.write(|tx| {
            let live: Option<(String, Option<i64>)> = tx
                .query_row(
                    "SELECT testenv, expires_at FROM leases WHERE id = ?1 AND released_at IS NULL",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .context("failed to read leases")?;
            let (env, expires) =
                live.ok_or_else(|| Error::NotFound(format!("no live lease {id}")))?;
            if expires.is_none() {
                return Err(Error::Refused(format!(
                    "lease {id} has no ttl: it is held as long as its holder lives, and needs no renewal"
                )));
            }
            tx.execute(
                "UPDATE leases SET expires_at = ?1 WHERE id = ?2",
                (expires_at, id),
            )
            .context("failed to renew the lease")?;
            Ok(env)
        })
    }

    /// Leases a free environment of `pool`; `Ok(None)` when all are held.
    pub fn acquire_testenv(
        &mut self,
        pool: &str,
        holder: &Holder,
        now: i64,
    ) -> Result<Option<Lease>> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.acquire_testenv(pool, holder, now);
        }
        self.reclaim_leases(now)?;
        self.write(|tx| {
            let known = tx
                .prepare_cached("SELECT 1 FROM testenvs WHERE pool = ?1")
                .and_then(|mut s| s.exists([pool]))
                .context("failed to read test environments")?;
            if !known {
                return Err(Error::NotFound(format!("no test environment in pool {pool:?}")));
            }
            let free: Option<(String, String)> = tx
                .query_row(
                    "SELECT t.name, t.data_file FROM testenvs t WHERE t.pool = ?1
                       AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.testenv = t.name AND l.released_at IS NULL)
                     ORDER BY t.name LIMIT 1",
                    [pool],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .context("failed to read test environments")?;
            let Some((name, data_file)) = free else {
                return Ok(None);
            };
            tx.execute(
                "INSERT INTO leases (testenv, holder, pid, acquired_at, expires_at) VALUES (:t, :h, :p, :a, :e)",
                named_params! {":t": name, ":h": holder.name, ":p": holder.pid, ":a": now, ":e": holder.expires_at},
            )
            .context("failed to record the lease")?;
            Ok(Some(Lease {
                id: tx.last_insert_rowid(),
                testenv: name,
                pool: pool.to_string(),
                data_file,
                expires_at: holder.expires_at,
            }))
        })
    }

    /// Ends a live lease.
    pub fn release_lease(&mut self, id: i64, reason: &str, now: i64) -> Result<String> {
        if let Some(b) = self.broker.as_deref_mut() {
            return b.release_lease(id, reason, now);
        }
        self.write(|tx| {
            let env: Option<String> = tx
                .query_row(
                    "SELECT testenv FROM leases WHERE id = ?1 AND released_at IS NULL",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .context("failed to read leases")?;
            let env = env.ok_or_else(|| Error::NotFound(format!("no live lease {id}")))?;
            tx.execute(
                "UPDATE leases SET released_at = ?1, release_reason = ?2 WHERE id = ?3",
                (now, reason, id),
            )
            .context("failed to release the lease")?;
            Ok(env)
        })
    }
}
