use std::io::Read;
use std::time::Instant;

use crate::util::*;

/// A workspace whose config runs `jobs` (YAML under `jobs:`) for
/// tripleo-ci-testing, requiring `criteria`.
pub(crate) fn with_jobs(jobs: &str, criteria: &str, extra: &str) -> Workspace {
    let ws = Workspace::sample();
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: images
logs: logs
{extra}
jobs:
{jobs}
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    jobs: [{criteria}]
    criteria: [{criteria}]
"
    ));
    ws
}

/// (job_id, success, in_progress, url, notes) of every vote but DLRN's.
fn votes(ws: &Workspace) -> Vec<(String, bool, bool, String, String)> {
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let mut s = c
        .prepare("SELECT job_id, success, in_progress, url, notes FROM votes WHERE job_id <> 'consistent' ORDER BY id")
        .unwrap();
    s.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The console log inside a packed log archive.
fn console(archive: &str) -> String {
    let f = std::fs::File::open(archive).unwrap();
    let mut t = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for e in t.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("console.log") {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            return s;
        }
    }
    panic!("no console.log in {archive}");
}

pub(crate) fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

#[test]
fn every_variable_reaches_the_job_and_its_output_is_in_the_archive_the_vote_names() {
    let ws = with_jobs(
        "  show:\n    command: [./show-env.sh, first arg]\n    env: {EXTRA: given}\n",
        "show",
        "logs_url: https://logs.example.org/promoter",
    );
    ws.script("show-env.sh", "echo \"args: $1\"\necho \"cwd: $(pwd)\"\nenv | grep -E '^(PROMOTER_|TE_DATAFILE|EXTRA)' | sort\nread x && echo \"stdin gave $x\" || echo 'stdin closed'");
    ws.run(&["run", "--wait"]).ok();
    let dir = ws.builder_link("consistent");
    let (c, d) = hashes_of(&dir);
    let full = format!("{c}_{}", &d[..8]);
    let v = votes(&ws);
    assert_eq!(v.len(), 1);
    let (job, success, in_progress, url, _) = &v[0];
    assert_eq!(
        (job.as_str(), *success, *in_progress),
        ("show", true, false)
    );
    let prefix = format!("https://logs.example.org/promoter/{full}/");
    assert!(
        url.starts_with(&prefix) && url.ends_with(".tar.gz"),
        "{url}"
    );
    let archive = ws.path().join("logs").join(
        url.strip_prefix("https://logs.example.org/promoter/")
            .unwrap(),
    );
    let out = console(archive.to_str().unwrap());
    let log_dir = archive
        .to_str()
        .unwrap()
        .strip_suffix(".tar.gz")
        .unwrap()
        .to_string();
    let trunk = std::fs::canonicalize(ws.trunk()).unwrap();
    let images = std::fs::canonicalize(ws.images()).unwrap();
    for line in [
        "args: first arg".to_string(),
        format!("cwd: {log_dir}"),
        "stdin closed".to_string(),
        "EXTRA=given".to_string(),
        format!("PROMOTER_COMMIT_HASH={c}"),
        format!("PROMOTER_DISTRO_HASH={d}"),
        "PROMOTER_EXTENDED_HASH=".to_string(),
        format!("PROMOTER_FULL_HASH={full}"),
        format!("PROMOTER_IMAGES_DIR={}/{full}", images.display()),
        "PROMOTER_JOB_ID=show".to_string(),
        format!("PROMOTER_LOG_DIR={log_dir}"),
        "PROMOTER_PROMOTION=tripleo-ci-testing".to_string(),
        "PROMOTER_RELEASE=master".to_string(),
        format!("PROMOTER_REPO_DIR={}/{dir}", trunk.display()),
        format!("PROMOTER_REPO_FILE={}/{dir}/delorean.repo", trunk.display()),
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} not in:\n{out}");
    }
    assert!(
        !out.contains("TE_DATAFILE"),
        "no test environment, no TE_DATAFILE"
    );
    assert!(
        !std::path::Path::new(&log_dir).exists(),
        "the directory is packed away"
    );
}

#[test]
fn a_failing_job_votes_failure_and_why_shows_its_log_tail() {
    let ws = with_jobs("  flaky:\n    command: [./fail.sh]\n", "flaky", "");
    ws.script(
        "fail.sh",
        "echo 'deploying overcloud'\necho 'Error: ironic node enroll failed' >&2\nexit 3",
    );
    ws.run(&["run", "--wait"]).ok();
    let v = votes(&ws);
    assert_eq!(v.len(), 1);
    assert!(!v[0].1 && !v[0].2);
    assert_eq!(v[0].4, "exit status 3");
    assert_eq!(ws.link("trunk/tripleo-ci-testing"), None);
    let why = ws.run(&["why"]);
    why.ok();
    let text = &why.stdout;
    let at = text
        .find("failed    flaky")
        .unwrap_or_else(|| panic!("{text}"));
    let below = &text[at..];
    assert!(
        below.contains("| Error: ironic node enroll failed"),
        "{text}"
    );
    let j = ws
        .run(&["why", "--json", "--promotion", "tripleo-ci-testing"])
        .json();
    assert_eq!(
        j["log_tails"]["flaky"][1],
        "Error: ironic node enroll failed"
    );
}

#[test]
fn why_shows_a_bounded_log_tail_of_a_job_whose_log_is_one_huge_line() {
    let ws = with_jobs("  spew:\n    command: [./spew.sh]\n", "spew", "");
    // 20 MB on one line, then a short line that tries to clear the screen.
    ws.script(
        "spew.sh",
        "head -c 20000000 /dev/zero | tr '\\0' x\nprintf '\\nthe end\\033[2J\\n'\nexit 1",
    );
    ws.run(&["run", "--wait"]).ok();
    let why = ws.run(&["why", "--promotion", "tripleo-ci-testing"]);
    why.ok();
    let text = &why.stdout;
    assert!(text.len() < 4096, "{} bytes of why", text.len());
    let tail: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("| "))
        .collect();
    assert_eq!(
        tail,
        [
            format!("[…]{}[…]", "x".repeat(400)),
            "the end\\u{1b}[2J".to_string()
        ],
        "{text}"
    );
    let j = ws
        .run(&["why", "--json", "--promotion", "tripleo-ci-testing"])
        .json();
    assert_eq!(
        j["log_tails"]["spew"][1], "the end\u{1b}[2J",
        "JSON as logged"
    );
}

#[test]
fn a_job_that_outlives_its_timeout_is_killed_with_its_grandchildren() {
    let ws = with_jobs(
        "  hang:\n    command: [./hang.sh]\n    timeout: 1s\n",
        "hang",
        "kill_grace: 1s",
    );
    let pids = ws.path().join("pids");
    ws.script(
        "hang.sh",
        &format!(
            "sleep 600 &\necho $! > {p}\necho $$ >> {p}\nwait",
            p = pids.display()
        ),
    );
    ws.run(&["run", "--wait"]).ok();
    let v = votes(&ws);
    assert!(!v[0].1);
    assert!(v[0].4.starts_with("timed out after 1s"), "{}", v[0].4);
    let text = std::fs::read_to_string(&pids).unwrap();
    let pids: Vec<i32> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived the timeout");
    }
    let j = ws
        .run(&["why", "--json", "--promotion", "tripleo-ci-testing"])
        .json();
    assert_eq!(j["jobs"][0]["state"], "timed_out");
}

#[test]
fn jobs_of_a_promotion_run_in_parallel() {
    let ws = with_jobs(
        "  one:\n    command: [./nap.sh]\n  two:\n    command: [./nap.sh]\n",
        "one, two",
        "max_parallel_jobs: 2",
    );
    ws.script("nap.sh", "sleep 2");
    let t = Instant::now();
    ws.run(&["run", "--wait"]).ok();
    let took = t.elapsed().as_secs_f64();
    assert!(took < 3.5, "two 2 s jobs took {took:.2}s");
    assert!(ws.link("trunk/tripleo-ci-testing").is_some());
}

#[test]
fn a_job_already_voted_on_is_not_run_again_unless_asked() {
    let ws = with_jobs("  count:\n    command: [./count.sh]\n", "count", "");
    let counter = ws.path().join("ran");
    ws.script(
        "count.sh",
        &format!("echo x >> {}\nexit 1", counter.display()),
    );
    let per_build = || {
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        let mut s = c.prepare("SELECT b.full_hash, count(*) FROM job_runs j JOIN builds b ON b.id = j.build_id GROUP BY b.id ORDER BY b.dt_build DESC").unwrap();
        s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    };
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(per_build().len(), 1);
    // The newest candidate has its (failed) vote: the next run tries the
    // next candidate instead of the same build again.
    ws.run(&["run", "--wait"]).ok();
    let runs = per_build();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|(_, n)| *n == 1), "{runs:?}");
    let newest = runs[0].0.clone();
    ws.run(&["run", "--wait", "--rerun", "count"]).ok();
    let runs = per_build();
    assert_eq!(
        runs[0],
        (newest, 2),
        "--rerun runs it on the newest candidate again"
    );
    ws.run(&["run", "--wait", "--rerun", "nope"]).code(3);
    // A vote reported from elsewhere counts as the job's vote.
    let ws = with_jobs("  count:\n    command: [./count.sh]\n", "count", "");
    ws.script("count.sh", &format!("echo x >> {}", counter.display()));
    ws.run(&["import"]).ok();
    let (c, d) = hashes_of(&ws.builder_link("consistent"));
    ws.run_db(&[
        "report-result",
        "--job-id",
        "count",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--info-url",
        "u",
        "--timestamp",
        "1",
        "--success",
        "true",
    ])
    .ok();
    std::fs::remove_file(&counter).unwrap();
    ws.run(&["run", "--wait"]).ok();
    assert!(!counter.exists(), "the job did not run");
    assert_eq!(
        ws.builder_link("consistent"),
        ws.link("trunk/tripleo-ci-testing").unwrap()
    );
}

#[test]
fn a_matrix_expands_and_a_disabled_combination_is_neither_run_nor_required() {
    let ws = with_jobs(
        "  packstack:\n    command: [./matrix.sh]\n    matrix:\n      dist: [epel-7, fedora-21]\n      arch: [x86_64]\n    disabled:\n      - {dist: fedora-21, reason: \"fedora-21 images broken since 2015-01-28\"}\n",
        "packstack",
        "",
    );
    ws.script(
        "matrix.sh",
        "echo \"$PROMOTER_JOB_ID $PROMOTER_MATRIX_DIST $PROMOTER_MATRIX_ARCH\"",
    );
    ws.run(&["run", "--wait"]).ok();
    let v = votes(&ws);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].0, "packstack-epel-7-x86_64");
    let archive = ws.sql::<String>("SELECT archive FROM job_runs");
    assert_eq!(
        console(&archive).trim(),
        "packstack-epel-7-x86_64 epel-7 x86_64"
    );
    assert!(
        ws.link("trunk/tripleo-ci-testing").is_some(),
        "the disabled one is not required"
    );
    let why = ws.run(&["why", "--promotion", "tripleo-ci-testing"]);
    assert!(
        why.stdout.contains(
            "disabled  packstack-fedora-21-x86_64  fedora-21 images broken since 2015-01-28"
        ),
        "{}",
        why.stdout
    );
}

#[test]
fn three_jobs_over_a_pool_of_two_environments_never_share_one() {
    let ws = with_jobs(
        "  a:\n    command: [./te.sh]\n    testenv: ovb\n  b:\n    command: [./te.sh]\n    testenv: ovb\n  c:\n    command: [./te.sh]\n    testenv: ovb\n",
        "a, b, c",
        "max_parallel_jobs: 3",
    );
    let trace = ws.path().join("trace");
    ws.script("te.sh", &format!(
        "echo \"$(date +%s.%N) start $(basename $TE_DATAFILE)\" >> {t}\nsleep 1\necho \"$(date +%s.%N) end $(basename $TE_DATAFILE)\" >> {t}",
        t = trace.display()
    ));
    for n in ["ovb-1", "ovb-2"] {
        let data = ws.path().join(format!("{n}.json"));
        std::fs::write(&data, format!("{{\"name\": \"{n}\", \"nodes\": 4}}")).unwrap();
        ws.run(&[
            "testenv",
            "add",
            n,
            "--pool",
            "ovb",
            "--data",
            data.to_str().unwrap(),
        ])
        .ok();
    }
    ws.run(&["run", "--wait"]).ok();
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut spans: std::collections::HashMap<String, Vec<(f64, f64)>> = Default::default();
    let mut open: std::collections::HashMap<String, Vec<f64>> = Default::default();
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let t: f64 = f.next().unwrap().parse().unwrap();
        let what = f.next().unwrap();
        let env = f.next().unwrap().to_string();
        if what == "start" {
            open.entry(env).or_default().push(t);
        } else {
            let s = open
                .get_mut(&env)
                .unwrap()
                .pop()
                .expect("an end after a start");
            spans.entry(env).or_default().push((s, t));
        }
    }
    assert_eq!(spans.values().map(Vec::len).sum::<usize>(), 3, "{text}");
    for (env, mut list) in spans {
        list.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        for w in list.windows(2) {
            assert!(w[0].1 <= w[1].0, "{env} was shared: {list:?}");
        }
    }
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM leases WHERE released_at IS NULL"),
        0
    );
    assert_eq!(
        ws.sql::<i64>("SELECT count(DISTINCT testenv) FROM job_runs"),
        2
    );
}

#[test]
fn the_broker_leases_exclusively_and_takes_back_expired_or_orphaned_leases() {
    let ws = Workspace::sample();
    let data = ws.path().join("env.json");
    std::fs::write(&data, "{\"host\": \"10.0.0.1\"}").unwrap();
    std::fs::write(ws.path().join("bad.json"), "not json").unwrap();
    ws.run(&["testenv", "add", "e1", "--pool", "p", "--data", "bad.json"])
        .code(2)
        .error_says("not a JSON");
    ws.run(&[
        "testenv",
        "add",
        "e1",
        "--pool",
        "p",
        "--data",
        "missing.json",
    ])
    .code(3);
    ws.run(&[
        "testenv",
        "add",
        "e1",
        "--pool",
        "p",
        "--data",
        data.to_str().unwrap(),
    ])
    .ok();
    ws.run(&[
        "testenv",
        "add",
        "e1",
        "--pool",
        "p",
        "--data",
        data.to_str().unwrap(),
    ])
    .code(4);
    ws.run(&[
        "testenv",
        "add",
        "../e",
        "--pool",
        "p",
        "--data",
        data.to_str().unwrap(),
    ])
    .code(2);
    let got = ws.run(&[
        "testenv",
        "acquire",
        "--pool",
        "p",
        "--holder",
        "zuul job 7",
        "--ttl",
        "1h",
    ]);
    got.ok();
    let (lease, file) = got.stdout.trim().split_once(' ').unwrap();
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        "{\"host\": \"10.0.0.1\"}"
    );
    ws.run(&["testenv", "acquire", "--pool", "p", "--holder", "other"])
        .code(75)
        .error_says("held");
    ws.run(&["testenv", "acquire", "--pool", "nope", "--holder", "x"])
        .code(3);
    let list = ws.run(&["testenv", "list"]);
    assert!(list.stdout.contains("zuul job 7"), "{}", list.stdout);
    ws.run(&["testenv", "remove", "e1"])
        .code(4)
        .error_says("held by zuul job 7");
    // Its time runs out: taken back by the next acquire.
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    c.execute("UPDATE leases SET expires_at = 1 WHERE id = ?1", [lease])
        .unwrap();
    let again = ws.run(&["testenv", "acquire", "--pool", "p", "--holder", "second"]);
    again.ok();
    let reason: String = c
        .query_row(
            "SELECT release_reason FROM leases WHERE id = ?1",
            [lease],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "taken back: its time ran out");
    // A local holder that is gone: taken back too.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let second: i64 = again
        .stdout
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    c.execute("UPDATE leases SET pid = ?1 WHERE id = ?2", (dead, second))
        .unwrap();
    ws.run(&["testenv", "acquire", "--pool", "p", "--holder", "third"])
        .ok();
    ws.run(&["testenv", "release", "999"]).code(3);
    let third: i64 = c
        .query_row("SELECT id FROM leases WHERE released_at IS NULL", [], |r| {
            r.get(0)
        })
        .unwrap();
    ws.run(&["testenv", "release", &third.to_string()]).ok();
    ws.run(&["testenv", "remove", "e1"]).ok();
    assert!(!std::path::Path::new(file).exists());
}

#[test]
fn a_job_whose_supervisor_was_killed_is_marked_interrupted_and_run_again() {
    let ws = with_jobs("  deploy:\n    command: [./deploy.sh]\n", "deploy", "");
    let marker = ws.path().join("supervisor-killed");
    let pidfile = ws.path().join("job.pid");
    // The first time, the job kills its supervisor (its parent, as a
    // SIGKILL or a reboot would end it) and keeps going; the next time it
    // passes.
    ws.script("deploy.sh", &format!(
        "if [ ! -e {m} ]; then touch {m}; echo $$ > {p}; kill -9 $PPID; exec sleep 600; fi\necho deployed",
        m = marker.display(),
        p = pidfile.display()
    ));
    let r = ws.run(&["run"]);
    r.ok();
    let supervisor: i32 = ws.sql("SELECT runner_pid FROM job_runs");
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while alive(supervisor) {
        assert!(Instant::now() < deadline, "the supervisor was never killed");
        std::thread::yield_now();
    }
    let v = votes(&ws);
    assert_eq!(v.len(), 1);
    assert!(v[0].2, "left with an in-progress vote");
    let orphan: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(orphan));
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(r.stderr.contains("job deploy"), "{}", r.stderr);
    assert!(r.stderr.contains("its supervisor died"), "{}", r.stderr);
    assert!(r.stderr.contains("was interrupted"), "{}", r.stderr);
    assert!(!alive(orphan), "the leftover job is stopped");
    let v = votes(&ws);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        !v[0].1 && !v[0].2 && v[0].4.starts_with("interrupted"),
        "{v:?}"
    );
    assert!(v[1].1 && !v[1].2, "run again, and passed: {v:?}");
    assert_eq!(
        ws.sql::<String>(
            "SELECT group_concat(outcome, ',') FROM (SELECT outcome FROM job_runs ORDER BY id)"
        ),
        "interrupted,passed"
    );
    assert!(ws.link("trunk/tripleo-ci-testing").is_some());
    // The interrupted job's logs so far are packed like a finished job's.
    let archive: String = ws.sql("SELECT archive FROM job_runs WHERE outcome = 'interrupted'");
    assert!(
        archive.ends_with(".tar.gz") && std::path::Path::new(&archive).is_file(),
        "{archive}"
    );
    let url: String = ws.sql(
        "SELECT v.url FROM votes v JOIN job_runs j ON j.vote_id = v.id WHERE j.outcome = 'interrupted'",
    );
    assert_eq!(url, archive, "its vote points at them");
}

#[test]
fn a_dry_run_says_which_jobs_it_would_run_and_runs_none() {
    let ws = with_jobs("  j:\n    command: [./never.sh]\n", "j", "");
    let touched = ws.path().join("touched");
    ws.script("never.sh", &format!("touch {}", touched.display()));
    let r = ws.run(&["run", "--dry-run"]);
    r.ok();
    assert!(r.stdout.contains("would run j on "), "{}", r.stdout);
    assert!(!touched.exists());
}

#[test]
fn a_label_moved_by_hand_while_the_jobs_ran_stops_the_promotion() {
    let ws = with_jobs("  meddle:\n    command: [./meddle.sh]\n", "meddle", "");
    ws.run(&["import"]).ok();
    let other: String = ws.sql(
        "SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET 1",
    );
    // While the job runs, someone moves the link to another build by hand
    // (repo-promote would wait for the run's lock: label moves take turns).
    ws.script(
        "meddle.sh",
        &format!(
            "ln -sfn {other} {}/trunk/tripleo-ci-testing",
            ws.path().display()
        ),
    );
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(r.stderr.contains("moved by someone else"), "{}", r.stderr);
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        other,
        "left as the other hand set it"
    );
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM promotions"),
        0,
        "the run recorded nothing over it"
    );
}

#[test]
fn a_holder_elsewhere_waits_for_an_environment_renews_its_lease_and_gets_the_descriptor() {
    let ws = with_jobs("  j:\n    command: [./j.sh]\n", "j", "");
    std::fs::write(
        ws.path().join("env.json"),
        "{\"host\": \"ovb-1.example\", \"port\": 22}",
    )
    .unwrap();
    ws.run(&["testenv", "add", "e1", "--pool", "p", "--data", "env.json"])
        .ok();
    let first = ws
        .run(&[
            "testenv", "acquire", "--pool", "p", "--holder", "ci-1", "--ttl", "1h", "--json",
        ])
        .json();
    assert_eq!(first["descriptor"]["host"], "ovb-1.example");
    assert_eq!(first["descriptor"]["port"], 22);
    let lease = first["id"].as_i64().unwrap();
    // Held: a bounded wait ends with exit 75 and says it waited.
    let t = Instant::now();
    ws.run(&[
        "testenv", "acquire", "--pool", "p", "--holder", "ci-2", "--wait", "1s",
    ])
    .code(75)
    .error_says("(waited 1s)");
    assert!(t.elapsed() >= std::time::Duration::from_secs(1));
    // A waiting holder gets it once the first lets go.
    let waiter = std::process::Command::new(BIN)
        .current_dir(ws.path())
        .args([
            "-c",
            ws.config().to_str().unwrap(),
            "testenv",
            "acquire",
            "--pool",
            "p",
        ])
        .args(["--holder", "ci-2", "--wait", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Renewing moves the expiry out: now plus the new ttl.
    let before = ws.sql::<i64>(&format!("SELECT expires_at FROM leases WHERE id = {lease}"));
    ws.run(&["testenv", "renew", &lease.to_string(), "--ttl", "4h"])
        .ok();
    let after = ws.sql::<i64>(&format!("SELECT expires_at FROM leases WHERE id = {lease}"));
    assert!(after >= before + 3 * 3600 - 5, "{before} → {after}");
    ws.run(&["testenv", "release", &lease.to_string()]).ok();
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.trim_end().ends_with("e1.json"), "{line}");
    // A lease without a ttl lasts as long as its holder: nothing to renew.
    let held: i64 = ws.sql("SELECT id FROM leases WHERE released_at IS NULL");
    ws.run(&["testenv", "renew", &held.to_string(), "--ttl", "1h"])
        .code(4);
    ws.run(&["testenv", "renew", "999", "--ttl", "1h"]).code(3);
    ws.run(&["testenv", "renew", &held.to_string(), "--ttl", "soon"])
        .code(2);
    ws.assert_leases_never_overlap();
}

#[test]
fn a_failed_job_with_retries_runs_again_and_its_pass_promotes() {
    let once = "  flaky:\n    command: [./flaky.sh]\n";
    let ws = with_jobs(&format!("{once}    retries: 1\n"), "flaky", "");
    let marker = ws.path().join("failed-once");
    // Fails the first time, passes the second.
    ws.script(
        "flaky.sh",
        &format!(
            "if [ ! -e {m} ]; then touch {m}; exit 1; fi\necho passed",
            m = marker.display()
        ),
    );
    ws.run(&["run", "--wait"]).ok();
    assert!(
        ws.link("trunk/tripleo-ci-testing").is_none(),
        "one round per run"
    );
    ws.run(&["run", "--wait"]).ok();
    let outcomes: String =
        ws.sql("SELECT group_concat(outcome, ',') FROM (SELECT outcome FROM job_runs ORDER BY id)");
    assert_eq!(outcomes, "failed,passed");
    assert!(ws.link("trunk/tripleo-ci-testing").is_some());
    // Without retries, the failure counts: the next run tries an older
    // candidate, not the same build again.
    let ws = with_jobs(once, "flaky", "");
    ws.script("flaky.sh", "exit 1");
    ws.run(&["run", "--wait"]).ok();
    ws.run(&["run", "--wait"]).ok();
    let same: i64 =
        ws.sql("SELECT count(*) FROM job_runs GROUP BY build_id ORDER BY 1 DESC LIMIT 1");
    assert_eq!(same, 1, "a failure without retries is final for its build");
}
