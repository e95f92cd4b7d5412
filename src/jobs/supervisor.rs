//! A local job's supervisor: a process of its own session that runs one job
//! run to its end, whatever happens to the run that started it (its exit,
//! a SIGTERM or SIGHUP to it, cron restarting). It enforces the job's
//! timeout, is the child subreaper of the job (processes that left the
//! job's group are handed to it and killed when the job ends), then packs
//! the logs, records the vote and gives the lease back.
//!
//! It holds a lock file, `<database>.jobs/<job run>.lock`, while it lives:
//! whoever holds the run lock can tell a live supervisor from a dead one
//! (a SIGKILL, a reboot) without trusting a pid.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::record::{self, Finish};
use crate::exec::{self, Spec, Stop};
use crate::store::lock::{try_lock, Held};

/// The hidden command that runs a supervisor.
pub const COMMAND: &str = "supervise";

/// How long a supervisor may take to say it started its job.
const START_WAIT: Duration = Duration::from_secs(60);
/// How long a supervisor spends killing what its job left.
const REAP_BOUND: Duration = Duration::from_secs(10);
/// The longest an order may be.
const MAX_ORDER: u64 = 16 << 20;

/// What a supervisor is asked to run, written to its stdin as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub database: PathBuf,
    pub finish: Finish,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log: PathBuf,
    pub timeout_ms: u64,
    pub grace_ms: u64,
}

impl Order {
    pub fn new(database: &Path, finish: Finish, spec: &Spec) -> Order {
        Order {
            database: database.to_path_buf(),
            finish,
            program: spec.program.clone(),
            args: spec.args.clone(),
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            log: spec.log.clone(),
            timeout_ms: u64::try_from(spec.timeout.as_millis()).unwrap_or(u64::MAX),
            grace_ms: u64::try_from(spec.grace.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn spec(&self) -> Spec {
        Spec {
            program: self.program.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            log: self.log.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            grace: Duration::from_millis(self.grace_ms),
        }
    }
}

/// Where the supervisor of `job_run` keeps its lock (and its own log).
pub fn lock_path(database: &Path, job_run: i64) -> PathBuf {
    dir(database).join(format!("{job_run}.lock"))
}

fn dir(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".jobs");
    PathBuf::from(name)
}

/// Whether the supervisor of `job_run` lives: it holds its lock. A lock
/// nobody holds is removed.
pub fn supervised(database: &Path, job_run: i64) -> bool {
    let path = lock_path(database, job_run);
    if !path.exists() {
        return false;
    }
    // Read-only: another user's lock file is still one to test.
    let Ok(file) = std::fs::File::open(&path) else {
        // One that cannot be opened is taken as held: never a second copy.
        return true;
    };
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Err(rustix::io::Errno::WOULDBLOCK) => true,
        Err(_) => true,
        Ok(()) => {
            let _ = std::fs::remove_file(&path);
            false
        }
    }
}

/// A supervisor that said it started its job.
#[derive(Debug)]
pub struct Spawned {
    pub child: std::process::Child,
    /// The job's process id (and group).
    pub job_pid: u32,
}

/// Starts the supervisor of `order` and waits until it has started the job
/// (or says why it could not). `Err` is a reason of this side, for an
/// error run; the supervisor has recorded nothing then.
pub fn spawn(order: &Order) -> Result<Spawned, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the promoter's own executable: {e}"))?;
    let dir = dir(&order.database);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let own_log = dir.join(format!("{}.log", order.finish.job_run));
    let err = std::fs::File::create(&own_log)
        .map_err(|e| format!("cannot create {}: {e}", own_log.display()))?;
    let mut child = Command::new(exe)
        .arg(COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start the job's supervisor: {e}"))?;
    let text = serde_json::to_vec(order).expect("an order serializes");
    let written = child
        .stdin
        .take()
        .expect("piped")
        .write_all(&text)
        .map_err(|e| format!("cannot hand the job to its supervisor: {e}"));
    let said = written.and_then(|()| read_answer(&mut child));
    match said {
        Ok(job_pid) => Ok(Spawned { child, job_pid }),
        Err(reason) => {
            let _ = child.kill();
            let _ = child.wait();
            // A job it may have started before it was given up on goes too.
            if let Some((_, m)) = order.env.iter().find(|(k, _)| k == super::MARKER_VAR) {
                exec::kill_marked(m);
            }
            Err(reason)
        }
    }
}

/// The supervisor's first line: `started <pid>` or `error <reason>`.
fn read_answer(child: &mut std::process::Child) -> Result<u32, String> {
    let out = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    // Read in a thread, so a supervisor that hangs is given up on.
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).take(64 << 10).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(START_WAIT)
        .map_err(|_| "the job's supervisor did not start it in time".to_string())?;
    let line = line.trim_end();
    if let Some(pid) = line.strip_prefix("started ") {
        return pid
            .parse()
            .map_err(|_| format!("the job's supervisor said {line:?}"));
    }
    if let Some(reason) = line.strip_prefix("error ") {
        return Err(reason.to_string());
    }
    Err(format!(
        "the job's supervisor ended without starting it ({})",
        match child.wait() {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        }
    ))
}

/// The supervisor's own main: reads its order from stdin, detaches, runs
/// the job to its end and records it. Its exit status is for its log.
pub fn main() -> u8 {
    let mut text = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_ORDER).read_to_end(&mut text) {
        eprintln!("promoter supervise: cannot read the order: {e}");
        return 2;
    }
    let order: Order = match serde_json::from_slice(&text) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("promoter supervise: the order is not valid: {e}");
            return 2;
        }
    };
    match supervise(&order) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("promoter supervise: job run {}: {e}", order.finish.job_run);
            1
        }
    }
}

/// How long a supervisor keeps trying to record its job's end (the
/// database busy, the disk full for a moment) before it gives up and
/// leaves the next run to find the job interrupted.
const RECORD_FOR: Duration = Duration::from_secs(300);

/// Records the end of the job: its vote, or an interruption when its
/// supervisor was asked to stop; tried again for [`RECORD_FOR`].
fn record_end(
    order: &Order,
    stopped_by: Option<i32>,
    ended: &exec::Ended,
    seconds: f64,
) -> crate::error::Result<()> {
    let f = &order.finish;
    let until = Instant::now() + RECORD_FOR;
    let mut pause = Duration::from_millis(100);
    loop {
        let done = f.open(&order.database).and_then(|mut store| match stopped_by {
            Some(sig) => record::interrupted(
                &mut store,
                f,
                &format!(
                    "interrupted: its supervisor was asked to stop (signal {sig}) before the job ended"
                ),
            ),
            None => record::finish(&mut store, f, ended, seconds).map(drop),
        });
        match done {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= until => return Err(e),
            Err(e) => {
                eprintln!(
                    "promoter supervise: job run {}: {e}; trying again",
                    f.job_run
                );
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Reaps the processes handed to this subreaper that have ended, leaving
/// the job's own (`job`), whose status its [`exec::Child`] reads.
fn reap_orphans(job: Option<u32>) {
    use rustix::process::{waitpid, Pid, WaitOptions};
    for p in exec::children_of(std::process::id()) {
        if Some(p) == job {
            continue;
        }
        if let Some(pid) = i32::try_from(p).ok().and_then(Pid::from_raw) {
            let _ = waitpid(Some(pid), WaitOptions::NOHANG);
        }
    }
}

/// Says `line` to the run that waits for it, then lets go of stdout.
fn answer(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
}

fn supervise(order: &Order) -> crate::error::Result<()> {
    // Its own session: what is sent to the run's group or session (a
    // terminal hanging up, cron's stop) does not reach it.
    let _ = rustix::process::setsid();
    // SIGTERM and SIGINT stop the job; SIGHUP does nothing (after the
    // stop requests, which would take it too).
    crate::signals::catch_stop_requests();
    crate::signals::ignore_hangup();
    // What leaves the job's group is handed to it, not to init.
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    let f = &order.finish;
    let lock = match try_lock(&lock_path(&order.database, f.job_run)) {
        Ok(Held::Now(l)) => l,
        Ok(Held::By(who)) => {
            answer(&format!(
                "error job run {} is supervised already ({who})",
                f.job_run
            ));
            return Ok(());
        }
        Err(e) => {
            answer(&format!("error {e}"));
            return Ok(());
        }
    };
    let mut store = f.open(&order.database)?;
    let me = std::process::id();
    store.set_job_supervisor(f.job_run, me)?;
    if let Some(l) = f.lease {
        store.set_lease_pid(l, me)?;
    }
    let mut child = match exec::start(&order.spec()) {
        Ok(c) => c,
        Err(reason) => {
            answer(&format!("error {reason}"));
            return Ok(());
        }
    };
    if let Some(pid) = child.pid() {
        if let Err(e) = store.set_job_pid(f.job_run, pid) {
            // Nothing of a job it cannot record is left running.
            child.cancel(Stop::Kill);
            let _ = child.wait();
            exec::kill_children(REAP_BOUND);
            answer(&format!("error {e}"));
            return Ok(());
        }
    }
    answer(&format!("started {}", child.pid().unwrap_or(0)));
    drop(store);
    let started = Instant::now();
    let mut stopped_by = None;
    let ended = loop {
        if let (None, Some(sig)) = (stopped_by, crate::signals::stop_requested()) {
            stopped_by = Some(sig);
            child.cancel(Stop::Term);
        }
        if let Some(e) = child.poll() {
            break e;
        }
        exec::wait_any([&child], Some(Duration::from_secs(1)));
        // What was handed to it and has ended is reaped as it goes: a
        // job that daemonizes many helpers does not fill the process table.
        reap_orphans(child.pid());
    };
    exec::kill_children(REAP_BOUND);
    record_end(order, stopped_by, &ended, started.elapsed().as_secs_f64())?;
    let _ = std::fs::remove_file(&lock.path);
    let own_log = dir(&order.database).join(format!("{}.log", f.job_run));
    if std::fs::metadata(&own_log).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(&own_log);
    }
    Ok(())
}
