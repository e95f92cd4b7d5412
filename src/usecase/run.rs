//! `run`, the cron entry, as a use case: import what is new, recover what
//! an earlier command left (jobs whose runner died, unfinished promotions),
//! then for each promotion in order compute its plan (the jobs to run, and
//! what it would promote), run the jobs, and carry out the promotion; then
//! publish. A dry run computes the same plans and prints them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Level, Sink};
use crate::assess::{self, Candidacy, Candidate};
use crate::config::{Config, PromotionDef};
use crate::error::{exit, Error, Result};
use crate::ident::Label;
use crate::jobs::Planned;
use crate::promote::{self, Actor, AggregateSource, Carry, Outcome, Request, Trees};
use crate::store::builds::Build;
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
}

/// What a run works with.
pub struct Env<'a> {
    pub cfg: &'a Config,
    pub trees: &'a Trees,
    pub user: &'a str,
    pub run_id: i64,
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
}

/// What one promotion would do next, on the votes recorded now.
#[derive(Debug, Clone)]
pub enum Next {
    /// Move the label to the candidate; `current` is where it points now.
    Promote {
        candidate: Box<Candidate>,
        current: Option<String>,
    },
    /// The newest candidate does not qualify yet.
    Blocked { what: String, summary: String },
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
}

/// Where each label pointed (trunk, image) when the run began.
type Snapshot = HashMap<String, (Option<String>, Option<String>)>;

/// Runs the pipeline; the tally says what it did, also on an error.
pub fn run(
    env: &Env,
    store: &mut Store,
    opts: &Options,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<()> {
    super::import::import_if_moved(out, store, &env.cfg.trunk)?;
    // Promotions whose unfinished attempt could not be completed: they wait
    // for it, instead of deciding anew on top of it.
    let mut unfinished = HashSet::new();
    if !opts.dry_run {
        recover_jobs(store, out)?;
        unfinished = complete_attempts(env, store, out, tally)?;
    }
    let snapshot = snapshot(env);
    for p in &env.cfg.promotions {
        if !opts.promotions.is_empty() && !opts.promotions.iter().any(|n| n == p.name.as_str()) {
            continue;
        }
        stop_requested(|| format!("the run stopped before promotion {}", p.name))?;
        if unfinished.contains(p.name.as_str()) {
            let msg = format!("{}: waits for its unfinished promotion (above)", p.name);
            out.log(Level::Warn, &msg);
            continue;
        }
        // One promotion that cannot proceed (a link someone pointed outside
        // the trunk, a name the filesystem refuses) is reported; the
        // others go on.
        match promotion(env, store, p, opts, &snapshot, out, tally) {
            Ok(()) => {}
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
    stop_requested(|| "the run stopped before publishing".into())?;
    let failed = super::publish::publish_pending(env.cfg, store, env.user, out, opts.dry_run)?;
    if failed > 0 {
        return Err(Error::Failed(format!(
            "{failed} publish(es) could not finish; the next run tries again"
        )));
    }
    if tally.failed > 0 {
        return Err(Error::Failed(format!(
            "{} promotion(s) or job(s) could not proceed (see the errors above); the others went on, and the next run tries again",
            tally.failed
        )));
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

/// Job runs whose runner died are marked interrupted (a reboot took the
/// job with it; a killed runner may not have: its processes carry its
/// marker, even if the runner died before it could record the pid).
fn recover_jobs(store: &mut Store, out: &dyn Sink) -> Result<()> {
    let origin = store.origin()?;
    for i in store.interrupt_dead_job_runs(crate::clock::now())? {
        let pid = i.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        // Only when its runner is gone: a copy of this database run on the
        // same host must not kill the jobs of the original's live run.
        if !crate::exec::alive(i.runner_pid) {
            crate::exec::kill_marked(&crate::jobs::marker(&origin, i.id));
            // Its logs so far, packed as a finished job's are.
            let dir = Path::new(&i.log_dir);
            if !i.log_dir.is_empty() && dir.is_dir() {
                if let Ok(archive) = crate::jobs::logs::pack(dir) {
                    store.set_job_archive(i.id, &archive.display().to_string())?;
                }
            }
        }
        out.log(
            Level::Warn,
            &format!(
                "job {}{pid} on build {} was interrupted: its runner died; it will run again",
                i.job_id, i.build_id
            ),
        );
    }
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
                    promote::Carried::Done { images, .. } => Outcome::Moved {
                        history_ids: Vec::new(),
                        previous: None,
                        images,
                        aggregate_hash: None,
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

/// One promotion: its plan, printed (a dry run) or carried out (its jobs,
/// then, decided again on their votes, its promotion).
fn promotion(
    env: &Env,
    store: &mut Store,
    p: &PromotionDef,
    opts: &Options,
    snapshot: &Snapshot,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<()> {
    let mut plan = plan(env, store, p, opts.rerun)?;
    if opts.dry_run {
        for j in &plan.jobs {
            out.print(&format!(
                "would run {} on {} for {}",
                j.instance.id, j.build.full_hash, p.name
            ))?;
        }
        return settle(env, store, p, plan.next, None, out, tally);
    }
    if !plan.jobs.is_empty() {
        let jobs = std::mem::take(&mut plan.jobs);
        run_jobs(env, store, p, jobs, out, tally)?;
        plan = self::plan(env, store, p, &[])?;
    }
    settle(env, store, p, plan.next, Some(snapshot), out, tally)
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
            |b, job| store.has_final_vote(b.id, job),
            rerun,
        )?
    };
    let next = next(env, &a)?;
    Ok(Plan { jobs, next })
}

/// What a promotion would do next on its assessment.
fn next(env: &Env, a: &assess::Assessment<Candidate>) -> Result<Next> {
    let Some(chosen) = a.promoted() else {
        return Ok(match a.newest() {
            Some((c, e)) => Next::Blocked {
                what: c.what(),
                summary: e.summary(),
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
    let component = build.component.as_deref();
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
    Ok(Next::Promote {
        candidate: Box::new(chosen.clone()),
        current,
    })
}

/// Runs a promotion's planned jobs, logging each as it starts and ends.
fn run_jobs(
    env: &Env,
    store: &mut Store,
    p: &PromotionDef,
    jobs: Vec<Planned>,
    out: &dyn Sink,
    tally: &mut Tally,
) -> Result<()> {
    let batch = crate::jobs::Batch {
        cfg: env.cfg,
        promotion: p.name.as_str(),
        run_id: env.run_id,
        user: env.user,
    };
    let mut errors = 0;
    crate::jobs::run_all(store, &batch, jobs, &mut |e| {
        if matches!(
            &e,
            crate::jobs::Event::Ended {
                outcome: crate::store::jobs::JobOutcome::Error,
                ..
            }
        ) {
            errors += 1;
        }
        log_job(out, &p.name, e)
    })?;
    tally.failed += errors;
    Ok(())
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
        Next::Blocked { what, summary } => {
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
        Outcome::Moved { images, .. } => {
            tally.promoted += 1;
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

fn log_job(out: &dyn Sink, promotion: &Label, e: crate::jobs::Event) {
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
