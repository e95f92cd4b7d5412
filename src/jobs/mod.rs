//! The batch job runner: which jobs a promotion runs on which build (a pure
//! plan), and running them in parallel with logs, timeouts and exclusive
//! test environments.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::config::{Config, JobInstance, PromotionDef};
use crate::error::Result;
use crate::store::builds::Build;
use crate::store::jobs::{JobEnd, JobOutcome, NewJobRun};
use crate::store::testenvs::{Holder, Lease};
use crate::store::Store;

pub mod logs;
pub mod process;

/// One job instance to run on one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub instance: JobInstance,
    pub build: Build,
}

/// The jobs of `p` to run now: each enabled job instance runs on the newest
/// candidate that has no final vote from it yet; `rerun` names jobs (or job
/// instances) to run on the newest candidate anyway.
pub fn plan(
    cfg: &Config,
    p: &PromotionDef,
    candidates: &[Build],
    has_final_vote: impl Fn(&Build, &str) -> Result<bool>,
    rerun: &[String],
) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    for name in &p.jobs {
        let Some(def) = cfg.job(name) else { continue };
        for instance in def.instances() {
            if instance.disabled.is_some() {
                continue;
            }
            let forced = rerun.iter().any(|r| r == name || r == instance.id.as_str());
            let mut chosen = None;
            for b in candidates {
                if forced || !has_final_vote(b, instance.id.as_str())? {
                    chosen = Some(b.clone());
                    break;
                }
            }
            if let Some(build) = chosen {
                out.push(Planned {
                    instance: instance.clone(),
                    build,
                });
            }
        }
    }
    Ok(out)
}

/// The variable every process of a job inherits, naming its job run: what
/// finds a job's processes after its runner died, whatever their pids.
pub const MARKER_VAR: &str = crate::model::JOB_MARKER_VAR;

/// The value of [`MARKER_VAR`]: the database's origin name and the job
/// run's id, unique across the releases of one host.
pub fn marker(origin: &str, job_run: i64) -> String {
    format!("{origin}:{job_run}")
}

/// What happened to a job, for the caller to log.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        job_id: String,
        full_hash: String,
        testenv: Option<String>,
    },
    Ended {
        job_id: String,
        full_hash: String,
        outcome: JobOutcome,
        notes: String,
        url: String,
        seconds: f64,
    },
}

/// Settings of a batch of jobs.
pub struct Batch<'a> {
    pub cfg: &'a Config,
    pub promotion: &'a str,
    pub run_id: i64,
    pub user: &'a str,
}

struct Running {
    job_run: i64,
    lease: Option<Lease>,
    planned: Planned,
    log_dir: PathBuf,
}

enum Msg {
    Started(i64, u32),
    Ended(i64, std::result::Result<process::Ended, String>),
}

/// Runs the planned jobs, at most `max_parallel_jobs` at a time, each
/// holding a test environment of its pool when it asks for one. Records
/// each job's in-progress vote when it starts and its final vote when it
/// ends; returns when all have ended.
pub fn run_all(
    store: &mut Store,
    b: &Batch,
    planned: Vec<Planned>,
    on: &mut dyn FnMut(Event),
) -> Result<()> {
    let cfg = b.cfg;
    let origin = store.origin()?;
    let base = cfg.dir.clone();
    let mut pending: VecDeque<Planned> = planned.into();
    let mut running: Vec<Running> = Vec::new();
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut blocked_since: Option<Instant> = None;
    let mut pids: std::collections::HashMap<i64, u32> = std::collections::HashMap::new();
    std::thread::scope(|scope| -> Result<()> {
        // On an error (the database failing, say), the jobs still running
        // are stopped and waited for, not left to run for hours while the
        // error waits: their votes stay in progress, and the next run marks
        // them interrupted.
        macro_rules! or_stop {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(err) => {
                        for r in &running {
                            if let Some(p) = pids.get(&r.job_run) {
                                process::signal_group(*p, libc::SIGKILL);
                            }
                        }
                        let mut left = running.len();
                        while left > 0 {
                            match rx.recv() {
                                Ok(Msg::Ended(..)) => left -= 1,
                                Ok(Msg::Started(_, p)) => process::signal_group(p, libc::SIGKILL),
                                Err(_) => break,
                            }
                        }
                        // Best effort: their environments are free again.
                        let now = crate::clock::now();
                        for r in &running {
                            process::kill_marked(&marker(&origin, r.job_run));
                            let _ = store.interrupt_job_run(
                                r.job_run,
                                "interrupted: the runner failed before the job ended",
                                now,
                            );
                            if let Some(l) = &r.lease {
                                let _ =
                                    store.release_lease(l.id, "released: the runner failed", now);
                            }
                        }
                        return Err(err);
                    }
                }
            };
        }
        loop {
            // Asked to stop: the jobs are stopped, each recorded as
            // interrupted (not a vote), their environments given back.
            if let Some(signal) = crate::signals::stop_requested() {
                stop_all(store, cfg, &origin, &running, &mut pids, &rx)?;
                return Err(crate::error::Error::Interrupted {
                    signal,
                    what: format!(
                        "{} running job(s) were stopped and recorded as interrupted; the next run runs them again",
                        running.len()
                    ),
                });
            }
            // Start what can start, in order; a job waiting for an
            // environment does not hold up the ones behind it.
            let mut still_pending = VecDeque::new();
            let mut blocked = false;
            while let Some(p) = pending.pop_front() {
                if running.len() >= cfg.max_parallel_jobs {
                    still_pending.push_back(p);
                    continue;
                }
                let def = cfg
                    .job(&p.instance.job)
                    .expect("planned jobs are configured");
                let lease = match &def.testenv {
                    Some(pool) => {
                        let holder = format!(
                            "run {} job {} on {}",
                            b.run_id, p.instance.id, p.build.full_hash
                        );
                        match or_stop!(store.acquire_testenv(
                            pool,
                            &Holder {
                                name: &holder,
                                pid: Some(std::process::id()),
                                expires_at: None,
                            },
                            crate::clock::now(),
                        )) {
                            Some(l) => Some(l),
                            None => {
                                blocked = true;
                                still_pending.push_back(p);
                                continue;
                            }
                        }
                    }
                    None => None,
                };
                let log_dir = cfg
                    .logs
                    .join(&p.build.full_hash)
                    .join(format!("{}-run{}", p.instance.id, b.run_id));
                let _ = std::fs::remove_dir_all(&log_dir);
                let job_run = or_stop!(store.start_job_run(
                    &NewJobRun {
                        run_id: b.run_id,
                        promotion: b.promotion,
                        job_id: p.instance.id.as_str(),
                        build_id: p.build.id,
                        log_dir: &log_dir.display().to_string(),
                        testenv: lease.as_ref().map(|l| l.testenv.as_str()),
                        user: b.user,
                    },
                    crate::clock::now(),
                ));
                let mut spec = spec(cfg, b.promotion, &base, &p, lease.as_ref(), &log_dir);
                let mark = marker(&origin, job_run);
                if let Some(l) = &lease {
                    // The lease lasts as long as any process of the job.
                    or_stop!(store.set_lease_marker(l.id, &mark));
                }
                spec.env.push((MARKER_VAR.into(), mark));
                on(Event::Started {
                    job_id: p.instance.id.to_string(),
                    full_hash: p.build.full_hash.clone(),
                    testenv: lease.as_ref().map(|l| l.testenv.clone()),
                });
                let tx = tx.clone();
                scope.spawn(move || {
                    let started = tx.clone();
                    let ended = process::run(&spec, |pid| {
                        let _ = started.send(Msg::Started(job_run, pid));
                    });
                    let _ = tx.send(Msg::Ended(job_run, ended));
                });
                running.push(Running {
                    job_run,
                    lease,
                    planned: p,
                    log_dir,
                });
            }
            pending = still_pending;
            if blocked {
                blocked_since.get_or_insert_with(Instant::now);
            } else {
                blocked_since = None;
            }
            if running.is_empty() && pending.is_empty() {
                return Ok(());
            }
            if running.is_empty() {
                // Only jobs waiting for an environment someone else holds:
                // give up on them once the wait is over.
                let waited = blocked_since.map(|t| t.elapsed()).unwrap_or_default();
                if waited >= cfg.testenv_wait {
                    for p in pending.drain(..) {
                        unscheduled(store, b, &p, cfg, on)?;
                    }
                    return Ok(());
                }
            }
            // Wait for a job to start or end, looking at stop requests and,
            // while jobs wait for an environment held elsewhere, at the
            // environments again, a few times a second.
            let wait = if pending.is_empty() || !blocked {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(1)
            };
            let msg = match rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            };
            match msg {
                Some(Msg::Started(id, pid)) => {
                    pids.insert(id, pid);
                    or_stop!(store.set_job_pid(id, pid));
                }
                Some(Msg::Ended(id, ended)) => {
                    let i = running
                        .iter()
                        .position(|r| r.job_run == id)
                        .expect("an ended job was running");
                    let r = running.swap_remove(i);
                    pids.remove(&r.job_run);
                    or_stop!(finish(store, b, r, ended, on));
                }
                None => {}
            }
        }
    })
}

/// Stops every running job: SIGTERM to its group, SIGKILL after
/// `kill_grace`, and every process carrying its marker; then records each
/// as interrupted and gives its environment back.
fn stop_all(
    store: &mut Store,
    cfg: &Config,
    origin: &str,
    running: &[Running],
    pids: &mut std::collections::HashMap<i64, u32>,
    rx: &mpsc::Receiver<Msg>,
) -> Result<()> {
    for p in pids.values() {
        process::signal_group(*p, libc::SIGTERM);
    }
    let deadline = Instant::now() + cfg.kill_grace;
    let mut left = running.len();
    while left > 0 {
        let now = Instant::now();
        let msg = if now < deadline {
            rx.recv_timeout(deadline - now)
        } else {
            for p in pids.values() {
                process::signal_group(*p, libc::SIGKILL);
            }
            rx.recv_timeout(Duration::from_secs(5))
        };
        match msg {
            Ok(Msg::Ended(..)) => left -= 1,
            Ok(Msg::Started(id, p)) => {
                pids.insert(id, p);
                process::signal_group(p, libc::SIGTERM);
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                if Instant::now() >= deadline + Duration::from_secs(5) {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let now = crate::clock::now();
    for r in running {
        process::kill_marked(&marker(origin, r.job_run));
        store.interrupt_job_run(
            r.job_run,
            "interrupted: its runner was asked to stop before the job ended",
            now,
        )?;
        if let Some(l) = &r.lease {
            store.release_lease(l.id, "released: the job was stopped", now)?;
        }
    }
    Ok(())
}

fn finish(
    store: &mut Store,
    b: &Batch,
    r: Running,
    ended: std::result::Result<process::Ended, String>,
    on: &mut dyn FnMut(Event),
) -> Result<()> {
    let ended = match ended {
        Ok(e) => e,
        Err(reason) => {
            // The promoter's side failed, not the job: no vote.
            store.error_job_run(r.job_run, &reason, crate::clock::now())?;
            if let Some(l) = &r.lease {
                store.release_lease(
                    l.id,
                    "released: the job could not run",
                    crate::clock::now(),
                )?;
            }
            on(Event::Ended {
                job_id: r.planned.instance.id.to_string(),
                full_hash: r.planned.build.full_hash.clone(),
                outcome: JobOutcome::Error,
                notes: reason,
                url: String::new(),
                seconds: 0.0,
            });
            return Ok(());
        }
    };
    let (archive, mut notes) = match logs::pack(&r.log_dir) {
        Ok(a) => (Some(a), ended.notes.clone()),
        Err(e) => (
            None,
            format!("{} (its logs could not be packed: {e})", ended.notes),
        ),
    };
    if notes.is_empty() && ended.outcome == JobOutcome::Passed {
        notes = format!("passed in {:.0}s", ended.seconds);
    }
    let url = match &archive {
        Some(a) => log_url(b.cfg, a),
        None => r.log_dir.display().to_string(),
    };
    let archive_text = archive.as_ref().map(|a| a.display().to_string());
    store.finish_job_run(
        r.job_run,
        &JobEnd {
            outcome: ended.outcome,
            exit_code: ended.exit_code,
            signal: ended.signal,
            notes: &notes,
            archive: archive_text.as_deref(),
            url: &url,
        },
        crate::clock::now(),
    )?;
    if let Some(l) = &r.lease {
        store.release_lease(l.id, "released: the job ended", crate::clock::now())?;
    }
    on(Event::Ended {
        job_id: r.planned.instance.id.to_string(),
        full_hash: r.planned.build.full_hash.clone(),
        outcome: ended.outcome,
        notes,
        url,
        seconds: ended.seconds,
    });
    Ok(())
}

/// Records a job that never started because no environment came free: an
/// error of this side, not a vote; the next run tries again.
fn unscheduled(
    store: &mut Store,
    b: &Batch,
    p: &Planned,
    cfg: &Config,
    on: &mut dyn FnMut(Event),
) -> Result<()> {
    let pool = cfg
        .job(&p.instance.job)
        .and_then(|d| d.testenv.clone())
        .unwrap_or_default();
    let notes = format!(
        "not run: no test environment of pool {pool} came free within {}",
        crate::duration::format_secs(cfg.testenv_wait.as_secs() as i64)
    );
    let id = store.start_job_run(
        &NewJobRun {
            run_id: b.run_id,
            promotion: b.promotion,
            job_id: p.instance.id.as_str(),
            build_id: p.build.id,
            log_dir: "",
            testenv: None,
            user: b.user,
        },
        crate::clock::now(),
    )?;
    store.error_job_run(id, &notes, crate::clock::now())?;
    on(Event::Ended {
        job_id: p.instance.id.to_string(),
        full_hash: p.build.full_hash.clone(),
        outcome: JobOutcome::Error,
        notes,
        url: String::new(),
        seconds: 0.0,
    });
    Ok(())
}

/// The vote url of a log archive: under `logs_url` when configured, else
/// its path.
fn log_url(cfg: &Config, archive: &Path) -> String {
    match (&cfg.logs_url, archive.strip_prefix(&cfg.logs)) {
        (Some(base), Ok(rel)) => format!("{}/{}", base.trim_end_matches('/'), rel.display()),
        _ => archive.display().to_string(),
    }
}

/// The process a job instance runs, with its variables.
fn spec(
    cfg: &Config,
    promotion: &str,
    base: &Path,
    p: &Planned,
    lease: Option<&Lease>,
    log_dir: &Path,
) -> process::Spec {
    let def = cfg
        .job(&p.instance.job)
        .expect("planned jobs are configured");
    let mut env = crate::build_env::variables(cfg, promotion, &p.build);
    env.push(("PROMOTER_JOB_ID".into(), p.instance.id.to_string()));
    env.push(("PROMOTER_LOG_DIR".into(), log_dir.display().to_string()));
    for (axis, value) in &p.instance.matrix {
        env.push((
            format!("PROMOTER_MATRIX_{}", axis.to_ascii_uppercase()),
            value.clone(),
        ));
    }
    if let Some(l) = lease {
        env.push(("TE_DATAFILE".into(), l.data_file.clone()));
    }
    for (k, v) in &def.env {
        env.push((k.clone(), v.clone()));
    }
    process::Spec {
        program: crate::build_env::resolve_program(base, &def.command[0]),
        args: def.command[1..].to_vec(),
        env,
        cwd: log_dir.to_path_buf(),
        log: log_dir.join("console.log"),
        timeout: def.timeout,
        grace: cfg.kill_grace,
    }
}
