//! `store::replay`: the history as exported, and what a mirror replayed.
//! (The module's own tests cover the origin name and superseding.)

use super::*;
use crate::store::promotions::{record_promotion, Kind, NewPromotion};
use crate::store::replay::Replayed;

fn promote(s: &mut Store, name: &str, build_id: i64, previous: Option<i64>, kind: Kind) -> i64 {
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
                kind,
                timestamp: 1_700_000_000,
                user: "tester",
                reason: "why not",
            },
        )
    })
    .unwrap()
}

#[test]
fn the_history_is_exported_oldest_first_after_the_id_asked_for() {
    let mut s = store();
    let ids = builds(&mut s, 2);
    assert_eq!(s.last_promotion_id().unwrap(), 0);
    let first = promote(&mut s, "a", ids[0], None, Kind::Promote);
    let second = promote(&mut s, "a", ids[1], Some(ids[0]), Kind::Rollback);
    assert_eq!(s.last_promotion_id().unwrap(), second);
    let all = s.exported_promotions(0).unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    let e = &all[1];
    let b = s.build_by_id(ids[1]).unwrap().unwrap();
    let prev = s.build_by_id(ids[0]).unwrap().unwrap();
    assert_eq!(e.origin, s.origin().unwrap());
    assert_eq!(
        (
            e.label.as_str(),
            e.commit_hash.as_str(),
            e.distro_hash.as_str()
        ),
        ("a", b.commit_hash.as_str(), b.distro_hash.as_str())
    );
    assert_eq!(e.extended_hash, None);
    assert_eq!(b.full_hash, e.full_hash);
    assert_eq!(
        e.previous_full_hash.as_deref(),
        Some(prev.full_hash.as_str())
    );
    assert_eq!(
        (
            e.kind.as_str(),
            e.timestamp,
            e.user.as_str(),
            e.reason.as_str()
        ),
        ("rollback", 1_700_000_000, "tester", "why not")
    );
    assert_eq!(
        s.exported_promotions(first)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![second]
    );
    assert!(s.exported_promotions(second).unwrap().is_empty());
}

#[test]
fn the_replay_row_after_a_mark_is_found_by_label_build_and_kind() {
    let mut s = store();
    let ids = builds(&mut s, 2);
    let before = promote(&mut s, "a", ids[0], None, Kind::Replay);
    let mark = s.last_promotion_id().unwrap();
    promote(&mut s, "a", ids[0], None, Kind::Promote);
    let replayed = promote(&mut s, "a", ids[0], None, Kind::Replay);
    promote(&mut s, "a", ids[0], None, Kind::Replay);
    assert_eq!(
        s.replay_row_after(mark, "a", ids[0]).unwrap(),
        Some(replayed)
    );
    assert_eq!(s.replay_row_after(0, "a", ids[0]).unwrap(), Some(before));
    assert_eq!(s.replay_row_after(mark, "a", ids[1]).unwrap(), None);
    assert_eq!(s.replay_row_after(mark, "b", ids[0]).unwrap(), None);
}

#[test]
fn every_replayed_outcome_is_stored_and_read_back_by_its_one_spelling() {
    let mut s = store();
    let e = crate::store::replay::ExportedPromotion {
        origin: "up".into(),
        id: 1,
        label: "a".into(),
        component: None,
        commit_hash: "c".into(),
        distro_hash: "d".into(),
        extended_hash: None,
        full_hash: "c_d".into(),
        previous_full_hash: None,
        aggregate_hash: None,
        kind: "promote".into(),
        timestamp: 1,
        user: "u".into(),
        reason: String::new(),
    };
    for o in [
        Replayed::Applying,
        Replayed::Applied,
        Replayed::Unchanged,
        Replayed::Superseded,
    ] {
        s.record_replayed(&e, o, None, 0, 1).unwrap();
        assert_eq!(s.replayed("up", 1).unwrap().unwrap().outcome, o);
    }
}

#[test]
fn a_replayed_outcome_that_is_no_known_spelling_is_an_error_not_a_default() {
    let mut s = store();
    let e = crate::store::replay::ExportedPromotion {
        origin: "up".into(),
        id: 1,
        label: "a".into(),
        component: None,
        commit_hash: "c".into(),
        distro_hash: "d".into(),
        extended_hash: None,
        full_hash: "c_d".into(),
        previous_full_hash: None,
        aggregate_hash: None,
        kind: "promote".into(),
        timestamp: 1,
        user: "u".into(),
        reason: String::new(),
    };
    s.record_replayed(&e, Replayed::Applied, None, 0, 1)
        .unwrap();
    unchecked(&s, "UPDATE replayed SET outcome = 'done'");
    assert!(s.replayed("up", 1).is_err(), "{:?}", s.replayed("up", 1));
}
