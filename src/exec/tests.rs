use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;

fn sh(dir: &Path, script: &str, timeout: Duration) -> Spec {
    Spec {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env: Vec::new(),
        cwd: dir.to_path_buf(),
        log: dir.join("logs/console.log"),
        timeout,
        grace: Duration::from_millis(300),
    }
}

/// Whether `pid` is a live process (a zombie is gone: its parent, maybe
/// init in a container, just has not reaped it yet).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next()),
            Some("Z" | "X")
        ),
        Err(_) => false,
    }
}

/// Waits, bounded, until `pid` is gone; whether it went.
fn gone(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while running(pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    !running(pid)
}

fn pid_in(path: &PathBuf) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_timeout_stops_the_group_with_sigterm_and_kills_a_grandchild() {
    let d = tempfile::tempdir().unwrap();
    let pids = d.path().join("grandchild.pid");
    let spec = sh(
        d.path(),
        &format!("sleep 300 & echo $! > {}; wait", pids.display()),
        Duration::from_millis(300),
    );
    let ended = run(&spec).unwrap();
    assert!(
        matches!(
            ended,
            Ended::TimedOut {
                stopped_with: Stop::Term,
                status: Some(Status::Signal(15)),
                ..
            }
        ),
        "{ended:?}"
    );
    assert_eq!(ended.signal(), Some(15));
    assert!(gone(pid_in(&pids)), "the grandchild survived the timeout");
}

#[test]
fn a_group_that_ignores_sigterm_gets_sigkill_after_the_grace_period() {
    let d = tempfile::tempdir().unwrap();
    let pids = d.path().join("grandchild.pid");
    let spec = sh(
        d.path(),
        &format!(
            "trap '' TERM; sh -c 'trap \"\" TERM; echo $$ > {}; exec sleep 300' & wait; wait",
            pids.display()
        ),
        Duration::from_millis(200),
    );
    let t0 = Instant::now();
    let ended = run(&spec).unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "no grace period"
    );
    assert!(
        matches!(
            ended,
            Ended::TimedOut {
                stopped_with: Stop::Kill,
                status: Some(Status::Signal(9)),
                ..
            }
        ),
        "{ended:?}"
    );
    assert!(gone(pid_in(&pids)), "the grandchild survived SIGKILL");
}

#[test]
fn a_process_that_left_the_group_with_its_marker_is_killed_when_it_ends() {
    let d = tempfile::tempdir().unwrap();
    let pids = d.path().join("escaped.pid");
    let mut spec = sh(
        d.path(),
        &format!(
            "setsid sh -c 'echo $$ > {0}; exec sleep 300' & while [ ! -s {0} ]; do :; done",
            pids.display()
        ),
        Duration::from_secs(60),
    );
    let mark = format!("exec-test:{}", std::process::id());
    spec.env.push((MARKER_VAR.into(), mark.clone()));
    assert!(run(&spec).unwrap().passed());
    assert!(gone(pid_in(&pids)), "the escaped process survived");
    assert!(marked(MARKER_VAR, &mark).is_empty());
}

#[test]
fn exit_statuses_and_signals_are_described() {
    let d = tempfile::tempdir().unwrap();
    let long = Duration::from_secs(60);
    let passed = run(&sh(d.path(), "exit 0", long)).unwrap();
    assert!(passed.passed());
    assert_eq!(passed.exit_code(), Some(0));
    let failed = run(&sh(d.path(), "exit 3", long)).unwrap();
    assert_eq!(failed, Ended::Finished(Status::Code(3)));
    assert!(!failed.passed());
    assert_eq!(failed.to_string(), "exit status 3");
    let killed = run(&sh(d.path(), "kill -9 $$", long)).unwrap();
    assert_eq!(killed, Ended::Finished(Status::Signal(9)));
    assert_eq!(killed.to_string(), "killed by signal 9");
    assert_eq!((killed.exit_code(), killed.signal()), (None, Some(9)));
    let timed_out = Ended::TimedOut {
        after: Duration::from_secs(3600),
        stopped_with: Stop::Term,
        status: Some(Status::Signal(15)),
    };
    assert_eq!(
        timed_out.to_string(),
        "timed out after 1h: its process group was stopped with SIGTERM"
    );
}

#[test]
fn stdout_and_stderr_go_to_the_log_file_whose_directory_is_created() {
    let d = tempfile::tempdir().unwrap();
    let spec = sh(d.path(), "echo out; echo err >&2", Duration::from_secs(60));
    assert!(run(&spec).unwrap().passed());
    assert_eq!(std::fs::read_to_string(&spec.log).unwrap(), "out\nerr\n");
}

#[test]
fn a_program_that_cannot_start_ended_and_an_unwritable_log_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let mut spec = sh(d.path(), "", Duration::from_secs(60));
    spec.program = d.path().join("no-such-program");
    let ended = run(&spec).unwrap();
    assert!(matches!(ended, Ended::NotStarted { .. }), "{ended:?}");
    assert!(
        ended
            .to_string()
            .starts_with(&format!("could not start {}: ", spec.program.display())),
        "{ended}"
    );
    std::fs::write(d.path().join("file"), "").unwrap();
    spec.log = d.path().join("file/console.log");
    let err = run(&spec).unwrap_err();
    assert!(
        err.starts_with("could not create the log directory"),
        "{err}"
    );
}

#[test]
fn a_cancelled_child_is_stopped_and_polling_never_blocks() {
    let d = tempfile::tempdir().unwrap();
    let mut child = start(&sh(d.path(), "exec sleep 300", Duration::from_secs(60))).unwrap();
    let pid = child.pid().unwrap();
    assert!(alive(i64::from(pid)));
    assert_eq!(child.poll(), None);
    child.cancel(Stop::Term);
    assert_eq!(child.wait(), Ended::Finished(Status::Signal(15)));
    assert!(!alive(i64::from(pid)), "a reaped child is not alive");
}

#[test]
fn waiting_for_several_children_wakes_when_the_first_ends() {
    let d = tempfile::tempdir().unwrap();
    let long = start(&sh(d.path(), "exec sleep 300", Duration::from_secs(60))).unwrap();
    let short = start(&sh(d.path(), "exit 0", Duration::from_secs(60))).unwrap();
    let t0 = Instant::now();
    wait_any([&long, &short], Some(Duration::from_secs(30)));
    assert!(t0.elapsed() < Duration::from_secs(20));
    let (mut long, mut short) = (long, short);
    assert!(short.wait().passed());
    long.cancel(Stop::Kill);
    assert_eq!(long.wait(), Ended::Finished(Status::Signal(9)));
}

#[test]
fn liveness_of_pids() {
    assert!(alive(i64::from(std::process::id())));
    assert!(alive(1), "init is alive even if it is not ours to signal");
    assert!(!alive(0));
    assert!(!alive(-1));
    assert!(!alive(i64::from(i32::MAX) + 1));
}

#[test]
fn a_zombie_is_not_alive() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = i64::from(child.id());
    // Ended but not reaped: a zombie until we wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap()
        .contains(") Z")
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::yield_now();
    }
    assert!(!super::alive(pid));
    child.wait().unwrap();
    assert!(super::alive(i64::from(std::process::id())));
}

#[test]
fn a_quoted_argument_reaches_the_shell_as_written() {
    assert_eq!(super::shell_quote("it's"), "'it'\\''s'");
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!("printf %s {}", super::shell_quote("a 'b' $HOME;")),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "a 'b' $HOME;");
}

#[test]
fn a_marked_process_is_found_even_while_it_execs() {
    // Between replacing its memory and laying out its new stack, a process
    // in `execve` reads as having no environment: a scan then must look
    // again, or a job that execs at the wrong moment escapes its sweep.
    let d = tempfile::tempdir().unwrap();
    let mark = format!("exec-loop:{}", std::process::id());
    let mut child = std::process::Command::new("sh")
        .args(["-c", "exec sh -c \"$LOOP\""])
        .env("LOOP", "exec sh -c \"$LOOP\"")
        .env(MARKER_VAR, &mark)
        .current_dir(d.path())
        .spawn()
        .unwrap();
    let misses = (0..300)
        .filter(|_| marked(MARKER_VAR, &mark).is_empty())
        .count();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(misses, 0, "scans that missed a process while it execed");
}
