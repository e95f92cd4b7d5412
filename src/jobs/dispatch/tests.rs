//! The dispatcher on a fake executor: what it starts when, what it records.

use crate::jobs::executor::Handle;
use std::time::Duration;

use super::*;
use crate::config::Config;
use crate::exec::{Ended, Status, Stop};
use crate::store::builds::Build;
use crate::store::jobs::JobOutcome;
use crate::trunk::import::Scanned;

/// An executor that starts nothing real and remembers what it was given;
/// a test ends its jobs by recording their ends as a supervisor would.
#[derive(Default)]
struct Fake {
    /// Jobs it cannot start.
    refuse: Vec<String>,
    started: Vec<Launch>,
    cancelled: Vec<Handle>,
}

impl Executor for Fake {
    fn name(&self) -> &str {
        "local"
    }

    fn slots(&self, max_parallel_jobs: usize) -> usize {
        max_parallel_jobs
    }

    fn start(&mut self, job: &Launch) -> std::result::Result<Handle, String> {
        if self.refuse.contains(&job.job_id) {
            return Err("the executor cannot be reached".into());
        }
        let log = &job.spec.log;
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::fs::write(log, format!("{} ran\n", job.job_id)).unwrap();
        self.started.push(job.clone());
        Ok(Handle {
            job_run: job.job_run,
            pid: None,
            id: None,
        })
    }

    fn cancel(&mut self, h: &Handle) {
        self.cancelled.push(h.clone());
    }
}

impl Fake {
    fn launched(&self, job_id: &str) -> &Launch {
        self.started
            .iter()
            .rev()
            .find(|l| l.job_id == job_id)
            .unwrap()
    }

    fn te(&self, job_id: &str) -> Option<String> {
        self.launched(job_id)
            .spec
            .env
            .iter()
            .find(|(k, _)| k == "TE_DATAFILE")
            .map(|(_, v)| v.clone())
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    cfg: Config,
    store: Store,
    build: Build,
    run_id: i64,
}

/// A config with `jobs` (YAML under `jobs:`) all required by one
/// promotion, a store holding one build, and a run.
fn setup(top: &str, jobs: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<&str> = jobs.iter().map(|(n, _)| *n).collect();
    let mut yaml = format!(
        "release: master\ndistro: centos7\ndatabase: state.sqlite\ntrunk: trunk\nimages: images\nlogs: logs\n{top}\njobs:\n"
    );
    for (name, extra) in jobs {
        yaml.push_str(&format!(
            "  {name}:\n    command: [jobs/{name}.sh]\n{extra}"
        ));
    }
    yaml.push_str(&format!(
        "promotions:\n  tripleo-ci-testing:\n    candidate_label: consistent\n    jobs: [{0}]\n    criteria: [{0}]\n",
        names.join(", ")
    ));
    let cfg = Config::parse(&dir.path().join("master.yaml"), &yaml).unwrap();
    let mut store = Store::in_memory().unwrap();
    let text = "commits:\n- commit_hash: abc123\n  distro_hash: def4567890\n  dt_build: '1616646700'\n  flags: '0'\n  project_name: p\n  status: SUCCESS\n  extended_hash: None\n";
    let row = crate::trunk::commit_yaml::parse(text).unwrap().remove(0);
    let repo_dir = row.repo_dir();
    let scanned = Scanned {
        repo_dir: repo_dir.clone(),
        row,
        packages: Vec::new(),
        consistent: true,
        warning: None,
    };
    store
        .record_import(&[], &[], 1_700_000_000, 1, |add| add(scanned))
        .unwrap();
    let build = store.build_by_repo_dir(&repo_dir).unwrap().unwrap();
    let run_id = store.start_run(1_700_000_000).unwrap();
    Setup {
        _dir: dir,
        cfg,
        store,
        build,
        run_id,
    }
}

impl Setup {
    /// Dispatches every job of the promotion on the build; what it did and
    /// the events.
    fn dispatch(&mut self, exec: &mut Fake) -> (Dispatched, Vec<Event>) {
        let p = self.cfg.promotion("tripleo-ci-testing").unwrap();
        let planned = crate::jobs::plan(
            &self.cfg,
            p,
            std::slice::from_ref(&self.build),
            |b, job| {
                let (passed, failed) = self.store.vote_tally(b.id, job)?;
                Ok(crate::jobs::Tally {
                    passed,
                    failed: failed as usize,
                })
            },
            &[],
        )
        .unwrap();
        let b = Batch {
            cfg: &self.cfg,
            promotion: "tripleo-ci-testing",
            run_id: self.run_id,
            user: "tester",
        };
        let mut events = Vec::new();
        let d = dispatch(&mut self.store, &b, planned, exec, &mut |e| events.push(e)).unwrap();
        (d, events)
    }

    /// Ends the last run of `job_id` as its supervisor would record it.
    fn end(&mut self, exec: &Fake, job_id: &str, e: Ended) {
        let f = exec.launched(job_id).finish.clone();
        record::finish(&mut self.store, &f, &e, 0.0).unwrap();
    }

    /// (job id, success, in progress, notes) of each job's vote on the
    /// build (DLRN's `consistent` aside).
    fn votes(&self) -> Vec<(String, bool, bool, String)> {
        let mut v: Vec<_> = self
            .store
            .votes_of_build(self.build.id, None)
            .unwrap()
            .into_iter()
            .filter(|v| v.job_id != crate::store::votes::CONSISTENT_JOB)
            .map(|v| (v.job_id, v.success, v.in_progress, v.notes))
            .collect();
        v.sort();
        v
    }
}

fn ended(events: &[Event]) -> Vec<(String, JobOutcome, String)> {
    let mut out: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Ended {
                job_id,
                outcome,
                notes,
                ..
            } => Some((job_id.clone(), *outcome, notes.clone())),
            Event::Started { .. } => None,
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn ids(jobs: &[crate::jobs::Planned]) -> Vec<&str> {
    jobs.iter().map(|p| p.instance.id.as_str()).collect()
}

#[test]
fn at_most_max_parallel_jobs_start_a_running_job_is_never_started_twice_and_each_ends_with_its_vote(
) {
    let jobs = [("a", ""), ("b", ""), ("c", ""), ("d", "")];
    let mut s = setup("max_parallel_jobs: 2", &jobs);
    let mut exec = Fake::default();
    let (d, events) = s.dispatch(&mut exec);
    assert_eq!(d.started.len(), 2);
    assert_eq!(ids(&d.queued), ["c", "d"]);
    assert_eq!(events.len(), 2, "two started");
    // The same plan again: the two running are not started twice, and no
    // slot is free.
    let (d, _) = s.dispatch(&mut exec);
    assert!(d.started.is_empty());
    assert_eq!(ids(&d.running), ["a", "b"]);
    assert_eq!(ids(&d.queued), ["c", "d"]);
    // One ends: one slot, taken by the next in order.
    s.end(&exec, "b", Ended::Finished(Status::Code(3)));
    let (d, _) = s.dispatch(&mut exec);
    assert_eq!(exec.started.last().unwrap().job_id, "c");
    assert_eq!(d.started.len(), 1);
    s.end(&exec, "a", Ended::Finished(Status::Code(0)));
    s.end(
        &exec,
        "c",
        Ended::TimedOut {
            after: Duration::from_secs(3600),
            stopped_with: Stop::Term,
            status: Some(Status::Signal(15)),
        },
    );
    s.dispatch(&mut exec);
    s.end(&exec, "d", Ended::Finished(Status::Signal(9)));
    let timed_out = "timed out after 1h: its process group was stopped with SIGTERM";
    // Each ran once: a job with a final vote is not planned again.
    let each = |id: &str| exec.started.iter().filter(|l| l.job_id == id).count();
    assert_eq!([each("a"), each("b"), each("c"), each("d")], [1; 4]);
    let v = s.votes();
    assert!(v.contains(&("a".to_string(), true, false, "passed in 0s".to_string())));
    assert!(v.contains(&("b".into(), false, false, "exit status 3".into())));
    assert!(v.contains(&("c".into(), false, false, timed_out.into())));
    assert!(v.contains(&("d".into(), false, false, "killed by signal 9".into())));
    // Each job's marker names its job run.
    let origin = s.store.origin().unwrap();
    for job in &exec.started {
        let mark = crate::jobs::marker(&origin, job.job_run);
        assert!(job
            .spec
            .env
            .contains(&(crate::jobs::MARKER_VAR.to_string(), mark)));
    }
}

#[test]
fn jobs_on_a_pool_of_one_environment_take_turns_and_give_it_back() {
    let env = "    testenv: ovb\n";
    let mut s = setup(
        "max_parallel_jobs: 3",
        &[("first", env), ("second", env), ("free", "")],
    );
    s.store
        .add_testenv("ovb-1", "ovb", "/etc/te/ovb-1.yaml", 1_700_000_000)
        .unwrap();
    let mut exec = Fake::default();
    let (d, events) = s.dispatch(&mut exec);
    // The job without an environment did not wait for the second one.
    let order: Vec<&str> = exec.started.iter().map(|l| l.job_id.as_str()).collect();
    assert_eq!(order, ["first", "free"]);
    assert_eq!(ids(&d.waiting), ["second"]);
    let leased: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Started {
                job_id, testenv, ..
            } => Some((job_id.as_str(), testenv.as_deref())),
            Event::Ended { .. } => None,
        })
        .collect();
    assert_eq!(leased, [("first", Some("ovb-1")), ("free", None)]);
    assert_eq!(exec.te("first").as_deref(), Some("/etc/te/ovb-1.yaml"));
    s.end(&exec, "first", Ended::Finished(Status::Code(0)));
    s.end(&exec, "free", Ended::Finished(Status::Code(0)));
    let (d, _) = s.dispatch(&mut exec);
    assert_eq!(d.started.len(), 1);
    assert_eq!(exec.te("second").as_deref(), Some("/etc/te/ovb-1.yaml"));
    s.end(&exec, "second", Ended::Finished(Status::Code(0)));
    let envs = s.store.testenvs().unwrap();
    assert!(envs[0].lease.is_none(), "the environment is still held");
    assert!(s.votes().iter().all(|v| v.1), "{:?}", s.votes());
}

#[test]
fn a_job_that_gets_no_environment_waits_and_unscheduled_is_an_error_run_not_a_vote() {
    let mut s = setup(
        "testenv_wait: 1s",
        &[("deploy", "    testenv: ovb\n"), ("check", "")],
    );
    s.store
        .add_testenv("ovb-1", "ovb", "/etc/te/ovb-1.yaml", 1_700_000_000)
        .unwrap();
    let holder = Holder {
        name: "someone else",
        pid: Some(std::process::id()),
        expires_at: None,
    };
    s.store
        .acquire_testenv("ovb", &holder, 1_700_000_000)
        .unwrap()
        .unwrap();
    let mut exec = Fake::default();
    let (d, _) = s.dispatch(&mut exec);
    let order: Vec<&str> = exec.started.iter().map(|l| l.job_id.as_str()).collect();
    assert_eq!(order, ["check"]);
    assert_eq!(ids(&d.waiting), ["deploy"]);
    let b = Batch {
        cfg: &s.cfg,
        promotion: "tripleo-ci-testing",
        run_id: s.run_id,
        user: "tester",
    };
    let e = record::unscheduled(&mut s.store, &b, &d.waiting[0]).unwrap();
    assert_eq!(
        ended(&[e]),
        [(
            "deploy".to_string(),
            JobOutcome::Error,
            "not run: no test environment of pool ovb came free within 1s".to_string()
        )]
    );
    let votes = s.votes();
    assert_eq!(votes.len(), 1, "only check's in-progress vote: {votes:?}");
    assert_eq!(votes[0].0, "check");
}

#[test]
fn a_job_the_executor_cannot_start_or_follow_is_an_error_and_frees_its_environment() {
    let env = "    testenv: ovb\n";
    let mut s = setup("", &[("refused", env), ("lost", env)]);
    s.store
        .add_testenv("ovb-1", "ovb", "/etc/te/ovb-1.yaml", 1_700_000_000)
        .unwrap();
    let mut exec = Fake {
        refuse: vec!["refused".into()],
        ..Fake::default()
    };
    let (d, events) = s.dispatch(&mut exec);
    assert_eq!(d.errors, 1);
    assert_eq!(
        ended(&events),
        [(
            "refused".to_string(),
            JobOutcome::Error,
            "the executor cannot be reached".to_string()
        )]
    );
    // The environment the refused job held is free: the next job has it.
    assert_eq!(exec.te("lost").as_deref(), Some("/etc/te/ovb-1.yaml"));
    s.end(&exec, "lost", Ended::Lost("the job was lost".into()));
    assert_eq!(s.votes(), []);
    assert!(s.store.testenvs().unwrap()[0].lease.is_none());
    assert!(exec.cancelled.is_empty());
}
