//! Builds and their package lists.

use std::collections::HashMap;

use rusqlite::{named_params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::Store;
use crate::error::{DbContext, Result};
use crate::ident::{CommitHash, DistroHash, ExtendedHash, FullHash};
use crate::trunk::import::{BuilderLink, Scanned};

/// A recorded build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Build {
    pub id: i64,
    pub commit_hash: CommitHash,
    pub distro_hash: DistroHash,
    /// `None` when the build has none.
    pub extended_hash: Option<ExtendedHash>,
    pub component: Option<String>,
    pub project_name: String,
    pub status: String,
    pub flags: i64,
    pub dt_build: i64,
    pub repo_dir: String,
    pub full_hash: FullHash,
    pub consistent: bool,
    /// Where the build stands in the builder's order (DLRN's id, build
    /// time as first seen, import order): see [`Build::order`].
    #[serde(skip)]
    pub seq: i64,
    #[serde(skip)]
    pub dt_order: i64,
}

impl Build {
    /// The builder's order of builds, the order its links move in: a
    /// greater value is a later build.
    pub fn order(&self) -> (i64, i64, i64) {
        (self.seq, self.dt_order, self.id)
    }

    pub fn purged(&self) -> bool {
        self.flags & crate::model::PURGED_FLAG != 0
    }

    pub fn succeeded(&self) -> bool {
        self.status == crate::model::SUCCESS
    }

    /// `<commit>_<distro>[_<extended>]`, the form `--hash-pairs` uses.
    pub fn hash_pair(&self) -> String {
        match &self.extended_hash {
            Some(e) => format!("{}_{}_{e}", self.commit_hash, self.distro_hash),
            None => format!("{}_{}", self.commit_hash, self.distro_hash),
        }
    }
}

pub(crate) const COLUMNS: &str =
    "b.id, b.commit_hash, b.distro_hash, b.extended_hash, b.component, \
     b.project_name, b.status, b.flags, b.dt_build, b.repo_dir, b.full_hash, b.consistent, \
     b.seq, b.dt_order";

pub(crate) fn from_row(r: &Row) -> rusqlite::Result<Build> {
    from_row_at(r, 0)
}

/// Reads a build from the columns of [`COLUMNS`] starting at `at`.
pub(crate) fn from_row_at(r: &Row, at: usize) -> rusqlite::Result<Build> {
    // No extended hash is stored as ''.
    let ext: String = r.get(at + 3)?;
    let extended_hash = match ext.as_str() {
        "" => None,
        e => Some(e.parse().map_err(|e: crate::ident::IdError| {
            rusqlite::Error::FromSqlConversionFailure(
                at + 3,
                rusqlite::types::Type::Text,
                Box::new(e),
            )
        })?),
    };
    Ok(Build {
        id: r.get(at)?,
        commit_hash: r.get(at + 1)?,
        distro_hash: r.get(at + 2)?,
        extended_hash,
        component: r.get(at + 4)?,
        project_name: r.get(at + 5)?,
        status: r.get(at + 6)?,
        flags: r.get(at + 7)?,
        dt_build: r.get(at + 8)?,
        repo_dir: r.get(at + 9)?,
        full_hash: r.get(at + 10)?,
        consistent: r.get(at + 11)?,
        seq: r.get(at + 12)?,
        dt_order: r.get(at + 13)?,
    })
}

impl Store {
    /// The hash directories already recorded, relative to the trunk (for
    /// tests: import merges with [`Store::retain_unrecorded`]).
    #[cfg(test)]
    pub fn known_repo_dirs(&self) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT repo_dir FROM builds")
            .context("failed to read the recorded builds")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .context("failed to read the recorded builds")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the recorded builds")
    }

    /// Keeps, in their order, the hash directories of `dirs` not recorded
    /// yet. The recorded ones are read in the order of their index and
    /// merged with `dirs` sorted, so memory holds `dirs` and a number per
    /// entry, never a second copy of the trunk's names (at 200,000 hash
    /// directories, that copy alone was 25 MiB).
    pub fn retain_unrecorded(&self, dirs: &mut Vec<String>) -> Result<()> {
        let mut order: Vec<usize> = (0..dirs.len()).collect();
        order.sort_unstable_by(|&a, &b| dirs[a].cmp(&dirs[b]));
        let mut recorded = vec![false; dirs.len()];
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT repo_dir FROM builds ORDER BY repo_dir")
            .context("failed to read the recorded builds")?;
        let mut rows = stmt
            .query([])
            .context("failed to read the recorded builds")?;
        let mut next = 0;
        while next < order.len() {
            let Some(row) = rows.next().context("failed to read the recorded builds")? else {
                break;
            };
            let dir = row
                .get_ref(0)
                .and_then(|v| v.as_str().map_err(Into::into))
                .context("failed to read the recorded builds")?;
            // Both sides in byte order: SQLite's BINARY collation is str's.
            while next < order.len() && dirs[order[next]].as_str() < dir {
                next += 1;
            }
            while next < order.len() && dirs[order[next]] == dir {
                recorded[order[next]] = true;
                next += 1;
            }
        }
        let mut recorded = recorded.into_iter();
        dirs.retain(|_| !recorded.next().unwrap_or(false));
        Ok(())
    }

    /// The build with these hashes. Without an extended hash, like DLRN,
    /// any extended hash matches and the newest successful build wins.
    pub fn find_build(
        &self,
        commit: &str,
        distro: &str,
        extended: Option<&str>,
    ) -> Result<Option<Build>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM builds b
             WHERE b.commit_hash = :c AND b.distro_hash = :d
               AND (:e IS NULL OR b.extended_hash = :e)
             ORDER BY b.status = 'SUCCESS' DESC, b.id DESC LIMIT 1"
        );
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(
                    named_params! {":c": commit, ":d": distro, ":e": extended},
                    from_row,
                )
                .optional()
            })
            .context("failed to look up the build")
    }

    pub fn build_by_id(&self, id: i64) -> Result<Option<Build>> {
        let sql = format!("SELECT {COLUMNS} FROM builds b WHERE b.id = :id");
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(named_params! {":id": id}, from_row).optional())
            .context("failed to look up the build")
    }

    pub fn build_by_repo_dir(&self, repo_dir: &str) -> Result<Option<Build>> {
        let sql = format!("SELECT {COLUMNS} FROM builds b WHERE b.repo_dir = :r");
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(named_params! {":r": repo_dir}, from_row)
                    .optional()
            })
            .context("failed to look up the build")
    }

    /// The builds with this full hash, successful ones first, then newest
    /// first (usually one; builds differing only in their extended hash
    /// share it).
    pub fn builds_by_full_hash(&self, full: &FullHash) -> Result<Vec<Build>> {
        let sql =
            format!("SELECT {COLUMNS} FROM builds b WHERE b.full_hash = :f ORDER BY b.status = 'SUCCESS' DESC, b.id DESC");
        let mut stmt = self
            .conn()
            .prepare_cached(&sql)
            .context("failed to look up the build")?;
        let rows = stmt
            .query_map(named_params! {":f": full.as_str()}, from_row)
            .context("failed to look up the build")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to look up the build")
    }

    /// The newest promotable builds, newest first in the builder's order
    /// (DLRN's id, then the build time as first seen): consistent ones only
    /// with `consistent`.
    pub fn newest_builds(&self, consistent: bool, limit: usize) -> Result<Vec<i64>> {
        let sql = if consistent {
            "SELECT id FROM builds WHERE consistent = 1 AND status = 'SUCCESS' AND flags & 2 = 0
             ORDER BY seq DESC, dt_order DESC, id DESC LIMIT :l"
        } else {
            "SELECT id FROM builds WHERE status = 'SUCCESS' AND flags & 2 = 0
             ORDER BY seq DESC, dt_order DESC, id DESC LIMIT :l"
        };
        let mut stmt = self
            .conn()
            .prepare_cached(sql)
            .context("failed to read the newest builds")?;
        let rows = stmt
            .query_map(named_params! {":l": limit as i64}, |r| r.get(0))
            .context("failed to read the newest builds")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the newest builds")
    }

    /// The build whose hash directory is named `name`
    /// (`<commit>_<distro[0:8]>[_<extended…>]`), the form that tells apart
    /// builds differing only in their extended hash.
    pub fn build_by_dir_name(&self, name: &str) -> Result<Option<Build>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM builds b WHERE b.full_hash = :f AND (b.repo_dir = :n OR b.repo_dir LIKE :suffix)
             ORDER BY b.id DESC LIMIT 1"
        );
        let full = name.splitn(3, '_').take(2).collect::<Vec<_>>().join("_");
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(
                    named_params! {":f": full, ":n": name, ":suffix": format!("%/{name}")},
                    from_row,
                )
                .optional()
            })
            .context("failed to look up the build")
    }

    /// The id of the aggregate with this hash.
    pub fn find_aggregate(&self, agg_hash: &str) -> Result<Option<i64>> {
        self.conn()
            .prepare_cached("SELECT id FROM aggregates WHERE agg_hash = :h")
            .and_then(|mut s| {
                s.query_row(named_params! {":h": agg_hash}, |r| r.get(0))
                    .optional()
            })
            .context("failed to look up the aggregate")
    }

    /// The builds whose consistency is not final yet: successful builds
    /// newer than the builder's `consistent` link when last imported. Their
    /// `versions.csv` is read again at each import.
    pub fn unsettled_builds(&self) -> Result<Vec<(i64, String)>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT id, repo_dir FROM builds WHERE settled = 0 ORDER BY id")
            .context("failed to read the builds not settled yet")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .context("failed to read the builds not settled yet")?;
        rows.collect::<rusqlite::Result<_>>()
            .context("failed to read the builds not settled yet")
    }

    /// Records scanned hash directories and the builder's links in one
    /// transaction; returns (builds added, builds that became consistent).
    /// `feed` is handed a sink and gives it each scanned build, so that
    /// reading the trunk and writing the rows overlap and memory stays
    /// bounded. `rechecked` holds the package lists read again of builds
    /// not settled yet. `expected` is how many hash directories `feed` may
    /// give: a big import sets the indexes in time order aside.
    ///
    /// A successful build is settled, and may count as consistent, only
    /// once the builder's `consistent` link (of its component) points at it
    /// or at a later build: what counts as consistent agrees with the
    /// builder's link, and a package list read while it was still being
    /// written is read again before it decides anything. The build the link
    /// points at is consistent by the builder's word. Without a
    /// `consistent` link, the package list decides alone.
    pub fn record_import(
        &mut self,
        links: &[BuilderLink],
        rechecked: &[Recheck],
        now: i64,
        expected: usize,
        feed: impl FnOnce(&mut dyn FnMut(Scanned) -> Result<()>) -> Result<()>,
    ) -> Result<(usize, usize)> {
        // Unchecked: every build id below is one this transaction wrote or
        // looked up (builds are never deleted), and every package row one
        // it wrote or looked up.
        self.write_unchecked(|tx| {
            let mut added = 0;
            // The package lists' verdict of every unsettled build read now.
            let mut verdicts: HashMap<i64, bool> = HashMap::new();
            let mut packages = PackageCache::default();
            // A big import: the indexes in time order of the tables it at
            // least doubles are built once at the end, not row by row.
            let set_aside = match expected >= BULK_IMPORT {
                true => set_aside_indexes(tx, expected)?,
                false => Vec::new(),
            };
            let mut add = |s: Scanned| -> Result<()> {
                let Some(id) = insert_build(tx, &s, now)? else {
                    return Ok(());
                };
                added += 1;
                record_packages(tx, &mut packages, id, &s.packages)?;
                if s.row.status == crate::model::SUCCESS && !s.row.purged() {
                    verdicts.insert(id, s.consistent);
                }
                Ok(())
            };
            feed(&mut add)?;
            for r in rechecked {
                // Read before this transaction: the build is looked up again.
                let still_unsettled = tx
                    .prepare_cached(
                        "UPDATE builds SET package_count = ?1 WHERE id = ?2 AND settled = 0",
                    )
                    .and_then(|mut st| st.execute((r.packages.len() as i64, r.build_id)))
                    .context("failed to record the packages of a build")?;
                if still_unsettled == 0 {
                    continue;
                }
                tx.prepare_cached("DELETE FROM build_packages WHERE build_id = ?1")
                    .and_then(|mut st| st.execute([r.build_id]))
                    .context("failed to record the packages of a build")?;
                record_packages(tx, &mut packages, r.build_id, &r.packages)?;
                verdicts.insert(
                    r.build_id,
                    crate::trunk::versions_csv::is_consistent(&r.packages),
                );
            }
            drop(packages);
            for l in links {
                let build_id: Option<i64> = match &l.repo_dir {
                    Some(r) => tx
                        .prepare_cached("SELECT id FROM builds WHERE repo_dir = ?1")
                        .and_then(|mut st| st.query_row([r], |row| row.get(0)).optional())
                        .context("failed to look up a linked build")?,
                    None => None,
                };
                let component = l.component.clone().unwrap_or_default();
                tx.prepare_cached(
                    "INSERT INTO labels (name, component, build_id, previous_build_id, source, updated_at)
                     VALUES (:n, :c, :b, NULL, 'builder', :t)
                     ON CONFLICT (name, component) DO UPDATE SET
                       previous_build_id = CASE WHEN labels.build_id IS NOT excluded.build_id
                                                THEN labels.build_id ELSE labels.previous_build_id END,
                       updated_at = CASE WHEN labels.build_id IS NOT excluded.build_id
                                         THEN excluded.updated_at ELSE labels.updated_at END,
                       build_id = excluded.build_id",
                )
                .and_then(|mut st| {
                    st.execute(named_params! {":n": l.name, ":c": component, ":b": build_id, ":t": now})
                })
                .context("failed to record a builder link")?;
            }
            let consistent = settle(tx, links, &verdicts)?;
            drop(verdicts);
            for sql in &set_aside {
                tx.execute_batch(sql)
                    .context("failed to index the imported builds")?;
            }
            Ok((added, consistent))
        })
    }
}

/// Hash directories an import must expect to read, at the least, for
/// [`set_aside_indexes`]: below it, building the indexes again costs more
/// than it saves.
pub const BULK_IMPORT: usize = 4096;

/// The indexes of builds and votes in time or build order, by table. An
/// import reads the trunk in the order of its hash directories, which is
/// not theirs: each new row lands on a page of its own in each of them,
/// and past 100,000 builds their pages no longer fit in the page cache
/// together.
pub(crate) const IN_TIME_ORDER: &[(&str, &[&str])] = &[
    (
        "builds",
        &[
            "builds_consistent",
            "builds_dt_build",
            "builds_order",
            "builds_consistent_order",
        ],
    ),
    ("votes", &["votes_timestamp", "votes_job_timestamp"]),
];

/// Drops the [`IN_TIME_ORDER`] indexes of each table that holds at most
/// `expected` rows (an import adds a build and at most one vote per hash
/// directory): building one again then reads no more rows than the import
/// writes, and sorts them in memory of that size. Returns the statements
/// that create them again, as the schema has them.
fn set_aside_indexes(tx: &Connection, expected: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (table, names) in IN_TIME_ORDER {
        // The highest id: at least how many rows there are, found without
        // reading the table.
        let rows: i64 = tx
            .query_row(
                &format!("SELECT coalesce(max(id), 0) FROM {table}"),
                [],
                |r| r.get(0),
            )
            .context("failed to count the recorded rows")?;
        if rows > expected as i64 {
            continue;
        }
        for name in *names {
            let sql: Option<String> = tx
                .prepare_cached("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")
                .and_then(|mut st| st.query_row([name], |r| r.get(0)).optional())
                .context("failed to read the schema")?;
            if let Some(sql) = sql {
                tx.execute_batch(&format!("DROP INDEX {name}"))
                    .context("failed to set an index aside for the import")?;
                out.push(sql);
            }
        }
    }
    Ok(out)
}

/// A package list read again, of a build not settled yet.
#[derive(Debug, Clone)]
pub struct Recheck {
    pub build_id: i64,
    pub packages: Vec<crate::trunk::versions_csv::PackageRow>,
}

fn record_packages(
    tx: &Connection,
    cache: &mut PackageCache,
    build_id: i64,
    rows: &[crate::trunk::versions_csv::PackageRow],
) -> Result<()> {
    for p in rows {
        let pid = cache.id(tx, p)?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO build_packages (build_id, package_version_id) VALUES (?1, ?2)",
        )
        .and_then(|mut st| st.execute((build_id, pid)))
        .context("failed to record a package of a build")?;
    }
    Ok(())
}

/// Where a build stands in the builder's order: (DLRN's id, build time as
/// first seen, import order).
type Order = (i64, i64, i64);

/// Settles the unsettled builds the builder's `consistent` link has
/// reached (see [`Store::record_import`]); returns how many became
/// consistent.
fn settle(tx: &Connection, links: &[BuilderLink], verdicts: &HashMap<i64, bool>) -> Result<usize> {
    // Per component: None when it has no consistent link (the package
    // lists decide), Some(None) when the link names a build not recorded
    // (nothing settles), Some(Some(build)) otherwise.
    let mut reach: Reach = HashMap::new();
    let mut consistent = 0;
    let mut unsettled = Vec::new();
    let mut after = i64::MIN;
    // A chunk at a time, in id order: a first import of a big trunk has
    // every build unsettled, and memory must not grow with the trunk.
    loop {
        unsettled.clear();
        tx.prepare_cached(
            "SELECT id, component, seq, dt_order FROM builds WHERE settled = 0 AND id > ?1
             ORDER BY id LIMIT 4096",
        )
        .and_then(|mut st| {
            let rows = st.query_map([after], |r| {
                Ok((r.get(0)?, r.get(1)?, (r.get(2)?, r.get(3)?, r.get(0)?)))
            })?;
            for row in rows {
                unsettled.push(row?);
            }
            Ok(())
        })
        .context("failed to read the builds not settled yet")?;
        let Some(&(last, _, _)) = unsettled.last() else {
            break;
        };
        after = last;
        consistent += settle_chunk(tx, links, verdicts, &mut reach, &unsettled)?;
    }
    Ok(consistent)
}

/// What the reach of each component's consistent link is, as [`settle`]
/// finds it: looked up once per component.
type Reach = HashMap<Option<String>, Option<Option<(i64, Order)>>>;

/// Settles one chunk of [`settle`]'s unsettled builds; returns how many
/// became consistent.
fn settle_chunk(
    tx: &Connection,
    links: &[BuilderLink],
    verdicts: &HashMap<i64, bool>,
    reach: &mut Reach,
    unsettled: &[(i64, Option<String>, Order)],
) -> Result<usize> {
    let mut consistent = 0;
    for (id, component, order) in unsettled {
        let (id, order) = (*id, *order);
        let Some(&verdict) = verdicts.get(&id) else {
            continue;
        };
        if !reach.contains_key(component) {
            let link = links
                .iter()
                .find(|l| l.name == crate::model::CONSISTENT && l.component == *component);
            let r = match link.and_then(|l| l.repo_dir.as_deref()) {
                None => None,
                Some(dir) => Some(
                    tx.prepare_cached("SELECT id, seq, dt_order FROM builds WHERE repo_dir = ?1")
                        .and_then(|mut st| {
                            st.query_row([dir], |r| {
                                Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?, r.get(0)?)))
                            })
                            .optional()
                        })
                        .context("failed to look up a linked build")?,
                ),
            };
            reach.insert(component.clone(), r);
        }
        let is_consistent = match &reach[component] {
            None => verdict,
            Some(None) => continue,
            Some(Some((link_id, link_order))) => {
                if order > *link_order {
                    continue;
                }
                verdict || *link_id == id
            }
        };
        tx.prepare_cached("UPDATE builds SET settled = 1, consistent = ?1 WHERE id = ?2")
            .and_then(|mut st| st.execute((is_consistent, id)))
            .context("failed to settle a build")?;
        if is_consistent {
            consistent += 1;
            tx.prepare_cached(
                "INSERT INTO votes (build_id, job_id, success, in_progress, url, notes, timestamp, user, recorded_at)
                 SELECT id, ?2, 1, 0, '', '', dt_build, ?3, imported_at FROM builds WHERE id = ?1",
            )
            .and_then(|mut st| {
                st.execute(rusqlite::params![
                    id,
                    super::votes::CONSISTENT_JOB,
                    super::votes::BUILDER_USER
                ])
            })
            .context("failed to record the consistent vote")?;
        }
    }
    Ok(consistent)
}

pub(crate) fn insert_build(tx: &Connection, s: &Scanned, now: i64) -> Result<Option<i64>> {
    let r = &s.row;
    let full = FullHash::of(r.commit_hash.as_str(), r.distro_hash.as_str());
    tx.prepare_cached(
        "INSERT INTO builds (commit_hash, distro_hash, extended_hash, component, project_name,
            commit_branch, status, flags, dt_commit, dt_distro, dt_extended, dt_build, notes,
            dlrn_id, repo_dir, full_hash, consistent, package_count, imported_at,
            seq, dt_order, settled)
         VALUES (:ch, :dh, :eh, :comp, :proj, :branch, :status, :flags, :dtc, :dtd, :dte, :dtb,
            :notes, :dlrn, :dir, :full, 0, :pc, :now, :seq, MIN(:dtb, :now), :settled)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .and_then(|mut st| {
        st.query_row(
            named_params! {
                ":ch": r.commit_hash.as_str(),
                ":dh": r.distro_hash.as_str(),
                ":eh": r.extended_hash.as_ref().map(|e| e.as_str()).unwrap_or(""),
                ":comp": r.component,
                ":proj": r.project_name,
                ":branch": r.commit_branch,
                ":status": r.status,
                ":flags": r.flags,
                ":dtc": r.dt_commit,
                ":dtd": r.dt_distro,
                ":dte": r.dt_extended,
                ":dtb": r.dt_build,
                ":notes": r.notes,
                ":dlrn": r.dlrn_id,
                ":dir": s.repo_dir,
                ":full": full.as_str(),
                ":seq": r.dlrn_id.unwrap_or(0),
                ":settled": r.status != crate::model::SUCCESS || r.purged(),
                ":pc": s.packages.len() as i64,
                ":now": now,
            },
            |row| row.get(0),
        )
        .optional()
    })
    .context("failed to record a build")
}

/// The package versions one import has recorded or looked up, so that each
/// distinct row of the many `versions.csv` files costs one lookup. A first
/// import reads hash directories in the trunk's order, not the builder's,
/// so builds next to each other share few rows: the cache holds every row
/// it met (up to [`PACKAGE_CACHE_ROWS`]), each as a 128-bit hash of its
/// fields: 24 bytes whatever the row.
#[derive(Default)]
struct PackageCache {
    ids: HashMap<[u64; 2], i64>,
}

/// Rows [`PackageCache`] keeps before it starts again: every row of a
/// 200,000-build trunk (each build adds about one), and 7/8 of 2^18, so
/// that its table never grows past 2^18 buckets of 25 bytes (6.3 MiB).
const PACKAGE_CACHE_ROWS: usize = (1 << 18) / 8 * 7;

/// Two SipHash values of `p`'s fields, each field with its end marked: two
/// rows collide only if both do, about one chance in 2^128 per pair.
fn package_key(p: &crate::trunk::versions_csv::PackageRow) -> [u64; 2] {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    "second".hash(&mut b);
    for i in 0..10 {
        p.field(i).hash(&mut a);
        p.field(i).hash(&mut b);
    }
    [a.finish(), b.finish()]
}

/// The key of a package row (`package_versions.fields_key`, schema 19):
/// FNV-1a, 64 bits, of its ten fields in column order, each ended by the
/// byte 0xFF (which UTF-8 never holds). Fixed, unlike std's hashers, since
/// it is stored; rows that share a key are told apart by their fields.
pub(crate) fn fields_key<'a>(fields: impl IntoIterator<Item = &'a str>) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut h = OFFSET;
    for f in fields {
        for &b in f.as_bytes().iter().chain(&[0xff]) {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
    }
    h as i64
}

/// Makes [`fields_key`] callable from SQL as `promoter_fields_key(...)` on
/// `conn`: migration 19 keys the rows recorded before it.
pub(super) fn register_fields_key(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "promoter_fields_key",
        10,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let fields = (0..10)
                .map(|i| {
                    ctx.get_raw(i)
                        .as_str()
                        .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))
                })
                .collect::<rusqlite::Result<Vec<&str>>>()?;
            Ok(fields_key(fields))
        },
    )
    .context("failed to prepare the schema migration")
}

/// The package row with these fields and key, found by the key's index.
pub(crate) const FIND_PACKAGE: &str = "SELECT id FROM package_versions
     WHERE fields_key = ?11 AND project = ?1 AND source_repo = ?2 AND source_sha = ?3
       AND dist_repo = ?4 AND dist_sha = ?5 AND status = ?6 AND last_success = ?7
       AND component = ?8 AND extended_sha = ?9 AND nvr = ?10";

impl PackageCache {
    fn id(&mut self, tx: &Connection, p: &crate::trunk::versions_csv::PackageRow) -> Result<i64> {
        let key = package_key(p);
        if let Some(id) = self.ids.get(&key) {
            return Ok(*id);
        }
        if self.ids.len() >= PACKAGE_CACHE_ROWS {
            self.ids.clear();
        }
        let f: Vec<&str> = (0..10).map(|i| p.field(i)).collect();
        let stored = fields_key(f.iter().copied());
        let params =
            rusqlite::params![f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], stored];
        // Looked up first: the key's index is small enough to stay in the
        // page cache, and a row recorded already is not written again.
        let found: Option<i64> = tx
            .prepare_cached(FIND_PACKAGE)
            .and_then(|mut st| st.query_row(params, |r| r.get(0)).optional())
            .context("failed to look up a package version")?;
        let id = match found {
            Some(id) => id,
            None => tx
                .prepare_cached(
                    "INSERT INTO package_versions (project, source_repo, source_sha, dist_repo,
                        dist_sha, status, last_success, component, extended_sha, nvr, fields_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     RETURNING id",
                )
                .and_then(|mut st| st.query_row(params, |r| r.get(0)))
                .context("failed to record a package version")?,
        };
        self.ids.insert(key, id);
        Ok(id)
    }
}
