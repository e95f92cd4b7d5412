//! `store::waivers`: recorded, expiring exceptions to a promotion's
//! criteria.

use super::*;
use crate::error::Error;
use crate::store::waivers::NewWaiver;

fn waiver<'a>(promotion: &'a str, job_id: &'a str, expires_at: Option<i64>) -> NewWaiver<'a> {
    NewWaiver {
        promotion,
        job_id,
        build_id: None,
        reason: "infra outage",
        user: "tester",
        expires_at,
    }
}

fn live_ids(s: &Store, promotion: &str, now: i64) -> Vec<i64> {
    s.live_waivers(promotion, now)
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect()
}

#[test]
fn a_waiver_reads_back_with_its_builds_full_hash() {
    let mut s = store();
    let b = builds(&mut s, 1)[0];
    let full = s.build_by_id(b).unwrap().unwrap().full_hash;
    let id = s
        .add_waiver(
            &NewWaiver {
                build_id: Some(b),
                ..waiver("current-tripleo", "periodic-ovb", Some(500))
            },
            100,
        )
        .unwrap();
    let rows = s.waivers(false, 100).unwrap();
    assert_eq!(rows.len(), 1);
    let w = &rows[0];
    assert_eq!(
        (
            w.id,
            w.promotion.as_str(),
            w.job_id.as_str(),
            w.full_hash.as_deref(),
            w.reason.as_str(),
            w.user.as_str()
        ),
        (
            id,
            "current-tripleo",
            "periodic-ovb",
            Some(full.as_str()),
            "infra outage",
            "tester"
        )
    );
    assert_eq!(
        (
            w.created_at,
            w.expires_at,
            w.removed_at,
            w.removed_by.clone()
        ),
        (100, Some(500), None, None)
    );
    let facts = s.live_waivers("current-tripleo", 100).unwrap();
    assert_eq!(facts.len(), 1);
    let f = &facts[0];
    assert_eq!(
        (
            f.id,
            f.job_id.as_str(),
            f.build_id,
            f.expires_at,
            f.reason.as_str(),
            f.user.as_str()
        ),
        (
            id,
            "periodic-ovb",
            Some(b),
            Some(500),
            "infra outage",
            "tester"
        )
    );
}

#[test]
fn a_waiver_counts_until_it_expires_and_not_at_its_expiry() {
    let mut s = store();
    let id = s.add_waiver(&waiver("p", "j", Some(500)), 100).unwrap();
    assert_eq!(live_ids(&s, "p", 100), vec![id]);
    assert_eq!(live_ids(&s, "p", 499), vec![id]);
    assert!(live_ids(&s, "p", 500).is_empty());
    assert!(live_ids(&s, "p", 10_000).is_empty());
    assert_eq!(s.waivers(false, 499).unwrap().len(), 1);
    assert!(s.waivers(false, 500).unwrap().is_empty());
    assert_eq!(
        s.waivers(true, 500).unwrap()[0].id,
        id,
        "an expired waiver is still listed with --all"
    );
}

#[test]
fn a_waiver_without_an_expiry_counts_until_it_is_removed() {
    let mut s = store();
    let id = s.add_waiver(&waiver("p", "j", None), 100).unwrap();
    assert_eq!(live_ids(&s, "p", 4_102_444_800), vec![id]);
    s.remove_waiver(id, "alice", 200).unwrap();
    assert!(live_ids(&s, "p", 200).is_empty());
    assert!(s.waivers(false, 200).unwrap().is_empty());
}

#[test]
fn removing_a_waiver_records_who_and_when_and_a_second_removal_is_not_found() {
    let mut s = store();
    let id = s.add_waiver(&waiver("p", "j", None), 100).unwrap();
    s.remove_waiver(id, "alice", 200).unwrap();
    let all = s.waivers(true, 300).unwrap();
    assert_eq!(
        (all[0].removed_at, all[0].removed_by.as_deref()),
        (Some(200), Some("alice"))
    );
    let err = s.remove_waiver(id, "bob", 300).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert!(err.to_string().contains("already removed"), "{err}");
    let all = s.waivers(true, 300).unwrap();
    assert_eq!(
        all[0].removed_by.as_deref(),
        Some("alice"),
        "the first removal stands"
    );
    let err = s.remove_waiver(999, "bob", 300).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

#[test]
fn live_waivers_are_those_of_their_promotion_oldest_first() {
    let mut s = store();
    let a1 = s.add_waiver(&waiver("a", "j", None), 100).unwrap();
    let b = s.add_waiver(&waiver("b", "j", None), 100).unwrap();
    let a2 = s.add_waiver(&waiver("a", "k", Some(1000)), 100).unwrap();
    assert_eq!(live_ids(&s, "a", 100), vec![a1, a2]);
    assert_eq!(live_ids(&s, "b", 100), vec![b]);
    assert!(live_ids(&s, "c", 100).is_empty());
    let listed: Vec<i64> = s
        .waivers(false, 100)
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(listed, vec![a2, b, a1], "the list is newest first");
}

#[test]
fn the_schema_refuses_a_waiver_without_a_reason_or_for_a_build_not_recorded() {
    let mut s = store();
    assert!(s
        .add_waiver(
            &NewWaiver {
                reason: "",
                ..waiver("p", "j", None)
            },
            100
        )
        .is_err());
    assert!(s
        .add_waiver(
            &NewWaiver {
                build_id: Some(999),
                ..waiver("p", "j", None)
            },
            100
        )
        .is_err());
    assert!(s.waivers(true, 100).unwrap().is_empty());
}
