//! Updates through their flow, as `run` carries them: phase 1 for each
//! new update (its jobs on each enabled combination's repo of its RPMs),
//! phase 2 on the pool of the updates that passed (and the bisection of a
//! failing pool), stage for the ready ones, production once stage passed.
//! Also `update submit` and `update withdraw`, which the commands call.
//!
//! # One flow at a time
//!
//! `run` advances updates after its promotions, holding the lock of the
//! release's updates' flow (`<database>.updates.lock`), not the release's
//! own: phase jobs may take hours, and promotions go on meanwhile. Each
//! batch of phase jobs also holds the lock of every combination it runs on
//! (`<work>/locks/<release>-<dist>.lock`), so that phase 1 of an update and
//! phase 2 of its combination never run at once, whoever started them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{Level, Sink};
use crate::config::{Combination, Config, PublishTarget, UpdatesDef};
use crate::error::{Error, IoContext, Result};
use crate::exec::{self, Ended};
use crate::store::updates::{
    NewPhaseJob, NewUpdate, Phase, PhaseOutcome, Rpm, UpdateBuild, UpdateRow, UpdateState,
};
use crate::store::Store;
use crate::updates::{self as upd, repo, Bisection};

/// The three areas of the updates directory, as in the rdo-update
/// repository.
const AREAS: [&str; 3] = ["updates", "ready", "failed"];

/// The updates section, or why the command cannot run without it.
pub fn section(cfg: &Config) -> Result<&UpdatesDef> {
    cfg.updates.as_ref().ok_or_else(|| {
        Error::Invalid(format!(
            "{} has no updates: section (the combinations, phase jobs and targets of updates)",
            cfg.path.display()
        ))
    })
}

/// Where the promoter keeps the RPMs of updates and the repos it makes:
/// beside the database.
pub fn work_dir(cfg: &Config) -> PathBuf {
    cfg.database.with_extension("updates")
}

pub use crate::updates::{describe_disabled, disabled};

/// What `update submit` recorded.
#[derive(Debug, Serialize)]
pub struct Submitted {
    pub id: i64,
    pub name: String,
    pub combinations: Vec<Combination>,
    pub rpms: usize,
}

/// Records the update file `file`: every build's RPMs read and checked
/// against its NVR, and copied where the promoter keeps them. Nothing is
/// recorded when any build is refused.
pub fn submit(cfg: &Config, store: &mut Store, file: &Path, user: &str) -> Result<Submitted> {
    let u = section(cfg)?;
    let text = std::fs::read_to_string(file).at("read the update file", file)?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && !s.starts_with('.'))
        .ok_or_else(|| Error::Invalid(format!("{}: no name for the update", file.display())))?;
    let shown = file.display();
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).at("read the directory of", file)?;
    let builds =
        upd::parse_file(&text, &dir).map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;
    if let Some(id) = store.live_update_named(&name)? {
        return Err(Error::Refused(format!(
            "update {name} is already submitted (update {id}); withdraw it first"
        )));
    }
    let keep = work_dir(cfg).join("rpms").join(format!(
        "{name}-{}-{}",
        crate::clock::now(),
        std::process::id()
    ));
    let mut rows = Vec::new();
    let mut rpms: Vec<(Combination, Rpm, PathBuf)> = Vec::new();
    for b in &builds {
        let c = &b.combination;
        if !u.combinations.contains(c) {
            return Err(Error::Invalid(format!(
                "{shown}: build {}: {c} is not a combination {} supports ({})",
                b.id,
                cfg.path.display(),
                u.combinations
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let files = upd::rpm::files(&b.source).map_err(|e| {
            Error::Invalid(format!(
                "{shown}: build {}: cannot read its source {}: {e}",
                b.id,
                b.source.display()
            ))
        })?;
        if files.is_empty() {
            return Err(Error::Invalid(format!(
                "{shown}: build {}: {} holds no RPMs",
                b.id,
                b.source.display()
            )));
        }
        let headers = upd::rpm::headers(&files).map_err(|e| match e {
            upd::rpm::HeaderError::Tool(e) => Error::Failed(e),
            upd::rpm::HeaderError::Bad(e) => {
                Error::Invalid(format!("{shown}: build {}: {e}", b.id))
            }
        })?;
        for h in headers {
            if let Some(why) = upd::rpm::mismatch(&h, &b.id) {
                return Err(Error::Invalid(format!("{shown}: build {}: {why}", b.id)));
            }
            let dest = keep
                .join(&c.release)
                .join(&c.dist)
                .join(h.file.file_name().expect("an RPM file has a name"));
            rpms.push((
                c.clone(),
                Rpm {
                    name: h.name,
                    epoch: h.epoch,
                    version: h.version,
                    release: h.release,
                    arch: h.arch,
                    path: dest.display().to_string(),
                },
                h.file,
            ));
        }
        rows.push(UpdateBuild {
            nvr: b.id.to_string(),
            release: c.release.clone(),
            dist: c.dist.clone(),
            source: b.source.display().to_string(),
        });
    }
    for (_, rpm, src) in &rpms {
        let dest = Path::new(&rpm.path);
        std::fs::create_dir_all(dest.parent().expect("under keep"))
            .at("make the directory of", dest)?;
        std::fs::copy(src, dest).at("copy the RPM", src)?;
    }
    let recorded: Vec<(Combination, Rpm)> = rpms.into_iter().map(|(c, r, _)| (c, r)).collect();
    let id = store.add_update(
        &NewUpdate {
            name: &name,
            file_text: &text,
            builds: &rows,
            rpms: &recorded,
        },
        user,
        crate::clock::now(),
    )?;
    let mut combinations: Vec<Combination> = Vec::new();
    for b in builds {
        if !combinations.contains(&b.combination) {
            combinations.push(b.combination);
        }
    }
    Ok(Submitted {
        id,
        name,
        combinations,
        rpms: recorded.len(),
    })
}

/// Withdraws an update that is not yet released: recorded, its file taken
/// out of the updates directory.
pub fn withdraw(
    cfg: &Config,
    store: &mut Store,
    id: i64,
    reason: &str,
    user: &str,
) -> Result<UpdateRow> {
    let u = section(cfg)?;
    let row = store
        .update(id)?
        .ok_or_else(|| Error::NotFound(format!("no update {id}")))?;
    if matches!(row.state, UpdateState::Released | UpdateState::Withdrawn) {
        return Err(Error::Refused(format!(
            "update {id} ({}) is {}: there is nothing to withdraw",
            row.name,
            row.state.as_str()
        )));
    }
    place_file(u, &row.name, None, "")?;
    store.set_update_states(
        &[id],
        UpdateState::Withdrawn,
        reason,
        Some(reason),
        user,
        crate::clock::now(),
    )?;
    Ok(store.update(id)?.expect("just changed"))
}

/// Puts the file of update `name` in `area` of the updates directory (none:
/// out of all of them).
fn place_file(u: &UpdatesDef, name: &str, area: Option<&str>, text: &str) -> Result<()> {
    let file = format!("{name}.yml");
    if let Some(a) = area {
        let dir = u.dir.join(a);
        std::fs::create_dir_all(&dir).at("make the updates directory", &dir)?;
        crate::atomic::write(&dir.join(&file), text.as_bytes())?;
    }
    for other in AREAS.iter().filter(|o| Some(**o) != area) {
        let p = u.dir.join(other).join(&file);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("failed to remove {}", p.display()), e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// [`place_file`] for an update a run has in hand: not when it was
/// withdrawn meanwhile, whose file stays out of every area.
fn place_live(
    u: &UpdatesDef,
    store: &Store,
    id: i64,
    name: &str,
    area: Option<&str>,
    text: &str,
) -> Result<()> {
    if withdrawn(store, id)? {
        return Ok(());
    }
    place_file(u, name, area, text)
}

/// Whether update `id` is withdrawn now (perhaps while a run had it).
fn withdrawn(store: &Store, id: i64) -> Result<bool> {
    Ok(store
        .update(id)?
        .is_some_and(|r| r.state == UpdateState::Withdrawn))
}

/// What advancing the updates did.
#[derive(Debug, Default, Serialize)]
pub struct Advanced {
    pub phase1_passed: usize,
    pub phase1_failed: usize,
    pub ready: usize,
    pub failed_in_phase2: usize,
    pub staged: usize,
    pub released: usize,
    /// Steps that could not proceed (an error of this side); the next run
    /// tries again.
    pub errors: usize,
    /// Steps left because another flow holds their combination's lock.
    pub busy: usize,
}

/// What advancing works with.
pub struct Flow<'a> {
    pub cfg: &'a Config,
    pub u: &'a UpdatesDef,
    pub user: &'a str,
    /// Phase 2 now, whether or not `every` has passed.
    pub phase2_now: bool,
    pub out: &'a dyn Sink,
}

/// One step of the flow.
type Step = fn(&Flow, &mut Store, &mut Advanced) -> Result<()>;

/// Takes every update as far as it goes: phase 1, phase 2 (when due),
/// stage, production.
pub fn advance(flow: &Flow, store: &mut Store) -> Result<Advanced> {
    let mut done = Advanced::default();
    // Phase jobs of a run that died: what is left of them is stopped,
    // and they are recorded as ended with it.
    for id in store.running_phase_jobs()? {
        exec::kill_marked(&marker(flow.cfg, id));
    }
    let closed = store.interrupt_phase_jobs(crate::clock::now())?;
    if closed > 0 {
        flow.out.log(
            Level::Warn,
            &format!("{closed} phase job(s) of an earlier run ended with it"),
        );
    }
    let steps: [(&str, Step); 3] = [("phase 1", phase1), ("phase 2", phase2), ("stage", stage)];
    for (what, step) in steps {
        if let Err(e) = step(flow, store, &mut done) {
            if matches!(e, Error::Interrupted { .. }) {
                return Err(e);
            }
            if matches!(e, Error::Busy(_)) {
                // Another flow has the combination: it goes on there.
                flow.out
                    .log(Level::Warn, &format!("updates: {what} waits: {e}"));
                done.busy += 1;
                continue;
            }
            flow.out.log(
                Level::Error,
                &format!("updates: {what} could not proceed: {e}"),
            );
            done.errors += 1;
        }
    }
    Ok(done)
}

/// What [`advance`] would do now, one line a step, for `run --dry-run`.
pub fn plan(flow: &Flow, store: &Store) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let job_ids = |jobs: &[String], combos: &[Combination]| -> String {
        let ids: Vec<String> = combos
            .iter()
            .flat_map(|c| jobs.iter().map(move |j| job_id(j, c)))
            .collect();
        match ids.is_empty() {
            true => "no jobs".into(),
            false => ids.join(", "),
        }
    };
    for u in store.updates_in(&[UpdateState::Submitted, UpdateState::Testing])? {
        let (enabled, skipped) = enabled_of(flow, store, store.update_combinations(u.id)?)?;
        let skipped = match skipped.is_empty() {
            true => String::new(),
            false => format!("; skipped: {}", skipped.join("; ")),
        };
        out.push(match enabled.is_empty() {
            true => format!(
                "update {} ({}): waits: every combination it has is disabled{skipped}",
                u.id, u.name
            ),
            false => format!(
                "would run phase 1 of update {} ({}): {}{skipped}",
                u.id,
                u.name,
                job_ids(&flow.u.phase1_jobs, &enabled)
            ),
        });
    }
    let pool = store.updates_in(&[UpdateState::Passed, UpdateState::Pooled])?;
    if !pool.is_empty() {
        let ids: Vec<i64> = pool.iter().map(|u| u.id).collect();
        let every = flow.u.phase2_every.as_secs() as i64;
        let next = store.last_phase2()?.map(|t| t + every);
        let now = crate::clock::now();
        out.push(match next {
            Some(t) if t > now && !flow.phase2_now => format!(
                "phase 2 of updates {} waits until {} (run --phase2 to run it now)",
                ids_text(&ids, None),
                crate::clock::iso(t)
            ),
            _ => format!(
                "would run phase 2 on the pool of updates {} (in the order they passed phase 1)",
                ids_text(&ids, None)
            ),
        });
    }
    let ready = store.updates_in(&[UpdateState::Ready, UpdateState::Staged])?;
    if !ready.is_empty() {
        let ids: Vec<i64> = ready.iter().map(|u| u.id).collect();
        out.push(match (&flow.u.stage_publish, &flow.u.production_publish) {
            (None, _) => format!(
                "updates {} are ready: no stage target to publish them to",
                ids_text(&ids, None)
            ),
            (Some(s), p) => format!(
                "would publish updates {} to {s}, run the stage jobs{}",
                ids_text(&ids, None),
                p.as_ref()
                    .map(|p| format!(", then publish to {p}"))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(out)
}

/// A phase job to run.
struct JobPlan {
    phase: Phase,
    update_id: Option<i64>,
    pool: Vec<i64>,
    combination: Combination,
    job: String,
    /// PROMOTER_UPDATE_REPO.
    repo: PathBuf,
    /// The RPM names it tests, for the must-provision list.
    packages: BTreeSet<String>,
    /// Where its logs go: `<logs>/updates/<key>/<job id>/`.
    key: String,
    /// How many times it ran already and did not pass (its job's
    /// `retries:` say how many more it may).
    attempt: usize,
}

/// How one phase job ended.
struct JobEnd {
    job_id: String,
    outcome: PhaseOutcome,
    log: PathBuf,
}

impl JobEnd {
    fn passed(&self) -> bool {
        self.outcome == PhaseOutcome::Passed
    }

    fn describe(&self) -> String {
        format!(
            "{} {} ({})",
            self.job_id,
            self.outcome.as_str(),
            self.log.display()
        )
    }
}

/// The jobs of `ended` that did not pass; an error when one could not run
/// for a reason of this side (it cannot start, no test environment was
/// free): then `what` is not judged, and the next run tries it again.
fn judged<'e>(ended: &'e [JobEnd], what: &str) -> Result<Vec<&'e JobEnd>> {
    let errors: Vec<String> = ended
        .iter()
        .filter(|e| e.outcome == PhaseOutcome::Error)
        .map(|e| e.job_id.clone())
        .collect();
    if !errors.is_empty() {
        return Err(Error::Failed(format!(
            "{what} is not judged: {} could not run (see above); the next run tries again",
            errors.join(", ")
        )));
    }
    Ok(ended.iter().filter(|e| !e.passed()).collect())
}

/// The job id of a phase job: `<job>-<release>-<dist>`.
fn job_id(job: &str, c: &Combination) -> String {
    format!("{job}-{}-{}", c.release, c.dist)
}

/// Runs `plans`, as many at once as `max_parallel_jobs`, each recorded;
/// holds the lock of every combination they run on.
fn run_jobs(flow: &Flow, store: &mut Store, plans: Vec<JobPlan>) -> Result<Vec<JobEnd>> {
    let cfg = flow.cfg;
    let locks_dir = work_dir(cfg).join("locks");
    let combos: BTreeSet<&Combination> = plans.iter().map(|p| &p.combination).collect();
    let mut _locks = Vec::new();
    for c in combos {
        let path = locks_dir.join(format!("{}-{}.lock", c.release, c.dist));
        match crate::store::lock::try_lock(&path)? {
            crate::store::lock::Held::Now(l) => _locks.push(l),
            crate::store::lock::Held::By(who) => {
                return Err(Error::Busy(format!(
                    "another flow of {c} holds its lock {} ({who})",
                    path.display()
                )))
            }
        }
    }
    let must: Vec<String> = store
        .must_provision()?
        .into_iter()
        .map(|m| m.package)
        .collect();
    let mut pending: Vec<JobPlan> = plans.into_iter().rev().collect();
    let mut running: Vec<Running> = Vec::new();
    let mut ended = Vec::new();
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        // Jobs waiting for a test environment another holder has.
        let mut waiting: Vec<JobPlan> = Vec::new();
        while running.len() < cfg.max_parallel_jobs {
            let Some(p) = pending.pop() else { break };
            let id = job_id(&p.job, &p.combination);
            let def = cfg.job(&p.job).expect("phase jobs are configured jobs");
            let lease = match &def.testenv {
                None => None,
                Some(pool) => {
                    let holder = format!("{} job {id}", p.phase.as_str());
                    let holder = crate::store::testenvs::Holder {
                        name: &holder,
                        pid: Some(std::process::id()),
                        expires_at: None,
                    };
                    match store.acquire_testenv(pool, &holder, crate::clock::now())? {
                        Some(l) => Some(l),
                        None if started.elapsed() < cfg.testenv_wait => {
                            waiting.push(p);
                            continue;
                        }
                        None => {
                            let why = format!(
                                "no test environment of pool {pool} was free in {}",
                                crate::duration::format_secs(cfg.testenv_wait.as_secs() as i64)
                            );
                            flow.out.log(Level::Error, &format!("{id}: {why}"));
                            ended.push(JobEnd {
                                job_id: id,
                                outcome: PhaseOutcome::Error,
                                log: PathBuf::new(),
                            });
                            continue;
                        }
                    }
                }
            };
            let log_dir = match p.attempt {
                0 => cfg.logs.join("updates").join(&p.key).join(&id),
                n => cfg
                    .logs
                    .join("updates")
                    .join(&p.key)
                    .join(format!("{id}-retry{n}")),
            };
            std::fs::create_dir_all(&log_dir).at("make the log directory", &log_dir)?;
            let log = log_dir.join("console.log");
            let run = store.start_phase_job(
                &NewPhaseJob {
                    phase: p.phase,
                    update_id: p.update_id,
                    pool: &p.pool,
                    combination: &p.combination,
                    job_id: &id,
                    log: &log.display().to_string(),
                },
                crate::clock::now(),
            )?;
            let listed = log_dir.join("must-provision.txt");
            let mut text = must.join("\n");
            text.push('\n');
            std::fs::write(&listed, text).at("write the must-provision list", &listed)?;
            let provision = p.packages.iter().any(|n| must.contains(n));
            let production = flow
                .u
                .production_repos
                .get(&p.combination)
                .map(|r| resolve_repo(cfg, r))
                .unwrap_or_default();
            let mut env = vec![
                ("PROMOTER_RELEASE".to_string(), cfg.release.clone()),
                ("PROMOTER_JOB_ID".into(), id.clone()),
                ("PROMOTER_LOG_DIR".into(), log_dir.display().to_string()),
                ("PROMOTER_PHASE".into(), p.phase.as_str().into()),
                (
                    "PROMOTER_RELEASE_NAME".into(),
                    p.combination.release.clone(),
                ),
                ("PROMOTER_DIST".into(), p.combination.dist.clone()),
                ("PROMOTER_UPDATE_REPO".into(), p.repo.display().to_string()),
                ("PROMOTER_PRODUCTION_REPO".into(), production),
                (
                    "PROMOTER_MUST_PROVISION".into(),
                    if provision { "1" } else { "0" }.into(),
                ),
                (
                    "PROMOTER_MUST_PROVISION_FILE".into(),
                    listed.display().to_string(),
                ),
                ("PROMOTER_UPDATE_IDS".into(), ids_text(&p.pool, p.update_id)),
            ];
            if let Some(u) = p.update_id {
                env.push(("PROMOTER_UPDATE_ID".into(), u.to_string()));
            }
            if let Some(l) = &lease {
                env.push(("TE_DATAFILE".into(), l.data_file.clone()));
            }
            env.extend(def.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            env.push((exec::MARKER_VAR.into(), marker(cfg, run)));
            let spec = exec::Spec {
                program: crate::build_env::resolve_program(&cfg.dir, &def.command[0]),
                args: def.command[1..].to_vec(),
                env,
                cwd: log_dir.clone(),
                log: log.clone(),
                timeout: def.timeout,
                grace: cfg.kill_grace,
            };
            let lease = lease.map(|l| l.id);
            match exec::start(&spec) {
                Ok(child) => running.push(Running {
                    child,
                    run,
                    id,
                    log,
                    lease,
                    plan: p,
                }),
                Err(e) => {
                    release(store, lease)?;
                    store.finish_phase_job(run, PhaseOutcome::Error, &e, crate::clock::now())?;
                    flow.out
                        .log(Level::Error, &format!("{id}: could not start: {e}"));
                    ended.push(JobEnd {
                        job_id: id,
                        outcome: PhaseOutcome::Error,
                        log,
                    });
                }
            }
        }
        let waits = !waiting.is_empty();
        pending.extend(waiting.into_iter().rev());
        if running.is_empty() {
            if !waits {
                break;
            }
            // Every job left waits for an environment held elsewhere.
            stop_requested()?;
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
            continue;
        }
        exec::wait_any(
            running.iter().map(|r| &r.child),
            Some(Duration::from_secs(1)),
        );
        let mut i = 0;
        while i < running.len() {
            let Some(end) = running[i].child.poll() else {
                i += 1;
                continue;
            };
            let Running {
                run,
                id,
                log,
                lease,
                mut plan,
                ..
            } = running.swap_remove(i);
            release(store, lease)?;
            let outcome = outcome(&end);
            store.finish_phase_job(run, outcome, &end.to_string(), crate::clock::now())?;
            let retries = cfg.job(&plan.job).map_or(0, |d| d.retries);
            // A job a stop cancelled is not run again.
            let stopping = crate::signals::stop_requested().is_some();
            if !matches!(outcome, PhaseOutcome::Passed | PhaseOutcome::Error)
                && plan.attempt < retries
                && !stopping
            {
                plan.attempt += 1;
                flow.out.log(
                    Level::Warn,
                    &format!(
                        "{id}: {} ({end}): run again ({} of {retries})",
                        outcome.as_str(),
                        plan.attempt
                    ),
                );
                pending.push(plan);
                continue;
            }
            let level = if outcome == PhaseOutcome::Passed {
                Level::Info
            } else {
                Level::Warn
            };
            flow.out
                .log(level, &format!("{id}: {} ({end})", outcome.as_str()));
            ended.push(JobEnd {
                job_id: id,
                outcome,
                log,
            });
        }
        if crate::signals::stop_requested().is_some() {
            // Nothing more starts; what runs is stopped and recorded.
            pending.clear();
            for r in &mut running {
                r.child.cancel(exec::Stop::Term);
            }
        }
    }
    Ok(ended)
}

/// A phase job started: its process, its record, its lease.
struct Running {
    child: exec::Child,
    run: i64,
    id: String,
    log: PathBuf,
    lease: Option<i64>,
    plan: JobPlan,
}

/// Gives a job's test environment back.
fn release(store: &mut Store, lease: Option<i64>) -> Result<()> {
    if let Some(l) = lease {
        store.release_lease(l, "its phase job ended", crate::clock::now())?;
    }
    Ok(())
}

/// The marker every process of phase job `run` carries.
fn marker(cfg: &Config, run: i64) -> String {
    crate::jobs::marker(&format!("{}#updates", cfg.database.display()), run)
}

fn ids_text(pool: &[i64], one: Option<i64>) -> String {
    let ids: Vec<String> = match one {
        Some(u) => vec![u.to_string()],
        None => pool.iter().map(i64::to_string).collect(),
    };
    ids.join(" ")
}

fn outcome(e: &Ended) -> PhaseOutcome {
    match e {
        _ if e.passed() => PhaseOutcome::Passed,
        Ended::TimedOut { .. } => PhaseOutcome::TimedOut,
        Ended::NotStarted { .. } => PhaseOutcome::Error,
        _ => PhaseOutcome::Failed,
    }
}

/// A production repo as the config names it: a URL as it is, a path from
/// the config's directory.
fn resolve_repo(cfg: &Config, repo: &str) -> String {
    if repo.contains("://") {
        repo.to_string()
    } else {
        cfg.dir.join(repo).display().to_string()
    }
}

/// The enabled combinations of `update`, and a note on those skipped.
fn enabled_of(
    flow: &Flow,
    store: &Store,
    combos: Vec<Combination>,
) -> Result<(Vec<Combination>, Vec<String>)> {
    let now = crate::clock::now();
    let (mut on, mut skipped) = (Vec::new(), Vec::new());
    for c in combos {
        match disabled(flow.u, store, &c, now)? {
            Some((reason, until)) => {
                skipped.push(format!("{c} {}", describe_disabled(&reason, until)))
            }
            None => on.push(c),
        }
    }
    Ok((on, skipped))
}

/// Phase 1: each submitted update's jobs on each enabled combination.
fn phase1(flow: &Flow, store: &mut Store, done: &mut Advanced) -> Result<()> {
    let work = work_dir(flow.cfg);
    for u in store.updates_in(&[UpdateState::Submitted, UpdateState::Testing])? {
        stop_requested()?;
        let (enabled, skipped) = enabled_of(flow, store, store.update_combinations(u.id)?)?;
        for s in &skipped {
            flow.out.log(
                Level::Info,
                &format!("update {} ({}): {s}: not run, not required", u.id, u.name),
            );
        }
        if enabled.is_empty() {
            flow.out.log(
                Level::Info,
                &format!(
                    "update {} ({}): every combination it has is disabled: it waits",
                    u.id, u.name
                ),
            );
            continue;
        }
        let note = match skipped.is_empty() {
            true => "phase 1".to_string(),
            false => format!("phase 1; skipped {}", skipped.join("; ")),
        };
        let now = crate::clock::now();
        store.set_update_states(&[u.id], UpdateState::Testing, &note, None, flow.user, now)?;
        let mut plans = Vec::new();
        for c in &enabled {
            let rpms = store.update_rpms(u.id, c)?;
            let dir = phase1_repo(&work, u.id, c);
            let paths: Vec<PathBuf> = rpms.iter().map(|r| PathBuf::from(&r.path)).collect();
            repo::make(&dir, &paths).map_err(Error::Failed)?;
            for job in &flow.u.phase1_jobs {
                plans.push(JobPlan {
                    phase: Phase::Phase1,
                    update_id: Some(u.id),
                    pool: Vec::new(),
                    combination: c.clone(),
                    job: job.clone(),
                    repo: dir.clone(),
                    packages: rpms.iter().map(|r| r.name.clone()).collect(),
                    key: format!("{}-{}/phase1-{now}", u.id, u.name),
                    attempt: 0,
                });
            }
        }
        let ended = run_jobs(flow, store, plans)?;
        stop_requested()?;
        let failed: Vec<&JobEnd> = judged(&ended, &format!("phase 1 of update {}", u.id))?;
        let one = std::slice::from_ref(&u);
        if failed.is_empty() {
            let on: Vec<String> = enabled.iter().map(|c| c.to_string()).collect();
            move_to(
                flow,
                store,
                one,
                ("updates", UpdateState::Passed),
                &format!("phase 1 passed on {}", on.join(", ")),
                None,
            )?;
            flow.out.log(
                Level::Info,
                &format!("update {} ({}): phase 1 passed", u.id, u.name),
            );
            done.phase1_passed += 1;
        } else {
            let why: Vec<String> = failed.iter().map(|e| e.describe()).collect();
            fail(flow, store, one, &format!("phase 1: {}", why.join("; ")))?;
            done.phase1_failed += 1;
        }
    }
    Ok(())
}

fn stop_requested() -> Result<()> {
    match crate::signals::stop_requested() {
        Some(signal) => Err(Error::Interrupted {
            signal,
            what: "the updates' flow stopped".into(),
        }),
        None => Ok(()),
    }
}

/// Phase 2, when due: the pool of every update that passed phase 1 and is
/// not yet ready; all pass → ready; one fails → bisection.
fn phase2(flow: &Flow, store: &mut Store, done: &mut Advanced) -> Result<()> {
    let pool = store.updates_in(&[UpdateState::Passed, UpdateState::Pooled])?;
    if pool.is_empty() {
        return Ok(());
    }
    let now = crate::clock::now();
    let due = flow.phase2_now
        || store
            .last_phase2()?
            .is_none_or(|last| now - last >= flow.u.phase2_every.as_secs() as i64);
    if !due {
        flow.out.log(
            Level::Info,
            &format!(
                "updates: phase 2 of {} update(s) waits for its time (every {}; run --phase2 to run it now)",
                pool.len(),
                crate::duration::format_secs(flow.u.phase2_every.as_secs() as i64)
            ),
        );
        return Ok(());
    }
    let fresh: Vec<i64> = pool
        .iter()
        .filter(|u| u.state == UpdateState::Passed)
        .map(|u| u.id)
        .collect();
    store.set_update_states(
        &fresh,
        UpdateState::Pooled,
        "pooled for phase 2",
        None,
        flow.user,
        now,
    )?;
    let mut probes: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let n = pool.len();
    let mut cache = MetadataCache::new();
    let all = probe(flow, store, &pool, n, &mut cache)?;
    if all.is_empty() {
        ready(flow, store, &pool, "phase 2 passed")?;
        done.ready += n;
        return Ok(());
    }
    probes.insert(n, all);
    let mut b = Bisection::new(n);
    while let Some(k) = b.next() {
        stop_requested()?;
        flow.out.log(
            Level::Info,
            &format!("updates: phase 2 failed: probing the first {k} of {n} updates"),
        );
        let failed = probe(flow, store, &pool, k, &mut cache)?;
        b.record(k, failed.is_empty());
        if !failed.is_empty() {
            probes.insert(k, failed);
        }
    }
    let culprit = b.culprit().expect("the bisection ended");
    if culprit == 0 {
        // The first update alone fails: unless production alone does too,
        // in which case no update is to blame.
        let alone = probe(flow, store, &pool, 0, &mut cache)?;
        if !alone.is_empty() {
            return Err(Error::Failed(format!(
                "phase 2 fails on production alone ({}): no update is blamed, and the pool waits for the next phase 2",
                alone.join("; ")
            )));
        }
    }
    let breaking = &pool[culprit];
    let evidence = probes.get(&(culprit + 1)).cloned().unwrap_or_default();
    let before: Vec<String> = pool[..culprit].iter().map(|u| u.id.to_string()).collect();
    let reason = format!(
        "phase 2: adding it to {} breaks the pool: {}",
        match before.is_empty() {
            true => "production".to_string(),
            false => format!("production and updates {}", before.join(", ")),
        },
        evidence.join("; ")
    );
    fail(flow, store, std::slice::from_ref(breaking), &reason)?;
    let now = crate::clock::now();
    done.failed_in_phase2 += 1;
    ready(flow, store, &pool[..culprit], "phase 2 passed (bisection)")?;
    done.ready += culprit;
    let after: Vec<i64> = pool[culprit + 1..].iter().map(|u| u.id).collect();
    store.set_update_states(
        &after,
        UpdateState::Pooled,
        &format!(
            "pooled again: update {} broke the pool before it",
            breaking.id
        ),
        None,
        flow.user,
        now,
    )?;
    Ok(())
}

fn ready(flow: &Flow, store: &mut Store, updates: &[UpdateRow], note: &str) -> Result<()> {
    move_to(
        flow,
        store,
        updates,
        ("ready", UpdateState::Ready),
        note,
        None,
    )?;
    for u in updates {
        flow.out
            .log(Level::Info, &format!("update {} ({}): ready", u.id, u.name));
    }
    Ok(())
}

/// Fails `updates` for `reason`: their files to `failed/`, their state,
/// and a warning.
fn fail(flow: &Flow, store: &mut Store, updates: &[UpdateRow], reason: &str) -> Result<()> {
    move_to(
        flow,
        store,
        updates,
        ("failed", UpdateState::Failed),
        reason,
        Some(reason),
    )?;
    let which = match updates {
        [u] => format!("update {} ({})", u.id, u.name),
        _ => {
            let ids: Vec<i64> = updates.iter().map(|u| u.id).collect();
            format!("updates {}", ids_text(&ids, None))
        }
    };
    flow.out.log(Level::Warn, &format!("{which}: {reason}"));
    Ok(())
}

/// Moves `updates` to an area of the updates directory and the state that
/// goes with it: the files first, then the state, with its history row.
fn move_to(
    flow: &Flow,
    store: &mut Store,
    updates: &[UpdateRow],
    (area, state): (&str, UpdateState),
    note: &str,
    reason: Option<&str>,
) -> Result<()> {
    for u in updates {
        let text = store.update_file_text(u.id)?;
        place_live(flow.u, store, u.id, &u.name, Some(area), &text)?;
    }
    let ids: Vec<i64> = updates.iter().map(|u| u.id).collect();
    store.set_update_states(&ids, state, note, reason, flow.user, crate::clock::now())
}

/// The metadata of the phase-1 repos read by one phase 2, by repo.
type MetadataCache = std::collections::HashMap<PathBuf, crate::updates::metadata::RepoMetadata>;

/// The repo phase 1 made of update `id`'s RPMs for `c`.
fn phase1_repo(work: &Path, id: i64, c: &Combination) -> PathBuf {
    work.join("phase1")
        .join(id.to_string())
        .join(&c.release)
        .join(&c.dist)
}

/// The RPMs of `updates` on `c`, each package at its newest, with the
/// update it comes from.
fn pooled_rpms(store: &Store, updates: &[UpdateRow], c: &Combination) -> Result<Vec<(Rpm, i64)>> {
    let mut all = Vec::new();
    let mut from = std::collections::HashMap::new();
    for u in updates {
        for r in store.update_rpms(u.id, c)? {
            from.insert(r.path.clone(), u.id);
            all.push(r);
        }
    }
    Ok(upd::newest(all)
        .into_iter()
        .map(|r| {
            let id = from[&r.path];
            (r, id)
        })
        .collect())
}

/// One phase-2 run on the first `k` updates of `pool`: each enabled
/// combination's pool repo made (incrementally), the phase-2 jobs run on
/// production plus it. The jobs that did not pass, described.
fn probe(
    flow: &Flow,
    store: &mut Store,
    pool: &[UpdateRow],
    k: usize,
    cache: &mut MetadataCache,
) -> Result<Vec<String>> {
    let set = &pool[..k];
    // Production alone (k = 0) is tested on the combinations of the
    // first update.
    let mut combos: Vec<Combination> = Vec::new();
    for u in &pool[..k.max(1)] {
        for c in store.update_combinations(u.id)? {
            if !combos.contains(&c) {
                combos.push(c);
            }
        }
    }
    combos.sort();
    let (enabled, _) = enabled_of(flow, store, combos)?;
    let ids: Vec<i64> = set.iter().map(|u| u.id).collect();
    let work = work_dir(flow.cfg);
    let now = crate::clock::now();
    let mut plans = Vec::new();
    for c in &enabled {
        let rpms = pooled_rpms(store, set, c)?;
        let dir = work.join("pool").join(&c.release).join(&c.dist);
        let paths: Vec<(PathBuf, PathBuf)> = rpms
            .iter()
            .map(|(r, id)| (PathBuf::from(&r.path), phase1_repo(&work, *id, c)))
            .collect();
        let made = repo::make_pool(&dir, &paths, cache).map_err(Error::Failed)?;
        flow.out.log(
            Level::Info,
            &format!(
                "updates: pool of {c}: {} packages of {k} update(s) ({} added, {} removed) in {:.3}s{}",
                made.packages,
                made.added,
                made.removed,
                made.seconds,
                if made.merged { "" } else { " (createrepo_c)" }
            ),
        );
        let rpms: Vec<Rpm> = rpms.into_iter().map(|(r, _)| r).collect();
        for job in &flow.u.phase2_jobs {
            plans.push(JobPlan {
                phase: Phase::Phase2,
                update_id: None,
                pool: ids.clone(),
                combination: c.clone(),
                job: job.clone(),
                repo: dir.clone(),
                packages: rpms.iter().map(|r| r.name.clone()).collect(),
                key: format!("phase2-{now}-{k}"),
                attempt: 0,
            });
        }
    }
    let ended = run_jobs(flow, store, plans)?;
    // Jobs a stop cancelled did not fail: nothing is judged on them.
    stop_requested()?;
    let failed = judged(
        &ended,
        &format!("phase 2 of the first {k} pooled update(s)"),
    )?;
    Ok(failed.iter().map(|e| e.describe()).collect())
}

/// Stage, then production: the ready updates published to each enabled
/// combination's stage repo (production's RPMs plus theirs), the stage
/// jobs run on it, and when they pass, the same tree published to
/// production.
fn stage(flow: &Flow, store: &mut Store, done: &mut Advanced) -> Result<()> {
    let ready = store.updates_in(&[UpdateState::Ready, UpdateState::Staged])?;
    if ready.is_empty() {
        return Ok(());
    }
    let Some(stage_target) = flow.u.stage_publish.as_deref() else {
        return Ok(());
    };
    let stage_to = target(flow.cfg, stage_target)?;
    let mut combos: Vec<Combination> = Vec::new();
    for u in &ready {
        for c in store.update_combinations(u.id)? {
            if !combos.contains(&c) {
                combos.push(c);
            }
        }
    }
    combos.sort();
    let (enabled, skipped) = enabled_of(flow, store, combos)?;
    for s in skipped {
        flow.out
            .log(Level::Info, &format!("updates: stage: {s}: not published"));
    }
    let work = work_dir(flow.cfg);
    let now = crate::clock::now();
    let ids: Vec<i64> = ready.iter().map(|u| u.id).collect();
    let mut trees = Vec::new();
    let mut plans = Vec::new();
    // What production has, for every combination, before anything is
    // published: a stage tree without it would replace production with
    // the updates alone.
    let mut production = Vec::with_capacity(enabled.len());
    for c in &enabled {
        production.push(production_rpms(flow, c)?);
    }
    for (c, mut rpms) in enabled.iter().zip(production) {
        for u in &ready {
            rpms.extend(store.update_rpms(u.id, c)?);
        }
        let rpms = upd::newest(rpms);
        let tree = work.join("stage").join(&c.release).join(&c.dist);
        let paths: Vec<PathBuf> = rpms.iter().map(|r| PathBuf::from(&r.path)).collect();
        repo::make(&tree, &paths).map_err(Error::Failed)?;
        let shown = publish_tree(flow, store, stage_to, c, &tree, &ids)?;
        flow.out.log(
            Level::Info,
            &format!("updates: stage of {c} published to {shown}"),
        );
        for job in &flow.u.stage_jobs {
            plans.push(JobPlan {
                phase: Phase::Stage,
                update_id: None,
                pool: ids.clone(),
                combination: c.clone(),
                job: job.clone(),
                repo: PathBuf::from(&shown),
                packages: rpms.iter().map(|r| r.name.clone()).collect(),
                key: format!("stage-{now}"),
                attempt: 0,
            });
        }
        trees.push((c.clone(), tree));
    }
    let fresh: Vec<i64> = ready
        .iter()
        .filter(|u| u.state == UpdateState::Ready)
        .map(|u| u.id)
        .collect();
    let ended = run_jobs(flow, store, plans)?;
    stop_requested()?;
    let failed: Vec<String> = judged(&ended, "stage")?
        .iter()
        .map(|e| e.describe())
        .collect();
    let now = crate::clock::now();
    if !failed.is_empty() {
        return fail(
            flow,
            store,
            &ready,
            &format!("stage: {}", failed.join("; ")),
        );
    }
    store.set_update_states(
        &fresh,
        UpdateState::Staged,
        "published to stage; stage jobs passed",
        None,
        flow.user,
        now,
    )?;
    done.staged += fresh.len();
    let Some(prod) = flow.u.production_publish.as_deref() else {
        return Ok(());
    };
    let prod = target(flow.cfg, prod)?;
    // Withdrawn while its stage jobs ran: what stage holds is not what may
    // go out. The next run stages again without it.
    for &id in &ids {
        if withdrawn(store, id)? {
            flow.out.log(
                Level::Warn,
                &format!("updates: production not published: update {id} was withdrawn while stage was tested; the next run stages again without it"),
            );
            return Ok(());
        }
    }
    let mut published = Vec::new();
    for (c, tree) in &trees {
        let shown = publish_tree(flow, store, prod, c, tree, &ids)?;
        flow.out.log(
            Level::Info,
            &format!("updates: production of {c} published to {shown}"),
        );
        published.push(format!("{c} → {shown}"));
    }
    let now = crate::clock::now();
    store.set_update_states(
        &ids,
        UpdateState::Released,
        &format!("published to production: {}", published.join(", ")),
        None,
        flow.user,
        now,
    )?;
    done.released += ids.len();
    Ok(())
}

fn target<'c>(cfg: &'c Config, name: &str) -> Result<&'c PublishTarget> {
    cfg.target(name)
        .ok_or_else(|| Error::NotFound(format!("no publish target {name:?}")))
}

/// The RPMs of the production repo of `c`, which stage and production
/// publish along with the updates: it must be a local tree, since what is
/// published replaces it.
fn production_rpms(flow: &Flow, c: &Combination) -> Result<Vec<Rpm>> {
    let refuse = |why: String| {
        Err(Error::Invalid(format!(
            "updates: stage of {c}: {why}: the published repo holds what production has plus the updates, so updates.production.repos must name {c}'s production repo as a local directory"
        )))
    };
    let Some(repo) = flow.u.production_repos.get(c) else {
        return refuse("no production repo is configured".into());
    };
    if repo.contains("://") {
        return refuse(format!("its production repo {repo} is a URL"));
    }
    let dir = flow.cfg.dir.join(repo);
    if !dir.is_dir() {
        return refuse(format!(
            "its production repo {} is not a directory",
            dir.display()
        ));
    }
    let files = repo::rpms_under(&dir);
    let headers = upd::rpm::headers(&files).map_err(|e| Error::Failed(e.to_string()))?;
    Ok(headers
        .into_iter()
        .map(|h| Rpm {
            name: h.name,
            epoch: h.epoch,
            version: h.version,
            release: h.release,
            arch: h.arch,
            path: h.file.display().to_string(),
        })
        .collect())
}

/// `dest` of `target` for `c`: `{release}` and `{dist}` replaced.
pub fn dest_of(target: &PublishTarget, c: &Combination) -> String {
    target
        .dest
        .replace("{release}", &c.release)
        .replace("{dist}", &c.dist)
}

/// Publishes the repo `tree` to `target`'s dest of `c`, atomically, as
/// every publish is: a version named after its content, then the switch
/// (rsync for a remote dest). Where it is now served.
fn publish_tree(
    flow: &Flow,
    store: &mut Store,
    target: &PublishTarget,
    c: &Combination,
    tree: &Path,
    updates: &[i64],
) -> Result<String> {
    use crate::publish::{apply, remote};
    let cfg = flow.cfg;
    let dest = dest_of(target, c);
    let entries = crate::publish::plan(tree, tree)
        .map_err(|e| Error::Failed(format!("cannot publish {c} to {}: {e}", target.name)))?;
    let mut digest = String::new();
    for e in &entries {
        digest.push_str(&format!("{}\t{}\n", e.rel.display(), e.size));
    }
    let version = format!("repo-{}", &crate::hex::sha256(digest.as_bytes())[..16]);
    let is_remote = remote::is_remote(&dest);
    let local = match is_remote {
        false => cfg.dir.join(&dest),
        true => work_dir(cfg)
            .join("push")
            .join(&target.name)
            .join(format!("{}-{}", c.release, c.dist))
            .join("repo"),
    };
    let previous = apply::current_version(&local)
        .and_then(|v| v.file_name().map(|n| n.to_string_lossy().into_owned()));
    let options = apply::Options {
        sidecars: target.sidecars.clone(),
        threads: crate::pool::threads().max(2),
    };
    let written = apply::publish_local(&entries, &local, &version, &options, &|_| {})
        .map_err(|e| Error::io(format!("failed to publish {c} to {}", target.name), e))?;
    if is_remote {
        let limits = remote::Limits {
            timeout: cfg.push_timeout,
            grace: cfg.kill_grace,
        };
        remote::push(
            &written.version,
            &dest,
            &version,
            previous.as_deref(),
            limits,
        )
        .map_err(|e| Error::Failed(format!("failed to publish {c} to {}: {e}", target.name)))?;
    }
    let history: Vec<String> = previous.into_iter().collect();
    let _ = apply::retain(&local, target.keep, &history, &Default::default());
    let shown = match is_remote {
        true => dest,
        false => local.display().to_string(),
    };
    store.add_update_publication(&crate::store::updates::UpdatePublication {
        target: target.name.clone(),
        combination: c.clone(),
        version,
        dest: shown.clone(),
        files: written.files,
        bytes: written.bytes,
        manifest_sha256: written.manifest_sha256.clone(),
        updates: updates.to_vec(),
        published_at: crate::clock::now(),
    })?;
    Ok(shown)
}
