//! `store::votes`: votes on builds and aggregates, and DLRN's
//! `last_tested_repo` search.

use super::*;
use crate::store::aggregates::NewAggregate;
use crate::store::votes::{NewVote, Vote, VoteQuery, VoteTarget, CONSISTENT_JOB};

fn vote<'a>(target: VoteTarget, job_id: &'a str, success: bool, timestamp: i64) -> NewVote<'a> {
    NewVote {
        target,
        job_id,
        success,
        in_progress: false,
        url: "https://logs.example.org/1",
        notes: "",
        timestamp,
        user: "ci",
    }
}

/// A store with `n` plain builds, each with DLRN's consistent vote (cast
/// at its build time, long before the times these tests report).
fn with_builds(n: u32) -> (Store, Vec<i64>) {
    let mut s = store();
    let ids = builds(&mut s, n);
    (s, ids)
}

#[test]
fn a_vote_reads_back_field_for_field() {
    let (mut s, ids) = with_builds(1);
    let id = s
        .add_vote(&NewVote {
            target: VoteTarget::Build(ids[0]),
            job_id: "periodic-ovb",
            success: false,
            in_progress: true,
            url: "https://logs.example.org/ovb/7",
            notes: "deploying",
            timestamp: 1_700_000_123,
            user: "zuul",
        })
        .unwrap();
    let votes = s.votes_of_build(ids[0], Some(false)).unwrap();
    assert_eq!(
        votes,
        vec![Vote {
            id,
            build_id: Some(ids[0]),
            aggregate_id: None,
            job_id: "periodic-ovb".into(),
            success: false,
            in_progress: true,
            url: "https://logs.example.org/ovb/7".into(),
            notes: "deploying".into(),
            timestamp: 1_700_000_123,
            user: "zuul".into(),
        }]
    );
}

#[test]
fn the_votes_of_a_build_are_oldest_first_and_filter_by_success() {
    let (mut s, ids) = with_builds(2);
    let b = VoteTarget::Build(ids[1]);
    // Recorded in this order, reported with times out of order.
    let v1 = s.add_vote(&vote(b, "job-a", false, 30)).unwrap();
    let v2 = s.add_vote(&vote(b, "job-a", true, 10)).unwrap();
    let v3 = s.add_vote(&vote(b, "job-b", true, 20)).unwrap();
    s.add_vote(&vote(VoteTarget::Build(ids[0]), "job-a", true, 40))
        .unwrap();
    let all: Vec<i64> = s
        .votes_of_build(ids[1], None)
        .unwrap()
        .iter()
        .map(|v| v.id)
        .filter(|id| [v1, v2, v3].contains(id))
        .collect();
    assert_eq!(all, vec![v1, v2, v3], "by when they were recorded");
    let ok: Vec<i64> = s
        .votes_of_build(ids[1], Some(true))
        .unwrap()
        .iter()
        .filter(|v| v.job_id != CONSISTENT_JOB)
        .map(|v| v.id)
        .collect();
    assert_eq!(ok, vec![v2, v3]);
    let failed: Vec<i64> = s
        .votes_of_build(ids[1], Some(false))
        .unwrap()
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(failed, vec![v1]);
    let facts = s.vote_facts(ids[1], &["job-b", "job-a", "job-b"]).unwrap();
    assert_eq!(
        facts.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![v1, v2, v3],
        "the named jobs' votes, each once, oldest first"
    );
    let facts = s.vote_facts(ids[1], &["job-b", "job-z"]).unwrap();
    assert_eq!(
        facts.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![v3],
        "only the named jobs' votes"
    );
    assert!(s.vote_facts(ids[1], &[]).unwrap().is_empty());
}

#[test]
fn votes_on_an_aggregate_are_kept_apart_from_its_builds_votes() {
    let (mut s, ids) = with_builds(2);
    s.record_aggregates(&[NewAggregate {
        agg_hash: "0123456789abcdef0123456789abcdef".into(),
        repo_dir: Some("consistent/01/23/0123456789abcdef0123456789abcdef".into()),
        created_at: 1,
        build_ids: ids.clone(),
    }])
    .unwrap();
    let agg = s
        .find_aggregate("0123456789abcdef0123456789abcdef")
        .unwrap()
        .unwrap();
    let before = s.votes_of_build(ids[0], None).unwrap();
    let v = s
        .add_vote(&vote(VoteTarget::Aggregate(agg), "periodic", true, 5))
        .unwrap();
    let on_agg = s.votes_of_aggregate(agg, None).unwrap();
    assert_eq!(on_agg.len(), 1);
    assert_eq!(
        (on_agg[0].id, on_agg[0].build_id, on_agg[0].aggregate_id),
        (v, None, Some(agg))
    );
    assert_eq!(s.votes_of_build(ids[0], None).unwrap(), before);
    assert!(s.votes_of_aggregate(agg, Some(false)).unwrap().is_empty());
    assert_eq!(s.aggregate_vote_facts(agg).unwrap().len(), 1);
}

#[test]
fn a_vote_on_a_build_that_is_not_recorded_is_refused_and_nothing_lands() {
    let (mut s, _) = with_builds(1);
    let before = s.vote_count().unwrap();
    assert!(s
        .add_vote(&vote(VoteTarget::Build(999), "job-a", true, 1))
        .is_err());
    assert!(s
        .add_vote(&vote(VoteTarget::Aggregate(999), "job-a", true, 1))
        .is_err());
    assert_eq!(s.vote_count().unwrap(), before);
}

#[test]
fn the_schema_refuses_an_empty_job_id_and_one_longer_than_255_bytes() {
    let (mut s, ids) = with_builds(1);
    let b = VoteTarget::Build(ids[0]);
    let long = "j".repeat(256);
    assert!(s.add_vote(&vote(b, "", true, 1)).is_err());
    assert!(s.add_vote(&vote(b, &long, true, 1)).is_err());
    let longest = "j".repeat(255);
    s.add_vote(&vote(b, &longest, true, 1)).unwrap();
}

#[test]
fn vote_count_counts_every_vote_dlrns_included() {
    let (mut s, ids) = with_builds(3);
    assert_eq!(s.vote_count().unwrap(), 3, "one consistent vote per build");
    s.add_vote(&vote(VoteTarget::Build(ids[0]), "job-a", true, 1))
        .unwrap();
    assert_eq!(s.vote_count().unwrap(), 4);
}

#[test]
fn the_newest_vote_is_the_latest_reported_then_the_latest_recorded() {
    let (mut s, ids) = with_builds(3);
    let q = VoteQuery::default();
    s.add_vote(&vote(VoteTarget::Build(ids[0]), "job-a", true, 300))
        .unwrap();
    let tie = s
        .add_vote(&vote(VoteTarget::Build(ids[1]), "job-b", false, 300))
        .unwrap();
    // Recorded last but reported as older.
    s.add_vote(&vote(VoteTarget::Build(ids[2]), "job-a", true, 100))
        .unwrap();
    let (v, b) = s.newest_vote(&q, false).unwrap().unwrap();
    assert_eq!((v.id, b.id), (tie, ids[1]));
    // Filters: success, job, and only votes newer than a time.
    let (v, b) = s
        .newest_vote(
            &VoteQuery {
                success: Some(true),
                ..q.clone()
            },
            false,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (v.job_id.as_str(), v.timestamp, b.id),
        ("job-a", 300, ids[0])
    );
    let (_, b) = s
        .newest_vote(
            &VoteQuery {
                job_id: Some("job-a"),
                newer_than: 100,
                success: Some(true),
                ..q.clone()
            },
            false,
        )
        .unwrap()
        .unwrap();
    assert_eq!(b.id, ids[0]);
    assert!(s
        .newest_vote(
            &VoteQuery {
                newer_than: 300,
                ..q.clone()
            },
            false
        )
        .unwrap()
        .is_none());
    assert!(s
        .newest_vote(
            &VoteQuery {
                job_id: Some("job-z"),
                ..q
            },
            false
        )
        .unwrap()
        .is_none());
}

#[test]
fn the_newest_vote_keeps_dlrns_consistent_votes_apart_from_ci_votes() {
    let (mut s, ids) = with_builds(2);
    let q = VoteQuery::default();
    assert!(
        s.newest_vote(&q, false).unwrap().is_none(),
        "no CI vote yet"
    );
    let (v, b) = s.newest_vote(&q, true).unwrap().unwrap();
    assert_eq!(v.job_id, CONSISTENT_JOB);
    assert_eq!(b.id, ids[1], "the newest build's consistent vote");
    s.add_vote(&vote(
        VoteTarget::Build(ids[0]),
        "job-a",
        true,
        5_000_000_000,
    ))
    .unwrap();
    let (v, _) = s.newest_vote(&q, true).unwrap().unwrap();
    assert_eq!(v.job_id, CONSISTENT_JOB, "a CI vote is not DLRN's");
}

#[test]
fn the_newest_vote_is_on_a_successful_build_only() {
    let mut s = store();
    let mut failed = scanned(2, 2, 1_600_000_002);
    failed.row.status = "FAILED".into();
    let ids = import(&mut s, vec![scanned(1, 1, 1_600_000_001), failed]);
    s.add_vote(&vote(VoteTarget::Build(ids[0]), "job-a", true, 10))
        .unwrap();
    s.add_vote(&vote(VoteTarget::Build(ids[1]), "job-a", true, 20))
        .unwrap();
    let (v, b) = s
        .newest_vote(&VoteQuery::default(), false)
        .unwrap()
        .unwrap();
    assert_eq!((v.timestamp, b.id), (10, ids[0]));
}

#[test]
fn the_newest_vote_of_a_component_is_on_that_components_builds() {
    let mut s = store();
    let mut a = scanned(1, 1, 1_600_000_001);
    a.row.component = Some("tripleo".into());
    let mut b = scanned(2, 2, 1_600_000_002);
    b.row.component = Some("baremetal".into());
    let ids = import(&mut s, vec![a, b]);
    s.add_vote(&vote(VoteTarget::Build(ids[0]), "job-a", true, 10))
        .unwrap();
    s.add_vote(&vote(VoteTarget::Build(ids[1]), "job-a", true, 20))
        .unwrap();
    let of = |c: &str| {
        s.newest_vote(
            &VoteQuery {
                component: Some(c),
                ..Default::default()
            },
            false,
        )
        .unwrap()
        .map(|(_, b)| b.id)
    };
    assert_eq!(of("tripleo"), Some(ids[0]));
    assert_eq!(of("baremetal"), Some(ids[1]));
    assert_eq!(of("no-such-component"), None);
}
