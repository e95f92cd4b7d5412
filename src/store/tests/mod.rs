//! Unit tests of the store's table modules, one file per module, each test
//! on a fresh in-memory database. Builds get in the way the importer puts
//! them there, through [`Store::record_import`]; everything else through
//! the module's own functions. Raw SQL is used only to write what the code
//! never writes (a value outside an enum, a row the schema must refuse).

mod aggregates;
mod builds;
mod containers;
mod jobs;
mod lock;
mod promotions;
mod publications;
mod replay;
mod runs;
mod testenvs;
mod updates;
mod votes;
mod waivers;

use super::Store;
use crate::trunk::commit_yaml::CommitRow;
use crate::trunk::import::{BuilderLink, Scanned};
use crate::trunk::versions_csv::PackageRow;

/// When the builds of these tests were imported.
pub(crate) const IMPORTED_AT: i64 = 1_700_000_000;

pub(crate) fn store() -> Store {
    Store::in_memory().expect("an in-memory store")
}

/// A package list of one package per `(project, status)`.
pub(crate) fn packages(rows: &[(&str, &str)]) -> Vec<PackageRow> {
    let mut text = crate::trunk::versions_csv::HEADER.join(",");
    text.push('\n');
    for (p, status) in rows {
        text.push_str(&format!(
            "{p},https://git/{p},abc{p},https://dist/{p},def{p},{status},1444300000,None,None,{p}-1.0-1.el7\n"
        ));
    }
    crate::trunk::versions_csv::parse(&text).expect("a valid versions.csv")
}

/// The commit hash of build `n`: 40 characters, distinct for each `n`.
pub(crate) fn commit_of(n: u32) -> String {
    format!("c{n:07}{}", "a".repeat(32))
}

/// The distro hash of every build of these tests.
pub(crate) const DISTRO: &str = "d15d0000aaaabbbbccccddddeeeeffff00001111";

/// A successful build `n` with DLRN id `dlrn_id`, built at `dt_build`,
/// whose package list is all `SUCCESS`, as a scan of the trunk finds it.
/// Tests change its fields for the case at hand.
pub(crate) fn scanned(n: u32, dlrn_id: i64, dt_build: i64) -> Scanned {
    let commit = commit_of(n);
    let packages = packages(&[("python-foo", "SUCCESS"), ("python-bar", "SUCCESS")]);
    Scanned {
        repo_dir: format!(
            "{}/{}/{commit}_{}",
            &commit[..2],
            &commit[2..4],
            &DISTRO[..8]
        ),
        row: CommitRow {
            commit_hash: commit.parse().unwrap(),
            distro_hash: DISTRO.parse().unwrap(),
            extended_hash: None,
            component: None,
            project_name: format!("project-{n}"),
            commit_branch: Some("master".into()),
            status: "SUCCESS".into(),
            flags: 0,
            dt_commit: Some(dt_build - 100),
            dt_distro: Some(dt_build - 50),
            dt_extended: None,
            dt_build,
            notes: None,
            dlrn_id: Some(dlrn_id),
        },
        consistent: crate::trunk::versions_csv::is_consistent(&packages),
        packages,
        warning: None,
    }
}

/// `s` with a package that failed to build: not consistent by its list.
pub(super) fn with_failed_package(mut s: Scanned) -> Scanned {
    s.packages = packages(&[("python-foo", "SUCCESS"), ("python-bar", "FAILED")]);
    s.consistent = false;
    s
}

/// The builder link `name` pointing at `repo_dir`.
pub(super) fn link(name: &str, repo_dir: Option<&str>) -> BuilderLink {
    BuilderLink {
        name: name.into(),
        component: None,
        repo_dir: repo_dir.map(String::from),
    }
}

/// Imports `scans` with the builder's `links` at `now`; returns (builds
/// added, builds that became consistent).
pub(super) fn import_at(
    store: &mut Store,
    scans: Vec<Scanned>,
    links: &[BuilderLink],
    now: i64,
) -> (usize, usize) {
    let expected = scans.len();
    import_expecting(store, scans, links, now, expected).expect("the import is recorded")
}

/// [`import_at`], saying the feed may give `expected` hash directories.
pub(super) fn import_expecting(
    store: &mut Store,
    scans: Vec<Scanned>,
    links: &[BuilderLink],
    now: i64,
    expected: usize,
) -> crate::error::Result<(usize, usize)> {
    store.record_import(links, &[], now, expected, |sink| {
        for s in scans {
            sink(s)?;
        }
        Ok(())
    })
}

/// Records the package list read again of a build not settled yet, with
/// the builder's `links`, a minute after [`IMPORTED_AT`].
pub(super) fn import_rechecked(
    store: &mut Store,
    links: &[BuilderLink],
    recheck: crate::store::builds::Recheck,
) -> (usize, usize) {
    store
        .record_import(links, &[recheck], IMPORTED_AT + 60, 0, |_| Ok(()))
        .expect("the recheck is recorded")
}

/// Imports `scans` with no builder link, and returns their ids in order.
pub(crate) fn import(store: &mut Store, scans: Vec<Scanned>) -> Vec<i64> {
    let dirs: Vec<String> = scans.iter().map(|s| s.repo_dir.clone()).collect();
    import_at(store, scans, &[], IMPORTED_AT);
    dirs.iter().map(|d| id_of(store, d)).collect()
}

/// The id of the build recorded for `repo_dir`.
pub(super) fn id_of(store: &Store, repo_dir: &str) -> i64 {
    store
        .build_by_repo_dir(repo_dir)
        .unwrap()
        .unwrap_or_else(|| panic!("no build recorded for {repo_dir}"))
        .id
}

/// `n` plain successful builds, DLRN ids 1..=n, built an hour apart.
pub(super) fn builds(store: &mut Store, n: u32) -> Vec<i64> {
    import(
        store,
        (1..=n)
            .map(|i| scanned(i, i64::from(i), 1_600_000_000 + i64::from(i) * 3600))
            .collect(),
    )
}

/// Runs `sql` on the store's connection with the schema's CHECK
/// constraints off, to write a value the code never writes.
pub(super) fn unchecked(store: &Store, sql: &str) {
    store
        .conn()
        .execute_batch(&format!(
            "PRAGMA ignore_check_constraints = ON; {sql}; PRAGMA ignore_check_constraints = OFF;"
        ))
        .expect("the raw write");
}

/// The error and its causes, as one line.
pub(super) fn chain(e: &crate::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

#[test]
fn the_helpers_make_builds_the_importer_accepts() {
    let mut s = store();
    let ids = builds(&mut s, 3);
    assert_eq!(ids.len(), 3);
    assert_eq!(s.known_repo_dirs().unwrap().len(), 3);
    assert!(packages(&[("a", "SUCCESS")])
        .iter()
        .all(|p| p.status() == "SUCCESS"));
}
