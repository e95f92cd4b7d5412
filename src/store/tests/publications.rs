//! `store::publications`: what each target shows, the build a target
//! should show, and the builds retention must keep.

use super::*;
use crate::store::promotions::{record_promotion, Kind, NewPromotion};
use crate::store::publications::NewPublication;

fn publication<'a>(
    target: &'a str,
    build_id: i64,
    full_hash: &'a str,
    at: i64,
) -> NewPublication<'a> {
    NewPublication {
        target,
        build_id,
        full_hash,
        dest: "buildlogs/centos/7/cloud/x86_64/rdo-trunk-master-tested",
        files: 12,
        bytes: 3_000_000,
        copied_files: 2,
        copied_bytes: 1000,
        manifest_sha256: "ab12",
        removed: "",
        user: "tester",
        started_at: at - 5,
        finished_at: at,
    }
}

fn promote(s: &mut Store, name: &str, build_id: i64, previous: Option<i64>) -> i64 {
    s.write(|tx| {
        record_promotion(
            tx,
            &NewPromotion {
                name,
                build_id,
                previous_build_id: previous,
                aggregate_hash: None,
                component: None,
                label_component: None,
                kind: Kind::Promote,
                timestamp: 1,
                user: "u",
                reason: "",
            },
        )
    })
    .unwrap()
}

fn full(s: &Store, id: i64) -> String {
    s.build_by_id(id).unwrap().unwrap().full_hash.to_string()
}

#[test]
fn publications_read_back_newest_first_for_their_target_only() {
    let mut s = store();
    let ids = builds(&mut s, 2);
    let (f0, f1) = (full(&s, ids[0]), full(&s, ids[1]));
    let p1 = s
        .add_publication(&publication("images", ids[0], &f0, 100))
        .unwrap();
    let p2 = s
        .add_publication(&publication("images", ids[1], &f1, 200))
        .unwrap();
    s.add_publication(&publication("tested-repo", ids[1], &f1, 300))
        .unwrap();
    let rows = s.publications("images", 10).unwrap();
    let got: Vec<(i64, &str, i64, &str, i64)> = rows
        .iter()
        .map(|p| {
            (
                p.id,
                p.target.as_str(),
                p.build_id,
                p.full_hash.as_str(),
                p.finished_at,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (p2, "images", ids[1], f1.as_str(), 200),
            (p1, "images", ids[0], f0.as_str(), 100)
        ]
    );
    assert_eq!(s.publications("images", 1).unwrap().len(), 1);
    assert!(s.publications("nope", 10).unwrap().is_empty());
}

#[test]
fn a_publication_of_a_build_that_is_not_recorded_is_refused() {
    let mut s = store();
    builds(&mut s, 1);
    assert!(s
        .add_publication(&publication("images", 999, "x_y", 1))
        .is_err());
    assert!(s.publications("images", 10).unwrap().is_empty());
}

#[test]
fn the_build_a_target_should_show_is_that_of_the_newest_promotion_to_any_of_its_labels() {
    let mut s = store();
    let ids = builds(&mut s, 3);
    assert_eq!(s.newest_promotion_of(&["a", "b"]).unwrap(), None);
    promote(&mut s, "a", ids[0], None);
    promote(&mut s, "b", ids[1], None);
    promote(&mut s, "c", ids[2], None);
    assert_eq!(
        s.newest_promotion_of(&["a", "b"]).unwrap(),
        Some((ids[1], "b".to_string()))
    );
    promote(&mut s, "a", ids[2], Some(ids[0]));
    assert_eq!(
        s.newest_promotion_of(&["b", "a"]).unwrap(),
        Some((ids[2], "a".to_string())),
        "by history order, whatever the order of the labels asked"
    );
    assert_eq!(s.newest_promotion_of(&[]).unwrap(), None);
}

#[test]
fn labelled_full_hashes_hold_every_labels_build_and_previous_build() {
    let mut s = store();
    let ids = builds(&mut s, 4);
    promote(&mut s, "a", ids[0], None);
    promote(&mut s, "a", ids[1], Some(ids[0]));
    let dir = s.build_by_id(ids[2]).unwrap().unwrap().repo_dir;
    import_at(&mut s, vec![], &[link("current", Some(&dir))], 10);
    let want: std::collections::HashSet<String> = [ids[0], ids[1], ids[2]]
        .iter()
        .map(|i| full(&s, *i))
        .collect();
    assert_eq!(s.labelled_full_hashes().unwrap(), want);
    assert!(!s
        .labelled_full_hashes()
        .unwrap()
        .contains(&full(&s, ids[3])));
}
