//! The dispatcher on a fake executor: what it starts when, what it records.

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::config::Config;
use crate::exec::{Ended, Status, Stop};
use crate::store::builds::Build;
use crate::store::jobs::JobOutcome;
use crate::trunk::import::Scanned;

/// An executor whose jobs end at their first poll, each as told (a pass
/// unless `ends` names it), and which remembers what it saw.
#[derive(Default)]
struct Fake {
    ends: HashMap<String, Ended>,
    /// Jobs it cannot start.
    refuse: Vec<String>,
    /// handle → (job id, its TE_DATAFILE).
    running: HashMap<String, (String, Option<String>)>,
    started: Vec<Launch>,
    most_at_once: usize,
    cancelled: Vec<Cancel>,
}

impl Executor for Fake {
    fn start(&mut self, job: &Launch) -> std::result::Result<Handle, String> {
        if self.refuse.contains(&job.job_id) {
            return Err("the executor cannot be reached".into());
        }
        let te = job
            .spec
            .env
            .iter()
            .find(|(k, _)| k == "TE_DATAFILE")
            .map(|(_, v)| v.clone());
        if let Some(te) = &te {
            assert!(
                self.running
                    .values()
                    .all(|(_, other)| other.as_ref() != Some(te)),
                "two jobs hold {te}"
            );
        }
        let log = &job.spec.log;
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::fs::write(log, format!("{} ran\n", job.job_id)).unwrap();
        let id = (self.started.len() + 1).to_string();
        self.running.insert(id.clone(), (job.job_id.clone(), te));
        self.most_at_once = self.most_at_once.max(self.running.len());
        self.started.push(job.clone());
        Ok(Handle { id, pid: None })
    }

    fn poll(&mut self, h: &Handle) -> Option<Ended> {
        let (job, _) = self.running.remove(&h.id)?;
        Some(
            self.ends
                .get(&job)
                .cloned()
                .unwrap_or(Ended::Finished(Status::Code(0))),
        )
    }

    fn cancel(&mut self, _: &Handle, why: Cancel) {
        self.cancelled.push(why);
    }

    /// Its jobs end at once; with none running it sleeps, as a real
    /// executor does.
    fn wait(&mut self, timeout: Duration) {
        if self.running.is_empty() {
            std::thread::sleep(timeout);
        }
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
        .record_import(&[], &[], 1_700_000_000, |add| add(scanned))
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
    /// Dispatches every job of the promotion on the build; the events.
    fn dispatch(&mut self, exec: &mut Fake) -> Vec<Event> {
        let p = self.cfg.promotion("tripleo-ci-testing").unwrap();
        let planned = crate::jobs::plan(
            &self.cfg,
            p,
            std::slice::from_ref(&self.build),
            |_, _| Ok(false),
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
        dispatch(&mut self.store, &b, planned, exec, &mut |e| events.push(e)).unwrap();
        events
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

#[test]
fn at_most_max_parallel_jobs_run_at_once_and_each_ends_with_its_vote() {
    let jobs = [("a", ""), ("b", ""), ("c", ""), ("d", ""), ("e", "")];
    let mut s = setup("max_parallel_jobs: 2", &jobs);
    let mut exec = Fake::default();
    exec.ends
        .insert("b".into(), Ended::Finished(Status::Code(3)));
    exec.ends
        .insert("c".into(), Ended::Finished(Status::Signal(9)));
    exec.ends.insert(
        "d".into(),
        Ended::TimedOut {
            after: Duration::from_secs(3600),
            stopped_with: Stop::Term,
            status: Some(Status::Signal(15)),
        },
    );
    let events = s.dispatch(&mut exec);
    assert_eq!(exec.started.len(), 5);
    assert_eq!(exec.most_at_once, 2);
    let timed_out = "timed out after 1h: its process group was stopped with SIGTERM";
    assert_eq!(
        s.votes(),
        [
            ("a".to_string(), true, false, "passed in 0s".to_string()),
            ("b".into(), false, false, "exit status 3".into()),
            ("c".into(), false, false, "killed by signal 9".into()),
            ("d".into(), false, false, timed_out.into()),
            ("e".into(), true, false, "passed in 0s".into()),
        ]
    );
    let outcomes: Vec<_> = ended(&events).into_iter().map(|e| e.1).collect();
    use JobOutcome::*;
    assert_eq!(outcomes, [Passed, Failed, Failed, TimedOut, Passed]);
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
    let events = s.dispatch(&mut exec);
    // The job without an environment did not wait for the second one.
    let order: Vec<&str> = exec.started.iter().map(|l| l.job_id.as_str()).collect();
    assert_eq!(order, ["first", "free", "second"]);
    for l in exec.started.iter().filter(|l| l.job_id != "free") {
        let te = ("TE_DATAFILE".to_string(), "/etc/te/ovb-1.yaml".to_string());
        assert!(l.spec.env.contains(&te), "{}", l.job_id);
    }
    let leased: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Started {
                job_id, testenv, ..
            } => Some((job_id.as_str(), testenv.as_deref())),
            Event::Ended { .. } => None,
        })
        .collect();
    assert_eq!(
        leased,
        [
            ("first", Some("ovb-1")),
            ("free", None),
            ("second", Some("ovb-1"))
        ]
    );
    let envs = s.store.testenvs().unwrap();
    assert!(envs[0].lease.is_none(), "the environment is still held");
    assert!(s.votes().iter().all(|v| v.1), "{:?}", s.votes());
}

#[test]
fn a_job_that_gets_no_environment_in_time_is_an_error_run_not_a_vote() {
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
    let events = s.dispatch(&mut exec);
    let order: Vec<&str> = exec.started.iter().map(|l| l.job_id.as_str()).collect();
    assert_eq!(order, ["check"]);
    assert_eq!(
        ended(&events),
        [
            (
                "check".to_string(),
                JobOutcome::Passed,
                "passed in 0s".to_string()
            ),
            (
                "deploy".into(),
                JobOutcome::Error,
                "not run: no test environment of pool ovb came free within 1s".into()
            ),
        ]
    );
    assert_eq!(s.votes().len(), 1, "{:?}", s.votes());
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
    exec.ends
        .insert("lost".into(), Ended::Lost("the job was lost".into()));
    let events = s.dispatch(&mut exec);
    assert_eq!(
        ended(&events),
        [
            (
                "lost".to_string(),
                JobOutcome::Error,
                "the job was lost".to_string()
            ),
            (
                "refused".into(),
                JobOutcome::Error,
                "the executor cannot be reached".into()
            ),
        ]
    );
    assert_eq!(s.votes(), []);
    assert!(s.store.testenvs().unwrap()[0].lease.is_none());
    assert!(exec.cancelled.is_empty());
}
