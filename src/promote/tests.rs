//! The one promotion path on an in-memory store and real trees.

use std::path::Path;

use super::*;
use crate::store::table_tests::{import, scanned, store};

/// A release with trees on disk, a config naming them, and two builds
/// recorded with their hash directories present.
struct Fixture {
    _dir: tempfile::TempDir,
    cfg: Config,
    trees: Trees,
    store: Store,
    builds: Vec<Build>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let text = "release: master\ndistro: centos9\ntrunk: trunk\nimages: images\n\
                promotions:\n  staging:\n    candidate_label: consistent\n    criteria: [ci]\n";
    let cfg = Config::parse(&dir.path().join("promoter.yaml"), text).unwrap();
    let trees = Trees {
        trunk: cfg.trunk.clone(),
        layout: crate::trunk::Layout::Flat,
        images: cfg.images.clone(),
        remote_images: None,
    };
    let mut store = store();
    let scans = vec![scanned(1, 1, 1_600_000_000), scanned(2, 2, 1_600_000_100)];
    for s in &scans {
        std::fs::create_dir_all(trees.trunk.join(&s.repo_dir)).unwrap();
    }
    let ids = import(&mut store, scans);
    let builds: Vec<Build> = ids
        .iter()
        .map(|id| store.build_by_id(*id).unwrap().unwrap())
        .collect();
    std::fs::create_dir_all(trees.images.join(&builds[1].full_hash)).unwrap();
    Fixture {
        _dir: dir,
        cfg,
        trees,
        store,
        builds,
    }
}

/// What carrying out needs, from a fixture's config and trees.
fn carry<'a>(cfg: &'a Config, trees: &'a Trees) -> Carry<'a> {
    Carry {
        cfg,
        trees,
        log_dir: cfg.logs.clone(),
        user: "ci",
    }
}

fn staging() -> Label {
    Label::promotable("staging").unwrap()
}

fn link(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_link(dir.join(name))
        .ok()
        .map(|p| p.display().to_string())
}

fn actor() -> Actor<'static> {
    Actor {
        user: "ci",
        kind: Kind::Manual,
        reason: "test",
    }
}

#[test]
fn a_promotion_moves_both_trees_records_one_row_and_a_second_changes_nothing() {
    let (mut f, label) = (fixture(), staging());
    let c = carry(&f.cfg, &f.trees);
    let first = promote(
        &mut f.store,
        &c,
        &Request::one(&label, &f.builds[0], actor()),
    )
    .unwrap();
    assert!(
        matches!(first, Outcome::Moved { images: false, .. }),
        "{first:?}"
    );
    let second = promote(
        &mut f.store,
        &c,
        &Request::one(&label, &f.builds[1], actor()),
    )
    .unwrap();
    let Outcome::Moved {
        history_ids,
        previous,
        images,
        ..
    } = second
    else {
        panic!("{second:?}")
    };
    assert_eq!(history_ids.len(), 1);
    assert_eq!(previous.as_deref(), Some(f.builds[0].full_hash.as_str()));
    assert!(images, "build 2 has an image directory");
    assert_eq!(
        link(&f.trees.trunk, "staging"),
        Some(f.builds[1].repo_dir.clone())
    );
    assert_eq!(
        link(&f.trees.trunk, "previous-staging"),
        Some(f.builds[0].repo_dir.clone())
    );
    assert_eq!(
        link(&f.trees.images, "staging"),
        Some(f.builds[1].full_hash.to_string())
    );
    assert!(f.store.open_attempts().unwrap().is_empty());
    let again = promote(
        &mut f.store,
        &c,
        &Request::one(&label, &f.builds[1], actor()),
    )
    .unwrap();
    assert_eq!(again, Outcome::Unchanged);
    let rows: i64 = f
        .store
        .conn()
        .query_row("SELECT count(*) FROM promotions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}

#[test]
fn a_label_moved_since_the_caller_read_it_stops_the_promotion_and_is_left_as_found() {
    let (mut f, label) = (fixture(), staging());
    let c = carry(&f.cfg, &f.trees);
    // Someone points the label at build 1 after the caller found it unset.
    std::os::unix::fs::symlink(&f.builds[0].repo_dir, f.trees.trunk.join("staging")).unwrap();
    let request = Request {
        found: Some((None, None)),
        ..Request::one(&label, &f.builds[1], actor())
    };
    let out = promote(&mut f.store, &c, &request).unwrap();
    let Outcome::Stopped { reason } = out else {
        panic!("{out:?}")
    };
    assert!(reason.contains("moved by someone else"), "{reason}");
    assert_eq!(
        link(&f.trees.trunk, "staging"),
        Some(f.builds[0].repo_dir.clone())
    );
    assert_eq!(link(&f.trees.images, "staging"), None);
    assert!(
        f.store.open_attempts().unwrap().is_empty(),
        "stopped, not left open"
    );
}

#[test]
fn a_build_whose_hash_directory_is_gone_is_refused_before_anything_is_recorded() {
    let (mut f, label) = (fixture(), staging());
    let c = carry(&f.cfg, &f.trees);
    std::fs::remove_dir(f.trees.trunk.join(&f.builds[0].repo_dir)).unwrap();
    let e = promote(
        &mut f.store,
        &c,
        &Request::one(&label, &f.builds[0], actor()),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e}");
    let attempts: i64 = f
        .store
        .conn()
        .query_row("SELECT count(*) FROM attempts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attempts, 0);
}
