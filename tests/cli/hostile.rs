//! Hostile input: every value a user or a builder controls, table-driven.
//! Each case gets its documented exit code and one error line (plus
//! `caused by:` lines), never a panic or a hang, and nothing recorded
//! before is lost.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;
use crate::util::*;

/// Longest any one case may take: a hang is a failure, not a stuck CI.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs the binary with raw (possibly non-UTF-8) arguments, failing the
/// test if it does not end within [`PATIENCE`].
fn run_raw(dir: &Path, args: &[OsString]) -> Run {
    run_raw_with_stdin(dir, args, Stdio::null())
}

/// As [`run_raw`], with `stdin` as the standard input.
fn run_raw_with_stdin(dir: &Path, args: &[OsString], stdin: Stdio) -> Run {
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("PROMOTER_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .env("USER", "tester")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(out) => {
            let out = out.unwrap();
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            // SAFETY: killing the child we started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{args:?}: no answer within {PATIENCE:?}");
        }
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Asserts the shape of a refusal: the code, one `promoter: error:` line
/// that says `says`, only `caused by:` lines after it, no panic.
#[track_caller]
fn assert_refused(r: &Run, code: i32, says: &str, what: &str) {
    assert_eq!(r.code, code, "{what}: exit code\n{}", r.stderr);
    assert_no_panic(r, what);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if code == 2 && r.stderr.starts_with("error:") {
        // clap's own usage errors: one line, then usage help.
        assert!(
            lines[0].contains(says),
            "{what}: {says:?} not in\n{}",
            r.stderr
        );
        return;
    }
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("promoter: error: ")),
        "{what}: the first line is the error\n{}",
        r.stderr
    );
    assert!(
        lines[0].contains(says),
        "{what}: {says:?} not in the error line\n{}",
        r.stderr
    );
    for l in &lines[1..] {
        assert!(
            l.starts_with("caused by: "),
            "{what}: one error line, then only `caused by:` lines\n{}",
            r.stderr
        );
    }
}

#[track_caller]
fn assert_no_panic(r: &Run, what: &str) {
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE") && r.code != 101,
        "{what}: panicked\n{}",
        r.stderr
    );
}

/// A workspace with builds, votes, a promotion and a waiver recorded.
fn recorded() -> (Workspace, (String, String)) {
    let ws = Workspace::sample();
    ws.write_config(
        "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    criteria: [job-a]
publish:
  images:
    source: images
    dest: published/images
",
    );
    ws.run(&["run", "--wait"]).ok();
    let dir: String =
        ws.sql("SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1");
    let (c, d) = hashes_of(&dir);
    ws.run_db(&[
        "report-result",
        "--job-id",
        "job-a",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--info-url",
        "https://ci.example.org/1",
        "--timestamp",
        "1700000000",
        "--success",
        "false",
    ])
    .ok();
    (ws, (c, d))
}

#[test]
fn every_command_line_value_gets_its_exit_code_and_one_line() {
    let (ws, (c, d)) = recorded();
    let cfg = ws.config().to_str().unwrap().to_string();
    let long = "a".repeat(256);
    let wide = "é".repeat(128);
    let vote = |job: &str, commit: &str, distro: &str, ts: &str, success: &str| -> Vec<String> {
        [
            "--db",
            ws.db().to_str().unwrap(),
            "report-result",
            "--job-id",
            job,
            "--commit-hash",
            commit,
            "--distro-hash",
            distro,
            "--info-url",
            "u",
            "--timestamp",
            ts,
            "--success",
            success,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let with_cfg = |args: &[&str]| -> Vec<String> {
        let mut v = vec!["-c".to_string(), cfg.clone()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let mut cases: Vec<(String, Vec<String>, i32, &str)> = Vec::new();
    // Hashes.
    for bad in [
        "",
        "abc def",
        "abc;DROP TABLE votes",
        "'",
        "é",
        "a/b",
        "../..",
        &long,
        "a\u{202e}b",
        "a_b",
    ] {
        cases.push((
            format!("commit hash {bad:?}"),
            vote("j", bad, &d, "1", "true"),
            2,
            "commit hash",
        ));
        cases.push((
            format!("distro hash {bad:?}"),
            vote("j", &c, bad, "1", "true"),
            2,
            "distro hash",
        ));
    }
    for bad in ["a/b", "a..b", "a b", &long] {
        let mut v = vote("j", &c, &d, "1", "true");
        v.extend(["--extended-hash".to_string(), bad.to_string()]);
        cases.push((format!("extended hash {bad:?}"), v, 2, "extended hash"));
    }
    cases.push((
        "a build nobody built".into(),
        vote("j", "abc", "def", "1", "true"),
        3,
        "no build",
    ));
    // Job ids.
    for bad in [
        "", &long, &wide, "a/b", "..", "a..b", "a\nb", "a\tb", "a\u{7f}b", "a\u{85}b",
    ] {
        cases.push((
            format!("job id {bad:?}"),
            vote(bad, &c, &d, "1", "true"),
            2,
            "job id",
        ));
    }
    // Timestamps at and past the extremes.
    for bad in [
        "-1",
        "-0.5",
        "1e300",
        "NaN",
        "inf",
        "-inf",
        "253402300800",
        "9223372036854775807",
        "-9223372036854775808",
        "0x10",
        "",
        " ",
        "1_000",
        "١٢٣",
        "12abc",
    ] {
        cases.push((
            format!("timestamp {bad:?}"),
            vote("j", &c, &d, bad, "true"),
            2,
            "timestamp",
        ));
    }
    for bad in ["maybe", "", "2", "yes please"] {
        cases.push((
            format!("success {bad:?}"),
            vote("j", &c, &d, "1", bad),
            2,
            "boolean",
        ));
    }
    // Names.
    let promote = |name: &str| {
        with_cfg(&[
            "repo-promote",
            "--commit-hash",
            &c,
            "--distro-hash",
            &d,
            "--promote-name",
            name,
        ])
    };
    for (name, code, says) in [
        ("current", 4, "reserved"),
        ("consistent", 4, "reserved"),
        ("previous-current-tripleo", 4, "reserved"),
        ("../x", 2, "label"),
        ("a/b", 2, "label"),
        (".hidden", 2, "label"),
        ("a b", 2, "label"),
        ("", 2, "label"),
        (long.as_str(), 2, "label"),
    ] {
        cases.push((format!("promote name {name:?}"), promote(name), code, says));
    }
    let db = ws.db().to_str().unwrap().to_string();
    let with_db = |args: &[&str]| -> Vec<String> {
        let mut v = vec!["--db".to_string(), db.clone()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    for (what, args, code, says) in [
        (
            "agg hash",
            with_db(&["agg-status", "--agg-hash", "x/y"]),
            2,
            "aggregate hash",
        ),
        (
            // agg-status of an unknown aggregate answers [], as DLRN does.
            "unknown agg hash",
            with_db(&[
                "report-result",
                "--job-id",
                "j",
                "--agg-hash",
                "abc",
                "--info-url",
                "u",
                "--timestamp",
                "1",
                "--success",
                "true",
            ]),
            3,
            "aggregate_hash not found",
        ),
        (
            "negative limit",
            with_db(&["promotion-get", "--limit", "-1"]),
            2,
            "unexpected argument",
        ),
        (
            "negative offset",
            with_db(&["promotion-get", "--offset=-5"]),
            2,
            "cannot be negative",
        ),
        (
            "absurd limit",
            with_db(&["promotion-get", "--limit", "99999999999999999999"]),
            2,
            "invalid value",
        ),
        (
            "promote name filter",
            with_db(&["promotion-get", "--promote-name", "../x"]),
            2,
            "label",
        ),
        (
            "negative max age",
            with_db(&["repo-get", "--max-age", "-1"]),
            2,
            "unexpected argument",
        ),
        (
            "absurd max age",
            with_db(&["repo-get", "--max-age", "99999999999"]),
            2,
            "invalid value",
        ),
        (
            "repo-get job id",
            with_db(&["repo-get", "--job-id", "a/b"]),
            2,
            "job id",
        ),
        (
            "repo-use job id",
            with_db(&["repo-use", "--reporting-job-id", "a\nb"]),
            2,
            "job id",
        ),
        (
            "history limit",
            with_db(&["history", "--limit", "0"]),
            2,
            "--limit",
        ),
        (
            "unwaive text",
            with_db(&["unwaive", "abc"]),
            2,
            "invalid value",
        ),
        (
            "unwaive unknown",
            with_cfg(&["unwaive", "999999"]),
            3,
            "waiver",
        ),
        (
            "why hash",
            with_cfg(&["why", "--hash", "not-a-hash"]),
            2,
            "full hash",
        ),
        (
            "why unknown hash",
            with_cfg(&["why", "--promotion", "current-tripleo", "--hash", "abc_def"]),
            3,
            "abc_def",
        ),
        (
            "why promotion",
            with_cfg(&["why", "--promotion", "nope"]),
            3,
            "no promotion",
        ),
        (
            "rollback empty reason",
            with_cfg(&[
                "rollback",
                "--promotion",
                "tripleo-ci-testing",
                "--reason",
                " ",
            ]),
            2,
            "reason",
        ),
        (
            "rollback to garbage",
            with_cfg(&[
                "rollback",
                "--promotion",
                "tripleo-ci-testing",
                "--to",
                "x;y",
                "--reason",
                "r",
            ]),
            2,
            "full hash",
        ),
        (
            "publish target",
            with_cfg(&["publish", "--target", "nope"]),
            3,
            "no publish target",
        ),
        (
            "publish hash",
            with_cfg(&["publish", "--target", "images", "--hash", "../../etc"]),
            2,
            "full hash",
        ),
        (
            "verify nowhere",
            with_cfg(&["verify", "/nonexistent/dir"]),
            3,
            "SHA256SUMS",
        ),
        (
            "testenv name",
            with_cfg(&[
                "testenv",
                "add",
                "../x",
                "--pool",
                "p",
                "--data",
                "promoter.yaml",
            ]),
            2,
            "test environment",
        ),
        (
            "testenv pool",
            with_cfg(&[
                "testenv",
                "add",
                "x",
                "--pool",
                ".p",
                "--data",
                "promoter.yaml",
            ]),
            2,
            "pool",
        ),
        (
            "testenv data missing",
            with_cfg(&["testenv", "add", "x", "--pool", "p", "--data", "nope.json"]),
            3,
            "nope.json",
        ),
        (
            "testenv data not JSON",
            with_cfg(&[
                "testenv",
                "add",
                "x",
                "--pool",
                "p",
                "--data",
                "promoter.yaml",
            ]),
            2,
            "JSON",
        ),
        (
            "config missing",
            vec!["-c".into(), "/nonexistent.yaml".into(), "run".into()],
            2,
            "cannot read the config",
        ),
        (
            // A directory is a set of release configs; this one has none.
            "config is a directory",
            vec!["-c".into(), "/".into(), "run".into()],
            2,
            "holds no release config",
        ),
        (
            "database is a directory",
            vec!["--db".into(), "/".into(), "repo-get".into()],
            2,
            "is a directory",
        ),
        (
            "database under a file",
            vec!["--db".into(), format!("{cfg}/db.sqlite"), "repo-get".into()],
            1,
            "database",
        ),
    ] {
        cases.push((what.to_string(), args, code, says));
    }
    // Durations.
    for bad in [
        "soon",
        "0",
        "0s",
        "-5m",
        "1h30",
        "99999999999999999999d",
        "367d",
        "1e3s",
        "5 m",
        "ｈ",
        "",
        "m",
    ] {
        cases.push((
            format!("waiver expiry {bad:?}"),
            with_cfg(&[
                "waive",
                "--promotion",
                "current-tripleo",
                "--job-id",
                "job-a",
                "--reason",
                "r",
                &format!("--expires={bad}"),
            ]),
            2,
            "duration",
        ));
        cases.push((
            format!("lease ttl {bad:?}"),
            with_cfg(&[
                "testenv",
                "acquire",
                "--pool",
                "p",
                "--holder",
                "h",
                &format!("--ttl={bad}"),
            ]),
            2,
            "duration",
        ));
    }
    let total = cases.len();
    let mut before = Recorded::read(&ws.db());
    for (what, args, code, says) in &cases {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let r = run_raw(ws.path(), &args);
        assert_refused(&r, *code, says, what);
        let now = Recorded::read(&ws.db());
        now.assert_keeps(&before, what);
        assert_eq!(now, before, "{what}: a refused command recorded something");
        before = now;
    }
    // Not UTF-8 on the command line.
    let mut raw = os(&[
        "--db",
        ws.db().to_str().unwrap(),
        "report-result",
        "--job-id",
    ]);
    raw.push(OsStr::from_bytes(b"job-\xff").to_os_string());
    raw.extend(os(&[
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
    ]));
    assert_refused(
        &run_raw(ws.path(), &raw),
        2,
        "UTF-8",
        "a job id that is not UTF-8",
    );
    assert_eq!(Recorded::read(&ws.db()), before);

    // What is accepted at the edges is recorded verbatim, SQL and all.
    let accepted = [
        ("x".repeat(255), "0", "TRUE"),
        ("ok-job".into(), "253402300799", "0"),
        ("ok-job".into(), " 5 ", "f"),
        ("ok-job".into(), "1.5", "yes"),
    ];
    for (job, ts, success) in &accepted {
        run_raw(
            ws.path(),
            &os(&vote(job, &c, &d, ts, success)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()),
        )
        .code(0);
    }
    for notes in [
        "'); DROP TABLE votes; --",
        "\" OR 1=1 --",
        "Robert'); DELETE FROM promotions WHERE ('1'='1",
        "%_\\ ' \" ` ; -- /* */",
    ] {
        let mut v = vote("sql-job", &c, &d, "1", "true");
        v.extend(["--notes".to_string(), notes.to_string()]);
        run_raw(ws.path(), &v.iter().map(OsString::from).collect::<Vec<_>>()).code(0);
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        let stored: String = c
            .query_row(
                "SELECT notes FROM votes ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, notes, "notes are bound, not spliced");
    }
    Recorded::read(&ws.db()).assert_keeps(&before, "after the accepted votes");
    assert_database_sound(&ws.db());
    eprintln!(
        "hostile::cli: {total} refused values and {} accepted edge values",
        accepted.len() + 4
    );
}

/// A config text with `line` under a minimal valid config.
fn config_with(extra: &str) -> String {
    format!(
        "release: master
trunk: trunk
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
{extra}"
    )
}

#[test]
fn every_config_key_and_value_gets_exit_2_naming_file_and_key() {
    let (ws, _) = recorded();
    let deep = format!("release: {}{}", "[".repeat(5000), "]".repeat(5000));
    let laughs = {
        let mut s =
            String::from("release: master\ntrunk: trunk\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        s
    };
    let matrix = format!(
        "jobs:\n  j:\n    command: [true]\n    matrix:\n      a: [{}]\n      b: [{}]\n",
        "x".repeat(200),
        "y".repeat(100)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("unknown top key", config_with("colour: blue\n").into_bytes(), "colour: unknown key"),
        ("unknown job key", config_with("jobs:\n  j:\n    command: [true]\n    attempts: 3\n").into_bytes(), "jobs.j.attempts"),
        ("bad retries", config_with("jobs:\n  j:\n    command: [true]\n    retries: many\n").into_bytes(), "jobs.j.retries"),
        ("negative retries", config_with("jobs:\n  j:\n    command: [true]\n    retries: -1\n").into_bytes(), "jobs.j.retries"),
        ("bad timeout", config_with("jobs:\n  j:\n    command: [true]\n    timeout: soon\n").into_bytes(), "jobs.j.timeout"),
        ("zero timeout", config_with("jobs:\n  j:\n    command: [true]\n    timeout: 0s\n").into_bytes(), "jobs.j.timeout"),
        ("huge timeout", config_with("jobs:\n  j:\n    command: [true]\n    timeout: 99999999999999999999h\n").into_bytes(), "jobs.j.timeout"),
        ("negative grace", config_with("kill_grace: -1h\n").into_bytes(), "kill_grace"),
        ("testenv wait as a list", config_with("testenv_wait: [1h]\n").into_bytes(), "testenv_wait"),
        ("hash count 0", config_with("latest_hashes_count: 0\n").into_bytes(), "latest_hashes_count"),
        ("hash count 101", config_with("latest_hashes_count: 101\n").into_bytes(), "latest_hashes_count"),
        ("hash count -1", config_with("latest_hashes_count: -1\n").into_bytes(), "latest_hashes_count"),
        ("hash count 1.5", config_with("latest_hashes_count: 1.5\n").into_bytes(), "latest_hashes_count"),
        ("hash count 1e400", config_with("latest_hashes_count: 1e400\n").into_bytes(), "latest_hashes_count"),
        ("parallel jobs 0", config_with("max_parallel_jobs: 0\n").into_bytes(), "max_parallel_jobs"),
        ("keep 0", config_with("publish:\n  t:\n    source: trunk\n    dest: d\n    keep: 0\n").into_bytes(), "publish.t.keep"),
        ("unknown source", config_with("publish:\n  t:\n    source: ftp\n    dest: d\n").into_bytes(), "publish.t.source"),
        ("unknown sidecar", config_with("publish:\n  t:\n    source: trunk\n    dest: d\n    sidecars: [crc32]\n").into_bytes(), "publish.t.sidecars"),
        ("promotion to current", config_with("  current:\n    candidate_label: consistent\n    criteria: [x]\n").into_bytes(), "promotions.current"),
        ("promotion named ../x", config_with("  ../x:\n    candidate_label: consistent\n    criteria: [x]\n").into_bytes(), "promotions.../x"),
        ("promotion named .hidden", config_with("  .hidden:\n    candidate_label: consistent\n    criteria: [x]\n").into_bytes(), "promotions..hidden"),
        ("empty criteria", config_with("  p2:\n    candidate_label: consistent\n    criteria: []\n").into_bytes(), "promotions.p2.criteria"),
        ("undefined job", config_with("  p2:\n    candidate_label: consistent\n    jobs: [ghost]\n    criteria: [ghost]\n").into_bytes(), "promotions.p2.jobs"),
        ("undefined target", config_with("  p2:\n    candidate_label: consistent\n    criteria: [x]\n    publish: [ghost]\n").into_bytes(), "promotions.p2.publish"),
        ("unknown candidate", config_with("  p2:\n    candidate_label: nowhere\n    criteria: [x]\n").into_bytes(), "promotions.p2.candidate_label"),
        ("self cycle", config_with("  p2:\n    candidate_label: p2\n    criteria: [x]\n").into_bytes(), "cycle"),
        ("cycle", config_with("  p2:\n    candidate_label: p3\n    criteria: [x]\n  p3:\n    candidate_label: p2\n    criteria: [x]\n").into_bytes(), "cycle"),
        ("criterion too long", config_with(&format!("  p2:\n    candidate_label: consistent\n    criteria: [{}]\n", "j".repeat(256))).into_bytes(), "promotions.p2.criteria"),
        ("matrix job id too long", config_with(&matrix).into_bytes(), "jobs.j"),
        ("env key with =", config_with("jobs:\n  j:\n    command: [true]\n    env: {\"A=B\": x}\n").into_bytes(), "jobs.j.env"),
        ("empty command", config_with("jobs:\n  j:\n    command: []\n").into_bytes(), "jobs.j.command"),
        ("empty hook", config_with("    hooks: [[]]\n").into_bytes(), "hooks"),
        ("YAML syntax", b"release: master\ntrunk: [unclosed\n".to_vec(), "not valid YAML"),
        ("tabs", b"release: master\n\ttrunk: trunk\n".to_vec(), "not valid YAML"),
        ("a list", b"- release\n- trunk\n".to_vec(), "expected a mapping"),
        ("empty", Vec::new(), "the config is empty"),
        ("deep nesting", deep.into_bytes(), "not valid YAML"),
        ("billion laughs", laughs.into_bytes(), "promoter.yaml"),
        ("not UTF-8", b"release: \xff\xfe\ntrunk: trunk\n".to_vec(), "not UTF-8"),
        ("NUL bytes", b"release: master\0\ntrunk: trunk\n".to_vec(), "promoter.yaml"),
        ("release with a slash", b"release: a/b\ntrunk: trunk\n".to_vec(), "release"),
        ("no trunk", b"release: master\n".to_vec(), "trunk"),
    ];
    let before = Recorded::read(&ws.db());
    let good = std::fs::read(ws.config()).unwrap();
    for (what, text, says) in &cases {
        std::fs::write(ws.config(), text).unwrap();
        for command in [["config", "check"].as_slice(), ["run"].as_slice()] {
            let mut args = os(&["-c", ws.config().to_str().unwrap()]);
            args.extend(os(command));
            let r = run_raw(ws.path(), &args);
            assert_eq!(r.code, 2, "{what} ({command:?}): exit code\n{}", r.stderr);
            assert_no_panic(&r, what);
            let first = r.stderr.lines().next().unwrap_or("");
            assert!(
                first.starts_with("promoter: error: ") && first.contains("promoter.yaml"),
                "{what}: the error names the file\n{}",
                r.stderr
            );
            assert!(
                r.stderr.contains(says),
                "{what}: {says:?} not in\n{}",
                r.stderr
            );
        }
        assert_eq!(Recorded::read(&ws.db()), before, "{what}");
    }
    std::fs::write(ws.config(), good).unwrap();
    ws.run(&["config", "check"]).ok();
    eprintln!(
        "hostile::config: {} configs, each through `config check` and `run`",
        cases.len()
    );
}

/// The hash directory the builder made for a fake build, with `files`.
fn fake_build(ws: &Workspace, n: usize, files: &[(&str, &[u8])]) -> String {
    let ch = format!("f{n:03}{}", "0".repeat(36));
    let rel = format!("{}/{}/{ch}_deadbeef", &ch[..2], &ch[2..4]);
    let dir = ws.trunk().join(&rel);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    rel
}

fn commit_yaml(ch_n: usize, extra: &str) -> Vec<u8> {
    format!(
        "commits:\n- commit_hash: f{ch_n:03}{}\n  distro_hash: deadbeefcafe\n  dt_build: '1700000000'\n  project_name: p\n  status: SUCCESS\n{extra}",
        "0".repeat(36)
    )
    .into_bytes()
}

#[test]
fn trunk_garbage_is_skipped_with_a_warning_naming_it_and_the_rest_imported() {
    let (ws, _) = recorded();
    let builds_before: i64 = ws.sql("SELECT count(*) FROM builds");
    let before = Recorded::read(&ws.db());
    let laughs = {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        s.push_str("commits: *a11\n");
        s
    };
    let deep = format!("commits: {}{}", "[".repeat(5000), "]".repeat(5000));
    let bad_yaml: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("NUL bytes", b"\0\0\0".to_vec()),
        ("not UTF-8", b"commits:\n- commit_hash: \xff\xfe\n".to_vec()),
        ("no commits", b"commits: []\n".to_vec()),
        ("commits a mapping", b"commits: {}\n".to_vec()),
        ("commits numbers", b"commits: [1, 2]\n".to_vec()),
        ("negative dt_commit", commit_yaml(0, "").into_iter().chain(b"  dt_commit: '-1'\n".iter().copied()).collect()),
        ("huge dt_build", String::from_utf8(commit_yaml(0, "")).unwrap().replace("'1700000000'", "1e400").into_bytes()),
        ("NaN dt_build", String::from_utf8(commit_yaml(0, "")).unwrap().replace("'1700000000'", "'NaN'").into_bytes()),
        ("huge flags", commit_yaml(0, "  flags: '99999999999999999999999'\n")),
        ("extended hash with a slash", commit_yaml(0, "  extended_hash: a/b\n")),
        ("long commit hash", format!("commits:\n- commit_hash: {}\n  distro_hash: d\n  dt_build: '1'\n  project_name: p\n  status: SUCCESS\n", "a".repeat(300)).into_bytes()),
        ("component escaping", commit_yaml(0, "  component: ../../../etc\n")),
        ("another build", commit_yaml(999, "")),
        ("billion laughs", laughs.into_bytes()),
        ("deep nesting", deep.into_bytes()),
        ("one long line", vec![b'x'; 1 << 20]),
    ];
    let mut expect_warned = Vec::new();
    for (i, (what, bytes)) in bad_yaml.iter().enumerate() {
        let rel = fake_build(&ws, i + 1, &[("commit.yaml", bytes)]);
        expect_warned.push((what.to_string(), rel));
    }
    // A FIFO would block a reader forever; a link to /dev/zero never ends;
    // a directory is not a file.
    let n = bad_yaml.len() + 1;
    let fifo = fake_build(&ws, n, &[]);
    let c = std::ffi::CString::new(ws.trunk().join(&fifo).join("commit.yaml").to_str().unwrap())
        .unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    expect_warned.push(("a FIFO".into(), fifo));
    let zero = fake_build(&ws, n + 1, &[]);
    std::os::unix::fs::symlink("/dev/zero", ws.trunk().join(&zero).join("commit.yaml")).unwrap();
    expect_warned.push(("a link to /dev/zero".into(), zero));
    let dir = fake_build(&ws, n + 2, &[]);
    std::fs::create_dir(ws.trunk().join(&dir).join("commit.yaml")).unwrap();
    expect_warned.push(("a directory".into(), dir));
    // versions.csv garbage: the build is imported, not consistent, with a warning.
    let header = "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Extended Sha,Pkg NVR\n";
    let bad_csv: Vec<(&str, Vec<u8>)> = vec![
        (
            "csv unclosed quote",
            format!("{header}\"open,r,1,d,2,SUCCESS,1,None,None,a-1\n").into_bytes(),
        ),
        ("csv wrong header", b"a,b,c\n1,2,3\n".to_vec()),
        (
            "csv not UTF-8",
            [header.as_bytes(), b"\xff,r,1,d,2,SUCCESS,1,None,None,a-1\n"].concat(),
        ),
        ("csv short row", format!("{header}a,r\n").into_bytes()),
        ("csv NUL", b"\0\0".to_vec()),
    ];
    let base = n + 3;
    let mut csv_dirs = Vec::new();
    for (i, (what, bytes)) in bad_csv.iter().enumerate() {
        let rel = fake_build(
            &ws,
            base + i,
            &[
                ("commit.yaml", &commit_yaml(base + i, "")),
                ("versions.csv", bytes),
            ],
        );
        csv_dirs.push((what.to_string(), rel));
    }
    // Links and names.
    let t = ws.trunk();
    std::fs::create_dir_all(t.join("fe/fe")).unwrap();
    std::os::unix::fs::symlink("/etc", t.join("fe/fe/fefe_00000000")).unwrap();
    std::os::unix::fs::symlink("fefe_loop", t.join("fe/fe/fefe_loop")).unwrap();
    std::fs::create_dir_all(t.join("fd").join(OsStr::from_bytes(b"\xff\xfe"))).unwrap();
    std::fs::create_dir_all(t.join("fd/fd").join(OsStr::from_bytes(b"fdfd_\xff"))).unwrap();
    std::fs::create_dir_all(t.join("component")).unwrap();
    std::os::unix::fs::symlink(".", t.join("component/loop")).unwrap();
    std::fs::create_dir_all(t.join("component").join(OsStr::from_bytes(b"c\xff"))).unwrap();
    let newline = "f1/11/f111_dead\nbeef";
    std::fs::create_dir_all(t.join(newline)).unwrap();
    std::fs::write(t.join(newline).join("commit.yaml"), commit_yaml(998, "")).unwrap();
    std::fs::remove_file(t.join("current")).unwrap();
    std::os::unix::fs::symlink("current", t.join("current")).unwrap();

    let r = run_raw(
        ws.path(),
        &os(&["-c", ws.config().to_str().unwrap(), "import"]),
    );
    assert_eq!(r.code, 0, "import goes on past the garbage\n{}", r.stderr);
    assert_no_panic(&r, "import");
    for (what, rel) in &expect_warned {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(" WARN ") && l.contains(rel.as_str())),
            "{what}: no warning names {rel}\n{}",
            r.stderr
        );
    }
    for (what, rel) in &csv_dirs {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(" WARN ") && l.contains(&format!("{rel}/versions.csv"))),
            "{what}: no warning names it\n{}",
            r.stderr
        );
        let consistent: i64 = ws.sql(&format!(
            "SELECT consistent FROM builds WHERE repo_dir = '{rel}'"
        ));
        assert_eq!(consistent, 0, "{what}: imported, not consistent");
    }
    for needle in [
        "fefe_00000000",
        "fefe_loop",
        "not UTF-8",
        "/trunk/current: skipped",
        "f111_dead\\nbeef",
    ] {
        assert!(
            r.stderr.contains(needle),
            "{needle}: not warned\n{}",
            r.stderr
        );
    }
    for line in r.stderr.lines() {
        assert!(
            line.starts_with("20"),
            "one line per record, each with its time: {line:?}"
        );
    }
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM builds"),
        builds_before + csv_dirs.len() as i64,
        "only the readable builds were added"
    );
    Recorded::read(&ws.db()).assert_keeps(&before, "import of garbage");
    assert_database_sound(&ws.db());
    // Run goes on too.
    let r = run_raw(
        ws.path(),
        &os(&["-c", ws.config().to_str().unwrap(), "run"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    eprintln!(
        "hostile::trunk: {} commit.yaml, {} versions.csv and 9 link and name cases in one import",
        expect_warned.len(),
        csv_dirs.len()
    );
}

#[test]
fn a_database_file_that_is_garbage_or_from_the_future_is_refused_and_untouched() {
    let ws = Workspace::sample();
    std::fs::create_dir_all(ws.db().parent().unwrap()).unwrap();
    let mut rng = Rng::new(seed("hostile::database"));
    let mut header_then_junk = b"SQLite format 3\0".to_vec();
    header_then_junk.extend(rng.bytes(8192));
    let future = {
        let p = ws.path().join("future.sqlite");
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch("CREATE TABLE builds (x); PRAGMA user_version = 99999;")
            .unwrap();
        drop(c);
        std::fs::read(&p).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("random bytes", rng.bytes(4096), "not an SQLite database"),
        ("one byte", vec![b'S'], "not an SQLite database"),
        ("text", b"version: 1\n".to_vec(), "not an SQLite database"),
        ("SQLite header then junk", header_then_junk, "database"),
        ("from the future", future, "newer than"),
    ];
    for (what, bytes, says) in &cases {
        std::fs::write(ws.db(), bytes).unwrap();
        for command in [
            ["import"].as_slice(),
            ["run"].as_slice(),
            ["why"].as_slice(),
        ] {
            let mut args = os(&["-c", ws.config().to_str().unwrap()]);
            args.extend(os(command));
            let r = run_raw(ws.path(), &args);
            assert_refused(&r, 2, says, &format!("{what} ({command:?})"));
        }
        let r = run_raw(
            ws.path(),
            &os(&["--db", ws.db().to_str().unwrap(), "repo-get"]),
        );
        assert_refused(&r, 2, says, what);
        assert_eq!(
            &std::fs::read(ws.db()).unwrap(),
            bytes,
            "{what}: the file was changed"
        );
    }
}

#[test]
fn a_file_name_publish_cannot_carry_refuses_the_publish_and_dest_stays() {
    let (ws, _) = recorded();
    let full: String =
        ws.sql("SELECT full_hash FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1");
    let older: String = ws.sql(
        "SELECT full_hash FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET 1",
    );
    ws.run(&["publish", "--target", "images", "--hash", &older])
        .ok();
    let manifest = std::fs::read(ws.path().join("published/images/SHA256SUMS")).unwrap();
    let dir = ws.images().join(&full);
    let bad: Vec<(&str, OsString)> = vec![
        (
            "not UTF-8",
            OsStr::from_bytes(b"image-\xff.tar").to_os_string(),
        ),
        ("a newline", OsString::from("two\nlines.tar")),
        ("a backslash", OsString::from("back\\slash.tar")),
    ];
    for (what, name) in &bad {
        std::fs::write(dir.join(name), b"x").unwrap();
        let r = run_raw(
            ws.path(),
            &os(&[
                "-c",
                ws.config().to_str().unwrap(),
                "publish",
                "--target",
                "images",
                "--hash",
                &full,
            ]),
        );
        assert_refused(&r, 4, "cannot publish", what);
        assert_eq!(
            std::fs::read(ws.path().join("published/images/SHA256SUMS")).unwrap(),
            manifest,
            "{what}"
        );
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    ws.run(&["publish", "--target", "images", "--hash", &full])
        .ok();
    ws.run(&["verify", "published/images"]).ok();
}

/// Clears the screen, sets the terminal's title and rings the bell.
const TERMINAL_ESCAPE: &str = "\x1b[2J\x1b]0;owned\x07";
/// Starts a line of its own that reads like a passed job.
const FORGED_LINE: &str = "\n  passed    ovb-featureset001  2026-01-01 00:00  https://forged";

/// Asserts that a human output shows text from outside on its own line,
/// escaped: no control character but the newlines between lines, no
/// forged line, and the escape shown as text.
#[track_caller]
fn assert_escaped(r: &Run, what: &str) {
    r.ok();
    let out = &r.stdout;
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "{what}: a control character reached the terminal:\n{out:?}"
    );
    assert!(
        !out.lines()
            .any(|l| l.trim_start().starts_with("passed    ovb")),
        "{what}: a forged line:\n{out}"
    );
    assert!(
        out.contains("\\u{1b}[2J"),
        "{what}: the escape is shown:\n{out}"
    );
}

#[test]
fn text_from_outside_is_shown_with_control_characters_escaped_on_every_human_output() {
    let (ws, (c, d)) = recorded();
    let url = format!("https://ci.example.org/2{TERMINAL_ESCAPE}");
    let notes = format!("boom{FORGED_LINE}");
    ws.run_db(&[
        "report-result",
        "--job-id",
        "job-a",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--info-url",
        &url,
        "--timestamp",
        "1700000100",
        "--success",
        "false",
        "--notes",
        &notes,
    ])
    .ok();
    let db = rusqlite::Connection::open(ws.db()).unwrap();
    db.execute(
        "UPDATE builds SET project_name = ?1",
        [format!("nova{TERMINAL_ESCAPE}")],
    )
    .unwrap();

    // why: the vote's url and notes, the build's project name.
    let why = ws.run(&["why", "--promotion", "current-tripleo"]);
    assert_escaped(&why, "why");
    assert!(
        why.stdout.contains("boom\\n  passed    ovb"),
        "{}",
        why.stdout
    );
    // JSON stays as it was sent (serde escapes it).
    let j = ws
        .run(&["why", "--json", "--promotion", "current-tripleo"])
        .json();
    assert_eq!(j["jobs"][0]["state"], "failed", "{j}");
    assert!(j.to_string().contains("\\u001b[2J"), "{j}");

    // The waiver's user and reason, in `waivers` and in `why`.
    let evil_user = format!("mallory{TERMINAL_ESCAPE}");
    ws.run_env(
        &[
            "waive",
            "--promotion",
            "current-tripleo",
            "--job-id",
            "job-a",
            "--reason",
            &format!("flaky{FORGED_LINE}{TERMINAL_ESCAPE}"),
        ],
        &[("USER", &evil_user)],
    )
    .ok();
    assert_escaped(&ws.run(&["waivers"]), "waivers");
    assert_escaped(
        &ws.run(&["why", "--promotion", "current-tripleo"]),
        "why waived",
    );

    // history: a promotion's user and a rollback's reason.
    let older: String = ws.sql(
        "SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET 1",
    );
    let (oc, od) = hashes_of(&older);
    ws.run_env(
        &[
            "repo-promote",
            "--commit-hash",
            &oc,
            "--distro-hash",
            &od,
            "--promote-name",
            "tripleo-ci-testing",
        ],
        &[("USER", &evil_user)],
    )
    .ok();
    ws.run(&[
        "rollback",
        "--promotion",
        "tripleo-ci-testing",
        "--reason",
        &format!("back{FORGED_LINE}"),
    ])
    .ok();
    assert_escaped(&ws.run(&["history"]), "history");

    // status: what the database says of the last run.
    db.execute(
        "UPDATE runs SET summary = ?1",
        [format!("done{TERMINAL_ESCAPE}{FORGED_LINE}")],
    )
    .unwrap();
    assert_escaped(&ws.run(&["status"]), "status");

    // testenv list: a lease's holder.
    std::fs::write(ws.path().join("env.json"), "{}").unwrap();
    ws.run(&[
        "testenv", "add", "env1", "--pool", "p", "--data", "env.json",
    ])
    .ok();
    ws.run(&["testenv", "acquire", "--pool", "p", "--holder", "h"])
        .ok();
    db.execute(
        "UPDATE leases SET holder = ?1",
        [format!("h{TERMINAL_ESCAPE}{FORGED_LINE}")],
    )
    .unwrap();
    assert_escaped(&ws.run(&["testenv", "list"]), "testenv list");
}

/// A workspace with a FIFO named `fifo` in it.
fn with_fifo() -> (Workspace, String, String) {
    let ws = Workspace::sample();
    let fifo = ws.path().join("fifo");
    mkfifo(&fifo);
    let cfg = ws.config().to_str().unwrap().to_string();
    (ws, cfg, fifo.to_str().unwrap().to_string())
}

#[test]
fn a_config_that_is_dev_zero_a_fifo_or_too_large_is_refused_unread() {
    let (ws, _, fifo) = with_fifo();
    let big = ws.path().join("big.yaml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(17 << 20)
        .unwrap();
    for (what, config, says) in [
        (
            "/dev/zero",
            "/dev/zero",
            "cannot read the config: it is not a regular file",
        ),
        (
            "a FIFO",
            fifo.as_str(),
            "cannot read the config: it is not a regular file",
        ),
        (
            "a 17 MiB config",
            big.to_str().unwrap(),
            "cannot read the config: it is larger than 16 MiB",
        ),
    ] {
        let r = run_raw(ws.path(), &os(&["-c", config, "status"]));
        assert_refused(&r, 2, says, what);
    }
    assert!(!ws.db().exists(), "nothing written");
}

#[test]
fn a_replay_file_that_is_dev_zero_or_a_fifo_is_refused_unread() {
    let (ws, cfg, fifo) = with_fifo();
    for (what, file) in [("/dev/zero", "/dev/zero"), ("a FIFO", fifo.as_str())] {
        let r = run_raw(ws.path(), &os(&["-c", &cfg, "replay", file]));
        assert_refused(&r, 2, "it is not a regular file", what);
    }
    assert!(!ws.db().exists(), "nothing written");
}

#[test]
fn replay_of_an_endless_line_on_stdin_stops_at_the_line_bound() {
    let ws = Workspace::sample();
    let cfg = ws.config().to_str().unwrap().to_string();
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let r = run_raw_with_stdin(ws.path(), &os(&["-c", &cfg, "replay", "-"]), zero.into());
    assert_refused(&r, 2, "stdin:1: the line is longer than 1 MiB", "stdin");
    assert!(!ws.db().exists(), "nothing written");
}

#[test]
fn a_testenv_descriptor_that_is_dev_zero_or_a_fifo_is_refused_unread() {
    let (ws, cfg, fifo) = with_fifo();
    for (what, file) in [("/dev/zero", "/dev/zero"), ("a FIFO", fifo.as_str())] {
        let r = run_raw(
            ws.path(),
            &os(&[
                "-c", &cfg, "testenv", "add", "e", "--pool", "p", "--data", file,
            ]),
        );
        assert_refused(
            &r,
            2,
            &format!(
                "cannot read the test-environment descriptor {file}: it is not a regular file"
            ),
            what,
        );
    }
    assert!(!ws.path().join("state/testenvs").exists(), "no copy made");
}
