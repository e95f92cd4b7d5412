//! `store::aggregates`: aggregates of component builds (component mode),
//! their builds, and the labels promoted as aggregates.

use super::*;
use crate::store::aggregates::{Aggregate, NewAggregate};
use crate::store::promotions::{record_promotion, Kind, NewPromotion};

fn hash(n: u32) -> String {
    format!("{n:032x}")
}

fn aggregate(n: u32, under: &str, created_at: i64, build_ids: &[i64]) -> NewAggregate {
    let h = hash(n);
    NewAggregate {
        repo_dir: Some(format!("{under}/{}/{}/{h}", &h[..2], &h[2..4])),
        agg_hash: h,
        created_at,
        build_ids: build_ids.to_vec(),
    }
}

/// Two component builds, `tripleo` then `baremetal`.
fn components(s: &mut Store) -> (i64, i64) {
    let mut t = scanned(1, 1, 1_600_000_001);
    t.row.component = Some("tripleo".into());
    let mut b = scanned(2, 2, 1_600_000_002);
    b.row.component = Some("baremetal".into());
    let ids = import(s, vec![t, b]);
    (ids[0], ids[1])
}

fn promote_aggregate(s: &mut Store, label: &str, agg_hash: &str, builds: &[i64]) {
    s.write(|tx| {
        for b in builds {
            record_promotion(
                tx,
                &NewPromotion {
                    name: label,
                    build_id: *b,
                    previous_build_id: None,
                    aggregate_hash: Some(agg_hash),
                    component: None,
                    label_component: None,
                    kind: Kind::Promote,
                    timestamp: 1,
                    user: "u",
                    reason: "",
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_aggregate_reads_back_with_its_builds_by_component() {
    let mut s = store();
    let (tripleo, baremetal) = components(&mut s);
    let new = aggregate(1, "consistent", 1_600_000_002, &[tripleo, baremetal]);
    assert_eq!(s.record_aggregates(std::slice::from_ref(&new)).unwrap(), 1);
    let id = s.find_aggregate(&new.agg_hash).unwrap().unwrap();
    let want = Aggregate {
        id,
        agg_hash: new.agg_hash.clone(),
        repo_dir: new.repo_dir.clone(),
        created_at: 1_600_000_002,
    };
    assert_eq!(
        s.aggregate_by_hash(&new.agg_hash).unwrap(),
        Some(want.clone())
    );
    assert_eq!(s.aggregate_by_id(id).unwrap(), Some(want));
    let members: Vec<(i64, Option<String>)> = s
        .aggregate_builds(id)
        .unwrap()
        .into_iter()
        .map(|b| (b.id, b.component))
        .collect();
    assert_eq!(
        members,
        vec![
            (baremetal, Some("baremetal".into())),
            (tripleo, Some("tripleo".into()))
        ]
    );
    assert_eq!(
        s.known_aggregate_hashes().unwrap(),
        [new.agg_hash].into_iter().collect()
    );
}

#[test]
fn unknown_aggregates_are_none_not_errors() {
    let s = store();
    assert_eq!(s.aggregate_by_hash("nope").unwrap(), None);
    assert_eq!(s.aggregate_by_id(1).unwrap(), None);
    assert_eq!(s.find_aggregate("nope").unwrap(), None);
    assert!(s.aggregate_builds(1).unwrap().is_empty());
}

#[test]
fn recording_an_aggregate_again_adds_nothing_and_keeps_its_builds() {
    let mut s = store();
    let (tripleo, baremetal) = components(&mut s);
    s.record_aggregates(&[aggregate(1, "consistent", 5, &[tripleo])])
        .unwrap();
    let again = aggregate(1, "current", 9, &[tripleo, baremetal]);
    assert_eq!(
        s.record_aggregates(std::slice::from_ref(&again)).unwrap(),
        0
    );
    let id = s.find_aggregate(&again.agg_hash).unwrap().unwrap();
    let a = s.aggregate_by_id(id).unwrap().unwrap();
    assert_eq!(a.created_at, 5, "the first record stands");
    assert!(a.repo_dir.unwrap().starts_with("consistent/"));
    assert_eq!(s.aggregate_builds(id).unwrap().len(), 1);
}

#[test]
fn an_aggregate_of_a_build_that_is_not_recorded_is_refused_whole() {
    let mut s = store();
    let (tripleo, _) = components(&mut s);
    assert!(s
        .record_aggregates(&[
            aggregate(1, "consistent", 5, &[tripleo]),
            aggregate(2, "consistent", 6, &[999]),
        ])
        .is_err());
    assert!(
        s.known_aggregate_hashes().unwrap().is_empty(),
        "one transaction: the first is not kept either"
    );
}

#[test]
fn the_newest_aggregates_of_a_builder_label_are_those_under_it_newest_first() {
    let mut s = store();
    let (tripleo, _) = components(&mut s);
    s.record_aggregates(&[
        aggregate(1, "consistent", 10, &[tripleo]),
        aggregate(2, "current", 30, &[tripleo]),
        aggregate(3, "consistent", 20, &[tripleo]),
        aggregate(4, "consistent", 20, &[tripleo]),
    ])
    .unwrap();
    let hashes = |ids: Vec<i64>| -> Vec<String> {
        ids.into_iter()
            .map(|id| s.aggregate_by_id(id).unwrap().unwrap().agg_hash)
            .collect()
    };
    assert_eq!(
        hashes(s.newest_aggregates("consistent", 10).unwrap()),
        vec![hash(4), hash(3), hash(1)],
        "by time, then the later recorded"
    );
    assert_eq!(
        hashes(s.newest_aggregates("current", 10).unwrap()),
        vec![hash(2), hash(4), hash(3), hash(1)],
        "every aggregate was current once"
    );
    assert_eq!(
        hashes(s.newest_aggregates("consistent", 1).unwrap()),
        vec![hash(4)]
    );
}

#[test]
fn a_label_with_an_underscore_or_a_percent_matches_only_its_own_directory() {
    let mut s = store();
    let (tripleo, _) = components(&mut s);
    s.record_aggregates(&[
        aggregate(1, "a_b", 10, &[tripleo]),
        aggregate(2, "axb", 20, &[tripleo]),
        aggregate(3, "c%", 30, &[tripleo]),
        aggregate(4, "cdef", 40, &[tripleo]),
    ])
    .unwrap();
    let one = |label: &str| -> Vec<String> {
        s.newest_aggregates(label, 10)
            .unwrap()
            .into_iter()
            .map(|id| s.aggregate_by_id(id).unwrap().unwrap().agg_hash)
            .collect()
    };
    assert_eq!(one("a_b"), vec![hash(1)]);
    assert_eq!(one("c%"), vec![hash(3)]);
    assert!(one("a").is_empty());
}

#[test]
fn a_labels_aggregates_are_listed_by_their_latest_move_and_known_as_promoted() {
    let mut s = store();
    let (tripleo, baremetal) = components(&mut s);
    s.record_aggregates(&[
        aggregate(1, "consistent", 10, &[tripleo, baremetal]),
        aggregate(2, "consistent", 20, &[tripleo, baremetal]),
        aggregate(3, "consistent", 30, &[tripleo, baremetal]),
    ])
    .unwrap();
    let id = |n: u32| s.find_aggregate(&hash(n)).unwrap().unwrap();
    let (a1, a2, a3) = (id(1), id(2), id(3));
    promote_aggregate(&mut s, "l", &hash(1), &[tripleo, baremetal]);
    promote_aggregate(&mut s, "l", &hash(2), &[tripleo, baremetal]);
    promote_aggregate(&mut s, "l", &hash(1), &[tripleo, baremetal]);
    promote_aggregate(&mut s, "other", &hash(3), &[tripleo]);
    assert_eq!(s.aggregate_label_history("l", 10).unwrap(), vec![a1, a2]);
    assert_eq!(s.aggregate_label_history("l", 1).unwrap(), vec![a1]);
    assert_eq!(
        s.ever_promoted_aggregates("l", &[a1, a2, a3]).unwrap(),
        [a1, a2].into_iter().collect()
    );
    assert!(s
        .ever_promoted_aggregates("none", &[a1])
        .unwrap()
        .is_empty());
}

#[test]
fn a_label_has_aggregates_once_the_builder_wrote_or_a_promotion_moved_some() {
    let mut s = store();
    let (tripleo, _) = components(&mut s);
    assert!(!s.label_has_aggregates("consistent").unwrap());
    assert!(!s.label_has_aggregates("current").unwrap());
    s.record_aggregates(&[aggregate(1, "current", 10, &[tripleo])])
        .unwrap();
    assert!(s.label_has_aggregates("current").unwrap());
    assert!(
        !s.label_has_aggregates("consistent").unwrap(),
        "none under consistent/"
    );
    assert!(!s.label_has_aggregates("l").unwrap());
    // A label moved build by build does not count; one moved as an
    // aggregate does.
    s.write(|tx| {
        record_promotion(
            tx,
            &NewPromotion {
                name: "by-build",
                build_id: tripleo,
                previous_build_id: None,
                aggregate_hash: None,
                component: Some("tripleo"),
                label_component: Some("tripleo"),
                kind: Kind::Manual,
                timestamp: 1,
                user: "u",
                reason: "",
            },
        )
    })
    .unwrap();
    assert!(!s.label_has_aggregates("by-build").unwrap());
    promote_aggregate(&mut s, "l", &hash(1), &[tripleo]);
    assert!(s.label_has_aggregates("l").unwrap());
}
