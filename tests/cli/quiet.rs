//! A run with nothing new to do repeats the last quiet run's decisions
//! instead of making them again, and anything that could change a decision
//! makes the next run decide anew.

use crate::util::*;

const CHAIN: &str = "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    criteria: [job-a]
";

/// Whether run `r` (with `-v`) repeated a quiet run instead of deciding.
fn repeated(r: &Run) -> bool {
    r.stderr.contains("its decisions stand")
}

/// What a run said of its promotions: its lines without their times, the
/// debug lines and its summary (which names the run).
fn said(r: &Run) -> Vec<String> {
    r.stderr
        .lines()
        .filter_map(|l| l.split_once("Z ").map(|(_, rest)| rest.to_string()))
        .filter(|l| !l.starts_with("DEBUG") && !l.contains(" promoted, "))
        .collect()
}

/// Waives job-a of current-tripleo, with `more` options.
fn waive_job_a(ws: &Workspace, more: &[&str]) {
    let mut args = vec![
        "waive",
        "--promotion",
        "current-tripleo",
        "--job-id",
        "job-a",
    ];
    args.extend(["--reason", "job-a is broken upstream"]);
    args.extend(more);
    ws.run(&args).ok();
}

/// A workspace whose second run is quiet: the first promotes
/// tripleo-ci-testing, the second finds current-tripleo blocked on job-a;
/// and what that second run said.
fn quiet() -> (Workspace, Vec<String>) {
    let ws = Workspace::sample();
    ws.write_config(CHAIN);
    let first = ws.run(&["-v", "run"]);
    first.ok();
    assert!(first.stderr.contains("1 promoted"), "{}", first.stderr);
    assert!(!repeated(&first));
    let second = ws.run(&["-v", "run"]);
    second.ok();
    assert!(!repeated(&second), "{}", second.stderr);
    assert!(
        second.stderr.contains("next runs repeat these decisions"),
        "{}",
        second.stderr
    );
    (ws, said(&second))
}

#[test]
fn a_run_with_nothing_new_repeats_the_last_quiet_run_and_records_itself() {
    let (ws, decided) = quiet();
    let runs = ws.sql::<i64>("SELECT count(*) FROM runs");
    let promotions = ws.sql::<i64>("SELECT count(*) FROM promotions");
    let third = ws.run(&["-v", "run"]);
    third.ok();
    assert!(repeated(&third), "{}", third.stderr);
    // It says what the run that decided said.
    assert_eq!(said(&third), decided);
    assert!(
        third.stderr.contains("current-tripleo: ") && third.stderr.contains("is blocked"),
        "{}",
        third.stderr
    );
    // It is a run like any other in `runs`, and changed nothing else.
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM runs"), runs + 1);
    let (outcome, blocked, summary): (String, i64, String) = {
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        c.query_row(
            "SELECT outcome, blocked, summary FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    assert_eq!((outcome.as_str(), blocked), ("completed", 1));
    assert!(summary.contains("0 promoted, 1 blocked"), "{summary}");
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM promotions"), promotions);
    // --json says what a run that decides says, but for the run's id.
    let mut repeated_json = ws.run(&["run", "--json"]).json();
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    c.execute("DELETE FROM run_memo", []).unwrap();
    drop(c);
    let mut decided_json = ws.run(&["run", "--json"]).json();
    assert_eq!(
        decided_json["run_id"].as_i64().unwrap(),
        repeated_json["run_id"].as_i64().unwrap() + 1
    );
    repeated_json["run_id"] = 0.into();
    decided_json["run_id"] = 0.into();
    assert_eq!(repeated_json, decided_json);
    assert_eq!(repeated_json["blocked"], 1);
    // Asked for anything but a plain run, it decides.
    let dry = ws.run(&["-v", "run", "--dry-run"]);
    assert!(!repeated(&dry), "{}", dry.stderr);
    let one = ws.run(&["-v", "run", "--promotion", "current-tripleo"]);
    assert!(!repeated(&one), "{}", one.stderr);
}

#[test]
fn a_vote_makes_the_next_run_decide_and_promote() {
    let (ws, _) = quiet();
    let dir = ws.link("trunk/tripleo-ci-testing").unwrap();
    let (c, d) = hashes_of(&dir);
    ws.vote("job-a", &c, &d, true);
    let r = ws.run(&["-v", "run"]);
    r.ok();
    assert!(!repeated(&r), "{}", r.stderr);
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), dir);
}

#[test]
fn a_label_moved_by_hand_a_new_build_or_a_new_config_makes_the_next_run_decide() {
    let (ws, _) = quiet();
    // A label moved outside the promoter.
    let older: String = ws.sql(
        "SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET 1",
    );
    let link = ws.trunk().join("tripleo-ci-testing");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&older, &link).unwrap();
    let r = ws.run(&["-v", "run"]);
    assert!(!repeated(&r), "{}", r.stderr);
    ws.run(&["-v", "run"]).ok();
    assert!(repeated(&ws.run(&["-v", "run"])));

    // The builder's link moved (a new build, or the builder went back).
    let current = ws.trunk().join("current");
    let target = std::fs::read_link(&current).unwrap();
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink(&older, &current).unwrap();
    let r = ws.run(&["-v", "run"]);
    assert!(!repeated(&r), "{}", r.stderr);
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink(&target, &current).unwrap();
    ws.run(&["-v", "run"]).ok();
    ws.run(&["-v", "run"]).ok();
    assert!(repeated(&ws.run(&["-v", "run"])));

    // The config changed, even by a comment.
    ws.write_config(&format!("{CHAIN}# changed\n"));
    let r = ws.run(&["-v", "run"]);
    assert!(!repeated(&r), "{}", r.stderr);
}

#[test]
fn a_memo_older_than_ten_minutes_or_after_a_waiver_is_not_repeated() {
    let (ws, _) = quiet();
    assert!(repeated(&ws.run(&["-v", "run"])));
    // A change made by hand, which the promoter cannot see, is seen by a
    // run at least every ten minutes.
    assert_eq!(
        ws.sql::<i64>("SELECT valid_until - decided_at FROM run_memo"),
        600
    );
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    c.execute(
        "UPDATE run_memo SET valid_until = CAST(strftime('%s', 'now') AS INTEGER)",
        [],
    )
    .unwrap();
    drop(c);
    let r = ws.run(&["-v", "run"]);
    assert!(!repeated(&r), "{}", r.stderr);
    // A waiver is a write like any other: the next run decides on it.
    let dir = ws.link("trunk/tripleo-ci-testing").unwrap();
    waive_job_a(&ws, &[]);
    let r = ws.run(&["-v", "run"]);
    assert!(!repeated(&r), "{}", r.stderr);
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), dir);
}

#[test]
fn a_run_while_a_job_runs_decides_and_leaves_no_memo() {
    let ws = Workspace::sample();
    let fifo = ws.path().join("go");
    let ready = ws.path().join("ready");
    for f in [&fifo, &ready] {
        mkfifo(f);
    }
    ws.script(
        "ovb.sh",
        &format!(
            "echo running > {}\nread x < {}",
            ready.display(),
            fifo.display()
        ),
    );
    ws.write_config(
        "release: master
trunk: trunk
images: images
logs: logs
jobs:
  ovb:
    command: [./ovb.sh]
    timeout: 1h
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    jobs: [ovb]
    criteria: [ovb]
",
    );
    ws.run(&["run"]).ok();
    assert_eq!(std::fs::read_to_string(&ready).unwrap().trim(), "running");
    // While its job runs, every run decides (and finds it running).
    for _ in 0..2 {
        let r = ws.run(&["-v", "run"]);
        r.ok();
        assert!(!repeated(&r), "{}", r.stderr);
    }
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM run_memo"), 0);
    std::fs::write(&fifo, "go\n").unwrap();
    ws.wait_for_jobs();
}

#[test]
fn a_memo_made_while_a_waiver_lives_stands_only_until_it_expires() {
    let ws = Workspace::sample();
    ws.write_config(&CHAIN.replace("criteria: [job-a]", "criteria: [job-a, job-b]"));
    ws.run(&["run"]).ok();
    waive_job_a(&ws, &["--expires", "5m"]);
    // Still blocked on job-b: quiet, until the waiver expires.
    let r = ws.run(&["-v", "run"]);
    assert!(r.stderr.contains("next runs repeat"), "{}", r.stderr);
    assert_eq!(
        ws.sql::<i64>(
            "SELECT (SELECT valid_until FROM run_memo) = (SELECT expires_at FROM waivers)"
        ),
        1
    );
    assert!(repeated(&ws.run(&["-v", "run"])));
}

#[test]
fn a_builder_link_at_a_hash_directory_not_imported_yet_leaves_no_memo() {
    let (ws, _) = quiet();
    // The builder (or a mirror's copy) is still writing the build `current`
    // points at: every run imports again until it is complete.
    let dir = "ff/ff/ffff000000000000000000000000000000000000_ffff0000";
    std::fs::create_dir_all(ws.trunk().join(dir)).unwrap();
    let current = ws.trunk().join("current");
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink(dir, &current).unwrap();
    for _ in 0..2 {
        let r = ws.run(&["-v", "run"]);
        r.ok();
        assert!(!repeated(&r), "{}", r.stderr);
    }
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM run_memo"), 0);
}

#[test]
fn a_memo_whose_lines_were_damaged_by_hand_is_not_repeated_but_decided_anew() {
    for damage in [
        "'[[\"INFO\", \"current-tripleo: blocked'",
        "'{\"not\": \"lines\"}'",
        "'[[\"LOUD\", \"a level no run writes\"]]'",
    ] {
        let (ws, said_quiet) = quiet();
        assert!(repeated(&ws.run(&["-v", "run"])), "the memo stands first");
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        c.execute(&format!("UPDATE run_memo SET lines = {damage}"), [])
            .unwrap();
        drop(c);
        let r = ws.run(&["-v", "run"]);
        r.ok();
        assert!(!repeated(&r), "{damage}: {}", r.stderr);
        assert_eq!(said(&r), said_quiet, "{damage}: it says all it decided");
        // The run that decided anew leaves a memo that reads again.
        assert!(repeated(&ws.run(&["-v", "run"])), "{damage}");
    }
}
