//! The SQLite store: opening, migrating and the queries of each table
//! family. Nothing outside this module builds SQL.
//!
//! # Locking
//!
//! The database is in WAL mode, so readers never wait for writers. Every
//! writer starts with `BEGIN IMMEDIATE`, taking SQLite's write lock up
//! front, and a busy timeout makes concurrent writers queue instead of
//! failing with "database is locked". `run` additionally holds an exclusive
//! `flock` on `<database>.lock` so that one run at a time moves labels.

use std::fs::File;
use std::io::Read;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::error::{DbContext, Error, IoContext, Result};

pub mod aggregates;
pub mod builds;
pub mod containers;
pub mod dlrn_db;
pub mod image_sums;
pub mod jobs;
pub mod lock;
pub mod promotions;
pub mod publications;
pub mod replay;
pub mod runs;
pub mod testenvs;
pub mod updates;
pub mod votes;
pub mod waivers;

/// The migrations, in order; entry N sets `user_version` to N + 1.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schema/0001_builds_votes_promotions.sql"),
    include_str!("../../schema/0002_runs_attempts_waivers.sql"),
    include_str!("../../schema/0003_job_runs_testenvs.sql"),
    include_str!("../../schema/0004_publications.sql"),
    include_str!("../../schema/0005_replay.sql"),
    include_str!("../../schema/0006_trust.sql"),
    include_str!("../../schema/0007_batches.sql"),
    include_str!("../../schema/0008_executors.sql"),
    include_str!("../../schema/0009_image_sums.sql"),
    include_str!("../../schema/0010_containers.sql"),
    include_str!("../../schema/0011_hot_indexes.sql"),
    include_str!("../../schema/0012_dlrn_takeover.sql"),
    include_str!("../../schema/0013_release.sql"),
    include_str!("../../schema/0015_broker.sql"),
    include_str!("../../schema/0016_aggregate_labels.sql"),
    include_str!("../../schema/0017_updates.sql"),
    include_str!("../../schema/0018_run_memo.sql"),
    include_str!("../../schema/0019_package_keys.sql"),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest the WAL gets before a writer checkpoints and truncates it.
const WAL_FRAMES: u64 = 32;
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// An open, migrated database.
pub struct Store {
    /// Closed on drop, unless [`one_command_per_process`] was called.
    conn: ManuallyDrop<Connection>,
    path: PathBuf,
    /// The broker every release shares for test environments and leases
    /// (`testenv_db`), when not this database.
    broker: Option<Box<Store>>,
}

/// Set by the binary: each command is one short process, so a store
/// dropped is one the process is done with.
static LEAVE_OPEN: AtomicBool = AtomicBool::new(false);

/// For a process that runs one command and exits, called by the binary
/// before anything opens a database (SQLite's global settings can only be
/// made before it initializes; made later they are refused and nothing
/// changes):
///
/// * stores dropped from now on are not closed: the kernel releases the
///   file and its locks at the exit. Closing would only free the parsed
///   schema and the cached statements, a third of a read command's own
///   work. Safe at any point, as a crash is: what was committed is in the
///   WAL, and a transaction still open is rolled back by the next opener,
///   exactly as `sqlite3_close` would have rolled it back;
/// * SQLite keeps no memory statistics: each allocation would take a mutex
///   to count itself, 8% of a repo-status's instructions. (A larger
///   lookaside was measured too: no fewer instructions, more page faults.)
///
/// Not for a process that keeps running (a job's supervisor, the tests).
pub fn one_command_per_process() {
    LEAVE_OPEN.store(true, Ordering::Relaxed);
    // SAFETY: before any connection exists (main, one thread); the call
    // only sets SQLite's global configuration.
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if !LEAVE_OPEN.load(Ordering::Relaxed) {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.conn) }
        }
    }
}

impl Store {
    /// Opens (creating when missing) and migrates the database at `path`.
    /// A file that is not SQLite, or whose schema is newer than this binary,
    /// is refused and left untouched.
    pub fn open(path: &Path) -> Result<Store> {
        check_header(path)?;
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).at("create the database directory", dir)?;
            }
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| not_a_database(path, e))?;
        let mut conn = conn;
        crate::fault::log_statements(&mut conn);
        conn.busy_timeout(BUSY_TIMEOUT)
            .context("failed to set the busy timeout")?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| not_a_database(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(Error::BadDatabase(format!(
                "database {} has schema version {version}, newer than this promoter's {SCHEMA_VERSION}: upgrade promoter; the file was not changed",
                path.display()
            )));
        }
        let mut store = Store {
            conn: ManuallyDrop::new(conn),
            path: path.to_path_buf(),
            broker: None,
        };
        store.configure()?;
        if version < SCHEMA_VERSION {
            store.migrate()?;
        }
        Ok(store)
    }

    /// An in-memory store, for tests.
    pub fn in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().context("failed to open an in-memory database")?;
        let mut store = Store {
            conn: ManuallyDrop::new(conn),
            path: PathBuf::from(":memory:"),
            broker: None,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<()> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| not_a_database(&self.path, e))?;
        if mode != "wal" && self.path != Path::new(":memory:") {
            self.switch_to_wal()?;
        }
        // Each command is a short process: checkpointing the WAL (and
        // deleting it) at every close would cost more than the command.
        // The writers keep it short instead (see `keep_wal_short`).
        if self.path != Path::new(":memory:") {
            self.conn
                .set_db_config(
                    rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                    true,
                )
                .context("failed to configure the database")?;
        }
        self.conn
            .execute_batch(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;
                 PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;",
            )
            .context("failed to configure the database")?;
        Ok(())
    }

    /// Switches a new database to WAL. That needs the file to itself, and
    /// SQLite does not wait for it as it waits for a write lock: when
    /// several processes create the database at once, the others retry
    /// (one of them has usually switched it by then) until the busy
    /// timeout.
    fn switch_to_wal(&self) -> Result<()> {
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(Error::db("failed to switch the database to WAL mode", e)),
            }
        }
    }

    /// Applies the migrations this database lacks, in one transaction, as
    /// SQLite's procedure for changing a table's schema has it: foreign
    /// keys off (they cannot be switched inside a transaction) and checked
    /// before the commit, and the legacy rename, so that a table made again
    /// under its old name keeps every reference to that name (other
    /// tables' keys, the views of a `sqlite3` session).
    fn migrate(&mut self) -> Result<()> {
        self.with_settings(
            "PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON;",
            "PRAGMA foreign_keys = ON; PRAGMA legacy_alter_table = OFF;",
            Store::migrate_unchecked,
        )
    }

    fn migrate_unchecked(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("failed to start the schema migration")?;
        // Read again under the write lock: another process may have migrated.
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .context("failed to read the schema version")?;
        if version >= SCHEMA_VERSION {
            return Ok(());
        }
        builds::register_fields_key(&tx)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.execute_batch(sql)
                .map_err(|e| Error::db(format!("failed to apply schema migration {}", i + 1), e))?;
        }
        let broken: Option<String> = tx
            .query_row(
                "SELECT \"table\" FROM pragma_foreign_key_check LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .context("failed to check the migrated database")?;
        if let Some(table) = broken {
            return Err(Error::BadDatabase(format!(
                "database {}: a row of table {table} refers to a row that does not exist, so the schema migration was not applied; the file was not changed",
                self.path.display()
            )));
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .context("failed to record the schema version")?;
        tx.commit().context("failed to commit the schema migration")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps test environments and leases in the shared broker database at
    /// `path` (created and migrated like any database; it belongs to no
    /// release) instead of this one.
    pub fn with_broker(mut self, path: &Path) -> Result<Store> {
        if path != self.path {
            self.broker = Some(Box::new(Store::open(path)?));
        }
        Ok(self)
    }

    /// The database that holds test environments and leases: the broker,
    /// else this one.
    pub fn leases(&mut self) -> &mut Store {
        match self.broker {
            Some(ref mut b) => b,
            None => self,
        }
    }

    /// Whether leases live in a shared broker, not in this database.
    pub fn has_broker(&self) -> bool {
        self.broker.is_some()
    }

    /// Checks that this database is `release`'s (and `distro`'s, when both
    /// are known), recording it at first use. Another release's database
    /// is refused (exit 2) and nothing is written.
    pub fn belongs_to(&mut self, release: &str, distro: Option<&str>) -> Result<()> {
        let owner: Option<(String, Option<String>)> = self
            .conn
            .query_row("SELECT name, distro FROM release WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .context("failed to read the database's release")?;
        let refuse = |name: &str, theirs: Option<&str>| {
            Error::BadDatabase(format!(
                "database {} belongs to release {name}{}, not to {release}{}: give each release its own database; nothing was written",
                self.path.display(),
                theirs.map(|d| format!(" ({d})")).unwrap_or_default(),
                distro.map(|d| format!(" ({d})")).unwrap_or_default(),
            ))
        };
        match owner {
            Some((name, _)) if name != release => Err(refuse(&name, None)),
            Some((name, Some(d))) if distro.is_some_and(|c| c != d) => {
                Err(refuse(&name, Some(d.as_str())))
            }
            Some(_) => Ok(()),
            None => {
                self.write(|tx| {
                    tx.execute(
                        "INSERT OR IGNORE INTO release (id, name, distro, bound_at) VALUES (1, ?1, ?2, ?3)",
                        (release, distro, crate::clock::now()),
                    )
                    .context("failed to record the database's release")
                })?;
                // Another release's process may have bound it first.
                self.belongs_to(release, distro)
            }
        }
    }

    /// The connection, for read queries of the store's own modules.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction: all of it lands or none.
    /// Inside [`Store::begin_dry_run`], it runs in a savepoint instead, and
    /// nothing lands.
    ///
    /// Every write first forgets the last quiet run's decisions
    /// (`run_memo`): whatever it changes, the next run decides anew.
    pub fn write<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.write_as(Memo::Forget, f)
    }

    /// [`Store::write`] without SQLite's foreign-key checks: for a bulk
    /// write whose every reference is to a row the same transaction wrote
    /// or read (the import). Each check of a package row a build lists is
    /// a lookup of that row in a table that outgrows the page cache with
    /// the trunk: at 200,000 builds, most of the import's reads.
    /// Foreign keys are on again afterwards, whatever `f` did. Inside a
    /// dry run SQLite cannot switch them, and they stay on.
    pub(crate) fn write_unchecked<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        if !self.conn.is_autocommit() {
            return self.write(f);
        }
        self.with_settings(
            "PRAGMA foreign_keys = OFF",
            "PRAGMA foreign_keys = ON",
            |s| s.write(f),
        )
    }

    /// Runs `f` with the connection's settings changed by `change` (pragmas
    /// SQLite takes only outside a transaction), and `restore` run after it
    /// whatever it did.
    fn with_settings<T>(
        &mut self,
        change: &str,
        restore: &str,
        f: impl FnOnce(&mut Store) -> Result<T>,
    ) -> Result<T> {
        self.conn
            .execute_batch(change)
            .context("failed to configure the database")?;
        let out = f(self);
        let restored = self
            .conn
            .execute_batch(restore)
            .context("failed to configure the database");
        let value = out?;
        restored.map(|()| value)
    }

    /// [`Store::write`], keeping the memo when `memo` says so: only for
    /// the row of a run that repeated it, which changes nothing it decided.
    pub(crate) fn write_as<T>(
        &mut self,
        memo: Memo,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let forget = |c: &Connection| match memo {
            Memo::Forget => c
                .prepare_cached("DELETE FROM run_memo WHERE id = 1")
                .and_then(|mut st| st.execute([]))
                .map(drop)
                .context("failed to forget the last quiet run"),
            Memo::Keep => Ok(()),
        };
        if !self.conn.is_autocommit() {
            let sp = self
                .conn
                .savepoint()
                .context("failed to start a savepoint")?;
            forget(&sp)?;
            let out = f(&sp)?;
            sp.commit().context("failed to release the savepoint")?;
            return Ok(out);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("failed to start a write transaction")?;
        forget(&tx)?;
        let out = f(&tx)?;
        tx.commit().context("failed to commit")?;
        self.keep_wal_short();
        Ok(out)
    }

    /// After a commit, when the WAL holds more than [`WAL_FRAMES`] pages:
    /// checkpoints it and truncates it, if no reader or writer is using it
    /// right now (else the next writer tries again). The first connection
    /// of every process rebuilds the WAL's index from the whole WAL,
    /// checksumming each page (about 14,000 instructions a page), and
    /// forgets what was checkpointed: a WAL left to SQLite's own
    /// checkpoints never starts again when each process writes once, and
    /// every later command pays for all of it.
    fn keep_wal_short(&self) {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        let long = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_FRAMES * (4096 + 24));
        if !long || self.conn.busy_timeout(Duration::ZERO).is_err() {
            return;
        }
        // Best effort: the write is committed whatever this does.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
    }

    /// SQLite's `data_version` of this connection: it changes when another
    /// connection commits, never for this one's own writes.
    pub fn data_version(&self) -> Result<i64> {
        data_version(&self.conn)
    }

    /// Starts a transaction that [`Store::end_dry_run`] rolls back: every
    /// write in between is seen by later reads and then undone.
    /// The shared broker (`testenv_db`), when there is one, is in the dry
    /// run too: a lease or a swept lease there is undone with the rest.
    pub fn begin_dry_run(&mut self) -> Result<()> {
        // Deferred: the write lock is taken at the first write (an import),
        // not held from the start of the dry run.
        self.conn
            .execute_batch("BEGIN")
            .context("failed to start the dry run's transaction")?;
        if let Some(broker) = &mut self.broker {
            broker.begin_dry_run()?;
        }
        Ok(())
    }

    pub fn end_dry_run(&mut self) -> Result<()> {
        // Both are rolled back, whichever fails: this database first.
        let own = self
            .conn
            .execute_batch("ROLLBACK")
            .context("failed to roll the dry run back");
        let broker = match &mut self.broker {
            Some(b) => b.end_dry_run(),
            None => Ok(()),
        };
        own.and(broker)
    }

    /// `PRAGMA user_version` of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .context("failed to read the schema version")
    }
}

/// What a write does with the memo of the last quiet run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Memo {
    Forget,
    Keep,
}

fn data_version(c: &Connection) -> Result<i64> {
    c.query_row("PRAGMA data_version", [], |r| r.get(0))
        .context("failed to read the database's data version")
}

/// Refuses a file that exists, is not empty and does not start with
/// SQLite's magic, before SQLite gets a chance to touch it.
fn check_header(path: &Path) -> Result<()> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::io(
                format!("failed to open database {}", path.display()),
                e,
            ))
        }
    };
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::BadDatabase(format!(
            "database {} is a directory, not an SQLite file",
            path.display()
        )));
    }
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                return Err(Error::io(
                    format!("failed to read database {}", path.display()),
                    e,
                ))
            }
        }
    }
    if n == 0 {
        return Ok(());
    }
    if n < 16 || &head != SQLITE_MAGIC {
        return Err(Error::BadDatabase(format!(
            "{} is not an SQLite database; the file was not changed",
            path.display()
        )));
    }
    Ok(())
}

fn not_a_database(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            Error::BadDatabase(format!(
                "{} is not a usable SQLite database ({e}); the file was not changed",
                path.display()
            ))
        }
        _ => Error::db(format!("failed to open database {}", path.display()), e),
    }
}

pub use crate::clock::now;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_in_memory_to_the_latest_version() {
        let s = Store::in_memory().unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn refuses_a_file_that_is_not_sqlite_and_leaves_it_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.sqlite");
        std::fs::write(&p, b"this is not a database at all, just text").unwrap();
        let before = std::fs::read(&p).unwrap();
        let err = Store::open(&p).err().unwrap();
        assert!(matches!(err, Error::BadDatabase(_)), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    #[test]
    fn refuses_a_database_from_the_future_and_leaves_it_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.sqlite");
        {
            let c = Connection::open(&p).unwrap();
            c.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 999;")
                .unwrap();
        }
        let before = std::fs::read(&p).unwrap();
        let err = Store::open(&p).err().unwrap();
        assert!(err.to_string().contains("newer than"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    #[test]
    fn connections_creating_the_database_at_once_all_open_it() {
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("db.sqlite");
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            Store::open(&p).map(|_| ()).map_err(|e| {
                                let mut msg = e.to_string();
                                if let Some(c) = std::error::Error::source(&e) {
                                    msg.push_str(&format!(": {c}"));
                                }
                                msg
                            })
                        })
                    })
                    .collect();
                for h in handles {
                    h.join()
                        .unwrap()
                        .unwrap_or_else(|e| panic!("round {round}: {e}"));
                }
            });
            let s = Store::open(&p).unwrap();
            assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        }
    }

    #[test]
    fn reopening_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state/db.sqlite");
        Store::open(&p).unwrap();
        let s = Store::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    }
}

#[cfg(test)]
#[path = "tests/mod.rs"]
pub(crate) mod table_tests;
