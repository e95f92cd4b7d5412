//! Regression tests of the defects found when the pipeline was attacked:
//! each is named after what it guards.

use std::path::Path;

use crate::jobs::{alive, with_jobs};
use crate::util::*;

const HEADER: &str = "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Extended Sha,Pkg NVR\n";

/// A versions.csv row of package `p` with `status`.
fn row(p: &str, status: &str) -> String {
    format!("{p},https://g/{p},abc,https://d/{p},def,{status},1444300000,None,None,{p}-1.0-1.el7\n")
}

/// Writes a new hash directory `<n>` (DLRN id `id`, built at `dt`) into
/// the trunk with a commit.yaml and, when given, a versions.csv. Returns
/// (repo_dir, commit hash, distro hash).
fn add_build(
    ws: &Workspace,
    n: usize,
    id: i64,
    dt: i64,
    versions: Option<&str>,
) -> (String, String, String) {
    let ch = format!("c{n:03}{}", "1".repeat(36));
    let dh = "d15d15d15d15d15d15d15d15d15d15d15d15d15d".to_string();
    let rel = format!("{}/{}/{ch}_{}", &ch[..2], &ch[2..4], &dh[..8]);
    let dir = ws.trunk().join(&rel);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("commit.yaml"),
        format!(
            "commits:\n- commit_hash: {ch}\n  distro_hash: {dh}\n  dt_build: '{dt}'\n  id: '{id}'\n  project_name: p{n}\n  status: SUCCESS\n  flags: '0'\n"
        ),
    )
    .unwrap();
    if let Some(v) = versions {
        std::fs::write(dir.join("versions.csv"), v).unwrap();
    }
    (rel, ch, dh)
}

/// Points the trunk link `name` at `rel`, as the builder (or a person) does.
fn point(ws: &Workspace, name: &str, rel: &str) {
    let link = ws.trunk().join(name);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(rel, &link).unwrap();
}

fn consistent_of(ws: &Workspace, rel: &str) -> i64 {
    ws.sql(&format!(
        "SELECT consistent FROM builds WHERE repo_dir = '{rel}'"
    ))
}

#[test]
fn regression_a_hash_directory_still_being_written_is_read_again_and_consistency_follows_the_builders_link(
) {
    let ws = one_phase("", "");
    ws.run(&["import"]).ok();
    let before = ws.builder_link("consistent");
    // A mirror has copied commit.yaml, not yet versions.csv.
    let (n1, _, _) = add_build(&ws, 1, 9001, 1444400000, None);
    point(&ws, "current", &n1);
    let r = ws.run(&["import"]);
    r.ok();
    assert!(
        r.stderr
            .contains(&format!("{n1}/versions.csv: it is missing")),
        "the incomplete build is named:\n{}",
        r.stderr
    );
    let known: i64 = ws.sql(&format!(
        "SELECT count(*) FROM builds WHERE repo_dir = '{n1}'"
    ));
    assert_eq!(
        known, 0,
        "a build without its package list is not recorded yet"
    );
    // Half a line: still not read.
    let full = format!(
        "{HEADER}{}{}{}",
        row("a", "SUCCESS"),
        row("b", "SUCCESS"),
        row("c", "FAILED")
    );
    let cut_mid_line = &full[..HEADER.len() + 20];
    std::fs::write(ws.trunk().join(&n1).join("versions.csv"), cut_mid_line).unwrap();
    ws.run(&["import"]).ok();
    let known: i64 = ws.sql(&format!(
        "SELECT count(*) FROM builds WHERE repo_dir = '{n1}'"
    ));
    assert_eq!(known, 0, "a package list cut in a line is not read");
    // Cut at a row boundary, the rows so far all SUCCESS: recorded, but
    // DLRN's consistent link has not reached it, so it is not consistent.
    let cut_at_row = format!("{HEADER}{}{}", row("a", "SUCCESS"), row("b", "SUCCESS"));
    std::fs::write(ws.trunk().join(&n1).join("versions.csv"), &cut_at_row).unwrap();
    ws.run(&["import"]).ok();
    assert_eq!(consistent_of(&ws, &n1), 0);
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        before,
        "only what the builder's consistent link has reached is promoted"
    );
    // The copy completes (a FAILED row), DLRN builds a consistent n2 and
    // moves its link past n1: n1 is read again and is not consistent.
    std::fs::write(ws.trunk().join(&n1).join("versions.csv"), &full).unwrap();
    let ok = format!("{HEADER}{}{}", row("a", "SUCCESS"), row("b", "SUCCESS"));
    let (n2, _, _) = add_build(&ws, 2, 9002, 1444400100, Some(&ok));
    point(&ws, "current", &n2);
    point(&ws, "consistent", &n2);
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(
        consistent_of(&ws, &n1),
        0,
        "n1 was read again once the link passed it"
    );
    assert_eq!(consistent_of(&ws, &n2), 1);
    let n1_consistent_votes: i64 = ws.sql(&format!(
        "SELECT count(*) FROM votes v JOIN builds b ON b.id = v.build_id WHERE b.repo_dir = '{n1}' AND v.job_id = 'consistent'"
    ));
    assert_eq!(n1_consistent_votes, 0);
    assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), n2);
}

#[test]
fn regression_a_label_ahead_of_the_database_on_disk_never_moves_back() {
    let ws = one_phase("", "");
    let cfg = std::fs::read_to_string(ws.config()).unwrap();
    ws.write_config(&cfg.replace("criteria: [consistent]", "criteria: [job-x]"));
    ws.run(&["import"]).ok();
    let newest: String =
        ws.sql("SELECT repo_dir FROM builds WHERE consistent ORDER BY seq DESC LIMIT 1");
    let older: String =
        ws.sql("SELECT repo_dir FROM builds WHERE consistent ORDER BY seq DESC LIMIT 1 OFFSET 1");
    // Someone points the label at the newest build by hand; CI reports a
    // success for an older one.
    point(&ws, "tripleo-ci-testing", &newest);
    let (c, d) = hashes_of(&older);
    ws.vote("job-x", &c, &d, true);
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        newest,
        "the label stays on the build it points at on disk"
    );
    let rows: i64 = ws.sql("SELECT count(*) FROM promotions");
    assert_eq!(rows, 0);
}

#[test]
fn regression_one_build_dated_in_the_far_future_does_not_hide_the_builds_after_it() {
    let ws = one_phase("", "");
    ws.run(&["import"]).ok();
    let ok = format!("{HEADER}{}", row("a", "SUCCESS"));
    // 2100-01-01: a builder's clock error.
    let (future, _, _) = add_build(&ws, 1, 9001, 4_102_444_800, Some(&ok));
    point(&ws, "current", &future);
    point(&ws, "consistent", &future);
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains(" WARN ") && l.contains(&future) && l.contains("in the future")),
        "the absurd time is warned about:\n{}",
        r.stderr
    );
    assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), future);
    // The next build, at a sane time, comes after it in DLRN's order.
    let (next, _, _) = add_build(&ws, 2, 9002, 1_444_400_000, Some(&ok));
    point(&ws, "current", &next);
    point(&ws, "consistent", &next);
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        next,
        "the build after the one dated 2100 is promoted"
    );
    let r = ws.run(&["why"]);
    r.ok();
    assert!(!r.stdout.contains(&future), "{}", r.stdout);
}

/// The sample trunk with one promotion of `consistent` builds to
/// `tripleo-ci-testing` whose only criterion is DLRN's consistent vote, and
/// `extra` config.
fn one_phase(extra: &str, promotion_extra: &str) -> Workspace {
    let ws = Workspace::sample();
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: images
logs: logs
{extra}
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
{promotion_extra}"
    ));
    ws
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "the crash hook is built only with --features fault, as scripts/test.sh builds it"
)]
fn regression_a_resumed_promotion_checks_that_its_build_still_exists() {
    let ws = one_phase("", "");
    let r = ws.run_env(&["run", "--wait"], &[("PROMOTER_FAULT", "after-hooks")]);
    assert_ne!(r.code, 0, "killed after its hooks");
    let dir = ws.builder_link("consistent");
    assert_eq!(ws.link("trunk/tripleo-ci-testing"), None);
    // The build is purged meanwhile.
    std::fs::remove_dir_all(ws.trunk().join(&dir)).unwrap();
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing"),
        None,
        "never a link to a gone directory"
    );
    assert_eq!(ws.link("images/tripleo-ci-testing"), None);
    assert!(r.stderr.contains("is missing"), "{}", r.stderr);
    let rows: i64 = ws.sql("SELECT count(*) FROM promotions");
    assert_eq!(rows, 0);
}

#[test]
fn regression_concurrent_repo_promotes_keep_one_history_chain_and_the_links_agree() {
    let ws = one_phase("", "");
    ws.run(&["import"]).ok();
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let builds: Vec<(String, String)> = c
        .prepare("SELECT commit_hash, distro_hash FROM builds WHERE consistent ORDER BY seq DESC LIMIT 3")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(c);
    std::thread::scope(|s| {
        for t in 0..3 {
            let ws = &ws;
            let builds = &builds;
            s.spawn(move || {
                for i in 0..8 {
                    let (c, d) = &builds[(t + i) % builds.len()];
                    let r = ws.repo_promote(c, d, "by-hand");
                    assert_eq!(r.code, 0, "{}", r.stderr);
                }
            });
        }
    });
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let rows: Vec<(i64, Option<i64>)> = c
        .prepare(
            "SELECT build_id, previous_build_id FROM promotions WHERE name = 'by-hand' ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(rows.len() > 3, "{rows:?}");
    for w in rows.windows(2) {
        assert_eq!(
            w[1].1,
            Some(w[0].0),
            "each row's previous build is the build of the row before: {rows:?}"
        );
    }
    let last: String = ws.sql(
        "SELECT b.repo_dir FROM promotions p JOIN builds b ON b.id = p.build_id WHERE p.name = 'by-hand' ORDER BY p.id DESC LIMIT 1",
    );
    let prev: String = ws.sql(
        "SELECT b.repo_dir FROM promotions p JOIN builds b ON b.id = p.previous_build_id WHERE p.name = 'by-hand' ORDER BY p.id DESC LIMIT 1",
    );
    assert_eq!(ws.link("trunk/by-hand").unwrap(), last);
    assert_eq!(ws.link("trunk/previous-by-hand").unwrap(), prev);
    let full = |rel: &str| {
        let name = rel.rsplit('/').next().unwrap();
        name.splitn(3, '_').take(2).collect::<Vec<_>>().join("_")
    };
    assert_eq!(ws.link("images/by-hand").unwrap(), full(&last));
    assert_eq!(ws.link("images/previous-by-hand").unwrap(), full(&prev));
}

#[test]
fn regression_a_repo_promote_that_fails_on_the_trunk_side_is_recorded_and_completed_later() {
    let ws = one_phase("", "");
    ws.run(&["import"]).ok();
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let two: Vec<(String, String, String)> = c
        .prepare("SELECT repo_dir, commit_hash, distro_hash FROM builds WHERE consistent ORDER BY seq DESC LIMIT 2")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(c);
    let (old_dir, oc, od) = &two[1];
    let (new_dir, nc, nd) = &two[0];
    ws.repo_promote(oc, od, "by-hand").ok();
    // Something in the way of the trunk's previous- link: the move fails there.
    let blocker = ws.trunk().join("previous-by-hand");
    std::fs::remove_file(&blocker).ok();
    std::fs::create_dir_all(blocker.join("x")).unwrap();
    let r = ws.repo_promote(nc, nd, "by-hand");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let step: String = ws.sql("SELECT step FROM attempts ORDER BY id DESC LIMIT 1");
    assert_eq!(step, "images", "the step reached is recorded");
    assert_eq!(ws.link("trunk/by-hand").unwrap(), *old_dir);
    // Out of the way again: the next command completes it.
    std::fs::remove_dir_all(&blocker).unwrap();
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.link("trunk/by-hand").unwrap(), *new_dir);
    assert_eq!(ws.link("trunk/previous-by-hand").unwrap(), *old_dir);
    let kinds: String = ws.sql("SELECT group_concat(kind) FROM promotions WHERE name = 'by-hand'");
    assert_eq!(kinds, "manual,manual");
}

#[test]
fn regression_a_hung_hook_is_stopped_at_hook_timeout_and_releases_the_run() {
    let ws = one_phase(
        "hook_timeout: 1s\nkill_grace: 1s\n",
        "    hooks:\n      - [./push.sh]\n",
    );
    ws.script("push.sh", "exec sleep 600");
    let t0 = std::time::Instant::now();
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(t0.elapsed() < std::time::Duration::from_secs(60));
    assert!(
        r.stderr
            .contains("hook ./push.sh failed (timed out after 1s"),
        "{}",
        r.stderr
    );
    assert_eq!(ws.link("trunk/tripleo-ci-testing"), None);
    // The lock is free: the next run runs.
    assert_ne!(ws.run(&["run", "--wait"]).code, 75);
}

#[test]
fn regression_a_label_too_long_for_its_links_is_a_config_error() {
    let long = "l".repeat(240);
    let ws = one_phase(
        "",
        &format!(
            "  {long}:\n    candidate_label: tripleo-ci-testing\n    criteria: [consistent]\n"
        ),
    );
    let r = ws.run(&["config", "check"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("must fit in a 255-byte file name"),
        "{}",
        r.stderr
    );
    let fits = "l".repeat(230);
    let ws = one_phase(
        "",
        &format!(
            "  {fits}:\n    candidate_label: tripleo-ci-testing\n    criteria: [consistent]\n"
        ),
    );
    ws.run(&["run", "--wait"]).ok();
    ws.run(&[
        "rollback",
        "--promotion",
        &fits,
        "--to",
        "0a052acf9d26c59202a06bbbe69d383d431ff07e_cb45577d",
        "--reason",
        "twice",
    ])
    .ok();
    assert!(ws.link(&format!("trunk/previous-{fits}")).is_some());
}

#[test]
fn regression_a_promotion_that_cannot_proceed_is_reported_and_the_others_go_on() {
    let ws = one_phase(
        "",
        "  broken:\n    candidate_label: consistent\n    criteria: [consistent]\n",
    );
    // Someone points one label outside the trunk.
    std::os::unix::fs::symlink("/etc", ws.trunk().join("broken")).unwrap();
    let r = ws.run(&["run", "--wait"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("broken: could not proceed") && l.contains("outside the trunk")),
        "{}",
        r.stderr
    );
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        ws.builder_link("consistent")
    );
    // And again: the other promotion is never held up.
    let r = ws.run(&["run", "--wait"]);
    assert_eq!(r.code, 1);
}

#[test]
fn regression_a_job_that_cannot_start_for_the_promoters_reasons_casts_no_vote() {
    let ws = with_jobs("  check:\n    command: [./check.sh]\n", "check", "");
    ws.script("check.sh", "true");
    // The logs are not a directory: no job can start.
    std::fs::write(ws.path().join("logs"), "").unwrap();
    let r = ws.run(&["run", "--wait"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let votes: i64 = ws.sql("SELECT count(*) FROM votes WHERE job_id = 'check'");
    assert_eq!(votes, 0, "an error of this side is not the build's vote");
    let outcome: String = ws.sql("SELECT outcome FROM job_runs");
    assert_eq!(outcome, "error");
    let why = ws.run(&["why"]);
    assert!(why.stdout.contains("error"), "{}", why.stdout);
    // Space is back: the next run tests the newest build and promotes it.
    std::fs::remove_file(ws.path().join("logs")).unwrap();
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        ws.builder_link("consistent")
    );
}

/// Waits, bounded, until process `pid` is gone; whether it went.
fn gone(pid: i32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

/// Reads a pid a job wrote, waiting (bounded) for the file to be written.
fn pid_in(path: &Path) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::yield_now();
    }
}

/// A workspace whose one job, holding an environment of pool `p`, runs `body`.
fn job_on_testenv(body: &str) -> Workspace {
    let ws = with_jobs(
        "  deploy:\n    command: [./deploy.sh]\n    testenv: p\n",
        "deploy",
        "kill_grace: 2s",
    );
    std::fs::write(ws.path().join("env.json"), "{\"host\": \"h\"}").unwrap();
    ws.run(&["testenv", "add", "e1", "--pool", "p", "--data", "env.json"])
        .ok();
    ws.script("deploy.sh", body);
    ws
}

fn spawn_run(ws: &Workspace) -> std::process::Child {
    std::process::Command::new(BIN)
        .current_dir(ws.path())
        .args(["-q", "-c"])
        .arg(ws.config())
        .args(["run", "--wait"])
        .env_remove("PROMOTER_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn regression_a_job_process_that_left_its_group_does_not_outlive_the_job() {
    let ws = job_on_testenv(
        "pidfile=$PROMOTER_LOG_DIR/../../escaped.pid\nsetsid sh -c \"echo \\$\\$ > $pidfile; exec sleep 300\" &\nwhile [ ! -s $pidfile ]; do :; done",
    );
    ws.run(&["run", "--wait"]).ok();
    let pid = pid_in(&ws.path().join("logs/escaped.pid"));
    assert!(
        gone(pid),
        "the process that left with setsid is killed when the job ends"
    );
}

/// A job on an environment of pool `p` that writes its pid, says it runs,
/// and ends when the test writes `go` (a fifo it reads): the test decides
/// when it ends, without sleeping.
fn held_job() -> (Workspace, std::path::PathBuf) {
    let ws = job_on_testenv(
        "echo $$ > $PROMOTER_LOG_DIR/../../job.pid\nread line < $PROMOTER_LOG_DIR/../../go\necho released",
    );
    std::fs::create_dir_all(ws.path().join("logs")).unwrap();
    let go = ws.path().join("logs/go");
    let c = std::ffi::CString::new(go.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path this test owns.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    (ws, go)
}

/// Lets the held job end.
fn release(go: &Path) {
    std::fs::write(go, "go\n").unwrap();
}

#[test]
fn a_double_forked_setsid_grandchild_without_the_marker_that_ignores_sigterm_dies_with_its_job() {
    // The grandchild leaves the job's group and session, drops every
    // variable (the job's marker with them) and ignores SIGTERM: only the
    // supervisor, its subreaper, can find it.
    let ws = job_on_testenv(
        "pidfile=$PROMOTER_LOG_DIR/../../escaped.pid\n( setsid env -i PIDFILE=\"$pidfile\" /bin/sh -c 'trap \"\" TERM; echo $$ > \"$PIDFILE\"; exec sleep 300' & )\nwhile [ ! -s \"$pidfile\" ]; do :; done",
    );
    ws.run(&["run", "--wait"]).ok();
    let pid = pid_in(&ws.path().join("logs/escaped.pid"));
    assert!(gone(pid), "the escaped grandchild outlived its job");
    assert_eq!(ws.sql::<String>("SELECT outcome FROM job_runs"), "passed");
    ws.assert_leases_never_overlap();
}

#[test]
fn a_job_whose_build_will_not_be_promoted_is_stopped_by_the_next_run() {
    let (ws, _go) = held_job();
    ws.run(&["run"]).ok();
    let job = pid_in(&ws.path().join("logs/job.pid"));
    // The label moves to the job's build by hand: nothing newer is a
    // candidate, so the job tests a build that will not be promoted here.
    ws.promote_running_jobs_build("tripleo-ci-testing");
    let r = ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr.contains("stopping deploy on") && r.stderr.contains("superseded"),
        "{}",
        r.stderr
    );
    ws.wait_for_jobs();
    assert!(gone(job));
    assert_eq!(
        ws.sql::<String>("SELECT outcome FROM job_runs"),
        "interrupted"
    );
    let r = ws.run(&["testenv", "list"]);
    assert!(r.stdout.contains("(free)"), "{}", r.stdout);
}

#[test]
fn regression_a_run_stopped_by_sigterm_leaves_its_job_running_and_its_vote_lands() {
    let (ws, go) = held_job();
    let mut runner = spawn_run(&ws);
    let job = pid_in(&ws.path().join("logs/job.pid"));
    // SAFETY: a signal to the runner this test started.
    unsafe { libc::kill(runner.id() as i32, libc::SIGTERM) };
    let status = runner.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    assert!(alive(job), "the job goes on under its supervisor");
    assert_eq!(ws.sql::<String>("SELECT outcome FROM runs"), "interrupted");
    assert_eq!(ws.sql::<String>("SELECT outcome FROM job_runs"), "running");
    let r = ws.run(&["testenv", "list"]);
    assert!(
        !r.stdout.contains("(free)"),
        "still the job's: {}",
        r.stdout
    );
    release(&go);
    ws.wait_for_jobs();
    assert!(gone(job));
    assert_eq!(ws.sql::<String>("SELECT outcome FROM job_runs"), "passed");
    let vote: (bool, bool) = (
        ws.sql("SELECT success FROM votes WHERE job_id = 'deploy'"),
        ws.sql("SELECT in_progress FROM votes WHERE job_id = 'deploy'"),
    );
    assert_eq!(vote, (true, false), "its vote landed");
    let r = ws.run(&["testenv", "list"]);
    assert!(r.stdout.contains("(free)"), "{}", r.stdout);
    ws.run(&["run"]).ok();
    assert!(ws.link("trunk/tripleo-ci-testing").is_some());
    ws.assert_leases_never_overlap();
}

#[test]
fn regression_a_lease_lasts_as_long_as_any_process_of_its_job() {
    let (ws, go) = held_job();
    let mut runner = spawn_run(&ws);
    let job = pid_in(&ws.path().join("logs/job.pid"));
    // The runner dies without a word; its job, under its supervisor, lives on.
    runner.kill().unwrap();
    runner.wait().unwrap();
    assert!(alive(job));
    let r = ws.run(&["testenv", "acquire", "--pool", "p", "--holder", "second"]);
    assert_eq!(
        r.code, 75,
        "the environment is still the job's:\n{}{}",
        r.stdout, r.stderr
    );
    release(&go);
    ws.wait_for_jobs();
    assert_eq!(ws.sql::<String>("SELECT outcome FROM job_runs"), "passed");
    ws.run(&["testenv", "acquire", "--pool", "p", "--holder", "second"])
        .ok();
    ws.assert_leases_never_overlap();
}

#[test]
fn regression_why_on_a_failed_build_says_it_cannot_be_promoted() {
    let ws = one_phase("", "");
    ws.run(&["import"]).ok();
    let r = ws.run(&[
        "why",
        "--hash",
        "1c67b1ab8c6fe273d4e175a14f0df5d3cbbd0edc_885e8077",
    ]);
    r.ok();
    let first = r.stdout.lines().next().unwrap_or("");
    assert!(
        first.contains("cannot be promoted: its build has status FAILED"),
        "{}",
        r.stdout
    );
}

#[test]
fn regression_a_job_never_scheduled_is_an_error_not_a_failed_vote() {
    let ws = job_on_testenv("true");
    let cfg = std::fs::read_to_string(ws.config()).unwrap();
    ws.write_config(&cfg.replace("kill_grace: 2s\n", "kill_grace: 2s\ntestenv_wait: 1s\n"));
    // Someone outside holds the only environment.
    ws.run(&["testenv", "acquire", "--pool", "p", "--holder", "elsewhere"])
        .ok();
    let r = ws.run(&["run", "--wait"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("no test environment of pool p came free"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("blocked by: deploy (missing)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("(failed)"), "{}", r.stderr);
    let votes: i64 = ws.sql("SELECT count(*) FROM votes WHERE job_id = 'deploy'");
    assert_eq!(votes, 0);
    assert_eq!(ws.sql::<String>("SELECT outcome FROM job_runs"), "error");
}

#[test]
fn status_the_page_and_the_metrics_show_a_running_job_where_and_how_long_it_has_left() {
    let (ws, go) = held_job();
    ws.run(&["run"]).ok();
    let job = pid_in(&ws.path().join("logs/job.pid"));
    let j = ws.run(&["status", "--json"]).json();
    let r = &j["running"][0];
    assert_eq!(r["job_id"], "deploy");
    assert_eq!(r["promotion"], "tripleo-ci-testing");
    assert_eq!(r["pid"], job);
    assert_eq!(r["testenv"], "e1");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(r["host"], host.trim());
    // The default timeout is 3h.
    let left = r["seconds_left"].as_i64().unwrap();
    assert!((3 * 3600 - 60..=3 * 3600).contains(&left), "{left}");
    assert_eq!(
        r["timeout_at"].as_i64().unwrap(),
        r["started_at"].as_i64().unwrap() + 3 * 3600
    );
    let text = ws.run(&["status"]);
    let line = text
        .stdout
        .lines()
        .find(|l| l.starts_with("running deploy for tripleo-ci-testing on "))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert!(line.contains(&format!("(pid {job})")), "{line}");
    assert!(line.contains("left before its timeout"), "{line}");
    let page = ws.path().join("status.html");
    let metrics = ws.path().join("promoter.prom");
    ws.run(&[
        "status",
        "--html",
        page.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ])
    .ok();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<h2>Running jobs</h2>"),
        "no running jobs section"
    );
    assert!(html.contains("<td>deploy</td>"));
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains(
            "promoter_jobs_running{release=\"master\",promotion=\"tripleo-ci-testing\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("promoter_job_timeout_seconds_left{")
                && l.contains("job_id=\"deploy\"")),
        "{text}"
    );
    release(&go);
    ws.wait_for_jobs();
    let j = ws.run(&["status", "--json"]).json();
    assert_eq!(j["running"], serde_json::json!([]));
}

#[test]
fn why_shows_a_running_job_since_when_where_and_how_long_it_has_left() {
    let (ws, go) = held_job();
    ws.run(&["run"]).ok();
    let job = pid_in(&ws.path().join("logs/job.pid"));
    let r = ws.run(&["why", "--promotion", "tripleo-ci-testing"]);
    r.ok();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let line = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("running"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.contains("deploy"), "{line}");
    assert!(
        line.contains(&format!("on {} (pid {job})", host.trim())),
        "{line}"
    );
    assert!(line.contains("left before its timeout"), "{line}");
    let j = ws
        .run(&["why", "--json", "--promotion", "tripleo-ci-testing"])
        .json();
    assert_eq!(j["running"]["deploy"]["pid"], job);
    release(&go);
    ws.wait_for_jobs();
}

#[test]
fn a_rerun_of_a_running_local_job_stops_it_and_the_next_run_starts_it_anew() {
    let (ws, go) = held_job();
    ws.run(&["run"]).ok();
    let job = pid_in(&ws.path().join("logs/job.pid"));
    std::fs::remove_file(ws.path().join("logs/job.pid")).unwrap();
    let r = ws.run(&["run", "--rerun", "deploy"]);
    r.ok();
    assert!(
        r.stderr.contains("to run it again (--rerun)"),
        "{}",
        r.stderr
    );
    ws.wait_for_jobs();
    assert!(gone(job));
    assert_eq!(
        ws.sql::<String>("SELECT outcome FROM job_runs"),
        "interrupted"
    );
    ws.run(&["run"]).ok();
    let again = pid_in(&ws.path().join("logs/job.pid"));
    assert_ne!(again, job);
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM job_runs WHERE outcome = 'running'"),
        1
    );
    release(&go);
    ws.wait_for_jobs();
    ws.assert_leases_never_overlap();
}

#[test]
fn a_job_two_promotions_share_runs_once_on_a_build_and_its_vote_serves_both() {
    let (ws, go) = held_job();
    let cfg = std::fs::read_to_string(ws.config()).unwrap();
    ws.write_config(&format!(
        "{cfg}  puppet-ci-testing:\n    candidate_label: consistent\n    jobs: [deploy]\n    criteria: [deploy]\n"
    ));
    ws.run(&["config", "check"]).ok();
    ws.run(&["run"]).ok();
    pid_in(&ws.path().join("logs/job.pid"));
    ws.run(&["run"]).ok();
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM job_runs"),
        1,
        "never a second copy"
    );
    release(&go);
    ws.wait_for_jobs();
    ws.run(&["run"]).ok();
    assert!(ws.link("trunk/tripleo-ci-testing").is_some());
    assert!(ws.link("trunk/puppet-ci-testing").is_some());
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM job_runs"), 1);
}
