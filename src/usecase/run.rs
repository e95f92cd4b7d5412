//! `run`, the cron entry, as a use case: import what is new, recover what
//! an earlier command left (jobs whose runner died, unfinished promotions),
//! then for each promotion in order compute its plan (the jobs to run, and
//! what it would promote), run the jobs, and carry out the promotion; then
//! publish. A dry run computes the same plans and prints them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::memo::{Recorder, Said};
use super::{Level, Sink};
use crate::assess::{self, Candidacy, Candidate};
use crate::config::{Config, PromotionDef};
use crate::error::{exit, Error, Result};
use crate::ident::Label;
use crate::jobs::{Executor, Planned, Supervised};
use crate::promote::{self, Actor, AggregateSource, Carry, Outcome, Request, Trees};
use crate::store::builds::Build;
use crate::store::jobs::{JobOutcome, RunningJob};
use crate::store::lock::RunLock;
use crate::store::promotions::Kind;
use crate::store::Store;

/// What a run was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Only these promotions (all when empty).
    pub promotions: &'a [String],
    /// Jobs (or job instances) to run on the newest candidate anyway.
    pub rerun: &'a [String],
    /// Print the plans instead of carrying them out.
    pub dry_run: bool,
    /// Wait for the jobs it starts, deciding again as each ends (without
    /// holding the lock while it waits).
    pub wait: bool,
    /// Say, in [`Tally::steady`], whether the next run may repeat this
    /// one (`usecase::memo`): asked only of a plain run that can leave a
    /// memo.
    pub memo: bool,
}

/// What a run works with.
pub struct Env<'a> {
    pub cfg: &'a Config,
    pub trees: &'a Trees,
    pub user: &'a str,
    pub run_id: i64,
    /// The database: its lock is the release's, and job supervisors
    /// record into it.
    pub database: &'a Path,
}

impl Env<'_> {
    /// Where this run's hook logs go.
    fn log_dir(&self) -> PathBuf {
        self.cfg.logs.join("runs").join(self.run_id.to_string())
    }

    fn carry(&self) -> Carry<'_> {
        Carry {
            cfg: self.cfg,
            trees: self.trees,
            log_dir: self.log_dir(),
            user: self.user,
        }
    }
}

/// What a run did, for its summary line and `--json`.
#[derive(Debug, Default, Serialize)]
pub struct Tally {
    pub run_id: i64,
    pub promoted: i64,
    pub blocked: i64,
    pub stopped: i64,
    pub idle: i64,
    /// Promotions that could not proceed (an error of this side), and jobs
    /// that could not run: reported, the others go on, the run fails.
    pub failed: i64,
    /// Jobs it started, and of those, the ones still running when it
    /// returned (their supervisors record their votes).
    pub started: i64,
    pub running: i64,
    /// What the updates' flow did, when the config has updates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates: Option<super::updates::Advanced>,
    /// When the run did nothing, and a run on the same database and links
    /// would do the same, what it said of its promotions: the memo the
    /// next such run repeats (see `usecase::memo`).
    #[serde(skip)]
    pub steady: Option<Vec<(Level, String)>>,
}

/// What one promotion would do next, on the votes recorded now.
#[derive(Debug, Clone)]
pub enum Next {
    /// Move the label to the candidate; `current` is where it points now.
    Promote {
        candidate: Box<Candidate>,
        current: Option<String>,
    },
    /// The newest candidate does not qualify yet. `on_votes`: on the
    /// database alone (its votes and waivers), not on its images or
    /// containers, which live outside it.
    Blocked {
        what: String,
        summary: String,
        on_votes: bool,
    },
    /// No candidate newer than the last one promoted.
    Idle,
    /// The label already points at the build that qualifies.
    AlreadyThere { full_hash: crate::ident::FullHash },
    /// The build that qualifies cannot be promoted (gone, purged, outside).
    NotPromotable { reason: String },
}

/// One promotion's plan: the jobs to run now, and what it would promote.
#[derive(Debug, Clone)]
pub struct Plan {
    pub jobs: Vec<Planned>,
    pub next: Next,
    /// The builds that may still be promoted (the candidates'): a job on
    /// any other build is superseded.
    pub candidates: HashSet<i64>,
}

/// Where each label pointed (trunk, image) when the run began.
type Snapshot = HashMap<String, (Option<String>, Option<String>)>;

/// How long a run waiting for its jobs waits for the lock between two
/// passes (another run's pass takes milliseconds; a hand-made promotion,
/// a moment).
const LOCK_WAIT: Duration = Duration::from_secs(600);
/// The longest a waiting run sleeps before it looks at stop requests.
const WAIT_TICK: Duration = Duration::from_secs(1);

/// What a run carries from one pass to the next while it waits.
struct Passes {
    /// Every label as the first pass found it.
    snapshot: Option<Snapshot>,
    /// Promotions this run promoted: at most one move per label per run.
    done: HashSet<String>,
    /// Since when jobs have waited for environments held elsewhere.
    blocked_since: Option<Instant>,
    /// By promotion, the jobs of its round (what its first plan of this run
    /// asked for) not started yet: a run gives each promotion one round of
    /// jobs, as a run that waited for them always did.
    rounds: HashMap<String, Vec<(String, i64)>>,
    /// Whether every promotion so far was decided on the database alone,
    /// with no job to run and nothing to say but how it stands.
    steady: bool,
    /// What the promotions said.
    said: Recorder,
}

/// What one pass left waiting.
#[derive(Default)]
struct Pass {
    /// Jobs that wait for an environment someone else holds, by promotion.
    waiting: Vec<(String, Vec<Planned>)>,
}

/// Runs the pipeline: one pass (import, recover, decide, start jobs,
/// promote) under the release's lock, then publishing under each target's
/// own. With `wait`, it waits for the jobs it started, without the lock,
/// and passes again as they end. `lock` is the first pass's, taken by the
/// caller; the tally says what it did, also on an error.
pub fn run(
    env: &Env,
    store: &mut Store,
    opts: &Options,
    lock: Option<RunLock>,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<()> {
    let mut exec = Supervised::new(env.database);
    let mut passes = Passes {
        snapshot: None,
        done: HashSet::new(),
        blocked_since: None,
        rounds: HashMap::new(),
        steady: true,
        said: Recorder::default(),
    };
    let mut lock = lock;
    loop {
        let first = passes.snapshot.is_none();
        let pass = self::pass(env, store, opts, first, &mut exec, &mut passes, out, tally);
        drop(lock.take());
        let pass = pass?;
        stop_requested(|| "the run stopped before publishing".into())?;
        let failed = super::publish::publish_pending(
            env.cfg,
            store,
            env.database,
            env.user,
            out,
            opts.dry_run,
        )?;
        if failed > 0 {
            tally.failed += failed as i64;
        }
        if !opts.wait
            || opts.dry_run
            || !wait(env, store, &mut exec, &pass, &mut passes, out, tally)?
        {
            break;
        }
        lock = Some(RunLock::acquire_waiting(env.database, LOCK_WAIT)?);
    }
    tally.running = exec.running() as i64;
    if opts.memo && passes.steady {
        tally.steady = steady(env, store, tally, passes.said)?;
    }
    if tally.failed > 0 {
        return Err(Error::Failed(format!(
            "{} promotion(s), job(s) or publish(es) could not proceed (see the errors above); the others went on, and the next run tries again",
            tally.failed
        )));
    }
    Ok(())
}

/// One pass over the promotions, under the release's lock.
#[allow(clippy::too_many_arguments)]
fn pass(
    env: &Env,
    store: &mut Store,
    opts: &Options,
    first: bool,
    exec: &mut Supervised,
    passes: &mut Passes,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<Pass> {
    // What stands is counted again at each pass; what was done, once.
    (tally.blocked, tally.idle, tally.stopped) = (0, 0, 0);
    super::import::import_if_moved(out, store, &env.cfg.trunk)?;
    // Promotions whose unfinished attempt could not be completed: they wait
    // for it, instead of deciding anew on top of it.
    let mut unfinished = HashSet::new();
    // The job runs recorded as running, read once per pass: what collecting,
    // recovering and stopping superseded jobs look at, less those this pass
    // records as ended.
    let mut running = Vec::new();
    if !opts.dry_run {
        running = store.running_job_runs()?;
        collect_remote(env, store, &mut running, out)?;
        recover_jobs(env, store, &mut running, out)?;
        unfinished = complete_attempts(env, store, out, tally)?;
    }
    let snapshot = passes.snapshot.get_or_insert_with(|| snapshot(env)).clone();
    let mut pass = Pass::default();
    for p in &env.cfg.promotions {
        let name = p.name.as_str();
        if !opts.promotions.is_empty() && !opts.promotions.iter().any(|n| n == name) {
            continue;
        }
        if passes.done.contains(name) {
            continue;
        }
        stop_requested(|| format!("the run stopped before promotion {}", p.name))?;
        if unfinished.contains(name) {
            let msg = format!("{}: waits for its unfinished promotion (above)", p.name);
            out.log(Level::Warn, &msg);
            continue;
        }
        let rerun: &[String] = if first { opts.rerun } else { &[] };
        let step = Step {
            env,
            p,
            rerun,
            dry_run: opts.dry_run,
            wait: opts.wait,
            snapshot: &snapshot,
            round: passes.rounds.get(name),
        };
        // One promotion that cannot proceed (a link someone pointed outside
        // the trunk, a name the filesystem refuses) is reported; the
        // others go on.
        let said = Said {
            out,
            to: &passes.said,
        };
        match promotion(&step, store, exec, &mut running, &said, tally) {
            Ok(Progress {
                promoted,
                waiting,
                round,
                steady,
            }) => {
                passes.steady &= steady;
                if promoted {
                    passes.done.insert(name.to_string());
                }
                if let Some(left) = round {
                    passes.rounds.insert(name.to_string(), left);
                }
                if !waiting.is_empty() {
                    pass.waiting.push((name.to_string(), waiting));
                }
            }
            Err(e @ Error::Interrupted { .. }) => return Err(e),
            Err(e) => {
                tally.failed += 1;
                let msg = format!(
                    "{}: could not proceed: {e}; the other promotions go on",
                    p.name
                );
                out.log(Level::Error, &msg);
            }
        }
    }
    Ok(pass)
}

/// What the promotions of a run that did nothing said, when a run on the
/// same database and links would do the same: it promoted, started,
/// stopped, published and failed nothing (a promotion that could not
/// proceed is a failure), no job of the release runs, no promotion is left
/// unfinished, and the next run would import nothing.
fn steady(
    env: &Env,
    store: &Store,
    tally: &Tally,
    said: Recorder,
) -> Result<Option<Vec<(Level, String)>>> {
    let did = tally.promoted + tally.started + tally.stopped + tally.failed;
    if did > 0 {
        return Ok(None);
    }
    let Some(lines) = said.quiet() else {
        return Ok(None);
    };
    // A link at a build not recorded (a hash directory still being
    // written) is imported again by every run: no memo stands for that.
    let settled = super::import::links_unchanged(store, &env.cfg.trunk)?
        && store.running_job_runs()?.is_empty()
        && store.open_attempts()?.is_empty()
        && super::publish::pending(env.cfg, store)?.is_empty();
    Ok(settled.then_some(lines))
}

/// Cancels a job of a Slurm executor and records it interrupted: no
/// supervisor of this host records it.
fn cancel_remote(
    env: &Env,
    store: &mut Store,
    r: &crate::store::jobs::RunningJob,
    why: &str,
) -> Result<()> {
    // Only a job Slurm cancelled is recorded so (and its environment given
    // back); one scancel could not reach stays running, tried again later.
    if let Some(id) = &r.executor_id {
        crate::jobs::slurm::scancel(id).map_err(|e| {
            Error::Failed(format!(
                "could not cancel Slurm job {id} ({}): {e}",
                r.job_id
            ))
        })?;
    }
    let finish = crate::jobs::record::Finish::new(env.cfg, r.id, r.lease_id, Path::new(&r.log_dir));
    crate::jobs::record::interrupted(
        store,
        &finish,
        &format!("interrupted: {why}, cancelled in Slurm"),
    )
}

/// Records how the jobs of Slurm executors that left the queue ended: one
/// `squeue` call for all of them, as a local job's supervisor would record
/// its own end.
fn collect_remote(
    env: &Env,
    store: &mut Store,
    running: &mut Vec<RunningJob>,
    out: &dyn Sink,
) -> Result<()> {
    let mut remote = Vec::new();
    let mut ended = Vec::new();
    let result = collect_remote_of(env, store, running, &mut remote, &mut ended, out);
    running.retain(|r| !ended.contains(&r.id));
    result
}

/// [`collect_remote`]'s work; `ended` gets the job runs it recorded.
fn collect_remote_of(
    env: &Env,
    store: &mut Store,
    running: &[RunningJob],
    remote: &mut Vec<RunningJob>,
    ended: &mut Vec<i64>,
    out: &dyn Sink,
) -> Result<()> {
    for r in running {
        if r.is_local() {
            continue;
        }
        if r.executor_id.is_some() {
            remote.push(r.clone());
            continue;
        }
        // Recorded, but the run that submitted it died before sbatch said
        // its id: whatever was submitted is not known; an error run, its
        // environment given back, the next run submits it again.
        if !crate::exec::alive(r.runner_pid) {
            let finish =
                crate::jobs::record::Finish::new(env.cfg, r.id, r.lease_id, Path::new(&r.log_dir));
            crate::jobs::record::error(
                store,
                &finish,
                "its run died while submitting it to Slurm; submitted again",
            )?;
            ended.push(r.id);
        }
    }
    if remote.is_empty() {
        return Ok(());
    }
    let ids: Vec<(String, PathBuf, Duration)> = remote
        .iter()
        .map(|r| {
            let timeout = env
                .cfg
                .job_of_instance(&r.job_id)
                .map_or(Duration::ZERO, |j| j.timeout);
            (
                r.executor_id.clone().unwrap_or_default(),
                PathBuf::from(&r.log_dir),
                timeout,
            )
        })
        .collect();
    let states = match crate::jobs::slurm::states(&ids) {
        Ok(s) => s,
        Err(e) => {
            out.log(
                Level::Warn,
                &format!("cannot ask Slurm where its jobs stand: {e}; the next run asks again"),
            );
            return Ok(());
        }
    };
    for r in remote.iter() {
        let id = r.executor_id.clone().unwrap_or_default();
        let Some(crate::jobs::slurm::State::Ended(end)) = states.get(&id) else {
            continue;
        };
        let finish =
            crate::jobs::record::Finish::new(env.cfg, r.id, r.lease_id, Path::new(&r.log_dir));
        let seconds = (crate::clock::now() - r.started_at) as f64;
        crate::jobs::record::finish(store, &finish, end, seconds)?;
        ended.push(r.id);
        log_end(store, r.id, out)?;
    }
    Ok(())
}

/// Waits, without the lock, for one of the jobs this run started to end,
/// or for an environment to come free; whether to pass again. Jobs that
/// waited for an environment longer than `testenv_wait` are recorded as
/// error runs, and the run ends.
fn wait(
    env: &Env,
    store: &mut Store,
    exec: &mut Supervised,
    pass: &Pass,
    passes: &mut Passes,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<bool> {
    // Jobs of this run on a Slurm executor: looked at again each tick.
    let remote = store
        .running_job_runs()?
        .iter()
        .any(|r| !r.is_local() && r.run_id == Some(env.run_id));
    if remote && exec.running() == 0 {
        exec.wait(WAIT_TICK);
        stop_waiting(exec)?;
        return Ok(true);
    }
    if exec.running() == 0 {
        if pass.waiting.is_empty() {
            return Ok(false);
        }
        let since = *passes.blocked_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= env.cfg.testenv_wait {
            for (promotion, jobs) in &pass.waiting {
                let b = batch(env, promotion);
                for p in jobs {
                    let e = crate::jobs::record::unscheduled(store, &b, p)?;
                    log_job(out, promotion, e);
                    tally.failed += 1;
                }
            }
            return Ok(false);
        }
        exec.wait(WAIT_TICK);
        stop_waiting(exec)?;
        return Ok(true);
    }
    passes.blocked_since = None;
    loop {
        exec.wait(WAIT_TICK);
        stop_waiting(exec)?;
        let ended = exec.reap();
        for id in &ended {
            log_end(store, *id, out)?;
        }
        if !ended.is_empty() || remote {
            return Ok(true);
        }
    }
}

/// A stop request while the run waits ends the run; its jobs go on.
fn stop_waiting(exec: &Supervised) -> Result<()> {
    stop_requested(|| {
        format!(
            "the run stopped waiting; its {} running job(s) go on under their supervisors and record their votes",
            exec.running()
        )
    })
}

/// Logs how job run `id` ended, as its supervisor recorded it.
fn log_end(store: &Store, id: i64, out: &dyn Sink) -> Result<()> {
    match store.job_run_end(id)? {
        Some(end) => {
            let outcome = match end.outcome {
                crate::store::jobs::RunState::Passed => JobOutcome::Passed,
                crate::store::jobs::RunState::Failed => JobOutcome::Failed,
                crate::store::jobs::RunState::TimedOut => JobOutcome::TimedOut,
                _ => JobOutcome::Error,
            };
            let e = crate::jobs::Event::Ended {
                job_id: end.job_id,
                full_hash: end.full_hash,
                outcome,
                notes: end.notes,
                url: end.url,
                seconds: end.seconds as f64,
            };
            log_job(out, &end.promotion, e);
        }
        // Its supervisor died before it recorded the end: the next pass
        // finds it so and runs it again.
        None => out.log(
            Level::Warn,
            &format!("the supervisor of job run {id} ended before its job"),
        ),
    }
    Ok(())
}

/// A stop request (SIGTERM, SIGINT, SIGHUP) ends the run here.
fn stop_requested(what: impl FnOnce() -> String) -> Result<()> {
    match crate::signals::stop_requested() {
        Some(signal) => Err(Error::Interrupted {
            signal,
            what: what(),
        }),
        None => Ok(()),
    }
}

/// Job runs whose supervisor is gone (a reboot took it, or a kill) are
/// marked interrupted, and what is left of them is stopped: their
/// processes carry their marker, wherever they went. The next plan runs
/// them again.
fn recover_jobs(
    env: &Env,
    store: &mut Store,
    running: &mut Vec<RunningJob>,
    out: &dyn Sink,
) -> Result<()> {
    // A Slurm job is found by its id at each run, not by a supervisor.
    let orphans: Vec<RunningJob> = running
        .iter()
        .filter(|r| r.is_local() && !crate::jobs::supervisor::supervised(env.database, r.id))
        .cloned()
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    let origin = store.origin()?;
    for r in &orphans {
        // Only when its supervisor is gone: a copy of this database on the
        // same host must not kill the jobs of the original's.
        if !crate::exec::alive(r.runner_pid) {
            crate::exec::kill_marked(&crate::jobs::marker(&origin, r.id));
        }
        let note = format!(
            "interrupted: its supervisor (pid {}) died before the job ended",
            r.runner_pid
        );
        let finish = crate::jobs::record::Finish::new(env.cfg, r.id, None, Path::new(&r.log_dir));
        crate::jobs::record::interrupted(store, &finish, &note)?;
        running.retain(|x| x.id != r.id);
        let pid = r.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        out.log(
            Level::Warn,
            &format!(
                "job {}{pid} on build {} was interrupted: its supervisor died; it will run again",
                r.job_id, r.full_hash
            ),
        );
    }
    // Their leases, now that nothing of their jobs is left.
    store.reclaim_leases(crate::clock::now())?;
    Ok(())
}

/// Completes what earlier commands left unfinished; the names of the
/// promotions that must wait for theirs.
fn complete_attempts(
    env: &Env,
    store: &mut Store,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<HashSet<String>> {
    let mut unfinished = HashSet::new();
    for done in promote::complete_open_attempts(store, &env.carry())? {
        if done.left_open() {
            unfinished.insert(done.attempt.name.clone());
        }
        let attempt = &done.attempt;
        let by = match attempt.run_id {
            Some(r) => format!("run {r}"),
            None => format!("a {} command", attempt.kind.as_str()),
        };
        out.log(
            Level::Info,
            &format!(
                "completing the promotion to {} that {by} left at step {}",
                attempt.name,
                attempt.step.as_str()
            ),
        );
        let full = done.build.as_ref().map_or("?", |b| b.full_hash.as_str());
        match (done.result, &done.build) {
            (Ok(promote::Carried::Done { aggregate_hash, .. }), Some(_)) if attempt.aggregate => {
                tally.promoted += 1;
                let n = attempt.members.len();
                let h = aggregate_hash.unwrap_or_default();
                let msg = format!(
                    "promoted aggregate {h} ({n} component builds) to {}",
                    attempt.name
                );
                out.log(Level::Info, &msg);
            }
            (Ok(carried), Some(b)) => {
                let outcome = match carried {
                    promote::Carried::Done {
                        images, containers, ..
                    } => Outcome::Moved {
                        history_ids: Vec::new(),
                        previous: None,
                        images,
                        aggregate_hash: None,
                        containers,
                    },
                    promote::Carried::Stopped { reason } => Outcome::Stopped { reason },
                };
                let c = Candidate::Build(b.clone());
                report(env, &attempt.name, &c, outcome, out, tally);
            }
            (Ok(_), None) => {}
            (Err(e), _) => {
                tally.failed += 1;
                out.log(
                    Level::Error,
                    &format!(
                        "{}: could not complete the promotion of {full}: {e}; stopped, the other promotions go on",
                        attempt.name
                    ),
                );
            }
        }
    }
    Ok(unfinished)
}

/// Every label as the run found it (after completing what earlier commands
/// left), before any job runs: a label someone else moves while the jobs
/// run stops its promotion instead of being overwritten.
fn snapshot(env: &Env) -> Snapshot {
    let mut out = Snapshot::new();
    for p in &env.cfg.promotions {
        let name = p.name.as_str();
        if let (Ok(t), Ok(i)) = (
            crate::trunk::current_target(&env.trees.trunk, name, None),
            promote::current_image(env.trees, name),
        ) {
            out.insert(name.to_string(), (t, i));
        }
    }
    out
}

/// What one promotion's step works with.
struct Step<'a> {
    env: &'a Env<'a>,
    p: &'a PromotionDef,
    rerun: &'a [String],
    dry_run: bool,
    /// The run waits for its jobs.
    wait: bool,
    snapshot: &'a Snapshot,
    /// The jobs of its round not started yet, once it had a plan.
    round: Option<&'a Vec<(String, i64)>>,
}

/// What one promotion's step did.
struct Progress {
    promoted: bool,
    /// Jobs that wait for an environment someone else holds.
    waiting: Vec<Planned>,
    /// The jobs of its round still not started, when it planned jobs.
    round: Option<Vec<(String, i64)>>,
    /// Decided on the database alone, with no job to start or stop.
    steady: bool,
}

/// A planned job as its round names it.
fn round_key(p: &Planned) -> (String, i64) {
    (p.instance.id.to_string(), p.build.id)
}

/// One promotion: its plan, printed (a dry run) or carried out: the jobs
/// of builds that will never be promoted are stopped, the jobs it needs are
/// started (never waited for), and what qualifies on the votes recorded
/// now is promoted.
fn promotion(
    step: &Step,
    store: &mut Store,
    exec: &mut Supervised,
    running: &mut Vec<RunningJob>,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<Progress> {
    let (env, p) = (step.env, step.p);
    let mut plan = plan(env, store, p, step.rerun)?;
    let mut progress = Progress {
        promoted: false,
        waiting: Vec::new(),
        round: None,
        steady: plan.jobs.is_empty()
            && step.rerun.is_empty()
            && match &plan.next {
                Next::Idle | Next::AlreadyThere { .. } => true,
                Next::Blocked { on_votes, .. } => *on_votes,
                Next::Promote { .. } | Next::NotPromotable { .. } => false,
            },
    };
    if let Some(left) = step.round {
        // Its round is under way: what is left of it, if still wanted.
        plan.jobs.retain(|j| left.contains(&round_key(j)));
    }
    if step.dry_run {
        for j in &plan.jobs {
            out.print(&format!(
                "would run {} on {} for {}",
                j.instance.id, j.build.full_hash, p.name
            ))?;
        }
        settle(env, store, p, plan.next, None, out, tally)?;
        return Ok(progress);
    }
    stop_superseded(env, store, p, &plan.candidates, running, exec, out)?;
    let mut restart = Vec::new();
    if !step.rerun.is_empty() {
        restart = stop_rerun(env, store, p, &plan.jobs, exec, out)?;
        // A Slurm job stopped here is recorded already: it starts now; a
        // local one once its supervisor has recorded it (a later pass, or
        // the next run).
        let still: Vec<(String, i64)> = store
            .running_job_runs()?
            .iter()
            .map(|r| (r.job_id.clone(), r.build_id))
            .collect();
        restart.retain(|k| still.contains(k));
    }
    if !plan.jobs.is_empty() {
        let (waiting, queued) = start_jobs(env, store, p, plan.jobs, exec, out, tally)?;
        let mut left: Vec<(String, i64)> = waiting.iter().chain(&queued).map(round_key).collect();
        left.extend(restart);
        progress.round = Some(left);
        progress.waiting = waiting;
    }
    // A run that waits for the jobs of a blocked promotion says where it
    // stands once they ended, not before.
    let provisional = step.wait
        && store
            .running_job_runs()?
            .iter()
            .any(|r| r.promotion == p.name.as_str());
    let before = tally.promoted;
    match plan.next {
        Next::Blocked { what, summary, .. } if provisional => {
            tally.blocked += 1;
            let msg = format!(
                "{}: {what} is blocked while its jobs run: {summary}",
                p.name
            );
            out.log(Level::Debug, &msg);
        }
        next => settle(env, store, p, next, Some(step.snapshot), out, tally)?,
    }
    progress.promoted = tally.promoted > before;
    Ok(progress)
}

/// Stops the running jobs of `p` whose build is no longer among its
/// candidates (a newer build was promoted, or it fell out of the newest
/// `latest_hashes_count`): their build will never be promoted here.
fn stop_superseded(
    env: &Env,
    store: &mut Store,
    p: &PromotionDef,
    candidates: &HashSet<i64>,
    running: &mut Vec<RunningJob>,
    exec: &mut Supervised,
    out: &dyn Sink,
) -> Result<()> {
    let superseded: Vec<RunningJob> = running
        .iter()
        .filter(|r| r.promotion == p.name.as_str() && !candidates.contains(&r.build_id))
        .cloned()
        .collect();
    for r in superseded {
        if stop(env, store, &r, exec, "superseded")? {
            // A Slurm job is recorded as it is cancelled; a local one by
            // its supervisor, later.
            if !r.is_local() {
                running.retain(|x| x.id != r.id);
            }
            out.log(
                Level::Info,
                &format!(
                    "{}: stopping {} on {}: superseded, its build will not be promoted",
                    p.name, r.job_id, r.full_hash
                ),
            );
        }
    }
    Ok(())
}

/// Stops the running jobs of `p` that `--rerun` names, on the builds they
/// would run on now: asked to run again, a job is stopped (recorded as
/// interrupted, not a vote) and started anew when its slot is free. The
/// jobs stopped, to start again.
fn stop_rerun(
    env: &Env,
    store: &mut Store,
    p: &PromotionDef,
    planned: &[Planned],
    exec: &mut Supervised,
    out: &dyn Sink,
) -> Result<Vec<(String, i64)>> {
    let mut stopped = Vec::new();
    for r in store.running_job_runs()? {
        let wanted = planned
            .iter()
            .any(|j| j.build.id == r.build_id && j.instance.id.as_str() == r.job_id);
        if r.promotion != p.name.as_str() || !wanted {
            continue;
        }
        if stop(env, store, &r, exec, "asked to run again")? {
            out.log(
                Level::Warn,
                &format!(
                    "{}: stopping {} on {} to run it again (--rerun); it starts anew once it has stopped",
                    p.name, r.job_id, r.full_hash
                ),
            );
            stopped.push((r.job_id.clone(), r.build_id));
        }
    }
    Ok(stopped)
}

/// Stops a running job: SIGTERM to a local job's supervisor (which records
/// it interrupted), or `scancel` of a Slurm job (recorded here). Whether
/// there was a job to stop.
fn stop(
    env: &Env,
    store: &mut Store,
    r: &crate::store::jobs::RunningJob,
    exec: &mut Supervised,
    why: &str,
) -> Result<bool> {
    if !r.is_local() {
        cancel_remote(env, store, r, why)?;
        return Ok(true);
    }
    if !crate::jobs::supervisor::supervised(env.database, r.id) {
        return Ok(false);
    }
    let pid = u32::try_from(r.runner_pid).ok();
    exec.cancel(&crate::jobs::Handle {
        job_run: r.id,
        pid,
        id: None,
    });
    Ok(true)
}

fn batch<'a>(env: &'a Env, promotion: &'a str) -> crate::jobs::Batch<'a> {
    crate::jobs::Batch {
        cfg: env.cfg,
        promotion,
        run_id: env.run_id,
        user: env.user,
    }
}

/// The plan of promotion `p` on what the store holds now.
pub fn plan(env: &Env, store: &Store, p: &PromotionDef, rerun: &[String]) -> Result<Plan> {
    let now = crate::clock::now();
    let a = assess::assess_any(store, env.cfg, p, now)?;
    // Jobs run here for builds (an aggregate's votes come from outside),
    // and only help the candidates newer than one that already qualifies
    // (unless --rerun asks for a job anyway).
    let upto = match a.decision.promote {
        Some(id) if rerun.is_empty() => a.candidates.iter().position(|c| c.id() == id),
        _ => None,
    }
    .unwrap_or(a.candidates.len());
    let builds: Vec<Build> = a.candidates[..upto]
        .iter()
        .filter_map(|c| c.build().cloned())
        .collect();
    let jobs = if p.jobs.is_empty() || builds.is_empty() {
        Vec::new()
    } else {
        crate::jobs::plan(
            env.cfg,
            p,
            &builds,
            |b, job| {
                let (passed, failed) = store.vote_tally(b.id, job)?;
                Ok(crate::jobs::Tally {
                    passed,
                    failed: usize::try_from(failed).unwrap_or(usize::MAX),
                })
            },
            rerun,
        )?
    };
    let next = next(env, store, p, &a)?;
    let candidates = a
        .candidates
        .iter()
        .flat_map(|c| c.builds().iter().map(|b| b.id))
        .collect();
    Ok(Plan {
        jobs,
        next,
        candidates,
    })
}

/// What a promotion would do next on its assessment.
fn next(
    env: &Env,
    store: &Store,
    p: &PromotionDef,
    a: &assess::Assessment<Candidate>,
) -> Result<Next> {
    let Some(chosen) = a.promoted() else {
        return Ok(match a.newest() {
            Some((c, e)) => Next::Blocked {
                what: c.what(),
                summary: e.summary(),
                on_votes: true,
            },
            None => Next::Idle,
        });
    };
    let Candidate::Build(build) = chosen else {
        // A batch checks its own links when it is carried out.
        return Ok(Next::Promote {
            candidate: Box::new(chosen.clone()),
            current: None,
        });
    };
    let component = env.trees.label_component(build);
    let current = crate::trunk::current_target(&env.trees.trunk, &a.promotion, component)?;
    if current.as_deref() == Some(build.repo_dir.as_str()) {
        return Ok(Next::AlreadyThere {
            full_hash: build.full_hash.clone(),
        });
    }
    if let Err(e) = promote::check_promotable(env.trees, build) {
        return Ok(Next::NotPromotable {
            reason: e.to_string(),
        });
    }
    let rule = env.cfg.images_rule(p);
    if let Some(reason) = promote::images::blocked(store, env.trees, build, &rule)? {
        return Ok(Next::Blocked {
            what: build.full_hash.to_string(),
            summary: format!("its images: {reason}"),
            on_votes: false,
        });
    }
    // The run is where the registry is asked; `why` reads the answer.
    if let Some(reason) = promote::containers::check(store, env.cfg, env.trees, p, build)? {
        return Ok(Next::Blocked {
            what: build.full_hash.to_string(),
            summary: format!("its containers: {reason}"),
            on_votes: false,
        });
    }
    Ok(Next::Promote {
        candidate: Box::new(chosen.clone()),
        current,
    })
}

/// The planned jobs by the Slurm executor that runs them (`None`: this
/// host's supervisors), in plan order.
#[allow(clippy::type_complexity)]
fn by_executor(
    cfg: &Config,
    jobs: Vec<Planned>,
) -> Vec<(Option<(&str, &crate::config::SlurmDef)>, Vec<Planned>)> {
    let mut out: Vec<(Option<(&str, &crate::config::SlurmDef)>, Vec<Planned>)> = Vec::new();
    for j in jobs {
        let slurm = cfg
            .job(&j.instance.job)
            .and_then(|d| d.executor.as_deref())
            .and_then(|name| cfg.executors.iter().find(|e| e.name == name))
            .and_then(|e| match &e.kind {
                crate::config::ExecutorKind::Slurm(def) => Some((e.name.as_str(), def)),
                crate::config::ExecutorKind::Local => None,
            });
        match out.iter_mut().find(|(k, _)| *k == slurm) {
            Some((_, list)) => list.push(j),
            None => out.push((slurm, vec![j])),
        }
    }
    out
}

/// Starts a promotion's planned jobs, logging each as it starts; returns
/// the ones that wait for an environment someone else holds, and the ones
/// that wait for a slot.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn start_jobs(
    env: &Env,
    store: &mut Store,
    p: &PromotionDef,
    jobs: Vec<Planned>,
    exec: &mut Supervised,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<(Vec<Planned>, Vec<Planned>)> {
    let b = batch(env, p.name.as_str());
    let mut d = crate::jobs::Dispatched::default();
    // Each executor's jobs in turn, in plan order within each.
    for (executor, jobs) in by_executor(env.cfg, jobs) {
        let on = &mut |e| log_job(out, &p.name, e);
        let part = match executor {
            Some((name, def)) => {
                let mut slurm = crate::jobs::slurm::Slurm {
                    name,
                    def,
                    release: &env.cfg.release,
                };
                crate::jobs::dispatch(store, &b, jobs, &mut slurm, on)?
            }
            None => crate::jobs::dispatch(store, &b, jobs, exec, on)?,
        };
        d.started.extend(part.started);
        d.waiting.extend(part.waiting);
        d.queued.extend(part.queued);
        d.running.extend(part.running);
        d.errors += part.errors;
    }
    tally.started += d.started.len() as i64;
    tally.failed += d.errors as i64;
    for j in &d.running {
        out.log(
            Level::Debug,
            &format!(
                "{}: {} is running on {} already; not started twice",
                p.name, j.instance.id, j.build.full_hash
            ),
        );
    }
    if !d.queued.is_empty() {
        out.log(
            Level::Info,
            &format!(
                "{}: {} job(s) wait for a slot (max_parallel_jobs {}); a later run starts them",
                p.name,
                d.queued.len(),
                env.cfg.max_parallel_jobs
            ),
        );
    }
    for j in &d.waiting {
        let pool = env
            .cfg
            .job(&j.instance.job)
            .and_then(|d| d.testenv.clone())
            .unwrap_or_default();
        out.log(
            Level::Info,
            &format!(
                "{}: {} on {} waits for a test environment of pool {pool}",
                p.name, j.instance.id, j.build.full_hash
            ),
        );
    }
    Ok((d.waiting, d.queued))
}

/// Acts on a promotion's next step: reports it, and, given the run's
/// snapshot (not a dry run), carries out a promotion.
fn settle(
    env: &Env,
    store: &mut Store,
    p: &PromotionDef,
    next: Next,
    snapshot: Option<&Snapshot>,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<()> {
    let name = p.name.as_str();
    match next {
        Next::Blocked { what, summary, .. } => {
            tally.blocked += 1;
            out.log(
                Level::Info,
                &format!("{name}: {what} is blocked: {summary}"),
            );
        }
        Next::Idle => {
            tally.idle += 1;
            out.log(
                Level::Debug,
                &format!(
                    "{name}: no candidate: {} has no build newer than the last one promoted",
                    p.candidate_label
                ),
            );
        }
        Next::AlreadyThere { full_hash } => {
            tally.idle += 1;
            let msg = format!("{name}: already points at {full_hash}; nothing to do");
            out.log(Level::Info, &msg);
        }
        Next::NotPromotable { reason } => {
            tally.stopped += 1;
            out.log(Level::Warn, &format!("{name}: not promoting: {reason}"));
        }
        Next::Promote { candidate, current } => match snapshot {
            None => {
                tally.promoted += 1;
                out.print(&would_promote(name, &candidate, current.as_deref()))?;
                if let Candidate::Build(b) = &*candidate {
                    for line in promote::containers::plan(env.cfg, env.trees, p, b) {
                        out.print(&format!("  {line}"))?;
                    }
                }
            }
            Some(s) => carry(env, store, &p.name, *candidate, s, out, tally)?,
        },
    }
    Ok(())
}

fn would_promote(name: &str, c: &Candidate, current: Option<&str>) -> String {
    match c {
        Candidate::Build(b) => format!(
            "would promote {} to {name} (now {})",
            b.full_hash,
            current.unwrap_or("unset")
        ),
        Candidate::Aggregate(a) => format!(
            "would promote aggregate {} ({} component builds) to {name}",
            a.aggregate.agg_hash,
            a.builds.len()
        ),
    }
}

/// Promotes the candidate through the one promotion path.
fn carry(
    env: &Env,
    store: &mut Store,
    label: &Label,
    candidate: Candidate,
    snapshot: &Snapshot,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<()> {
    let builds = candidate.builds();
    let batch = candidate
        .aggregate()
        .map(|a| AggregateSource::Existing(a.aggregate.clone()));
    let is_batch = batch.is_some();
    let request = Request {
        label,
        builds,
        batch,
        actor: Actor {
            user: env.user,
            kind: Kind::Promote,
            reason: "",
        },
        run_id: Some(env.run_id),
        aggregate_hash: None,
        found: snapshot.get(label.as_str()).cloned(),
    };
    let outcome = match promote::promote(store, &env.carry(), &request) {
        Ok(o) => o,
        // A batch that cannot be carried out is stopped, the others go on.
        Err(e) if is_batch && e.code() != exit::FAILED => Outcome::Stopped {
            reason: e.to_string(),
        },
        Err(e) => return Err(e),
    };
    report(env, label.as_str(), &candidate, outcome, out, tally);
    Ok(())
}

/// Logs how a promotion ended, and counts it.
fn report(
    env: &Env,
    name: &str,
    c: &Candidate,
    outcome: Outcome,
    out: &dyn Sink,
    tally: &mut Tally,
) {
    let what = c.what();
    match outcome {
        Outcome::Moved {
            images, containers, ..
        } => {
            tally.promoted += 1;
            if let Some(t) = containers {
                out.log(Level::Info, &format!("{name}: {t}"));
            }
            match c {
                Candidate::Build(b) => {
                    warn_image_left_behind(env.trees, name, b, out);
                    let both = if images { " (trunk and images)" } else { "" };
                    out.log(Level::Info, &format!("promoted {what} to {name}{both}"));
                }
                Candidate::Aggregate(a) => out.log(
                    Level::Info,
                    &format!(
                        "promoted {what} ({} component builds) to {name}",
                        a.builds.len()
                    ),
                ),
            }
        }
        Outcome::Unchanged => tally.idle += 1,
        Outcome::Stopped { reason } => {
            tally.stopped += 1;
            out.log(
                Level::Warn,
                &format!("{name}: did not promote {what}: {reason}"),
            );
        }
    }
}

/// The two trees disagree when the trunk link moved and the image link
/// could not follow: a warning.
pub fn warn_image_left_behind(trees: &Trees, name: &str, b: &Build, out: &dyn Sink) {
    let Ok(label) = Label::promotable(name) else {
        return;
    };
    if let Some(left) = promote::image_left_behind(trees, &label, b) {
        out.log(
            Level::Warn,
            &format!(
                "{label}: the image link still points at {left}: build {} has no image directory in {}",
                b.full_hash,
                trees.images.display()
            ),
        );
    }
}

fn log_job(out: &dyn Sink, promotion: &str, e: crate::jobs::Event) {
    use crate::jobs::Event;
    match e {
        Event::Started {
            job_id,
            full_hash,
            testenv,
        } => {
            let env = testenv
                .map(|t| format!(" in test environment {t}"))
                .unwrap_or_default();
            let msg = format!("{promotion}: started {job_id} on {full_hash}{env}");
            out.log(Level::Info, &msg)
        }
        Event::Ended {
            job_id,
            full_hash,
            outcome,
            notes,
            url,
            seconds,
        } => {
            let level = if outcome == crate::store::jobs::JobOutcome::Passed {
                Level::Info
            } else {
                Level::Warn
            };
            let line = format!(
                "{promotion}: {job_id} on {full_hash} {} after {seconds:.1}s: {notes} {url}",
                outcome.as_str()
            );
            out.log(level, line.trim_end());
        }
    }
}
