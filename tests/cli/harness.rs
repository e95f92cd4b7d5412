//! What the fault, load and hostile-input tests share: a seeded random
//! number generator (std only), the soak knobs, and the invariants a
//! workspace must keep whatever was done to it.
//!
//! Every randomised test prints its seed; `PROMOTER_TEST_SEED=N` replays
//! it. `scripts/soak.sh` sets `PROMOTER_SOAK_ROUNDS` (kills per crash
//! test), `PROMOTER_SOAK_CALLS` (calls per concurrent writer) and
//! `PROMOTER_SOAK_VOTES` (votes in the large database) far above what CI
//! runs.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::*;

/// splitmix64: small, fast, and good enough to pick moments and bytes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// The seed of test `name`: `$PROMOTER_TEST_SEED`, else a fixed one
/// derived from the name. Printed, so a failure can be replayed.
pub fn seed(name: &str) -> u64 {
    let seed = match std::env::var("PROMOTER_TEST_SEED") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("PROMOTER_TEST_SEED={s:?} is not a number")),
        // FNV-1a of the name: fixed, and different for each test.
        Err(_) => name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }),
    };
    eprintln!("{name}: seed {seed} (PROMOTER_TEST_SEED={seed} replays it)");
    seed
}

/// `$name` as a number, else `ci`: how much a test does.
pub fn knob(name: &str, ci: usize) -> usize {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name}={s:?} is not a number")),
        Err(_) => ci,
    }
}

/// `PRAGMA integrity_check` and `foreign_key_check` of the database.
#[track_caller]
pub fn assert_database_sound(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "integrity_check of {}", db.display());
    let broken: i64 = c
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(broken, 0, "foreign_key_check of {}", db.display());
}

/// The rows that must never be lost or changed once written: every vote
/// that is final (an in-progress vote may still become final), and every
/// history row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recorded {
    pub final_votes: BTreeMap<i64, String>,
    pub open_votes: BTreeSet<i64>,
    pub history: BTreeMap<i64, String>,
}

impl Recorded {
    pub fn read(db: &Path) -> Recorded {
        let mut r = Recorded::default();
        if !db.exists() {
            return r;
        }
        let c = rusqlite::Connection::open(db).unwrap();
        let has_votes: bool = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'votes'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if !has_votes {
            return r;
        }
        let mut s = c
            .prepare(
                "SELECT id, in_progress, quote(build_id) || '|' || quote(aggregate_id) || '|' || job_id
                   || '|' || success || '|' || url || '|' || notes || '|' || timestamp || '|' || user
                 FROM votes",
            )
            .unwrap();
        let rows = s
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, bool>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (id, open, text) = row.unwrap();
            if open {
                r.open_votes.insert(id);
            } else {
                r.final_votes.insert(id, text);
            }
        }
        let mut s = c
            .prepare(
                "SELECT id, name || '|' || build_id || '|' || quote(previous_build_id) || '|' || kind
                   || '|' || user || '|' || reason FROM promotions",
            )
            .unwrap();
        let rows = s
            .query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .unwrap();
        for row in rows {
            let (id, text) = row.unwrap();
            r.history.insert(id, text);
        }
        r
    }

    /// Asserts that everything recorded in `before` is still in `self`,
    /// unchanged (an open vote may have been closed).
    #[track_caller]
    pub fn assert_keeps(&self, before: &Recorded, what: &str) {
        for (id, text) in &before.final_votes {
            assert_eq!(
                self.final_votes.get(id),
                Some(text),
                "{what}: vote {id} was lost or changed"
            );
        }
        for id in &before.open_votes {
            assert!(
                self.open_votes.contains(id) || self.final_votes.contains_key(id),
                "{what}: in-progress vote {id} was lost"
            );
        }
        for (id, text) in &before.history {
            assert_eq!(
                self.history.get(id),
                Some(text),
                "{what}: history row {id} was lost or changed"
            );
        }
    }
}

/// Where `dir/name` points, if it is a link.
pub fn link_at(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_link(dir.join(name))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Asserts that each label (and its `previous-` link), in the trunk and in
/// the image tree, points at a complete build: a hash directory with its
/// `commit.yaml` that the database records, an image directory with its
/// images.
#[track_caller]
pub fn assert_labels_complete(ws: &Workspace, labels: &[&str]) {
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    for label in labels {
        for name in [label.to_string(), format!("previous-{label}")] {
            if let Some(target) = link_at(&ws.trunk(), &name) {
                let dir = ws.trunk().join(&target);
                assert!(
                    dir.join("commit.yaml").is_file(),
                    "trunk/{name} -> {target}: not a complete hash directory"
                );
                let known: i64 = c
                    .query_row(
                        "SELECT count(*) FROM builds WHERE repo_dir = ?1 AND status = 'SUCCESS'",
                        [&target],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(
                    known, 1,
                    "trunk/{name} -> {target}: not a recorded good build"
                );
            }
            if let Some(target) = link_at(&ws.images(), &name) {
                let dir = ws.images().join(&target);
                for f in ["overcloud-full.tar", "overcloud-full.tar.md5"] {
                    assert!(
                        dir.join(f).is_file(),
                        "images/{name} -> {target}: {f} is missing"
                    );
                }
            }
        }
    }
}

/// Asserts that every published tree under `dest`s passes `verify`, and
/// that `dest` is a link to a complete version.
#[track_caller]
pub fn assert_published_sound(ws: &Workspace, dests: &[&str]) {
    for d in dests {
        let dest = ws.path().join(d);
        if std::fs::symlink_metadata(&dest).is_err() {
            continue;
        }
        let r = ws.run(&["verify", dest.to_str().unwrap()]);
        assert_eq!(r.code, 0, "verify {d}:\n{}\n{}", r.stdout, r.stderr);
    }
}

/// What a converged workspace looks like, independent of where it is:
/// the links, the history, the published content, which (build, job)
/// pairs passed and how often, and that nothing is left half done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converged {
    pub links: BTreeMap<String, Option<String>>,
    pub history: Vec<String>,
    pub published: BTreeMap<String, Option<String>>,
    pub passes: BTreeMap<String, i64>,
    pub open_attempts: i64,
    pub open_votes: i64,
    pub running_jobs: i64,
    pub leftovers: Vec<String>,
}

impl Converged {
    pub fn read(ws: &Workspace, labels: &[&str], dests: &[&str]) -> Converged {
        let mut links = BTreeMap::new();
        for label in labels {
            for name in [label.to_string(), format!("previous-{label}")] {
                links.insert(format!("trunk/{name}"), link_at(&ws.trunk(), &name));
                links.insert(format!("images/{name}"), link_at(&ws.images(), &name));
            }
        }
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        let strings = |q: &str| -> Vec<String> {
            let mut s = c.prepare(q).unwrap();
            let rows = s.query_map([], |r| r.get::<_, String>(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        let history = strings(
            "SELECT p.name || ' ' || b.full_hash || ' ' || p.kind || ' ' || coalesce(pb.full_hash, '-')
             FROM promotions p JOIN builds b ON b.id = p.build_id
             LEFT JOIN builds pb ON pb.id = p.previous_build_id ORDER BY p.id",
        );
        let passes = strings(
            "SELECT b.full_hash || ' ' || v.job_id || ' ' || count(*) FROM votes v
             JOIN builds b ON b.id = v.build_id
             WHERE v.success AND NOT v.in_progress GROUP BY b.full_hash, v.job_id",
        )
        .into_iter()
        .map(|s| {
            let (k, n) = s.rsplit_once(' ').unwrap();
            (k.to_string(), n.parse().unwrap())
        })
        .collect();
        let count = |q: &str| -> i64 { c.query_row(q, [], |r| r.get(0)).unwrap() };
        let mut published = BTreeMap::new();
        let mut leftovers = Vec::new();
        for d in dests {
            let dest = ws.path().join(d);
            published.insert(
                d.to_string(),
                std::fs::read_to_string(dest.join("SHA256SUMS")).ok(),
            );
            let vdir = dest.with_file_name(format!(
                ".{}.versions",
                dest.file_name().unwrap().to_string_lossy()
            ));
            for dir in [Some(vdir.as_path()), dest.parent()].into_iter().flatten() {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for e in entries {
                    let name = e.unwrap().file_name().to_string_lossy().into_owned();
                    if name.contains(".partial-") || name.contains(".tmp-") {
                        leftovers.push(format!("{}: {name}", dir.display()));
                    }
                }
            }
        }
        for dir in [ws.trunk(), ws.images()] {
            for e in std::fs::read_dir(&dir).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                if name.contains(".tmp-") {
                    leftovers.push(format!("{}: {name}", dir.display()));
                }
            }
        }
        Converged {
            links,
            history,
            published,
            passes,
            open_attempts: count(
                "SELECT count(*) FROM attempts WHERE step NOT IN ('done', 'stopped')",
            ),
            open_votes: count("SELECT count(*) FROM votes WHERE in_progress"),
            running_jobs: count("SELECT count(*) FROM job_runs WHERE outcome = 'running'"),
            leftovers,
        }
    }
}

/// CPU-heavy tests hold this shared; a test that measures speed holds it
/// alone, so that its timings are not those of a machine busy with the
/// rest of the suite.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held while a test keeps the machine busy.
pub fn busy() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

/// Held while a test measures speed: no heavy test runs meanwhile.
pub fn quiet() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}
