//! A DLRN database taken over (`import-dlrn-db`): read in DLRN's own schema
//! (`commits`, `civotes`, `civotes_agg`, `promotions`, DLRN's column names),
//! written here in one transaction. Every DLRN row taken is remembered by
//! its DLRN id (`dlrn_taken`), so a second import adds nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rusqlite::{named_params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::error::{DbContext, Error, Result};
use crate::ident::{CommitHash, DistroHash, ExtendedHash, JobId, Label};
use crate::trunk::commit_yaml::CommitRow;
use crate::trunk::import::Scanned;

/// The columns `import-dlrn-db` reads, per table: DLRN 0.26's names.
const SCHEMA: &[(&str, &[&str])] = &[
    (
        "commits",
        &[
            "id",
            "commit_hash",
            "distro_hash",
            "extended_hash",
            "component",
            "status",
            "flags",
            "dt_commit",
            "dt_distro",
            "dt_extended",
            "dt_build",
            "project_name",
            "commit_branch",
            "notes",
        ],
    ),
    (
        "civotes",
        &[
            "id",
            "commit_id",
            "ci_name",
            "ci_url",
            "ci_vote",
            "ci_in_progress",
            "timestamp",
            "notes",
            "user",
        ],
    ),
    (
        "civotes_agg",
        &[
            "id",
            "ref_hash",
            "ci_name",
            "ci_url",
            "ci_vote",
            "ci_in_progress",
            "timestamp",
            "notes",
            "user",
        ],
    ),
    (
        "promotions",
        &[
            "id",
            "commit_id",
            "promotion_name",
            "timestamp",
            "user",
            "component",
            "aggregate_hash",
        ],
    ),
];

/// A DLRN database, open read-only.
pub struct DlrnDb {
    conn: Connection,
    path: PathBuf,
}

impl DlrnDb {
    /// Opens `path` read-only and checks it has DLRN's schema: a file that
    /// is not SQLite, or lacks one of DLRN's tables or columns, is bad
    /// input (exit 2), and is never written.
    pub fn open(path: &Path) -> Result<DlrnDb> {
        let shown = path.display();
        if !path.is_file() {
            return Err(Error::NotFound(format!("{shown}: no such file")));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::BadDatabase(format!("{shown} cannot be opened as SQLite: {e}")))?;
        for (table, columns) in SCHEMA {
            let have = table_columns(&conn, table).map_err(|e| {
                Error::BadDatabase(format!("{shown} is not a SQLite database DLRN wrote: {e}"))
            })?;
            if have.is_empty() {
                return Err(Error::BadDatabase(format!(
                    "{shown} is not DLRN's database: it has no table {table}"
                )));
            }
            if let Some(missing) = columns.iter().find(|c| !have.iter().any(|h| h == *c)) {
                return Err(Error::BadDatabase(format!(
                    "{shown} is not DLRN's database as DLRN 0.26 writes it: table {table} has no column {missing}"
                )));
            }
        }
        Ok(DlrnDb {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn table_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut s = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = s.query_map([table], |r| r.get(0))?;
    names.collect()
}

/// What a takeover took, skipped, and found already here.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Taken {
    /// DLRN commits matched to a build imported from the trunk.
    pub builds_matched: usize,
    /// DLRN commits with no hash directory in the trunk: kept as purged.
    pub builds_purged: usize,
    pub votes: usize,
    /// Votes already here (the import's `consistent` vote, or the same
    /// vote reported to both).
    pub votes_present: usize,
    pub aggregates: usize,
    pub aggregate_votes: usize,
    pub promotions: usize,
    pub promotions_present: usize,
    /// Rows taken by an earlier import, left alone.
    pub taken_before: usize,
    /// Rows that could not be taken, each with a warning.
    pub skipped: usize,
}

/// Where the trunk's label `name` (of `component`) points now: its hash
/// directory, or `None` when the trunk has no such link.
pub type OnDisk<'a> = dyn Fn(&str, Option<&str>) -> Result<Option<String>> + 'a;

impl Store {
    /// Takes over `dlrn` in one transaction. `warn` hears each row
    /// skipped; `on_disk` says where labels point in the trunk, so that a
    /// label is adopted as it is on disk, whatever the history says.
    pub fn take_over(
        &mut self,
        dlrn: &DlrnDb,
        now: i64,
        on_disk: &OnDisk,
        warn: &mut dyn FnMut(String),
    ) -> Result<Taken> {
        self.write(|tx| {
            let mut t = Taken::default();
            let mut w = Takeover {
                tx,
                dlrn: &dlrn.conn,
                now,
                taken: &mut t,
                warn,
                builds: HashMap::new(),
            };
            w.commits()?;
            w.votes()?;
            let labels = w.promotions()?;
            w.aggregate_votes()?;
            w.adopt_labels(&labels, on_disk)?;
            Ok(t)
        })
    }
}

/// One takeover's working state.
struct Takeover<'a> {
    tx: &'a Connection,
    dlrn: &'a Connection,
    now: i64,
    taken: &'a mut Taken,
    warn: &'a mut dyn FnMut(String),
    /// DLRN commit id → build id here.
    builds: HashMap<i64, i64>,
}

/// A DLRN row's id as taken before: `Some(local)` (local may be NULL).
type Before = Option<Option<i64>>;

impl Takeover<'_> {
    fn before(&self, kind: &str, id: i64) -> Result<Before> {
        self.tx
            .prepare_cached("SELECT local_id FROM dlrn_taken WHERE kind = ?1 AND dlrn_id = ?2")
            .and_then(|mut s| s.query_row((kind, id), |r| r.get(0)).optional())
            .context("failed to read what was taken from DLRN")
    }

    fn mark(&self, kind: &str, id: i64, local: Option<i64>) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO dlrn_taken (kind, dlrn_id, local_id) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute((kind, id, local)))
            .context("failed to record what was taken from DLRN")?;
        Ok(())
    }

    fn skip(&mut self, kind: &str, id: i64, why: String) -> Result<()> {
        (self.warn)(format!("DLRN {kind} {id}: skipped: {why}"));
        self.taken.skipped += 1;
        self.mark(kind, id, None)
    }

    fn commits(&mut self) -> Result<()> {
        let mut s = self
            .dlrn
            .prepare(
                "SELECT id, commit_hash, distro_hash, extended_hash, component, status, flags,
                        dt_commit, dt_distro, dt_extended, dt_build, project_name, commit_branch, notes
                 FROM commits ORDER BY id",
            )
            .context("failed to read DLRN's commits")?;
        let mut rows = s.query([]).context("failed to read DLRN's commits")?;
        while let Some(r) = rows.next().context("failed to read DLRN's commits")? {
            let id: i64 = r.get(0).context("failed to read DLRN's commits")?;
            if let Some(local) = self.before("commit", id)? {
                self.taken.taken_before += 1;
                if let Some(b) = local {
                    self.builds.insert(id, b);
                }
                continue;
            }
            match dlrn_commit(r) {
                Ok(row) => {
                    let b = self.build(row)?;
                    self.builds.insert(id, b);
                    self.mark("commit", id, Some(b))?;
                }
                Err(why) => self.skip("commit", id, why)?,
            }
        }
        Ok(())
    }

    /// The build of a DLRN commit: the one imported from its hash
    /// directory, else a new one kept as purged.
    fn build(&mut self, row: CommitRow) -> Result<i64> {
        let repo_dir = crate::trunk::hash_dir(
            row.commit_hash.as_str(),
            row.distro_hash.as_str(),
            row.extended_hash.as_ref().map(|e| e.as_str()),
            row.component.as_deref(),
        );
        let found: Option<i64> = self
            .tx
            .prepare_cached("SELECT id FROM builds WHERE repo_dir = ?1")
            .and_then(|mut s| s.query_row([&repo_dir], |r| r.get(0)).optional())
            .context("failed to look up a build")?;
        if let Some(id) = found {
            self.taken.builds_matched += 1;
            return Ok(id);
        }
        let mut row = row;
        row.flags |= crate::model::PURGED_FLAG;
        let scanned = Scanned {
            repo_dir,
            row,
            packages: Vec::new(),
            consistent: false,
            warning: None,
        };
        let id = super::builds::insert_build(self.tx, &scanned, self.now)?
            .ok_or_else(|| Error::Failed(format!("build {} was not recorded", scanned.repo_dir)))?;
        self.taken.builds_purged += 1;
        Ok(id)
    }

    fn votes(&mut self) -> Result<()> {
        let mut s = self
            .dlrn
            .prepare(
                "SELECT id, commit_id, ci_name, ci_url, ci_vote, ci_in_progress, timestamp, notes, user
                 FROM civotes ORDER BY id",
            )
            .context("failed to read DLRN's civotes")?;
        let mut rows = s.query([]).context("failed to read DLRN's civotes")?;
        while let Some(r) = rows.next().context("failed to read DLRN's civotes")? {
            let v = DlrnVote::read(r, 1).context("failed to read DLRN's civotes")?;
            if self.before("civote", v.id)?.is_some() {
                self.taken.taken_before += 1;
                continue;
            }
            let commit: Option<i64> = r.get(1).context("failed to read DLRN's civotes")?;
            let Some(build) = commit.and_then(|c| self.builds.get(&c).copied()) else {
                self.skip(
                    "civote",
                    v.id,
                    format!("its commit {commit:?} was not taken"),
                )?;
                continue;
            };
            if let Err(why) = v.check() {
                self.skip("civote", v.id, why)?;
                continue;
            }
            self.take_vote("civote", super::votes::VoteTarget::Build(build), &v)?;
        }
        Ok(())
    }

    /// Takes DLRN's vote `v` (of table `kind`) on `target`: the same vote
    /// found here, else a new one.
    fn take_vote(
        &mut self,
        kind: &str,
        target: super::votes::VoteTarget,
        v: &DlrnVote,
    ) -> Result<()> {
        let local = match self.same_vote(target, v)? {
            Some(id) => {
                self.taken.votes_present += 1;
                id
            }
            None => {
                match target {
                    super::votes::VoteTarget::Build(_) => self.taken.votes += 1,
                    super::votes::VoteTarget::Aggregate(_) => self.taken.aggregate_votes += 1,
                }
                self.insert_vote(target, v)?
            }
        };
        self.mark(kind, v.id, Some(local))
    }

    /// A vote here that is the same as DLRN's `v`: the import's own
    /// `consistent` vote of the build, or the same report.
    fn same_vote(&self, target: super::votes::VoteTarget, v: &DlrnVote) -> Result<Option<i64>> {
        use super::votes::{VoteTarget, CONSISTENT_JOB};
        let (build, agg) = match target {
            VoteTarget::Build(b) => (Some(b), None),
            VoteTarget::Aggregate(a) => (None, Some(a)),
        };
        let consistent = v.job == CONSISTENT_JOB && build.is_some();
        self.tx
            .prepare_cached(
                "SELECT id FROM votes
                 WHERE build_id IS :b AND aggregate_id IS :a AND job_id = :j
                   AND (:consistent OR (timestamp = :t AND success = :s AND url = :u))
                   AND id NOT IN (SELECT local_id FROM dlrn_taken
                                  WHERE kind IN ('civote', 'civote_agg') AND local_id IS NOT NULL)
                 ORDER BY id LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(
                    named_params! {
                        ":b": build, ":a": agg, ":j": v.job, ":consistent": consistent,
                        ":t": v.timestamp, ":s": v.success, ":u": v.url,
                    },
                    |r| r.get(0),
                )
                .optional()
            })
            .context("failed to look up a vote")
    }

    fn insert_vote(&self, target: super::votes::VoteTarget, v: &DlrnVote) -> Result<i64> {
        // DLRN records its builder's votes with no user; so are they shown.
        let user = v.user.as_deref().unwrap_or(super::votes::BUILDER_USER);
        super::votes::insert_vote(
            self.tx,
            &super::votes::NewVote {
                target,
                job_id: &v.job,
                success: v.success,
                in_progress: v.in_progress,
                url: &v.url,
                notes: &v.notes,
                timestamp: v.timestamp,
                user,
            },
            self.now,
        )
    }

    /// The history, in DLRN's order. Returns the labels it names, with
    /// their component.
    fn promotions(&mut self) -> Result<Vec<(String, Option<String>)>> {
        let mut s = self
            .dlrn
            .prepare(
                "SELECT id, commit_id, promotion_name, timestamp, user, component, aggregate_hash
                 FROM promotions ORDER BY id",
            )
            .context("failed to read DLRN's promotions")?;
        let mut rows = s.query([]).context("failed to read DLRN's promotions")?;
        let mut labels: Vec<(String, Option<String>)> = Vec::new();
        // label → component → build, as the history has moved them so far:
        // the members of an aggregate a promotion made.
        let mut members: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
        while let Some(r) = rows.next().context("failed to read DLRN's promotions")? {
            let p = DlrnPromotion::read(r).context("failed to read DLRN's promotions")?;
            let build = p.commit.and_then(|c| self.builds.get(&c).copied());
            if let (Some(b), Some(c)) = (build, &p.component) {
                members
                    .entry(p.name.clone())
                    .or_default()
                    .insert(c.clone(), b);
            }
            if self.before("promotion", p.id)?.is_some() {
                self.taken.taken_before += 1;
                continue;
            }
            let Some(build) = build else {
                let why = format!("its commit {:?} was not taken", p.commit);
                self.skip("promotion", p.id, why)?;
                continue;
            };
            if let Err(e) = Label::any(&p.name) {
                self.skip("promotion", p.id, e.to_string())?;
                continue;
            }
            if !labels
                .iter()
                .any(|(n, c)| *n == p.name && *c == p.component)
            {
                labels.push((p.name.clone(), p.component.clone()));
            }
            if let Some(h) = &p.aggregate_hash {
                let ids: Vec<i64> = members
                    .get(&p.name)
                    .map(|m| m.values().copied().collect())
                    .unwrap_or_default();
                self.aggregate(h, p.timestamp, &ids)?;
            }
            let local = self.promotion(&p, build)?;
            self.mark("promotion", p.id, Some(local))?;
        }
        Ok(labels)
    }

    /// Records DLRN's promotion `p` of `build` (or finds the same row here).
    fn promotion(&mut self, p: &DlrnPromotion, build: i64) -> Result<i64> {
        let same: Option<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM promotions WHERE name = ?1 AND build_id = ?2 AND timestamp = ?3
                 AND id NOT IN (SELECT local_id FROM dlrn_taken WHERE kind = 'promotion' AND local_id IS NOT NULL)",
            )
            .and_then(|mut s| s.query_row((&p.name, build, p.timestamp), |r| r.get(0)).optional())
            .context("failed to look up a promotion")?;
        if let Some(id) = same {
            self.taken.promotions_present += 1;
            return Ok(id);
        }
        let previous: Option<i64> = self
            .tx
            .prepare_cached(
                "SELECT build_id FROM promotions WHERE name = ?1 AND component IS ?2 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row((&p.name, &p.component), |r| r.get(0)).optional())
            .context("failed to look up a promotion")?;
        self.tx
            .prepare_cached(
                "INSERT INTO promotions (name, build_id, previous_build_id, aggregate_hash, component, kind, timestamp, user, reason)
                 VALUES (:n, :b, :pb, :a, :c, 'manual', :t, :u, 'imported from DLRN')",
            )
            .and_then(|mut s| {
                s.execute(named_params! {
                    ":n": p.name, ":b": build, ":pb": previous, ":a": p.aggregate_hash,
                    ":c": p.component, ":t": p.timestamp,
                    ":u": p.user.as_deref().unwrap_or(super::votes::BUILDER_USER),
                })
            })
            .context("failed to record a promotion")?;
        self.taken.promotions += 1;
        Ok(self.tx.last_insert_rowid())
    }

    /// The aggregate `hash` (created if new, with `members`).
    fn aggregate(&mut self, hash: &str, created_at: i64, members: &[i64]) -> Result<i64> {
        let (id, new) = super::aggregates::insert_aggregate(
            self.tx,
            &super::aggregates::NewAggregate {
                agg_hash: hash.to_string(),
                repo_dir: None,
                created_at,
                build_ids: members.to_vec(),
            },
        )?;
        self.taken.aggregates += usize::from(new);
        Ok(id)
    }

    fn aggregate_votes(&mut self) -> Result<()> {
        let mut s = self
            .dlrn
            .prepare(
                "SELECT id, ref_hash, ci_name, ci_url, ci_vote, ci_in_progress, timestamp, notes, user
                 FROM civotes_agg ORDER BY id",
            )
            .context("failed to read DLRN's civotes_agg")?;
        let mut rows = s.query([]).context("failed to read DLRN's civotes_agg")?;
        while let Some(r) = rows.next().context("failed to read DLRN's civotes_agg")? {
            let v = DlrnVote::read(r, 1).context("failed to read DLRN's civotes_agg")?;
            if self.before("civote_agg", v.id)?.is_some() {
                self.taken.taken_before += 1;
                continue;
            }
            let hash: Option<String> = r.get(1).context("failed to read DLRN's civotes_agg")?;
            let hash = match hash.map(|h| h.parse::<crate::ident::AggHash>()) {
                Some(Ok(h)) => h,
                Some(Err(e)) => {
                    self.skip("civote_agg", v.id, e.to_string())?;
                    continue;
                }
                None => {
                    self.skip("civote_agg", v.id, "it names no aggregate".into())?;
                    continue;
                }
            };
            if let Err(why) = v.check() {
                self.skip("civote_agg", v.id, why)?;
                continue;
            }
            // DLRN answers the votes of any hash it was given; an aggregate
            // no promotion made is recorded without its builds.
            let agg = self.aggregate(hash.as_str(), v.timestamp, &[])?;
            self.take_vote("civote_agg", super::votes::VoteTarget::Aggregate(agg), &v)?;
        }
        Ok(())
    }

    /// Each label of the history as it is on disk: where its link points
    /// (if the build is recorded), never where the history last put it.
    fn adopt_labels(
        &mut self,
        labels: &[(String, Option<String>)],
        on_disk: &OnDisk,
    ) -> Result<()> {
        for (name, component) in labels {
            let Some(dir) = on_disk(name, component.as_deref())? else {
                continue;
            };
            let build: Option<i64> = self
                .tx
                .prepare_cached("SELECT id FROM builds WHERE repo_dir = ?1")
                .and_then(|mut s| s.query_row([&dir], |r| r.get(0)).optional())
                .context("failed to look up a build")?;
            let Some(build) = build else { continue };
            self.tx
                .prepare_cached(
                    "INSERT INTO labels (name, component, build_id, previous_build_id, source, updated_at)
                     VALUES (:n, :c, :b, NULL, 'promoter', :t)
                     ON CONFLICT (name, component) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(named_params! {
                        ":n": name, ":c": component.as_deref().unwrap_or(""), ":b": build, ":t": self.now,
                    })
                })
                .context("failed to record where a label points")?;
        }
        Ok(())
    }
}

/// A DLRN commit row as a build's row, checked as the import checks
/// `commit.yaml`.
fn dlrn_commit(r: &rusqlite::Row) -> Result<CommitRow, String> {
    let get_s = |i: usize| -> Result<Option<String>, String> {
        r.get::<_, Option<String>>(i).map_err(|e| e.to_string())
    };
    let get_i = |i: usize| -> Result<Option<i64>, String> {
        match r.get_ref(i).map_err(|e| e.to_string())? {
            rusqlite::types::ValueRef::Null => Ok(None),
            rusqlite::types::ValueRef::Integer(n) => Ok(Some(n)),
            rusqlite::types::ValueRef::Real(f) => Ok(Some(f as i64)),
            rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map(|f| Some(f as i64))
                .ok_or_else(|| format!("column {i} is not a number")),
            rusqlite::types::ValueRef::Blob(_) => Err(format!("column {i} is not a number")),
        }
    };
    let commit: CommitHash = get_s(1)?
        .unwrap_or_default()
        .parse()
        .map_err(|e: crate::ident::IdError| e.to_string())?;
    let distro: DistroHash = get_s(2)?
        .unwrap_or_default()
        .parse()
        .map_err(|e: crate::ident::IdError| e.to_string())?;
    let extended = match get_s(3)?.filter(|e| !e.is_empty() && e != "None") {
        Some(e) => Some(e.parse::<ExtendedHash>().map_err(|e| e.to_string())?),
        None => None,
    };
    let status = get_s(5)?.unwrap_or_default();
    let dt_build = get_i(10)?.ok_or("it has no dt_build")?;
    Ok(CommitRow {
        commit_hash: commit,
        distro_hash: distro,
        extended_hash: extended,
        component: get_s(4)?.filter(|c| !c.is_empty() && c != "None"),
        project_name: get_s(11)?.unwrap_or_default(),
        commit_branch: get_s(12)?,
        status,
        flags: get_i(6)?.unwrap_or(0),
        dt_commit: get_i(7)?,
        dt_distro: get_i(8)?,
        dt_extended: get_i(9)?,
        dt_build,
        notes: get_s(13)?,
        dlrn_id: Some(get_i(0)?.unwrap_or(0)),
    })
}

/// A row of `civotes` or `civotes_agg` (their columns after the second
/// are alike).
struct DlrnVote {
    id: i64,
    job: String,
    url: String,
    success: bool,
    in_progress: bool,
    timestamp: i64,
    notes: String,
    user: Option<String>,
}

impl DlrnVote {
    fn read(r: &rusqlite::Row, target_col: usize) -> rusqlite::Result<DlrnVote> {
        let c = target_col + 1;
        Ok(DlrnVote {
            id: r.get(0)?,
            job: r.get::<_, Option<String>>(c)?.unwrap_or_default(),
            url: r.get::<_, Option<String>>(c + 1)?.unwrap_or_default(),
            success: r.get::<_, Option<bool>>(c + 2)?.unwrap_or(false),
            in_progress: r.get::<_, Option<bool>>(c + 3)?.unwrap_or(false),
            timestamp: r.get::<_, Option<i64>>(c + 4)?.unwrap_or(0),
            notes: r.get::<_, Option<String>>(c + 5)?.unwrap_or_default(),
            user: r.get::<_, Option<String>>(c + 6)?,
        })
    }

    /// What a vote recorded here must be, as `report-result` checks it.
    fn check(&self) -> Result<(), String> {
        self.job.parse::<JobId>().map_err(|e| e.to_string())?;
        if self.timestamp < 0 {
            return Err(format!("its timestamp {} is negative", self.timestamp));
        }
        Ok(())
    }
}

/// A row of DLRN's `promotions`.
struct DlrnPromotion {
    id: i64,
    commit: Option<i64>,
    name: String,
    timestamp: i64,
    user: Option<String>,
    component: Option<String>,
    aggregate_hash: Option<String>,
}

impl DlrnPromotion {
    fn read(r: &rusqlite::Row) -> rusqlite::Result<DlrnPromotion> {
        Ok(DlrnPromotion {
            id: r.get(0)?,
            commit: r.get(1)?,
            name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            timestamp: r.get::<_, Option<f64>>(3)?.map(|t| t as i64).unwrap_or(0),
            user: r.get(4)?,
            component: r.get::<_, Option<String>>(5)?.filter(|c| !c.is_empty()),
            aggregate_hash: r.get::<_, Option<String>>(6)?.filter(|h| !h.is_empty()),
        })
    }
}
