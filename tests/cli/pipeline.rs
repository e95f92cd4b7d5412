use std::io::{BufRead, Write};

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
    alternative_criteria:
      job-a: [job-a-internal]
  current-tripleo-rdo:
    candidate_label: current-tripleo
    criteria: [job-b]
";

fn chain() -> Workspace {
    let ws = Workspace::sample();
    ws.write_config(CHAIN);
    ws.run(&["import"]).ok();
    ws
}

/// The n-th newest consistent build's (repo_dir, commit, distro, full hash).
fn consistent(ws: &Workspace, n: i64) -> (String, String, String, String) {
    let dir: String = ws.sql(&format!(
        "SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET {n}"
    ));
    let (c, d) = hashes_of(&dir);
    let full = format!("{c}_{}", &d[..8]);
    (dir, c, d, full)
}

fn history(ws: &Workspace) -> Vec<(String, String, String)> {
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let mut s = c
        .prepare("SELECT name, full_hash, kind FROM promotions_view ORDER BY id")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_three_step_chain_cascades_in_one_run() {
    let ws = chain();
    let (dir, c, d, full) = consistent(&ws, 0);
    ws.vote("job-a", &c, &d, true);
    ws.vote("job-b", &c, &d, true);
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    for label in [
        "tripleo-ci-testing",
        "current-tripleo",
        "current-tripleo-rdo",
    ] {
        assert_eq!(ws.link(&format!("trunk/{label}")).unwrap(), dir, "{label}");
        assert_eq!(
            ws.link(&format!("images/{label}")).unwrap(),
            full,
            "{label}"
        );
        assert!(
            r.stderr.contains(&format!("promoted {full} to {label}")),
            "grep-able log line for {label}:\n{}",
            r.stderr
        );
    }
    assert!(r.stderr.contains("3 promoted"), "{}", r.stderr);
    let h = history(&ws);
    let names: Vec<&str> = h.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "tripleo-ci-testing",
            "current-tripleo",
            "current-tripleo-rdo"
        ]
    );
    assert!(h.iter().all(|(_, f, k)| f == &full && k == "promote"));
    // A second run finds nothing to do and changes nothing.
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(history(&ws).len(), 3);
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM runs WHERE outcome = 'completed'"),
        2
    );
}

#[test]
fn a_blocked_candidate_is_explained_and_a_later_vote_unblocks_it() {
    let ws = chain();
    let (dir, c, d, full) = consistent(&ws, 0);
    ws.vote("job-a", &c, &d, false);
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), dir);
    assert_eq!(ws.link("trunk/current-tripleo"), None);

    let why = ws.run(&["why", "--promotion", "current-tripleo"]);
    why.ok();
    let first = why.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!("current-tripleo: {full} is blocked: 0 of 1 required job passed; blocked by: job-a (failed)")
    );
    assert!(
        why.stdout.contains("https://logs.example.org/job-a"),
        "{}",
        why.stdout
    );
    let j = ws
        .run(&["why", "--promotion", "current-tripleo", "--json"])
        .json();
    assert_eq!(j["verdict"], "blocked");
    assert_eq!(j["jobs"][0]["job_id"], "job-a");
    assert_eq!(j["jobs"][0]["state"], "failed");
    assert_eq!(j["build"]["full_hash"], full.as_str());

    // The job is re-run elsewhere and passes: any success counts.
    ws.vote("job-a", &c, &d, true);
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), dir);
    let j = ws
        .run(&["why", "--promotion", "current-tripleo", "--json"])
        .json();
    assert_eq!(j["verdict"], "promoted");
    // The next step is now blocked on job-b, which nobody reported.
    let j = ws
        .run(&["why", "--promotion", "current-tripleo-rdo", "--json"])
        .json();
    assert_eq!(j["jobs"][0]["state"], "missing");
}

#[test]
fn an_alternative_job_satisfies_its_criterion() {
    let ws = chain();
    let (dir, c, d, _) = consistent(&ws, 0);
    ws.vote("job-a-internal", &c, &d, true);
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), dir);
}

#[test]
fn only_the_newest_qualifying_candidate_is_promoted_and_never_backwards() {
    let ws = chain();
    let (old_dir, oc, od, _) = consistent(&ws, 1);
    let (new_dir, nc, nd, _) = consistent(&ws, 0);
    // Put both builds in tripleo-ci-testing's history, the older last.
    ws.repo_promote(&nc, &nd, "tripleo-ci-testing").ok();
    ws.repo_promote(&oc, &od, "tripleo-ci-testing").ok();
    ws.vote("job-a", &oc, &od, true);
    ws.vote("job-a", &nc, &nd, true);
    ws.run(&["run", "--wait", "--promotion", "current-tripleo"])
        .ok();
    // Candidates newest first by their move into tripleo-ci-testing: the older build.
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), old_dir);
    ws.repo_promote(&nc, &nd, "tripleo-ci-testing").ok();
    ws.run(&["run", "--wait", "--promotion", "current-tripleo"])
        .ok();
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), new_dir);
    assert_eq!(ws.link("trunk/previous-current-tripleo").unwrap(), old_dir);
    // The older build was promoted before: it is never a candidate again.
    ws.repo_promote(&oc, &od, "tripleo-ci-testing").ok();
    ws.run(&["run", "--wait", "--promotion", "current-tripleo"])
        .ok();
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), new_dir);
}

#[test]
fn a_waiver_unblocks_and_its_removal_is_recorded() {
    let ws = chain();
    let (dir, c, d, full) = consistent(&ws, 0);
    let (_, _, _, other) = consistent(&ws, 1);
    ws.run(&["run", "--wait"]).ok();
    // A waiver for another build does not count.
    ws.run(&[
        "waive",
        "--promotion",
        "current-tripleo",
        "--job-id",
        "job-a",
        "--hash",
        &other,
        "--reason",
        "not this one",
    ])
    .ok();
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.link("trunk/current-tripleo"), None);
    let w = ws.run(&[
        "waive",
        "--promotion",
        "current-tripleo",
        "--job-id",
        "job-a",
        "--reason",
        "infra outage",
        "--expires",
        "2d",
    ]);
    w.ok();
    assert!(w.stdout.contains("need not pass"), "{}", w.stdout);
    let j = ws
        .run(&["why", "--promotion", "current-tripleo", "--json"])
        .json();
    assert_eq!(j["jobs"][0]["state"], "waived");
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), dir);
    let list = ws.run(&["waivers"]);
    assert!(list.stdout.contains("infra outage"), "{}", list.stdout);
    let id: i64 = ws.sql("SELECT max(id) FROM waivers");
    ws.run(&["unwaive", &id.to_string()]).ok();
    assert_eq!(
        ws.sql::<String>(&format!("SELECT removed_by FROM waivers WHERE id = {id}")),
        "tester"
    );
    assert!(!ws.run(&["waivers"]).stdout.contains("infra outage"));
    assert!(ws
        .run(&["waivers", "--all"])
        .stdout
        .contains("infra outage"));
    ws.run(&["unwaive", &id.to_string()]).code(3);
    // Refusals: unknown promotion, job not required, bad duration.
    ws.run(&[
        "waive",
        "--promotion",
        "nope",
        "--job-id",
        "job-a",
        "--reason",
        "r",
    ])
    .code(3);
    ws.run(&[
        "waive",
        "--promotion",
        "current-tripleo",
        "--job-id",
        "job-z",
        "--reason",
        "r",
    ])
    .code(3);
    ws.run(&[
        "waive",
        "--promotion",
        "current-tripleo",
        "--job-id",
        "job-a",
        "--reason",
        "r",
        "--expires",
        "soon",
    ])
    .code(2);
    let _ = (c, d, full);
}

#[test]
fn rollback_points_the_label_back_and_swaps_previous() {
    let ws = chain();
    let (old_dir, oc, od, old_full) = consistent(&ws, 1);
    let (new_dir, nc, nd, new_full) = consistent(&ws, 0);
    ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--reason",
        "x",
    ])
    .code(3);
    ws.repo_promote(&oc, &od, "current-tripleo").ok();
    ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--reason",
        "x",
    ])
    .code(3)
    .error_says("previous-current-tripleo");
    ws.repo_promote(&nc, &nd, "current-tripleo").ok();
    let r = ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--reason",
        "breaks ovb",
    ]);
    r.ok();
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), old_dir);
    assert_eq!(ws.link("trunk/previous-current-tripleo").unwrap(), new_dir);
    assert_eq!(ws.link("images/current-tripleo").unwrap(), old_full);
    let last = history(&ws).pop().unwrap();
    assert_eq!(
        last,
        (
            "current-tripleo".into(),
            old_full.clone(),
            "rollback".into()
        )
    );
    assert_eq!(
        ws.sql::<String>("SELECT reason FROM promotions ORDER BY id DESC LIMIT 1"),
        "breaks ovb"
    );
    // --to a given build; to where it already is: refused.
    ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--to",
        &new_full,
        "--reason",
        "fixed",
    ])
    .ok();
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), new_dir);
    ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--to",
        &new_full,
        "--reason",
        "again",
    ])
    .code(4);
    ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--reason",
        " ",
    ])
    .code(2);
    let h = ws.run(&["history", "--promotion", "current-tripleo"]);
    h.ok();
    let lines: Vec<&str> = h.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "header and four rows, newest first:\n{}",
        h.stdout
    );
    assert!(
        lines[1].contains("rollback") && lines[1].contains("fixed"),
        "{}",
        h.stdout
    );
    assert!(lines[4].contains("manual"), "{}", h.stdout);
}

#[test]
fn a_dry_run_decides_and_prints_but_changes_nothing() {
    let ws = Workspace::sample();
    ws.write_config(CHAIN);
    let r = ws.run(&["run", "--dry-run"]);
    r.ok();
    let full = consistent_full_from_fixtures();
    assert!(
        r.stdout
            .contains(&format!("would promote {full} to tripleo-ci-testing")),
        "{}",
        r.stdout
    );
    assert_eq!(ws.link("trunk/tripleo-ci-testing"), None);
    assert_eq!(ws.link("images/tripleo-ci-testing"), None);
    for table in ["builds", "votes", "promotions", "runs", "attempts"] {
        assert_eq!(
            ws.sql::<i64>(&format!("SELECT count(*) FROM {table}")),
            0,
            "{table}"
        );
    }
}

fn consistent_full_from_fixtures() -> String {
    let dir = std::fs::read_link(fixtures().join("trunk/consistent")).unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut parts = name.split('_');
    format!("{}_{}", parts.next().unwrap(), parts.next().unwrap())
}

#[test]
fn a_second_run_while_one_holds_the_lock_exits_75_at_once() {
    let ws = chain();
    let ready = ws.path().join("ready.fifo");
    let go = ws.path().join("go.fifo");
    for f in [&ready, &go] {
        mkfifo(f);
    }
    // The first run's hook says it is running, then waits for the test.
    let hook = ws.script(
        "hold.sh",
        &format!(
            "echo ready > {}\nread x < {}",
            ready.display(),
            go.display()
        ),
    );
    ws.write_config(&CHAIN.replace(
        "    criteria: [consistent]\n",
        &format!(
            "    criteria: [consistent]\n    hooks: [[{}]]\n",
            hook.display()
        ),
    ));
    let mut first = std::process::Command::new(BIN)
        .args(["-c", ws.config().to_str().unwrap(), "run"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(std::fs::File::open(&ready).unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let second = ws.run(&["run", "--wait"]);
    second.code(75).error_says(&format!("pid {}", first.id()));
    writeln!(
        std::fs::OpenOptions::new().write(true).open(&go).unwrap(),
        "go"
    )
    .unwrap();
    assert!(first.wait().unwrap().success());
    assert!(ws.link("trunk/tripleo-ci-testing").is_some());
    assert_eq!(history(&ws).len(), 1);
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "the crash hook is built only with --features fault, as scripts/test.sh builds it"
)]
fn a_run_killed_between_two_effects_is_completed_by_the_next_run() {
    for fault in ["after-hooks", "after-images", "after-trunk", "after-done"] {
        let ws = chain();
        let (dir, _, _, full) = consistent(&ws, 0);
        let r = ws.run_env(&["run", "--wait"], &[("PROMOTER_FAULT", fault)]);
        assert_eq!(r.code, -1, "{fault}: killed by SIGKILL\n{}", r.stderr);
        match fault {
            "after-hooks" => assert_eq!(ws.link("images/tripleo-ci-testing"), None),
            "after-images" => {
                assert_eq!(ws.link("images/tripleo-ci-testing").unwrap(), full);
                assert_eq!(ws.link("trunk/tripleo-ci-testing"), None);
            }
            _ => assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), dir),
        }
        assert_eq!(
            history(&ws).len(),
            usize::from(fault == "after-done"),
            "{fault}"
        );
        let r = ws.run(&["run", "--wait"]);
        r.ok();
        if fault != "after-done" {
            assert!(
                r.stderr.contains("completing the promotion"),
                "{fault}: {}",
                r.stderr
            );
        }
        assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), dir, "{fault}");
        assert_eq!(
            ws.link("images/tripleo-ci-testing").unwrap(),
            full,
            "{fault}"
        );
        assert_eq!(history(&ws).len(), 1, "{fault}: recorded once, never twice");
        assert_eq!(
            ws.sql::<i64>("SELECT count(*) FROM attempts WHERE step NOT IN ('done')"),
            0
        );
        assert_eq!(
            ws.sql::<i64>("SELECT count(*) FROM runs WHERE outcome = 'interrupted'"),
            1
        );
    }
}

#[test]
fn a_failing_hook_stops_the_promotion_and_the_next_run_retries() {
    let ws = chain();
    let (dir, _, _, _) = consistent(&ws, 0);
    let flag = ws.path().join("hook-ok");
    ws.script(
        "push.sh",
        &format!(
            "echo pushing $PROMOTER_FULL_HASH for $PROMOTER_PROMOTION\ntest -e {}",
            flag.display()
        ),
    );
    ws.write_config(&CHAIN.replace(
        "    criteria: [consistent]\n",
        "    criteria: [consistent]\n    hooks:\n      - [./push.sh, extra-arg]\n",
    ));
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(
        r.stderr
            .contains("hook ./push.sh extra-arg failed (exit status 1)"),
        "{}",
        r.stderr
    );
    assert_eq!(ws.link("trunk/tripleo-ci-testing"), None);
    assert_eq!(ws.link("images/tripleo-ci-testing"), None);
    std::fs::write(&flag, "").unwrap();
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), dir);
    let log = std::fs::read_dir(ws.path().join("logs/runs/2"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.starts_with("pushing ") && text.contains("for tripleo-ci-testing"),
        "{text}"
    );
}

#[test]
fn a_label_moved_by_someone_else_stops_the_promotion_and_is_left_as_found() {
    let ws = chain();
    let (other_dir, _, _, _) = consistent(&ws, 2);
    // The hook plays "someone else": it moves the label between the
    // run's decision and its link moves.
    let hook = ws.script(
        "meddle.sh",
        &format!(
            "ln -sfn {other_dir} {}/trunk/tripleo-ci-testing",
            ws.path().display()
        ),
    );
    ws.write_config(&CHAIN.replace(
        "    criteria: [consistent]\n",
        &format!(
            "    criteria: [consistent]\n    hooks: [[{}]]\n",
            hook.display()
        ),
    ));
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(r.stderr.contains("moved by someone else"), "{}", r.stderr);
    assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), other_dir);
    assert_eq!(ws.link("trunk/previous-tripleo-ci-testing"), None);
    assert_eq!(
        ws.link("images/tripleo-ci-testing"),
        None,
        "the image link did not move ahead"
    );
    assert!(history(&ws).is_empty());
}

#[test]
fn run_refuses_an_unknown_promotion() {
    let ws = chain();
    ws.run(&["run", "--wait", "--promotion", "nope"])
        .code(3)
        .error_says("no promotion \"nope\"");
}

#[test]
fn a_rollback_to_a_build_without_images_says_the_image_link_stayed() {
    let ws = chain();
    let (_, nc, nd, new_full) = consistent(&ws, 0);
    ws.repo_promote(&nc, &nd, "current-tripleo").ok();
    assert_eq!(ws.link("images/current-tripleo").unwrap(), new_full);
    let no_images: String = ws.sql(
        "SELECT full_hash FROM builds WHERE status = 'SUCCESS' AND flags = 0 AND NOT consistent ORDER BY dt_build DESC LIMIT 1",
    );
    assert!(!ws.images().join(&no_images).exists());
    let r = ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--to",
        &no_images,
        "--reason",
        "test",
    ]);
    r.ok();
    assert!(
        r.stderr.contains(&format!(
            "the image link current-tripleo still points at {new_full}"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stdout.lines().count(),
        1,
        "said once, on stdout: {}",
        r.stdout
    );
}

#[test]
fn why_names_the_alternatives_of_a_missing_job() {
    let ws = chain();
    ws.run(&["run", "--wait"]).ok();
    let why = ws.run(&["why", "--promotion", "current-tripleo"]);
    why.ok();
    assert!(
        why.stdout.contains("no vote, nor from job-a-internal"),
        "{}",
        why.stdout
    );
    let j = ws
        .run(&["why", "--json", "--promotion", "current-tripleo"])
        .json();
    assert_eq!(j["alternatives"]["job-a"][0], "job-a-internal");
}

#[test]
fn an_outside_failure_whose_notes_say_timed_out_is_a_failure_not_a_timeout() {
    // Only a job of this promoter that ran out of time is "timed out": the
    // state comes from its job run, never from words in a vote's notes.
    let ws = chain();
    let (_, c, d, _) = consistent(&ws, 0);
    ws.run_db(&[
        "report-result",
        "--job-id",
        "job-a",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--info-url",
        "https://logs.example.org/job-a",
        "--timestamp",
        "1700000000",
        "--success",
        "false",
        "--notes",
        "timed out after 3h",
    ])
    .ok();
    ws.run(&["run", "--wait"]).ok();
    let j = ws
        .run(&["why", "--promotion", "current-tripleo", "--json"])
        .json();
    assert_eq!(j["jobs"][0]["job_id"], "job-a");
    assert_eq!(j["jobs"][0]["state"], "failed");
}
