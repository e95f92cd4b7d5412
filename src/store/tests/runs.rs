//! `store::runs`: runs of the pipeline and the recorded steps of the
//! promotions they carry out.

use super::*;
use crate::store::promotions::{record_promotion, Kind, NewPromotion};
use crate::store::runs::{link_attempt, Attempt, Member, NewAttempt, RunOutcome, Step};

const STEPS: [Step; 7] = [
    Step::Decided,
    Step::Hooks,
    Step::Containers,
    Step::Images,
    Step::Trunk,
    Step::Done,
    Step::Stopped,
];

fn attempt<'a>(run_id: Option<i64>, name: &'a str, build_id: i64) -> NewAttempt<'a> {
    NewAttempt {
        run_id,
        name,
        build_id,
        previous_repo_dir: Some("ab/cd/abcd_1234"),
        previous_image: Some("abcd_1234"),
        kind: Kind::Promote,
        user: None,
        reason: "",
        aggregate_hash: None,
        aggregate: false,
        members: &[],
    }
}

/// The step of attempt `id`, read back through `Step`'s `FromSql`.
fn step_of(s: &Store, id: i64) -> rusqlite::Result<Step> {
    s.conn()
        .query_row("SELECT step FROM attempts WHERE id = ?1", [id], |r| {
            r.get(0)
        })
}

#[test]
fn a_new_database_has_no_last_run() {
    assert!(store().last_run().unwrap().is_none());
}

#[test]
fn a_run_is_running_until_finished_and_the_last_run_says_how_it_ended() {
    let mut s = store();
    let id = s.start_run(100).unwrap();
    let r = s.last_run().unwrap().unwrap();
    assert_eq!(
        (r.id, r.started_at, r.ended_at, r.outcome.as_str()),
        (id, 100, None, "running")
    );
    s.finish_run(
        id,
        RunOutcome::Completed,
        2,
        1,
        "2 promoted, 1 blocked",
        105,
        None,
    )
    .unwrap();
    let r = s.last_run().unwrap().unwrap();
    assert_eq!(
        (
            r.ended_at,
            r.outcome.as_str(),
            r.promoted,
            r.blocked,
            r.summary.as_str()
        ),
        (Some(105), "completed", 2, 1, "2 promoted, 1 blocked")
    );
    let next = s.start_run(200).unwrap();
    assert!(next > id);
    assert_eq!(s.last_run().unwrap().unwrap().id, next);
}

#[test]
fn starting_a_run_marks_the_runs_left_running_as_interrupted() {
    let mut s = store();
    let dead = s.start_run(100).unwrap();
    let done = s.start_run(110).unwrap();
    s.finish_run(done, RunOutcome::Completed, 0, 0, "", 111, None)
        .unwrap();
    s.start_run(200).unwrap();
    let outcome = |id: i64| -> (String, String) {
        s.conn()
            .query_row(
                "SELECT outcome, summary FROM runs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    assert_eq!(
        outcome(dead),
        (
            "interrupted".into(),
            "the process died before the run ended".into()
        )
    );
    assert_eq!(outcome(done), ("completed".into(), "".into()));
}

#[test]
fn the_schema_refuses_an_outcome_outside_its_list() {
    let mut s = store();
    let id = s.start_run(100).unwrap();
    let refused = s
        .conn()
        .execute("UPDATE runs SET outcome = 'succeeded' WHERE id = ?1", [id]);
    assert!(refused.is_err());
    assert_eq!(s.last_run().unwrap().unwrap().outcome, RunOutcome::Running);
}

#[test]
fn a_new_attempt_starts_decided_and_reads_back_as_open() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let run = s.start_run(100).unwrap();
    let a = s
        .new_attempt(&attempt(Some(run), "l", ids[0]), 100)
        .unwrap();
    assert_eq!(a.step, Step::Decided);
    assert_eq!(s.open_attempts().unwrap(), vec![a.clone()]);
    assert_eq!(
        a,
        Attempt {
            id: a.id,
            run_id: Some(run),
            name: "l".into(),
            build_id: ids[0],
            previous_repo_dir: Some("ab/cd/abcd_1234".into()),
            previous_image: Some("abcd_1234".into()),
            step: Step::Decided,
            kind: Kind::Promote,
            user: None,
            reason: String::new(),
            aggregate_hash: None,
            aggregate: false,
            members: vec![Member {
                build_id: ids[0],
                previous_repo_dir: Some("ab/cd/abcd_1234".into()),
            }],
        }
    );
}

#[test]
fn an_attempt_of_a_command_by_hand_keeps_its_kind_user_and_reason() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let new = NewAttempt {
        kind: Kind::Rollback,
        user: Some("alice"),
        reason: "breaks ovb",
        aggregate_hash: Some("feedbeef"),
        previous_repo_dir: None,
        previous_image: None,
        ..attempt(None, "current-tripleo", ids[0])
    };
    let a = s.new_attempt(&new, 100).unwrap();
    let read = s.open_attempts().unwrap();
    assert_eq!(read, vec![a]);
    let r = &read[0];
    assert_eq!(r.run_id, None);
    assert_eq!(r.kind, Kind::Rollback);
    assert_eq!(r.user.as_deref(), Some("alice"));
    assert_eq!(r.reason, "breaks ovb");
    assert_eq!(r.aggregate_hash.as_deref(), Some("feedbeef"));
    assert_eq!(
        (r.previous_repo_dir.as_deref(), r.previous_image.as_deref()),
        (None, None)
    );
}

#[test]
fn every_step_is_stored_and_read_back_by_its_one_spelling() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let a = s.new_attempt(&attempt(None, "l", ids[0]), 100).unwrap();
    let mut spellings = std::collections::HashSet::new();
    for step in STEPS {
        s.set_step(a.id, step, "").unwrap();
        assert_eq!(step_of(&s, a.id).unwrap(), step);
        assert!(spellings.insert(step.as_str()), "{} twice", step.as_str());
    }
}

#[test]
fn done_and_stopped_attempts_are_no_longer_open() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let mut open = Vec::new();
    for step in STEPS {
        let a = s.new_attempt(&attempt(None, "l", ids[0]), 100).unwrap();
        s.set_step(a.id, step, "a note").unwrap();
        if !matches!(step, Step::Done | Step::Stopped) {
            open.push((a.id, step));
        }
    }
    let read: Vec<(i64, Step)> = s
        .open_attempts()
        .unwrap()
        .iter()
        .map(|a| (a.id, a.step))
        .collect();
    assert_eq!(read, open, "oldest first, each at its step");
}

#[test]
fn a_step_read_back_that_is_no_known_spelling_is_an_error_not_a_default() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let a = s.new_attempt(&attempt(None, "l", ids[0]), 100).unwrap();
    s.set_step(a.id, Step::Hooks, "").unwrap();
    unchecked(
        &s,
        &format!("UPDATE attempts SET step = 'hook' WHERE id = {}", a.id),
    );
    let err = s.open_attempts().unwrap_err();
    assert!(
        chain(&err).contains("unknown promotion step \"hook\""),
        "{}",
        chain(&err)
    );
    let err = step_of(&s, a.id).unwrap_err();
    assert!(err.to_string().contains("unknown promotion step"), "{err}");
    // Spelt as the enum prints, but not as it is stored: still refused.
    unchecked(
        &s,
        &format!("UPDATE attempts SET step = 'Hooks' WHERE id = {}", a.id),
    );
    assert!(s.open_attempts().is_err());
}

#[test]
fn the_schema_refuses_a_step_outside_its_list() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let a = s.new_attempt(&attempt(None, "l", ids[0]), 100).unwrap();
    let r = s
        .conn()
        .execute("UPDATE attempts SET step = 'hook' WHERE id = ?1", [a.id]);
    assert!(r.is_err(), "{r:?}");
    assert_eq!(step_of(&s, a.id).unwrap(), Step::Decided);
}

#[test]
fn steps_are_ordered_as_a_promotion_carries_them_out() {
    let mut sorted = STEPS;
    sorted.sort();
    assert_eq!(sorted, STEPS);
    assert!(Step::Hooks < Step::Containers && Step::Containers < Step::Images);
    assert!(Step::Images < Step::Trunk);
}

#[test]
fn an_attempt_for_a_build_or_run_that_is_not_recorded_is_refused() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    assert!(s.new_attempt(&attempt(None, "l", 999), 100).is_err());
    assert!(s
        .new_attempt(&attempt(Some(999), "l", ids[0]), 100)
        .is_err());
    assert!(s.open_attempts().unwrap().is_empty());
}

#[test]
fn an_attempt_is_linked_to_the_history_row_it_wrote() {
    let mut s = store();
    let ids = builds(&mut s, 1);
    let a = s.new_attempt(&attempt(None, "l", ids[0]), 100).unwrap();
    let row = s
        .write(|tx| {
            let id = record_promotion(
                tx,
                &NewPromotion {
                    name: "l",
                    build_id: ids[0],
                    previous_build_id: None,
                    aggregate_hash: None,
                    component: None,
                    label_component: None,
                    kind: Kind::Promote,
                    timestamp: 100,
                    user: "u",
                    reason: "",
                },
            )?;
            link_attempt(tx, a.id, id)?;
            crate::store::runs::set_step(tx, a.id, Step::Done, "", 101)?;
            Ok(id)
        })
        .unwrap();
    let (linked, step): (Option<i64>, Step) = s
        .conn()
        .query_row(
            "SELECT promotion_id, step FROM attempts WHERE id = ?1",
            [a.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((linked, step), (Some(row), Step::Done));
    assert!(s.open_attempts().unwrap().is_empty());
    assert!(
        s.write(|tx| link_attempt(tx, a.id, 999)).is_err(),
        "a history row that does not exist"
    );
}

fn memo(data_version: i64) -> crate::store::runs::NewMemo {
    crate::store::runs::NewMemo {
        fingerprint: "f".into(),
        data_version,
        valid_until: 700,
        blocked: 2,
        idle: 1,
        lines: "[]".into(),
    }
}

/// Two connections to one database file, as a run and a `report-result`.
fn two_stores() -> (tempfile::TempDir, Store, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    (dir, a, b)
}

#[test]
fn a_quiet_run_leaves_its_memo_and_any_later_write_forgets_it() {
    let mut s = store();
    let id = s.start_run(100).unwrap();
    let v = s.data_version().unwrap();
    let left = s
        .finish_run(id, RunOutcome::Completed, 0, 2, "", 105, Some(&memo(v)))
        .unwrap();
    assert!(left);
    let m = s.run_memo().unwrap().expect("the memo");
    assert_eq!((m.run_id, m.decided_at, m.blocked, m.idle), (id, 105, 2, 1));
    // The run that repeats it records itself and keeps it.
    let (again, summary) = s
        .record_repeated_run(&m, |id| format!("run {id}"), 110, 111)
        .unwrap();
    assert_eq!(summary, format!("run {again}"));
    let r = s.last_run().unwrap().unwrap();
    assert_eq!(
        (r.id, r.ended_at, r.outcome.as_str(), r.blocked),
        (again, Some(111), "completed", 2)
    );
    assert!(s.run_memo().unwrap().is_some());
    // Any other write forgets it.
    s.start_run(120).unwrap();
    assert!(s.run_memo().unwrap().is_none());
}

#[test]
fn a_run_leaves_no_memo_when_another_connection_wrote_while_it_decided() {
    let (_dir, mut run, mut other) = two_stores();
    let id = run.start_run(100).unwrap();
    let v = run.data_version().unwrap();
    // Its own writes do not count...
    let own = run.start_run(101).unwrap();
    assert!(run
        .finish_run(own, RunOutcome::Completed, 0, 0, "", 102, Some(&memo(v)))
        .unwrap());
    // ...another connection's do: a vote came in while it decided.
    let v = run.data_version().unwrap();
    other.start_run(103).unwrap();
    assert!(other.run_memo().unwrap().is_none());
    let left = run
        .finish_run(id, RunOutcome::Completed, 0, 0, "", 105, Some(&memo(v)))
        .unwrap();
    assert!(!left);
    assert!(run.run_memo().unwrap().is_none());
    assert!(other.run_memo().unwrap().is_none());
}
