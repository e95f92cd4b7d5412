//! `store::testenvs`: the test-environment broker's environments and
//! their exclusive, expiring leases.

use super::*;
use crate::error::Error;
use crate::store::testenvs::Holder;

/// A pid no process can have: the holder of a lease is gone.
const GONE: u32 = i32::MAX as u32 + 1;

fn holder(name: &str) -> Holder<'_> {
    Holder {
        name,
        pid: None,
        expires_at: None,
    }
}

/// A store with environments `ovb-1`, `ovb-2` (pool `ovb`) and `mn-1`
/// (pool `multinode`).
fn broker() -> Store {
    let mut s = store();
    for (name, pool) in [("ovb-2", "ovb"), ("mn-1", "multinode"), ("ovb-1", "ovb")] {
        s.add_testenv(name, pool, &format!("/etc/te/{name}.json"), 10)
            .unwrap();
    }
    s
}

#[test]
fn environments_are_listed_by_pool_then_name_with_no_lease() {
    let s = broker();
    let got: Vec<(String, String, String, bool)> = s
        .testenvs()
        .unwrap()
        .into_iter()
        .map(|t| (t.pool, t.name, t.data_file, t.lease.is_some()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "multinode".into(),
                "mn-1".into(),
                "/etc/te/mn-1.json".into(),
                false
            ),
            (
                "ovb".into(),
                "ovb-1".into(),
                "/etc/te/ovb-1.json".into(),
                false
            ),
            (
                "ovb".into(),
                "ovb-2".into(),
                "/etc/te/ovb-2.json".into(),
                false
            ),
        ]
    );
}

#[test]
fn a_second_environment_of_the_same_name_is_refused() {
    let mut s = broker();
    let err = s.add_testenv("ovb-1", "other", "/x.json", 20).unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert_eq!(s.testenvs().unwrap().len(), 3);
}

#[test]
fn leases_take_the_free_environments_of_the_pool_in_name_order_then_none() {
    let mut s = broker();
    let first = s
        .acquire_testenv("ovb", &holder("job-1"), 100)
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            first.testenv.as_str(),
            first.pool.as_str(),
            first.data_file.as_str()
        ),
        ("ovb-1", "ovb", "/etc/te/ovb-1.json")
    );
    let second = s
        .acquire_testenv("ovb", &holder("job-2"), 100)
        .unwrap()
        .unwrap();
    assert_eq!(second.testenv, "ovb-2");
    assert_ne!(first.id, second.id);
    assert!(s
        .acquire_testenv("ovb", &holder("job-3"), 100)
        .unwrap()
        .is_none());
    assert!(
        s.acquire_testenv("multinode", &holder("job-3"), 100)
            .unwrap()
            .is_some(),
        "another pool is not affected"
    );
    let listed = s.testenvs().unwrap();
    let l = listed
        .iter()
        .find(|t| t.name == "ovb-1")
        .unwrap()
        .lease
        .as_ref()
        .unwrap();
    assert_eq!(
        (l.id, l.holder.as_str(), l.acquired_at, l.expires_at),
        (first.id, "job-1", 100, None)
    );
}

#[test]
fn a_lease_from_a_pool_with_no_environment_is_not_found() {
    let mut s = broker();
    let err = s.acquire_testenv("nope", &holder("job"), 100).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

#[test]
fn a_second_live_lease_on_one_environment_is_refused_by_the_schema() {
    let mut s = broker();
    s.acquire_testenv("multinode", &holder("job-1"), 100)
        .unwrap()
        .unwrap();
    let r = s.conn().execute(
        "INSERT INTO leases (testenv, holder, acquired_at) VALUES ('mn-1', 'sneaky', 101)",
        [],
    );
    assert!(r.is_err(), "{r:?}");
    // Once released, a new lease is allowed, and the old row stays.
    let id = s.testenvs().unwrap()[0].lease.as_ref().unwrap().id;
    s.release_lease(id, "done", 110).unwrap();
    s.conn()
        .execute(
            "INSERT INTO leases (testenv, holder, acquired_at) VALUES ('mn-1', 'next', 111)",
            [],
        )
        .unwrap();
    let rows: i64 = s
        .conn()
        .query_row(
            "SELECT count(*) FROM leases WHERE testenv = 'mn-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 2);
}

#[test]
fn a_lease_on_an_environment_that_does_not_exist_is_refused_by_the_schema() {
    let s = broker();
    let r = s.conn().execute(
        "INSERT INTO leases (testenv, holder, acquired_at) VALUES ('nope', 'h', 1)",
        [],
    );
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn a_lease_whose_time_ran_out_is_taken_back_at_its_expiry_not_before() {
    let mut s = broker();
    let l = s
        .acquire_testenv(
            "multinode",
            &Holder {
                name: "zuul",
                pid: None,
                expires_at: Some(200),
            },
            100,
        )
        .unwrap()
        .unwrap();
    assert_eq!(l.expires_at, Some(200));
    assert_eq!(s.reclaim_leases(199).unwrap(), 0);
    assert!(s
        .acquire_testenv("multinode", &holder("other"), 199)
        .unwrap()
        .is_none());
    assert_eq!(s.reclaim_leases(200).unwrap(), 1);
    let reason: String = s
        .conn()
        .query_row(
            "SELECT release_reason FROM leases WHERE id = ?1",
            [l.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "taken back: its time ran out");
    assert!(s
        .acquire_testenv("multinode", &holder("other"), 200)
        .unwrap()
        .is_some());
}

#[test]
fn a_lease_whose_local_holder_is_gone_is_taken_back_and_a_live_ones_is_kept() {
    let mut s = broker();
    // Taken last: the reclaim of each acquire would take it back at once.
    s.acquire_testenv(
        "ovb",
        &Holder {
            name: "this-test",
            pid: Some(std::process::id()),
            expires_at: None,
        },
        100,
    )
    .unwrap()
    .unwrap();
    let gone = s
        .acquire_testenv(
            "ovb",
            &Holder {
                name: "dead-runner",
                pid: Some(GONE),
                expires_at: None,
            },
            100,
        )
        .unwrap()
        .unwrap();
    assert_eq!(s.reclaim_leases(150).unwrap(), 1);
    assert_eq!(
        s.reclaim_leases(160).unwrap(),
        0,
        "the live holder keeps it"
    );
    let held: Vec<String> = s
        .testenvs()
        .unwrap()
        .into_iter()
        .filter_map(|t| t.lease.map(|l| l.holder))
        .collect();
    assert_eq!(held, vec!["this-test".to_string()]);
    let reason: String = s
        .conn()
        .query_row(
            "SELECT release_reason FROM leases WHERE id = ?1",
            [gone.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        reason,
        format!("taken back: its holder (pid {GONE}) and its job's processes are gone")
    );
}

#[test]
fn a_lease_is_held_while_a_process_of_its_job_lives_after_its_holder_is_gone() {
    let mut s = broker();
    let l = s
        .acquire_testenv(
            "multinode",
            &Holder {
                name: "runner",
                pid: Some(GONE),
                expires_at: None,
            },
            100,
        )
        .unwrap()
        .unwrap();
    let marker = format!("store-test-{}-{}", std::process::id(), l.id);
    s.set_lease_marker(l.id, &marker).unwrap();
    // A process of the job, carrying its marker, outlives the runner. It
    // says when it runs: right after spawn, an exec may not have laid out
    // its environment yet, and /proc shows it empty.
    let mut child = std::process::Command::new("sh")
        .args(["-c", "echo ready; read x"])
        .env(crate::model::JOB_MARKER_VAR, &marker)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh(1)");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "ready\n");
    let kept = s.reclaim_leases(150);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(kept.unwrap(), 0, "the job still runs");
    assert_eq!(
        s.reclaim_leases(160).unwrap(),
        1,
        "now every process is gone"
    );
}

#[test]
fn a_released_lease_frees_its_environment_and_cannot_be_released_again() {
    let mut s = broker();
    let l = s
        .acquire_testenv("multinode", &holder("job"), 100)
        .unwrap()
        .unwrap();
    assert_eq!(
        s.release_lease(l.id, "released: done", 110).unwrap(),
        "mn-1"
    );
    assert!(s.testenvs().unwrap()[0].lease.is_none());
    let err = s.release_lease(l.id, "again", 120).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let err = s.release_lease(999, "never", 120).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let (at, why): (i64, String) = s
        .conn()
        .query_row(
            "SELECT released_at, release_reason FROM leases WHERE id = ?1",
            [l.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((at, why.as_str()), (110, "released: done"));
}

#[test]
fn an_environment_that_is_held_cannot_be_removed_and_a_free_one_can() {
    let mut s = broker();
    let l = s
        .acquire_testenv("multinode", &holder("job-7"), 100)
        .unwrap()
        .unwrap();
    let err = s.remove_testenv("mn-1", 105).unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert!(err.to_string().contains("held by job-7"), "{err}");
    s.release_lease(l.id, "done", 110).unwrap();
    assert_eq!(s.remove_testenv("mn-1", 120).unwrap(), "/etc/te/mn-1.json");
    assert_eq!(s.testenvs().unwrap().len(), 2);
    let err = s.remove_testenv("mn-1", 130).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

#[test]
fn an_environment_whose_lease_ran_out_can_be_removed() {
    let mut s = broker();
    s.acquire_testenv(
        "multinode",
        &Holder {
            name: "zuul",
            pid: None,
            expires_at: Some(200),
        },
        100,
    )
    .unwrap()
    .unwrap();
    assert!(s.remove_testenv("mn-1", 150).is_err());
    assert_eq!(s.remove_testenv("mn-1", 200).unwrap(), "/etc/te/mn-1.json");
}

#[test]
fn a_dry_run_leaves_the_shared_broker_as_it_found_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("testenvs.sqlite");
    {
        let mut b = Store::open(&path).unwrap();
        b.add_testenv("ovb-1", "ovb", "/etc/te/ovb-1.json", 10)
            .unwrap();
    }
    let mut s = store().with_broker(&path).unwrap();
    s.begin_dry_run().unwrap();
    let lease = s.acquire_testenv("ovb", &holder("dry"), 20).unwrap();
    assert!(lease.is_some(), "the dry run sees its own lease");
    s.end_dry_run().unwrap();
    let b = Store::open(&path).unwrap();
    let held: Vec<bool> = b
        .testenvs()
        .unwrap()
        .into_iter()
        .map(|t| t.lease.is_some())
        .collect();
    assert_eq!(held, [false], "no lease left in the broker");
    let mut s = store().with_broker(&path).unwrap();
    assert!(
        s.acquire_testenv("ovb", &holder("real"), 30)
            .unwrap()
            .is_some(),
        "and the environment is free for a real run"
    );
}
