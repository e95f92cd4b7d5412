//! Crash tests: `run` and `publish` killed with SIGKILL at random moments
//! and at each recorded step boundary (`PROMOTER_FAULT`), while a CI job
//! elsewhere reports a vote. After every kill: each label points at a
//! complete build, the published trees pass `verify`, the database passes
//! `integrity_check`, nothing recorded before is lost; and the next `run`
//! (or `publish`) converges to exactly the state of an uninterrupted one.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::util::*;

const LABELS: [&str; 3] = [
    "tripleo-ci-testing",
    "current-tripleo",
    "current-tripleo-rdo",
];
const DESTS: [&str; 2] = ["buildlogs/tested", "buildlogs/images"];

/// A chain of three promotions with a hook, a job the runner runs, a vote
/// reported from elsewhere, and two publish targets.
const CONFIG: &str = "release: master
trunk: trunk
images: images
jobs:
  check:
    command: [./check.sh]
    timeout: 1m
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
    hooks: [[./hook.sh]]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    jobs: [check]
    criteria: [check]
    publish: [images]
  current-tripleo-rdo:
    candidate_label: current-tripleo
    criteria: [job-b]
    publish: [tested-repo]
publish:
  tested-repo:
    source: trunk
    dest: buildlogs/tested
  images:
    source: images
    dest: buildlogs/images
    sidecars: [md5]
";

/// Size of the extra image that makes publishing take long enough to be
/// killed in the middle.
const BIG_IMAGE: usize = 3 << 20;

/// The pipeline before the run under test: every label and target shows
/// the second newest consistent build; the newest is the candidate, with a
/// large image. Built once, copied for each round.
struct Template {
    ws: Workspace,
    /// (commit, distro, full hash) of the candidate.
    candidate: (String, String, String),
}

fn template() -> Template {
    let ws = Workspace::sample();
    ws.write_config(CONFIG);
    executable(&ws.path().join("hook.sh"), "#!/bin/sh\necho hook ran\n");
    executable(&ws.path().join("check.sh"), "#!/bin/sh\nsleep 0.1\n");
    ws.run(&["import"]).ok();
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let build = |n: i64| -> (String, String) {
        c.query_row(
            &format!("SELECT repo_dir, full_hash FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET {n}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (old_dir, _) = build(1);
    let (new_dir, new_full) = build(0);
    let (oc, od) = hashes_of(&old_dir);
    for label in LABELS {
        ws.repo_promote(&oc, &od, label).ok();
    }
    for target in ["tested-repo", "images"] {
        ws.run(&["publish", "--target", target]).ok();
    }
    let big: Vec<u8> = (0..BIG_IMAGE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(ws.images().join(&new_full).join("undercloud.qcow2"), big).unwrap();
    let (nc, nd) = hashes_of(&new_dir);
    Template {
        ws,
        candidate: (nc, nd, new_full),
    }
}

impl Template {
    fn copy(&self) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(self.ws.path(), dir.path());
        Workspace { dir }
    }
}

/// Reports the vote the last promotion waits for, as CI elsewhere would.
fn report_job_b(ws: &Workspace, t: &Template) -> Run {
    let (c, d, _) = &t.candidate;
    ws.run_db(&[
        "report-result",
        "--job-id",
        "job-b",
        "--commit-hash",
        c,
        "--distro-hash",
        d,
        "--info-url",
        "https://ci.example.org/job-b/1",
        "--timestamp",
        "1700000000",
        "--success",
        "true",
    ])
}

fn spawn(ws: &Workspace, args: &[&str], fault: Option<&str>) -> std::process::Child {
    let mut c = Command::new(BIN);
    c.current_dir(ws.path())
        .arg("-q")
        .arg("-c")
        .arg(ws.config())
        .args(args)
        .env_remove("PROMOTER_CONFIG")
        .env("USER", "tester")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(f) = fault {
        c.env("PROMOTER_FAULT", f);
    }
    c.spawn().unwrap()
}

/// Every invariant that must hold at any moment, killed or not.
#[track_caller]
fn assert_sound(ws: &Workspace, before: &Recorded, what: &str) -> Recorded {
    assert_database_sound(&ws.db());
    assert_labels_complete(ws, &LABELS);
    assert_published_sound(ws, &DESTS);
    let now = Recorded::read(&ws.db());
    now.assert_keeps(before, what);
    now
}

/// How a round's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Killed,
    Finished,
}

fn ending(status: std::process::ExitStatus, what: &str) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (_, Some(9)) => Ending::Killed,
        (Some(0), _) => Ending::Finished,
        other => panic!("{what}: ended with {other:?}"),
    }
}

/// One round of `run`: killed after `delay` (or by `fault`), with the
/// job-b vote reported after `vote_delay` from another process (or before
/// the run); then the next run, and the result compared with `reference`.
fn run_round(
    t: &Template,
    reference: &Converged,
    what: &str,
    delay: Option<Duration>,
    vote_delay: Option<Duration>,
    fault: Option<&str>,
) -> Ending {
    let ws = t.copy();
    if vote_delay.is_none() {
        report_job_b(&ws, t).ok();
    }
    let before = Recorded::read(&ws.db());
    let mut child = spawn(&ws, &["run", "--wait"], fault);
    let (ending, vote) = std::thread::scope(|s| {
        let voter = vote_delay.map(|d| {
            let ws = &ws;
            s.spawn(move || {
                std::thread::sleep(d);
                report_job_b(ws, t)
            })
        });
        if let Some(d) = delay {
            std::thread::sleep(d);
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        (ending(status, what), voter.map(|v| v.join().unwrap()))
    });
    if fault.is_some() {
        assert_eq!(
            ending,
            Ending::Killed,
            "{what}: the fault point was reached"
        );
    }
    let after_kill = assert_sound(&ws, &before, &format!("{what}, after the kill"));
    if let Some(vote) = vote {
        vote.code(0);
    }
    assert!(
        Recorded::read(&ws.db())
            .final_votes
            .values()
            .any(|v| v.contains("|job-b|1|")),
        "{what}: the vote reported during the run landed"
    );
    // The jobs the killed run started go on under their supervisors: the
    // next run decides once they ended (or finds them interrupted).
    ws.wait_for_supervisors();
    let next = ws.run(&["run", "--wait"]);
    assert_eq!(next.code, 0, "{what}: the next run\n{}", next.stderr);
    assert!(!next.stderr.contains("panicked"), "{}", next.stderr);
    assert_sound(&ws, &after_kill, &format!("{what}, after the next run"));
    let got = Converged::read(&ws, &LABELS, &DESTS);
    assert_eq!(
        &got, reference,
        "{what}: the next run did not converge to the uninterrupted state"
    );
    ending
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "the crash hook is built only with --features fault, as scripts/test.sh builds it"
)]
fn run_killed_at_each_step_boundary_and_at_random_moments_converges() {
    let _busy = busy();
    let t = template();
    // The uninterrupted run, and how long it takes.
    let reference_ws = t.copy();
    report_job_b(&reference_ws, &t).ok();
    let started = Instant::now();
    reference_ws.run(&["run", "--wait"]).ok();
    let took = started.elapsed();
    reference_ws.run(&["run", "--wait"]).ok();
    let reference = Converged::read(&reference_ws, &LABELS, &DESTS);
    assert_eq!(reference.history.len(), 3 + 3, "{:?}", reference.history);
    assert!(reference.leftovers.is_empty(), "{:?}", reference.leftovers);
    for d in DESTS {
        assert!(reference.published[d].is_some(), "{d} is published");
    }

    let mut rng = Rng::new(seed("crash::run"));
    let mut killed = 0;
    // Each recorded step of each of the three promotions, and both
    // boundaries of each of the two publishes.
    let mut faults = Vec::new();
    for n in 1..=3 {
        for step in ["hooks", "images", "trunk", "done"] {
            faults.push(format!("after-{step}@{n}"));
        }
    }
    for n in 1..=2 {
        for point in ["publish-version", "publish-switch"] {
            faults.push(format!("after-{point}@{n}"));
        }
    }
    for f in &faults {
        // The vote is in before the run, so that every point is reached.
        run_round(&t, &reference, f, None, None, Some(f));
        killed += 1;
    }
    let rounds = knob("PROMOTER_SOAK_ROUNDS", 24);
    let mut finished = 0;
    for i in 0..rounds {
        let limit = took.as_millis() as u64 * 11 / 10 + 1;
        let delay = Duration::from_millis(rng.below(limit));
        let vote = Duration::from_millis(rng.below(limit));
        let what = format!("random kill {i} after {delay:?} (vote after {vote:?})");
        match run_round(&t, &reference, &what, Some(delay), Some(vote), None) {
            Ending::Killed => killed += 1,
            Ending::Finished => finished += 1,
        }
    }
    eprintln!(
        "crash::run: {killed} kills ({} at step boundaries, {} at random), {finished} runs finished before their kill; uninterrupted run took {took:?}",
        faults.len(),
        rounds - finished
    );
    assert!(
        rounds == 0 || finished < rounds,
        "no random kill landed during a run"
    );
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "the crash hook is built only with --features fault, as scripts/test.sh builds it"
)]
fn publish_killed_at_its_boundaries_and_at_random_moments_converges() {
    let _busy = busy();
    let t = template();
    let full = t.candidate.2.clone();
    let args = ["publish", "--target", "images", "--hash", full.as_str()];
    let reference_ws = t.copy();
    let started = Instant::now();
    reference_ws.run(&args).ok();
    let took = started.elapsed();
    let reference = Converged::read(&reference_ws, &LABELS, &DESTS);
    let publications = |ws: &Workspace| -> i64 {
        ws.sql("SELECT count(*) FROM publications WHERE target = 'images'")
    };
    let expected_publications = publications(&reference_ws);

    let mut rng = Rng::new(seed("crash::publish"));
    let mut rounds: Vec<(String, Option<&str>)> = vec![
        (
            "after-publish-version".into(),
            Some("after-publish-version"),
        ),
        ("after-publish-switch".into(), Some("after-publish-switch")),
    ];
    let random = knob("PROMOTER_SOAK_ROUNDS", 16);
    for i in 0..random {
        rounds.push((format!("random kill {i}"), None));
    }
    let (mut killed, mut finished) = (0, 0);
    for (what, fault) in rounds {
        let ws = t.copy();
        let before = Recorded::read(&ws.db());
        let old_manifest =
            std::fs::read_to_string(ws.path().join("buildlogs/images/SHA256SUMS")).unwrap();
        let mut child = spawn(&ws, &args, fault);
        let delay = Duration::from_millis(rng.below(took.as_millis() as u64 * 11 / 10 + 1));
        if fault.is_none() {
            std::thread::sleep(delay);
            let _ = child.kill();
        }
        let what = format!("{what} after {delay:?}");
        match ending(child.wait().unwrap(), &what) {
            Ending::Killed => killed += 1,
            Ending::Finished => finished += 1,
        }
        let after_kill = assert_sound(&ws, &before, &what);
        // dest shows exactly the old build or exactly the new one.
        let shown = std::fs::read_to_string(ws.path().join("buildlogs/images/SHA256SUMS")).unwrap();
        assert!(
            shown == old_manifest
                || Some(&shown) == reference.published["buildlogs/images"].as_ref(),
            "{what}: dest shows neither build"
        );
        ws.run(&args).ok();
        assert_sound(&ws, &after_kill, &what);
        let got = Converged::read(&ws, &LABELS, &DESTS);
        assert_eq!(got, reference, "{what}: did not converge");
        // Once per publish that got as far as recording itself.
        let n = publications(&ws);
        assert!(
            n == expected_publications || n == expected_publications + 1,
            "{what}: {n} publications"
        );
        assert_eq!(
            ws.sql::<String>("SELECT full_hash FROM publications WHERE target = 'images' ORDER BY id DESC LIMIT 1"),
            full,
            "{what}"
        );
    }
    eprintln!("crash::publish: {killed} kills, {finished} publishes finished first; an uninterrupted publish took {took:?}");
    assert!(killed >= 2);
}
