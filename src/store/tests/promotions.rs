//! `store::promotions`: the append-only history and the labels' record.

use super::*;
use crate::store::promotions::{record_promotion, Kind, NewPromotion, PromotionFilter};

fn promotion<'a>(name: &'a str, build_id: i64, previous: Option<i64>) -> NewPromotion<'a> {
    NewPromotion {
        name,
        build_id,
        previous_build_id: previous,
        aggregate_hash: None,
        component: None,
        label_component: None,
        kind: Kind::Promote,
        timestamp: 1_700_000_000,
        user: "tester",
        reason: "",
    }
}

fn record(s: &mut Store, p: &NewPromotion) -> crate::error::Result<i64> {
    s.write(|tx| record_promotion(tx, p))
}

fn all(limit: i64) -> PromotionFilter<'static> {
    PromotionFilter {
        limit,
        ..Default::default()
    }
}

#[test]
fn a_history_row_reads_back_with_its_build() {
    let mut s = store();
    let ids = builds(&mut s, 2);
    let id = record(
        &mut s,
        &NewPromotion {
            name: "current-tripleo",
            build_id: ids[1],
            previous_build_id: Some(ids[0]),
            aggregate_hash: Some("0123abcd"),
            component: Some("tripleo"),
            label_component: Some("tripleo"),
            kind: Kind::Rollback,
            timestamp: 1_700_000_123,
            user: "alice",
            reason: "breaks ovb",
        },
    )
    .unwrap();
    let rows = s.promotions(&all(10)).unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.id, id);
    assert_eq!(r.name, "current-tripleo");
    assert_eq!(r.build, s.build_by_id(ids[1]).unwrap().unwrap());
    assert_eq!(r.previous_build_id, Some(ids[0]));
    assert_eq!(r.aggregate_hash.as_deref(), Some("0123abcd"));
    assert_eq!(r.component.as_deref(), Some("tripleo"));
    assert_eq!(r.kind, Kind::Rollback);
    assert_eq!(r.timestamp, 1_700_000_123);
    assert_eq!(
        (r.user.as_str(), r.reason.as_str()),
        ("alice", "breaks ovb")
    );
}

#[test]
fn every_kind_is_stored_and_read_back_by_its_one_spelling() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let kinds = [Kind::Promote, Kind::Manual, Kind::Rollback, Kind::Replay];
    for k in kinds {
        assert_eq!(Kind::parse(k.as_str()), Some(k));
        record(
            &mut s,
            &NewPromotion {
                kind: k,
                ..promotion("l", ids[0], None)
            },
        )
        .unwrap();
    }
    let mut read: Vec<Kind> = s
        .promotions(&all(10))
        .unwrap()
        .iter()
        .map(|r| r.kind)
        .collect();
    read.reverse();
    assert_eq!(read, kinds);
    assert_eq!(Kind::parse("Promote"), None);
    assert_eq!(Kind::parse(""), None);
}

#[test]
fn a_kind_read_back_that_is_no_known_spelling_is_an_error_not_a_default() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    record(&mut s, &promotion("l", ids[0], None)).unwrap();
    unchecked(&s, "UPDATE promotions SET kind = 'promoted'");
    let err = s.promotions(&all(10)).unwrap_err();
    assert!(
        chain(&err).contains("unknown kind of promotion \"promoted\""),
        "{}",
        chain(&err)
    );
}

#[test]
fn the_schema_refuses_a_kind_outside_its_list() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let r = s.conn().execute(
        "INSERT INTO promotions (name, build_id, kind, timestamp, user) VALUES ('l', ?1, 'forced', 1, 'u')",
        [ids[0]],
    );
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn the_history_is_newest_first_by_insertion_even_within_one_second() {
    let mut s = store();
    let ids = builds(&mut s, 3);
    let mut recorded = Vec::new();
    for (i, b) in ids.iter().enumerate() {
        // Every row in the same second, the last one even "earlier".
        let p = NewPromotion {
            timestamp: 1_700_000_000 - i64::from(i == 2),
            ..promotion("l", *b, None)
        };
        recorded.push(record(&mut s, &p).unwrap());
    }
    let read: Vec<i64> = s
        .promotions(&all(10))
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    recorded.reverse();
    assert_eq!(read, recorded);
}

#[test]
fn the_history_filters_by_name_build_aggregate_and_component_and_pages() {
    let mut s = store();
    let ids = builds(&mut s, 3);
    let a = record(&mut s, &promotion("a", ids[0], None)).unwrap();
    let b1 = record(&mut s, &promotion("b", ids[1], None)).unwrap();
    let b2 = record(&mut s, &promotion("b", ids[2], Some(ids[1]))).unwrap();
    let agg = record(
        &mut s,
        &NewPromotion {
            aggregate_hash: Some("feed"),
            component: Some("tripleo"),
            label_component: Some("tripleo"),
            ..promotion("a", ids[2], None)
        },
    )
    .unwrap();
    let ids_of = |f: PromotionFilter| -> Vec<i64> {
        s.promotions(&f).unwrap().iter().map(|r| r.id).collect()
    };
    assert_eq!(ids_of(all(10)), vec![agg, b2, b1, a]);
    assert_eq!(
        ids_of(PromotionFilter {
            name: Some("b"),
            ..all(10)
        }),
        vec![b2, b1]
    );
    assert_eq!(
        ids_of(PromotionFilter {
            build_id: Some(ids[2]),
            ..all(10)
        }),
        vec![agg, b2]
    );
    assert_eq!(
        ids_of(PromotionFilter {
            aggregate_hash: Some("feed"),
            ..all(10)
        }),
        vec![agg]
    );
    assert_eq!(
        ids_of(PromotionFilter {
            component: Some("tripleo"),
            ..all(10)
        }),
        vec![agg]
    );
    assert_eq!(
        ids_of(PromotionFilter {
            offset: 1,
            ..all(2)
        }),
        vec![b2, b1]
    );
    assert!(ids_of(PromotionFilter {
        name: Some("none"),
        ..all(10)
    })
    .is_empty());
}

#[test]
fn recording_a_promotion_moves_the_labels_record() {
    let mut s = store();
    let ids = builds(&mut s, 2);
    record(
        &mut s,
        &NewPromotion {
            timestamp: 100,
            ..promotion("current-tripleo", ids[0], None)
        },
    )
    .unwrap();
    let l = s.label("current-tripleo", None).unwrap().unwrap();
    assert_eq!(
        (
            l.build_id,
            l.previous_build_id,
            l.source.as_str(),
            l.updated_at
        ),
        (Some(ids[0]), None, "promoter", 100)
    );
    record(
        &mut s,
        &NewPromotion {
            timestamp: 200,
            ..promotion("current-tripleo", ids[1], Some(ids[0]))
        },
    )
    .unwrap();
    let l = s.label("current-tripleo", None).unwrap().unwrap();
    assert_eq!(
        (l.build_id, l.previous_build_id, l.updated_at),
        (Some(ids[1]), Some(ids[0]), 200)
    );
    assert_eq!(s.label("current-tripleo", Some("tripleo")).unwrap(), None);
    assert_eq!(s.label("nope", None).unwrap(), None);
}

#[test]
fn a_promotion_takes_a_builder_label_over() {
    let mut s = store();
    let a = scanned(1, 1, 1_600_000_001);
    let dir = a.repo_dir.clone();
    import_at(&mut s, vec![a], &[link("current", Some(&dir))], 100);
    let id = id_of(&s, &dir);
    assert_eq!(s.label("current", None).unwrap().unwrap().source, "builder");
    record(&mut s, &promotion("current", id, Some(id))).unwrap();
    assert_eq!(
        s.label("current", None).unwrap().unwrap().source,
        "promoter"
    );
}

#[test]
fn labels_are_listed_by_component_then_name() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    for (name, comp) in [("b", None), ("a", Some("z")), ("c", None), ("a", Some("m"))] {
        record(
            &mut s,
            &NewPromotion {
                component: comp,
                label_component: comp,
                ..promotion(name, ids[0], None)
            },
        )
        .unwrap();
    }
    let got: Vec<(String, Option<String>)> = s
        .labels()
        .unwrap()
        .into_iter()
        .map(|l| (l.name, l.component))
        .collect();
    assert_eq!(
        got,
        vec![
            ("b".into(), None),
            ("c".into(), None),
            ("a".into(), Some("m".into())),
            ("a".into(), Some("z".into())),
        ]
    );
}

#[test]
fn a_labels_history_lists_each_build_once_by_its_latest_move() {
    let mut s = store();
    let ids = builds(&mut s, 3);
    for b in [ids[0], ids[1], ids[0], ids[2]] {
        record(&mut s, &promotion("l", b, None)).unwrap();
    }
    record(&mut s, &promotion("other", ids[1], None)).unwrap();
    assert_eq!(
        s.label_history("l", 10).unwrap(),
        vec![ids[2], ids[0], ids[1]]
    );
    assert_eq!(s.label_history("l", 2).unwrap(), vec![ids[2], ids[0]]);
    assert!(s.label_history("none", 10).unwrap().is_empty());
}

#[test]
fn ever_promoted_answers_for_each_build_and_that_label_only() {
    let mut s = store();
    let ids = builds(&mut s, 3);
    record(&mut s, &promotion("l", ids[0], None)).unwrap();
    record(&mut s, &promotion("other", ids[1], None)).unwrap();
    assert_eq!(
        s.ever_promoted("l", &ids).unwrap(),
        [ids[0]].into_iter().collect()
    );
    assert!(s.ever_promoted("l", &[]).unwrap().is_empty());
}

#[test]
fn a_promotion_of_a_build_that_is_not_recorded_is_refused_and_moves_no_label() {
    let mut s = store();
    builds(&mut s, 1);
    assert!(record(&mut s, &promotion("l", 999, None)).is_err());
    assert!(s.promotions(&all(10)).unwrap().is_empty());
    assert_eq!(s.label("l", None).unwrap(), None);
}

/// SQLite's virtual-machine steps, in thousands, that `f` costs on `s`.
fn vm_kilosteps(s: &Store, f: impl FnOnce(&Store)) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    let steps = std::sync::Arc::new(AtomicU64::new(0));
    let counter = steps.clone();
    s.conn().progress_handler(
        1000,
        Some(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            false
        }),
    );
    f(s);
    s.conn().progress_handler(1000, None::<fn() -> bool>);
    steps.load(Ordering::Relaxed)
}

#[test]
fn a_long_history_is_read_only_as_far_as_the_newest_builds_and_aggregates_need() {
    let mut s = store();
    let ids = builds(&mut s, 1000);
    // `l` moved to each build twice; `other`, a component label, promoted
    // as aggregates.
    let hashes: Vec<String> = (0..ids.len()).map(|i| format!("{i:032x}")).collect();
    let rounds: Vec<NewPromotion> = ids
        .iter()
        .zip(&hashes)
        .chain(ids.iter().zip(&hashes))
        .flat_map(|(&b, h)| {
            [
                promotion("l", b, None),
                NewPromotion {
                    aggregate_hash: Some(h),
                    ..promotion("other", b, None)
                },
            ]
        })
        .collect();
    s.write(|tx| {
        for p in &rounds {
            record_promotion(tx, p)?;
        }
        Ok(())
    })
    .unwrap();
    // With statistics, as a database that has lived: the plans then are
    // the ones a real release gets.
    s.conn().execute_batch("ANALYZE").unwrap();
    let whole = vm_kilosteps(&s, |s| {
        s.promotions(&all(10_000)).unwrap();
    });
    let mut newest = Vec::new();
    let history = vm_kilosteps(&s, |s| newest = s.label_history("l", 10).unwrap());
    let newest_ten: Vec<i64> = ids.iter().rev().take(10).copied().collect();
    assert_eq!(newest, newest_ten);
    let aggregates = vm_kilosteps(&s, |s| assert!(!s.label_has_aggregates("l").unwrap()));
    assert!(whole > 50, "reading all 4,000 rows costs {whole}k steps");
    assert!(
        history * 30 < whole && aggregates * 30 < whole,
        "the newest ten builds ({history}k steps) and whether there are aggregates \
         ({aggregates}k) cost a small part of reading the history ({whole}k)"
    );
}
