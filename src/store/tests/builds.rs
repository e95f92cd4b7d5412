//! `store::builds`: recording an import, reading builds back, the
//! builder's order, and consistency settled against the builder's link.

use super::*;
use crate::ident::FullHash;
use crate::store::builds::Recheck;
use crate::store::votes::CONSISTENT_JOB;

#[test]
fn a_recorded_build_reads_back_field_for_field_by_each_lookup() {
    let mut s = store();
    let scan = scanned(7, 4242, 1_444_300_000);
    let dir = scan.repo_dir.clone();
    assert_eq!(import_at(&mut s, vec![scan], &[], IMPORTED_AT), (1, 1));
    let b = s.build_by_repo_dir(&dir).unwrap().unwrap();
    let commit = commit_of(7);
    assert_eq!(b.commit_hash, commit);
    assert_eq!(b.distro_hash, DISTRO);
    assert_eq!(b.extended_hash, None);
    assert_eq!(b.component, None);
    assert_eq!(b.project_name, "project-7");
    assert_eq!(b.status, "SUCCESS");
    assert_eq!(b.flags, 0);
    assert_eq!(b.dt_build, 1_444_300_000);
    assert_eq!(b.repo_dir, dir);
    assert_eq!(b.full_hash, format!("{commit}_{}", &DISTRO[..8]));
    assert!(b.consistent);
    assert_eq!(b.order(), (4242, 1_444_300_000, b.id));
    assert_eq!(b.hash_pair(), format!("{commit}_{DISTRO}"));
    assert!(b.succeeded() && !b.purged());
    assert_eq!(s.build_by_id(b.id).unwrap().as_ref(), Some(&b));
    assert_eq!(
        s.find_build(&commit, DISTRO, None).unwrap().as_ref(),
        Some(&b)
    );
    let full: FullHash = b.full_hash.parse().unwrap();
    assert_eq!(s.builds_by_full_hash(&full).unwrap(), vec![b.clone()]);
    assert_eq!(s.known_repo_dirs().unwrap(), [dir].into_iter().collect());
}

#[test]
fn unknown_builds_are_none_not_errors() {
    let mut s = store();
    builds(&mut s, 1);
    assert_eq!(s.build_by_id(999).unwrap(), None);
    assert_eq!(s.build_by_repo_dir("no/such/dir").unwrap(), None);
    assert_eq!(s.find_build(&commit_of(2), DISTRO, None).unwrap(), None);
    assert_eq!(
        s.find_build(&commit_of(1), DISTRO, Some("nope")).unwrap(),
        None
    );
    assert_eq!(s.build_by_dir_name("abc_def").unwrap(), None);
}

#[test]
fn importing_a_hash_directory_again_adds_nothing_and_changes_nothing() {
    let mut s = store();
    let scan = scanned(1, 10, 1_600_000_000);
    let dir = scan.repo_dir.clone();
    assert_eq!(
        import_at(&mut s, vec![scan.clone()], &[], IMPORTED_AT),
        (1, 1)
    );
    let before = s.build_by_repo_dir(&dir).unwrap().unwrap();
    let mut changed = scan;
    changed.row.project_name = "another-name".into();
    assert_eq!(
        import_at(&mut s, vec![changed], &[], IMPORTED_AT + 60),
        (0, 0)
    );
    assert_eq!(s.build_by_repo_dir(&dir).unwrap().unwrap(), before);
    assert_eq!(s.known_repo_dirs().unwrap().len(), 1);
    assert_eq!(s.vote_count().unwrap(), 1, "one consistent vote, not two");
}

#[test]
fn newest_builds_are_ordered_by_seq_then_dt_order_then_id_all_descending() {
    let mut s = store();
    // Imported in this order, so ids grow down the list.
    let ids = import(
        &mut s,
        vec![
            scanned(1, 5, 1_600_000_100), // a: seq 5, early
            scanned(2, 5, 1_600_000_200), // b: seq 5, later
            scanned(3, 7, 1_600_000_050), // c: the highest seq, though built first
            scanned(4, 5, 1_600_000_200), // d: as b, imported after it
            scanned(5, 0, 1_600_009_999), // e: no DLRN id, built last
        ],
    );
    let (a, b, c, d, e) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    assert_eq!(s.newest_builds(false, 10).unwrap(), vec![c, d, b, a, e]);
    assert_eq!(s.newest_builds(true, 10).unwrap(), vec![c, d, b, a, e]);
    assert_eq!(s.newest_builds(false, 2).unwrap(), vec![c, d], "the limit");
    let order: Vec<_> = ids
        .iter()
        .map(|id| s.build_by_id(*id).unwrap().unwrap().order())
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(
        sorted,
        [order[2], order[3], order[1], order[0], order[4]],
        "Build::order sorts as the query does"
    );
}

#[test]
fn a_build_dated_after_it_was_first_seen_is_ordered_by_when_it_was_seen() {
    let mut s = store();
    // No DLRN ids: the build time orders. The first claims a build time in
    // 2100, but was seen at IMPORTED_AT; the second was built after that.
    let mut future = scanned(1, 0, 4_102_444_800);
    future.row.dlrn_id = None;
    let mut later = scanned(2, 0, IMPORTED_AT + 10);
    later.row.dlrn_id = None;
    let (f_dir, l_dir) = (future.repo_dir.clone(), later.repo_dir.clone());
    import_at(&mut s, vec![future], &[], IMPORTED_AT);
    import_at(&mut s, vec![later], &[], IMPORTED_AT + 20);
    let f = s.build_by_repo_dir(&f_dir).unwrap().unwrap();
    let l = s.build_by_repo_dir(&l_dir).unwrap().unwrap();
    assert_eq!(
        f.dt_build, 4_102_444_800,
        "the build time is kept as written"
    );
    assert_eq!(f.order(), (0, IMPORTED_AT, f.id));
    assert_eq!(s.newest_builds(false, 10).unwrap(), vec![l.id, f.id]);
}

#[test]
fn newest_builds_leave_out_failed_purged_and_with_consistent_inconsistent_builds() {
    let mut s = store();
    let mut failed = scanned(2, 2, 1_600_000_002);
    failed.row.status = "FAILED".into();
    let mut purged = scanned(3, 3, 1_600_000_003);
    purged.row.flags = 2;
    let ids = import(
        &mut s,
        vec![
            scanned(1, 1, 1_600_000_001),
            failed,
            purged,
            with_failed_package(scanned(4, 4, 1_600_000_004)),
        ],
    );
    assert_eq!(s.newest_builds(false, 10).unwrap(), vec![ids[3], ids[0]]);
    assert_eq!(s.newest_builds(true, 10).unwrap(), vec![ids[0]]);
    let purged = s.build_by_id(ids[2]).unwrap().unwrap();
    assert!(purged.purged() && !purged.consistent);
    let failed = s.build_by_id(ids[1]).unwrap().unwrap();
    assert!(!failed.succeeded() && !failed.consistent);
}

/// Two builds of one commit and distro hash that differ in their extended
/// hash: the first successful, the second failed and recorded after it.
fn two_extended(s: &mut Store) -> (i64, i64) {
    let mut ok = scanned(1, 1, 1_600_000_001);
    ok.row.extended_hash = Some("e1".parse().unwrap());
    ok.repo_dir.push_str("_e1");
    let mut bad = scanned(1, 2, 1_600_000_002);
    bad.row.extended_hash = Some("e2".parse().unwrap());
    bad.row.status = "FAILED".into();
    bad.repo_dir.push_str("_e2");
    let ids = import(s, vec![ok, bad]);
    (ids[0], ids[1])
}

#[test]
fn without_an_extended_hash_the_newest_successful_build_of_the_pair_is_found() {
    let mut s = store();
    let (ok, bad) = two_extended(&mut s);
    let c = commit_of(1);
    assert_eq!(s.find_build(&c, DISTRO, None).unwrap().unwrap().id, ok);
    assert_eq!(
        s.find_build(&c, DISTRO, Some("e2")).unwrap().unwrap().id,
        bad
    );
    let b = s.find_build(&c, DISTRO, Some("e1")).unwrap().unwrap();
    assert_eq!(b.id, ok);
    assert_eq!(b.extended_hash.as_deref(), Some("e1"));
    assert_eq!(b.hash_pair(), format!("{c}_{DISTRO}_e1"));
}

#[test]
fn builds_sharing_a_full_hash_are_listed_successful_first_then_newest() {
    let mut s = store();
    let (ok, bad) = two_extended(&mut s);
    let full: FullHash = format!("{}_{}", commit_of(1), &DISTRO[..8])
        .parse()
        .unwrap();
    let ids: Vec<i64> = s
        .builds_by_full_hash(&full)
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, vec![ok, bad]);
}

#[test]
fn a_hash_directory_name_tells_apart_builds_that_differ_only_in_their_extended_hash() {
    let mut s = store();
    let (ok, bad) = two_extended(&mut s);
    let name = format!("{}_{}", commit_of(1), &DISTRO[..8]);
    let by = |n: String| s.build_by_dir_name(&n).unwrap().map(|b| b.id);
    assert_eq!(by(format!("{name}_e1")), Some(ok));
    assert_eq!(by(format!("{name}_e2")), Some(bad));
    assert_eq!(by(format!("{name}_e3")), None);
}

#[test]
fn without_a_consistent_link_the_package_list_decides_and_dlrn_votes_for_it() {
    let mut s = store();
    let good = scanned(1, 1, 1_600_000_001);
    let bad = with_failed_package(scanned(2, 2, 1_600_000_002));
    let (gd, bd) = (good.repo_dir.clone(), bad.repo_dir.clone());
    assert_eq!(import_at(&mut s, vec![good, bad], &[], IMPORTED_AT), (2, 1));
    let g = s.build_by_repo_dir(&gd).unwrap().unwrap();
    let b = s.build_by_repo_dir(&bd).unwrap().unwrap();
    assert!(g.consistent);
    assert!(!b.consistent);
    let votes = s.votes_of_build(g.id, None).unwrap();
    assert_eq!(votes.len(), 1);
    let v = &votes[0];
    assert_eq!(
        (v.job_id.as_str(), v.success, v.in_progress, v.user.as_str()),
        (CONSISTENT_JOB, true, false, "dlrn")
    );
    assert_eq!(v.timestamp, g.dt_build, "DLRN votes at the build time");
    assert!(s.votes_of_build(b.id, None).unwrap().is_empty());
    assert!(s.unsettled_builds().unwrap().is_empty());
}

#[test]
fn a_build_newer_than_the_consistent_link_stays_unsettled_until_the_link_reaches_it() {
    let mut s = store();
    let first = scanned(1, 1, 1_600_000_001);
    let second = scanned(2, 2, 1_600_000_002);
    let (d1, d2) = (first.repo_dir.clone(), second.repo_dir.clone());
    let links = [link("consistent", Some(&d1))];
    assert_eq!(
        import_at(&mut s, vec![first, second.clone()], &links, IMPORTED_AT),
        (2, 1)
    );
    let (id1, id2) = (id_of(&s, &d1), id_of(&s, &d2));
    assert!(s.build_by_id(id1).unwrap().unwrap().consistent);
    assert!(
        !s.build_by_id(id2).unwrap().unwrap().consistent,
        "its package list looks fine, but the builder has not said so"
    );
    assert_eq!(s.unsettled_builds().unwrap(), vec![(id2, d2.clone())]);
    // The link moves on; the package list read again decides.
    let links = [link("consistent", Some(&d2))];
    let recheck = Recheck {
        build_id: id2,
        packages: second.packages.clone(),
    };
    let done = import_rechecked(&mut s, &links, recheck);
    assert_eq!(done, (0, 1));
    assert!(s.build_by_id(id2).unwrap().unwrap().consistent);
    assert!(s.unsettled_builds().unwrap().is_empty());
}

#[test]
fn the_build_the_consistent_link_names_is_consistent_by_the_builders_word() {
    let mut s = store();
    let odd = with_failed_package(scanned(1, 1, 1_600_000_001));
    let dir = odd.repo_dir.clone();
    let links = [link("consistent", Some(&dir))];
    assert_eq!(import_at(&mut s, vec![odd], &links, IMPORTED_AT), (1, 1));
    assert!(s.build_by_repo_dir(&dir).unwrap().unwrap().consistent);
}

#[test]
fn a_consistent_link_to_a_build_not_recorded_settles_nothing() {
    let mut s = store();
    let b = scanned(1, 1, 1_600_000_001);
    let dir = b.repo_dir.clone();
    let links = [link("consistent", Some("no/such/hashdir"))];
    assert_eq!(import_at(&mut s, vec![b], &links, IMPORTED_AT), (1, 0));
    let id = id_of(&s, &dir);
    assert_eq!(s.unsettled_builds().unwrap(), vec![(id, dir)]);
}

#[test]
fn a_rechecked_package_list_replaces_the_one_recorded() {
    let mut s = store();
    let first = scanned(1, 1, 1_600_000_001);
    let half = with_failed_package(scanned(2, 2, 1_600_000_002));
    let (d1, d2) = (first.repo_dir.clone(), half.repo_dir.clone());
    import_at(
        &mut s,
        vec![first, half],
        &[link("consistent", Some(&d1))],
        IMPORTED_AT,
    );
    let id2 = id_of(&s, &d2);
    // Read again once the builder finished writing it: all built now.
    let recheck = Recheck {
        build_id: id2,
        packages: packages(&[("python-foo", "SUCCESS"), ("python-bar", "SUCCESS")]),
    };
    import_rechecked(&mut s, &[link("consistent", Some(&d2))], recheck);
    assert!(s.build_by_id(id2).unwrap().unwrap().consistent);
    let statuses: Vec<String> = {
        let mut st = s
            .conn()
            .prepare(
                "SELECT pv.status FROM build_packages bp
                 JOIN package_versions pv ON pv.id = bp.package_version_id
                 WHERE bp.build_id = ?1 ORDER BY pv.project",
            )
            .unwrap();
        st.query_map([id2], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(statuses, ["SUCCESS", "SUCCESS"], "the old rows are gone");
}

#[test]
fn a_builder_link_records_where_it_pointed_before_and_when_it_moved() {
    let mut s = store();
    let a = scanned(1, 1, 1_600_000_001);
    let b = scanned(2, 2, 1_600_000_002);
    let (da, db) = (a.repo_dir.clone(), b.repo_dir.clone());
    import_at(&mut s, vec![a, b], &[link("current", Some(&da))], 100);
    let (ia, ib) = (id_of(&s, &da), id_of(&s, &db));
    let l = s.label("current", None).unwrap().unwrap();
    assert_eq!(
        (
            l.build_id,
            l.previous_build_id,
            l.source.as_str(),
            l.updated_at
        ),
        (Some(ia), None, "builder", 100)
    );
    import_at(&mut s, vec![], &[link("current", Some(&db))], 200);
    let l = s.label("current", None).unwrap().unwrap();
    assert_eq!(
        (l.build_id, l.previous_build_id, l.updated_at),
        (Some(ib), Some(ia), 200)
    );
    // Seen again where it was: neither its previous build nor its time move.
    import_at(&mut s, vec![], &[link("current", Some(&db))], 300);
    let l = s.label("current", None).unwrap().unwrap();
    assert_eq!(
        (l.build_id, l.previous_build_id, l.updated_at),
        (Some(ib), Some(ia), 200)
    );
}

#[test]
fn a_component_builds_link_is_recorded_under_its_component() {
    let mut s = store();
    let mut b = scanned(1, 1, 1_600_000_001);
    b.row.component = Some("tripleo".into());
    let dir = b.repo_dir.clone();
    let l = BuilderLink {
        name: "consistent".into(),
        component: Some("tripleo".into()),
        repo_dir: Some(dir.clone()),
    };
    import_at(&mut s, vec![b], &[l], IMPORTED_AT);
    let id = id_of(&s, &dir);
    assert_eq!(
        s.build_by_id(id).unwrap().unwrap().component.as_deref(),
        Some("tripleo")
    );
    assert_eq!(s.label("consistent", None).unwrap(), None);
    let l = s.label("consistent", Some("tripleo")).unwrap().unwrap();
    assert_eq!(
        (l.component.as_deref(), l.build_id),
        (Some("tripleo"), Some(id))
    );
}

#[test]
fn a_failed_feed_records_nothing_of_the_import() {
    let mut s = store();
    let b = scanned(1, 1, 1_600_000_001);
    let err = s
        .record_import(&[link("current", None)], &[], IMPORTED_AT, 1, |sink| {
            sink(b)?;
            Err(crate::error::Error::Invalid("the scan broke".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("the scan broke"), "{err}");
    assert!(s.known_repo_dirs().unwrap().is_empty());
    assert_eq!(s.label("current", None).unwrap(), None);
    assert_eq!(s.vote_count().unwrap(), 0);
}

/// Whether SQLite checks foreign keys on `store`'s connection now.
fn foreign_keys(store: &Store) -> bool {
    store
        .conn()
        .query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0))
        .unwrap()
        == 1
}

#[test]
fn foreign_keys_are_checked_again_after_an_import_whether_it_failed_or_not() {
    let mut s = store();
    assert!(foreign_keys(&s), "a store checks them from the start");
    builds(&mut s, 2);
    assert!(foreign_keys(&s), "after an import that was recorded");
    s.record_import(&[], &[], IMPORTED_AT, 1, |sink| {
        sink(scanned(9, 9, 1_600_000_009))?;
        Err(crate::error::Error::Invalid("the scan broke".into()))
    })
    .unwrap_err();
    assert!(foreign_keys(&s), "after an import that failed");
    let err = s
        .conn()
        .execute(
            "INSERT INTO build_packages (build_id, package_version_id) VALUES (999999, 999999)",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
}

#[test]
fn a_rechecked_build_settled_since_it_was_read_is_left_as_it_was_settled() {
    let mut s = store();
    let first = scanned(1, 1, 1_600_000_001);
    let half = with_failed_package(scanned(2, 2, 1_600_000_002));
    let (d1, d2) = (first.repo_dir.clone(), half.repo_dir.clone());
    import_at(
        &mut s,
        vec![first, half],
        &[link("consistent", Some(&d1))],
        IMPORTED_AT,
    );
    let id2 = id_of(&s, &d2);
    assert_eq!(s.unsettled_builds().unwrap(), vec![(id2, d2.clone())]);
    // Another writer settles it between this import's scan and its write.
    unchecked(
        &s,
        &format!("UPDATE builds SET settled = 1 WHERE id = {id2}"),
    );
    let recheck = Recheck {
        build_id: id2,
        packages: packages(&[("python-new", "SUCCESS")]),
    };
    import_rechecked(&mut s, &[link("consistent", Some(&d1))], recheck);
    let (count, listed): (i64, i64) = s
        .conn()
        .query_row(
            "SELECT package_count, (SELECT count(*) FROM build_packages WHERE build_id = ?1)
             FROM builds WHERE id = ?1",
            [id2],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (count, listed),
        (2, 2),
        "its two packages, not the one read"
    );
    assert!(!s.build_by_id(id2).unwrap().unwrap().consistent);
}

#[test]
fn a_hash_read_back_that_is_not_valid_is_an_error_not_taken_as_it_is() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    for (column, bad) in [
        ("full_hash", "../../etc"),
        ("commit_hash", "a b"),
        ("extended_hash", "x/y"),
    ] {
        let mut t = store();
        let id = builds(&mut t, 1)[0];
        unchecked(&t, &format!("UPDATE builds SET {column} = '{bad}'"));
        let err = t.build_by_id(id).unwrap_err();
        assert!(
            chain(&err).contains("is not valid"),
            "{column}: {}",
            chain(&err)
        );
    }
    assert!(s.build_by_id(ids[0]).unwrap().is_some());
}

#[test]
fn the_unrecorded_hash_directories_are_kept_in_the_walks_order() {
    let mut s = store();
    builds(&mut s, 3);
    let mut recorded: Vec<String> = s.known_repo_dirs().unwrap().into_iter().collect();
    recorded.sort();
    let mut dirs: Vec<String> = vec![
        "zz/zz/new-last".into(),
        recorded[2].clone(),
        "00/00/new-first".into(),
        recorded[0].clone(),
        "mm/mm/new-middle".into(),
        recorded[1].clone(),
    ];
    s.retain_unrecorded(&mut dirs).unwrap();
    assert_eq!(
        dirs,
        ["zz/zz/new-last", "00/00/new-first", "mm/mm/new-middle"]
    );
    let mut none: Vec<String> = Vec::new();
    s.retain_unrecorded(&mut none).unwrap();
    assert!(none.is_empty());
    let mut all = recorded.clone();
    s.retain_unrecorded(&mut all).unwrap();
    assert!(all.is_empty(), "every recorded one goes");
}

#[test]
fn the_key_of_a_package_row_is_fnv_1a_of_its_fields_each_ended() {
    use crate::store::builds::fields_key;
    // Worked out by hand from FNV-1a's constants: it is stored, so it
    // must not change with the toolchain.
    assert_eq!(
        fields_key(["python-foo", "SUCCESS"]),
        -3_412_987_354_948_969_261
    );
    assert_ne!(
        fields_key(["ab", ""]),
        fields_key(["a", "b"]),
        "ends marked"
    );
    assert_ne!(fields_key(["a", "b"]), fields_key(["b", "a"]));
}

#[test]
fn a_package_version_is_found_by_its_keys_index_not_by_a_scan() {
    let s = store();
    let plan: Vec<String> = {
        let mut st = s
            .conn()
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                crate::store::builds::FIND_PACKAGE
            ))
            .unwrap();
        let unbound = std::iter::repeat_n(rusqlite::types::Null, 11);
        st.query_map(rusqlite::params_from_iter(unbound), |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        plan,
        ["SEARCH package_versions USING INDEX package_versions_key (fields_key=?)"]
    );
}

#[test]
fn rows_met_again_in_another_import_are_the_rows_recorded_then() {
    let mut s = store();
    let a = scanned(1, 1, 1_600_000_001);
    let mut b = scanned(2, 2, 1_600_000_002);
    b.packages = a.packages.clone();
    import_at(&mut s, vec![a], &[], IMPORTED_AT);
    import_at(&mut s, vec![b], &[], IMPORTED_AT + 60);
    let (rows, listed): (i64, i64) = s
        .conn()
        .query_row(
            "SELECT (SELECT count(*) FROM package_versions), (SELECT count(*) FROM build_packages)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (rows, listed),
        (2, 4),
        "two rows, each listed by both builds"
    );
}

#[test]
fn the_package_keys_migration_keys_the_package_rows_recorded_before_it_and_keeps_every_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    {
        let mut s = Store::open(&path).unwrap();
        builds(&mut s, 3);
    }
    // Back to the schema before the key (file 0018's), as it was: the ten-column unique index, no key.
    let before: Vec<(i64, i64)> = {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = OFF; BEGIN;
             CREATE TABLE pv18 (
                 id INTEGER PRIMARY KEY, project TEXT NOT NULL, source_repo TEXT NOT NULL,
                 source_sha TEXT NOT NULL, dist_repo TEXT NOT NULL, dist_sha TEXT NOT NULL,
                 status TEXT NOT NULL, last_success TEXT NOT NULL, component TEXT NOT NULL,
                 extended_sha TEXT NOT NULL, nvr TEXT NOT NULL,
                 UNIQUE (project, source_sha, dist_sha, extended_sha, status, last_success, nvr,
                         source_repo, dist_repo, component));
             INSERT INTO pv18 SELECT id, project, source_repo, source_sha, dist_repo, dist_sha,
                 status, last_success, component, extended_sha, nvr FROM package_versions;
             DROP TABLE package_versions;
             ALTER TABLE pv18 RENAME TO package_versions;
             CREATE VIEW mine AS SELECT p.project, bp.build_id FROM build_packages bp
                 JOIN package_versions p ON p.id = bp.package_version_id;
             COMMIT;",
        )
        .unwrap();
        c.pragma_update(None, "user_version", crate::store::SCHEMA_VERSION - 1)
            .unwrap();
        let mut st = c
            .prepare("SELECT build_id, package_version_id FROM build_packages ORDER BY 1, 2")
            .unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(before.len(), 6);
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), crate::store::SCHEMA_VERSION);
    {
        let c = s.conn();
        let mut st = c
            .prepare("SELECT build_id, package_version_id FROM build_packages ORDER BY 1, 2")
            .unwrap();
        let after: Vec<(i64, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(after, before);
        let mut st = c
        .prepare(
            "SELECT project, source_repo, source_sha, dist_repo, dist_sha, status, last_success,
                    component, extended_sha, nvr, fields_key FROM package_versions",
        )
        .unwrap();
        let keyed: Vec<(Vec<String>, i64)> = st
            .query_map([], |r| {
                let fields = (0..10).map(|i| r.get(i)).collect::<rusqlite::Result<_>>()?;
                Ok((fields, r.get(10)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(keyed.len(), 2);
        for (fields, key) in &keyed {
            let want = crate::store::builds::fields_key(fields.iter().map(String::as_str));
            assert_eq!(*key, want, "{fields:?}");
        }
        assert_eq!(foreign_key_violations(&s), 0);
        let mine: i64 = c
            .query_row("SELECT count(*) FROM mine", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mine, 6, "a view of a sqlite3 session reads the new table");
    }
    // A row met again after the migration is the row recorded before it.
    let mut again = scanned(9, 9, 1_600_000_009);
    again.packages = scanned(1, 1, 1_600_000_001).packages;
    import_at(&mut s, vec![again], &[], IMPORTED_AT + 60);
    let rows: i64 = s
        .conn()
        .query_row("SELECT count(*) FROM package_versions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}

/// Every index of the database, with the statement that made it.
fn indexes(store: &Store) -> Vec<(String, Option<String>)> {
    let mut st = store
        .conn()
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// SQLite's count of schema changes: it moves when an index is dropped.
fn schema_changes(store: &Store) -> i64 {
    store
        .conn()
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .unwrap()
}

/// Rows that break a foreign key (the import writes without the checks).
fn foreign_key_violations(store: &Store) -> i64 {
    store
        .conn()
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// The row of each index in the schema: a new one when it was made again.
fn index_rows(store: &Store) -> Vec<(String, i64)> {
    let mut st = store
        .conn()
        .prepare("SELECT name, rowid FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_big_import_builds_the_indexes_it_set_aside_again_as_the_schema_has_them() {
    use crate::store::builds::{BULK_IMPORT, IN_TIME_ORDER};
    let mut s = store();
    let (before, changes) = (indexes(&s), schema_changes(&s));
    for name in IN_TIME_ORDER.iter().flat_map(|(_, names)| names.iter()) {
        assert!(
            before.iter().any(|(n, _)| n == name),
            "{name} is in the schema"
        );
    }
    let scans = vec![
        scanned(1, 1, 1_600_000_003),
        scanned(2, 2, 1_600_000_001),
        scanned(3, 3, 1_600_000_002),
    ];
    let tip = scans[2].repo_dir.clone();
    let links = [link("consistent", Some(&tip))];
    assert_eq!(
        import_expecting(&mut s, scans, &links, IMPORTED_AT, BULK_IMPORT).unwrap(),
        (3, 3)
    );
    assert!(schema_changes(&s) > changes, "the indexes were set aside");
    assert_eq!(indexes(&s), before);
    let check: String = s
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "each index holds every row it should");
    assert_eq!(foreign_key_violations(&s), 0);
    let newest: Vec<i64> = {
        let mut st = s
            .conn()
            .prepare("SELECT dlrn_id FROM builds INDEXED BY builds_dt_build ORDER BY dt_build")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(newest, [2, 3, 1]);
}

#[test]
fn a_big_import_that_fails_leaves_every_index_in_place() {
    use crate::store::builds::BULK_IMPORT;
    let mut s = store();
    let (before, changes) = (indexes(&s), schema_changes(&s));
    let err = s
        .record_import(&[], &[], IMPORTED_AT, BULK_IMPORT, |sink| {
            sink(scanned(1, 1, 1_600_000_001))?;
            Err(crate::error::Error::Invalid("the scan broke".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("the scan broke"), "{err}");
    assert_eq!(indexes(&s), before);
    assert_eq!(schema_changes(&s), changes);
}

#[test]
fn a_small_import_or_one_into_a_bigger_history_keeps_its_indexes_throughout() {
    use crate::store::builds::BULK_IMPORT;
    let mut s = store();
    let changes = schema_changes(&s);
    import_expecting(
        &mut s,
        vec![scanned(1, 1, 1_600_000_001)],
        &[],
        IMPORTED_AT,
        BULK_IMPORT - 1,
    )
    .unwrap();
    assert_eq!(schema_changes(&s), changes, "fewer than BULK_IMPORT");
    // A history of more builds and votes than the import may bring: a
    // failed build (no vote, no package) and the first build's vote given
    // high ids.
    let mut failed = scanned(2, 2, 1_600_000_002);
    failed.row.status = "FAILED".into();
    failed.packages.clear();
    let dir = failed.repo_dir.clone();
    import_expecting(&mut s, vec![failed], &[], IMPORTED_AT, 1).unwrap();
    unchecked(
        &s,
        &format!(
            "UPDATE builds SET id = {n} WHERE repo_dir = '{dir}'; UPDATE votes SET id = {n}",
            n = BULK_IMPORT * 2
        ),
    );
    let changes = schema_changes(&s);
    import_expecting(
        &mut s,
        vec![scanned(3, 3, 1_600_000_003)],
        &[],
        IMPORTED_AT,
        BULK_IMPORT,
    )
    .unwrap();
    assert_eq!(schema_changes(&s), changes, "fewer than the rows recorded");
}

#[test]
fn a_big_import_leaves_the_indexes_of_a_table_it_does_not_double_in_place() {
    use crate::store::builds::{BULK_IMPORT, IN_TIME_ORDER};
    let mut s = store();
    // One build, whose consistent vote stands for a long history of votes.
    import_expecting(
        &mut s,
        vec![scanned(1, 1, 1_600_000_001)],
        &[],
        IMPORTED_AT,
        1,
    )
    .unwrap();
    unchecked(&s, &format!("UPDATE votes SET id = {}", BULK_IMPORT * 2));
    let before = index_rows(&s);
    let scans = vec![scanned(2, 2, 1_600_000_002), scanned(3, 3, 1_600_000_003)];
    assert_eq!(
        import_expecting(&mut s, scans, &[], IMPORTED_AT, BULK_IMPORT).unwrap(),
        (2, 2)
    );
    let after = index_rows(&s);
    for (table, names) in IN_TIME_ORDER {
        for name in *names {
            let row = |rows: &[(String, i64)]| rows.iter().find(|(n, _)| n == name).unwrap().1;
            let remade = row(&before) != row(&after);
            assert_eq!(remade, *table == "builds", "{name}");
        }
    }
    assert_eq!(indexes(&s).len(), before.len());
    assert_eq!(foreign_key_violations(&s), 0);
}

#[test]
fn a_migration_that_would_leave_a_broken_reference_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    {
        let mut s = Store::open(&path).unwrap();
        builds(&mut s, 1);
    }
    // The table's row in the schema: a new one if the migration ran.
    let table_row = |c: &rusqlite::Connection| -> i64 {
        c.query_row(
            "SELECT rowid FROM sqlite_master WHERE name = 'package_versions'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let before = {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO build_packages (build_id, package_version_id) VALUES (424242, 1);",
        )
        .unwrap();
        c.pragma_update(None, "user_version", crate::store::SCHEMA_VERSION - 1)
            .unwrap();
        table_row(&c)
    };
    let err = Store::open(&path).err().expect("the migration is refused");
    assert!(matches!(err, crate::error::Error::BadDatabase(_)), "{err}");
    assert!(err.to_string().contains("build_packages"), "{err}");
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, crate::store::SCHEMA_VERSION - 1);
    assert_eq!(table_row(&c), before, "package_versions was not made again");
}
