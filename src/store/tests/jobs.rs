//! `store::jobs`: job runs and the votes they cast, from the in-progress
//! vote at the start to the final one, an error or an interruption.

use super::*;
use crate::store::jobs::{JobEnd, JobOutcome, NewJobRun};
use crate::store::votes::Vote;

fn job<'a>(run_id: i64, job_id: &'a str, build_id: i64) -> NewJobRun<'a> {
    NewJobRun {
        run_id,
        promotion: "tripleo-ci-testing",
        job_id,
        build_id,
        log_dir: "logs/b/job-run1",
        testenv: None,
        lease: None,
        user: "tester",
    }
}

fn end(outcome: JobOutcome) -> JobEnd<'static> {
    JobEnd {
        outcome,
        exit_code: Some(if outcome == JobOutcome::Passed { 0 } else { 1 }),
        signal: None,
        notes: "exit status 1",
        archive: Some("logs/b/job-run1.tar.gz"),
        url: "https://logs.example.org/b/job-run1.tar.gz",
    }
}

/// A store with one build and one run started: (store, build, run).
fn setup() -> (Store, i64, i64) {
    let mut s = store();
    let b = builds(&mut s, 1)[0];
    let run = s.start_run(100).unwrap();
    (s, b, run)
}

/// The votes of `build` for `job_id`.
fn votes_of(s: &Store, build: i64, job_id: &str) -> Vec<Vote> {
    s.votes_of_build(build, None)
        .unwrap()
        .into_iter()
        .filter(|v| v.job_id == job_id)
        .collect()
}

#[test]
fn starting_a_job_run_casts_an_in_progress_vote_that_is_not_final() {
    let (mut s, b, run) = setup();
    let id = s.start_job_run(&job(run, "repo-check", b), 100).unwrap();
    let v = votes_of(&s, b, "repo-check");
    assert_eq!(v.len(), 1);
    assert_eq!(
        (
            v[0].success,
            v[0].in_progress,
            v[0].notes.as_str(),
            v[0].timestamp,
            v[0].user.as_str()
        ),
        (false, true, "running", 100, "tester")
    );
    let r = s.last_job_run(b, "repo-check").unwrap().unwrap();
    assert_eq!(
        (
            r.id,
            r.outcome.as_str(),
            r.log_dir.as_str(),
            r.started_at,
            r.ended_at
        ),
        (id, "running", "logs/b/job-run1", 100, None)
    );
    assert!(!s.has_final_vote(b, "repo-check").unwrap());
}

#[test]
fn finishing_a_job_run_replaces_its_in_progress_vote_by_the_final_one() {
    for (outcome, success) in [
        (JobOutcome::Passed, true),
        (JobOutcome::Failed, false),
        (JobOutcome::TimedOut, false),
    ] {
        let (mut s, b, run) = setup();
        let id = s.start_job_run(&job(run, "j", b), 100).unwrap();
        s.finish_job_run(id, &end(outcome), 160).unwrap();
        let v = votes_of(&s, b, "j");
        assert_eq!(v.len(), 1, "{outcome:?}: replaced, not added");
        assert_eq!(
            (
                v[0].success,
                v[0].in_progress,
                v[0].url.as_str(),
                v[0].notes.as_str()
            ),
            (
                success,
                false,
                "https://logs.example.org/b/job-run1.tar.gz",
                "exit status 1"
            ),
            "{outcome:?}"
        );
        let r = s.last_job_run(b, "j").unwrap().unwrap();
        assert_eq!(r.outcome.as_str(), outcome.as_str());
        assert_eq!(r.ended_at, Some(160));
        assert_eq!(r.archive.as_deref(), Some("logs/b/job-run1.tar.gz"));
        assert!(s.has_final_vote(b, "j").unwrap(), "{outcome:?}");
    }
}

#[test]
fn every_job_outcome_has_its_one_spelling_and_the_schema_knows_it() {
    let outcomes = [
        JobOutcome::Passed,
        JobOutcome::Failed,
        JobOutcome::TimedOut,
        JobOutcome::Error,
    ];
    let spellings: std::collections::HashSet<&str> = outcomes.iter().map(|o| o.as_str()).collect();
    assert_eq!(spellings.len(), outcomes.len());
    let (mut s, b, run) = setup();
    for o in outcomes {
        let id = s.start_job_run(&job(run, "j", b), 100).unwrap();
        s.finish_job_run(id, &end(o), 101)
            .unwrap_or_else(|e| panic!("{}: {e}", o.as_str()));
    }
}

#[test]
fn an_error_run_withdraws_its_vote_and_says_why() {
    let (mut s, b, run) = setup();
    let id = s.start_job_run(&job(run, "deploy", b), 100).unwrap();
    s.error_job_run(id, "no test environment of pool p came free in 1s", 130)
        .unwrap();
    assert!(votes_of(&s, b, "deploy").is_empty());
    let r = s.last_job_run(b, "deploy").unwrap().unwrap();
    assert_eq!(
        (r.outcome.as_str(), r.notes.as_str(), r.ended_at),
        (
            "error",
            "no test environment of pool p came free in 1s",
            Some(130)
        )
    );
    assert!(!s.has_final_vote(b, "deploy").unwrap());
}

#[test]
fn interrupting_a_running_job_run_makes_its_vote_a_failure_that_does_not_count() {
    let (mut s, b, run) = setup();
    let id = s.start_job_run(&job(run, "j", b), 100).unwrap();
    s.interrupt_job_run(id, "interrupted: its runner was asked to stop", 120)
        .unwrap();
    let v = votes_of(&s, b, "j");
    assert_eq!(
        (v[0].success, v[0].in_progress, v[0].notes.as_str()),
        (false, false, "interrupted: its runner was asked to stop")
    );
    let r = s.last_job_run(b, "j").unwrap().unwrap();
    assert_eq!((r.outcome.as_str(), r.ended_at), ("interrupted", Some(120)));
    assert!(
        !s.has_final_vote(b, "j").unwrap(),
        "the next run runs it again"
    );
}

#[test]
fn interrupting_a_job_run_that_already_ended_leaves_its_vote_alone() {
    let (mut s, b, run) = setup();
    let id = s.start_job_run(&job(run, "j", b), 100).unwrap();
    s.finish_job_run(id, &end(JobOutcome::Passed), 110).unwrap();
    let before = votes_of(&s, b, "j");
    s.interrupt_job_run(id, "interrupted: too late", 120)
        .unwrap();
    let r = s.last_job_run(b, "j").unwrap().unwrap();
    assert_eq!(r.outcome.as_str(), "passed", "the run's outcome is kept");
    assert_eq!(
        votes_of(&s, b, "j"),
        before,
        "and so is the vote it cast, or the two disagree"
    );
}

#[test]
fn running_job_runs_are_listed_with_their_supervisor_and_leave_the_list_when_they_end() {
    let (mut s, b, run) = setup();
    let first = s.start_job_run(&job(run, "a", b), 100).unwrap();
    s.set_job_pid(first, 4321).unwrap();
    s.set_job_supervisor(first, 4320).unwrap();
    let done = s.start_job_run(&job(run, "b", b), 100).unwrap();
    s.finish_job_run(done, &end(JobOutcome::Passed), 110)
        .unwrap();
    let running = s.running_job_runs().unwrap();
    assert_eq!(running.len(), 1);
    let r = &running[0];
    assert_eq!(
        (
            r.id,
            r.job_id.as_str(),
            r.build_id,
            r.pid,
            r.runner_pid,
            r.log_dir.as_str(),
            r.started_at
        ),
        (first, "a", b, Some(4321), 4320, "logs/b/job-run1", 100)
    );
    assert!(s.job_run_end(first).unwrap().is_none(), "it runs");
    let end_b = s.job_run_end(done).unwrap().unwrap();
    assert_eq!(
        (end_b.job_id.as_str(), end_b.outcome.as_str(), end_b.seconds),
        ("b", "passed", 10)
    );
    s.interrupt_job_run(first, "interrupted: its supervisor died", 200)
        .unwrap();
    assert!(s.running_job_runs().unwrap().is_empty());
    assert!(!s.has_final_vote(b, "a").unwrap());
    assert!(s.has_final_vote(b, "b").unwrap(), "a finished run is kept");
}

#[test]
fn the_vote_tally_counts_passes_and_failures_but_not_interrupted_runs() {
    let (mut s, b, run) = setup();
    assert_eq!(s.vote_tally(b, "j").unwrap(), (false, 0));
    for outcome in [JobOutcome::Failed, JobOutcome::TimedOut] {
        let id = s.start_job_run(&job(run, "j", b), 100).unwrap();
        s.finish_job_run(id, &end(outcome), 110).unwrap();
    }
    let id = s.start_job_run(&job(run, "j", b), 100).unwrap();
    s.interrupt_job_run(id, "interrupted", 120).unwrap();
    assert_eq!(s.vote_tally(b, "j").unwrap(), (false, 2));
    let id = s.start_job_run(&job(run, "j", b), 100).unwrap();
    s.finish_job_run(id, &end(JobOutcome::Passed), 130).unwrap();
    assert_eq!(s.vote_tally(b, "j").unwrap(), (true, 2));
}

#[test]
fn packed_logs_found_later_become_the_url_of_a_vote_that_has_none() {
    let (mut s, b, run) = setup();
    let id = s.start_job_run(&job(run, "a", b), 100).unwrap();
    s.interrupt_job_run(id, "interrupted", 200).unwrap();
    s.set_job_archive(id, "logs/b/a-run1.tar.gz").unwrap();
    assert_eq!(votes_of(&s, b, "a")[0].url, "logs/b/a-run1.tar.gz");
    assert_eq!(
        s.last_job_run(b, "a").unwrap().unwrap().archive.as_deref(),
        Some("logs/b/a-run1.tar.gz")
    );
    // A vote that names its logs already keeps its url.
    let other = s.start_job_run(&job(run, "b", b), 100).unwrap();
    s.finish_job_run(other, &end(JobOutcome::Failed), 110)
        .unwrap();
    s.set_job_archive(other, "elsewhere.tar.gz").unwrap();
    assert_eq!(
        votes_of(&s, b, "b")[0].url,
        "https://logs.example.org/b/job-run1.tar.gz"
    );
}

#[test]
fn the_last_job_run_is_the_newest_of_that_job_on_that_build() {
    let mut s = store();
    let ids = builds(&mut s, 2);
    let run = s.start_run(100).unwrap();
    let first = s.start_job_run(&job(run, "a", ids[0]), 100).unwrap();
    s.finish_job_run(first, &end(JobOutcome::Failed), 101)
        .unwrap();
    let second = s.start_job_run(&job(run, "a", ids[0]), 102).unwrap();
    s.start_job_run(&job(run, "a", ids[1]), 103).unwrap();
    s.start_job_run(&job(run, "b", ids[0]), 104).unwrap();
    let last = s.last_job_run(ids[0], "a").unwrap().unwrap();
    assert_eq!((last.id, last.outcome.as_str()), (second, "running"));
    assert!(s.last_job_run(ids[0], "c").unwrap().is_none());
}

#[test]
fn a_final_vote_reported_from_elsewhere_counts_as_voted_on() {
    let (mut s, b, _) = setup();
    s.add_vote(&crate::store::votes::NewVote {
        target: crate::store::votes::VoteTarget::Build(b),
        job_id: "j",
        success: false,
        in_progress: false,
        url: "u",
        notes: "",
        timestamp: 1,
        user: "ci",
    })
    .unwrap();
    assert!(s.has_final_vote(b, "j").unwrap());
    assert!(!s.has_final_vote(b, "k").unwrap());
}

#[test]
fn a_job_run_on_a_build_that_is_not_recorded_is_refused_with_no_vote_left() {
    let (mut s, b, run) = setup();
    let before = s.vote_count().unwrap();
    assert!(s.start_job_run(&job(run, "j", 999), 100).is_err());
    assert_eq!(s.vote_count().unwrap(), before);
    assert!(s.last_job_run(b, "j").unwrap().is_none());
}
