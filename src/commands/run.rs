//! `run`: the cron entry. Lock, import, then for each promotion in order:
//! decide, promote (hooks, image links, trunk links, history row), each
//! step recorded so that a killed run is completed by the next one.

use std::time::Instant;

use serde::Serialize;

use super::{Ctx, Level};
use crate::assess::assess;
use crate::cli;
use crate::error::{Error, Result};
use crate::ident::Label;
use crate::promote::{self, Carried};
use crate::store::lock::RunLock;
use crate::store::Store;

#[derive(Debug, Default, Serialize)]
struct Tally {
    run_id: i64,
    promoted: i64,
    blocked: i64,
    stopped: i64,
    idle: i64,
    /// Promotions that could not proceed (an error of this side), and jobs
    /// that could not run: reported, the others go on, the run fails.
    failed: i64,
}

pub fn run(ctx: &Ctx, a: cli::Run) -> Result<u8> {
    let cfg = ctx.config()?;
    for name in &a.promotions {
        ctx.promotion(name)?;
    }
    for job in &a.rerun {
        let known = cfg
            .jobs
            .iter()
            .any(|j| &j.name == job || j.instances().iter().any(|i| i.id.as_str() == job));
        if !known {
            return Err(Error::NotFound(format!(
                "no job {job:?} in {}",
                cfg.path.display()
            )));
        }
    }
    let db_path = ctx
        .global
        .db
        .clone()
        .unwrap_or_else(|| cfg.database.clone());
    // A dry run changes nothing, so it does not need the lock.
    let _lock = if a.dry_run {
        None
    } else {
        Some(RunLock::acquire(&db_path)?)
    };
    if !a.dry_run {
        // A stop request stops the jobs and records the run as interrupted,
        // instead of leaving jobs running on environments that look free.
        crate::signals::catch_stop_requests();
    }
    let mut store = Store::open(&db_path)?;
    let started = Instant::now();
    if a.dry_run {
        store.begin_dry_run()?;
        ctx.log(
            Level::Info,
            "dry run: what follows is decided, then undone: no job runs, no link moves, nothing is recorded",
        );
    }
    let run_id = store.start_run(crate::clock::now())?;
    let mut tally = Tally {
        run_id,
        ..Tally::default()
    };
    let result = pipeline(ctx, &mut store, &a, &mut tally);
    let seconds = started.elapsed().as_secs_f64();
    let summary = format!(
        "run {run_id}: {} promoted, {} blocked, {} stopped, {} with nothing new{} in {seconds:.2}s",
        tally.promoted,
        tally.blocked,
        tally.stopped,
        tally.idle,
        if tally.failed > 0 {
            format!(", {} failed", tally.failed)
        } else {
            String::new()
        }
    );
    let outcome = match &result {
        Ok(()) => "completed",
        Err(Error::Interrupted { .. }) => "interrupted",
        Err(_) => "failed",
    };
    if a.dry_run {
        store.end_dry_run()?;
    } else {
        store.finish_run(
            run_id,
            outcome,
            tally.promoted,
            tally.blocked,
            &summary,
            crate::clock::now(),
        )?;
    }
    result?;
    ctx.log(Level::Info, &summary);
    if ctx.global.json {
        ctx.print(&serde_json::to_string(&tally).expect("a tally serializes"))?;
    }
    Ok(0)
}

fn pipeline(ctx: &Ctx, store: &mut Store, a: &cli::Run, tally: &mut Tally) -> Result<()> {
    let cfg = ctx.config()?;
    super::import::import_if_moved(ctx, store, &cfg.trunk)?;
    let trees = ctx.trees()?;
    let user = ctx.user();
    let log_dir = cfg.logs.join("runs").join(tally.run_id.to_string());
    // Promotions whose unfinished attempt could not be completed: they wait
    // for it, instead of deciding anew on top of it.
    let mut unfinished = std::collections::HashSet::new();
    if !a.dry_run {
        let origin = store.origin()?;
        for i in store.interrupt_dead_job_runs(crate::clock::now())? {
            let pid = i.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            // A reboot took the job with it; a killed runner may not have.
            // Its processes carry its marker, even if the runner died
            // before it could record the pid.
            // Only when its runner is gone: a copy of this database run on
            // the same host must not kill the jobs of the original's live run.
            if !crate::exec::alive(i.runner_pid) {
                crate::exec::kill_marked(&crate::jobs::marker(&origin, i.id));
                // Its logs so far, packed as a finished job's are.
                let dir = std::path::Path::new(&i.log_dir);
                if !i.log_dir.is_empty() && dir.is_dir() {
                    if let Ok(archive) = crate::jobs::logs::pack(dir) {
                        store.set_job_archive(i.id, &archive.display().to_string())?;
                    }
                }
            }
            ctx.log(
                Level::Warn,
                &format!(
                    "job {}{pid} on build {} was interrupted: its runner died; it will run again",
                    i.job_id, i.build_id
                ),
            );
        }
        let c = promote::Carry {
            cfg,
            trees: &trees,
            log_dir: log_dir.clone(),
            user: &user,
        };
        for done in promote::complete_open_attempts(store, &c)? {
            if done.result.is_err()
                && done.attempt.step < crate::store::runs::Step::Done
                && done.attempt.step != crate::store::runs::Step::Stopped
            {
                unfinished.insert(done.attempt.name.clone());
            }
            let attempt = &done.attempt;
            ctx.log(
                Level::Info,
                &format!(
                    "completing the promotion to {} that {} left at step {}",
                    attempt.name,
                    match attempt.run_id {
                        Some(r) => format!("run {r}"),
                        None => format!("a {} command", attempt.kind.as_str()),
                    },
                    attempt.step.as_str()
                ),
            );
            let full = done
                .build
                .as_ref()
                .map(|b| b.full_hash.as_str())
                .unwrap_or("?");
            match done.result {
                Ok(carried) => {
                    if let Some(b) = &done.build {
                        report_carried(ctx, &trees, &attempt.name, b, carried, tally);
                    }
                }
                Err(e) => {
                    tally.failed += 1;
                    ctx.log(
                        Level::Error,
                        &format!(
                            "{}: could not complete the promotion of {full}: {e}; stopped, the other promotions go on",
                            attempt.name
                        ),
                    );
                }
            }
        }
    }

    // Every label as the run found it (after completing what earlier
    // commands left), before any job runs: a label someone else moves while
    // the jobs run stops its promotion instead of being overwritten.
    let mut snapshot: std::collections::HashMap<String, (Option<String>, Option<String>)> =
        std::collections::HashMap::new();
    for p in &cfg.promotions {
        if let (Ok(t), Ok(i)) = (
            promote::current_target(&trees.trunk, p.name.as_str(), None),
            promote::current_image(&trees, p.name.as_str()),
        ) {
            snapshot.insert(p.name.to_string(), (t, i));
        }
    }

    for p in &cfg.promotions {
        if !a.promotions.is_empty() && !a.promotions.iter().any(|n| n == p.name.as_str()) {
            continue;
        }
        // One promotion that cannot proceed (a link someone pointed outside
        // the trunk, a name the filesystem refuses) is reported; the
        // others go on.
        if let Some(signal) = crate::signals::stop_requested() {
            return Err(Error::Interrupted {
                signal,
                what: format!("the run stopped before promotion {}", p.name),
            });
        }
        if unfinished.contains(p.name.as_str()) {
            ctx.log(
                Level::Warn,
                &format!("{}: waits for its unfinished promotion (above)", p.name),
            );
            continue;
        }
        match promote_one(ctx, store, &trees, p, a, tally, &snapshot, &user, &log_dir) {
            Ok(()) => {}
            Err(e @ Error::Interrupted { .. }) => return Err(e),
            Err(e) => {
                tally.failed += 1;
                ctx.log(
                    Level::Error,
                    &format!(
                        "{}: could not proceed: {e}; the other promotions go on",
                        p.name
                    ),
                );
            }
        }
    }
    if let Some(signal) = crate::signals::stop_requested() {
        return Err(Error::Interrupted {
            signal,
            what: "the run stopped before publishing".into(),
        });
    }
    let failed = super::publish::publish_pending(ctx, store, a.dry_run)?;
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

/// Decides one promotion, runs its jobs, and promotes.
#[allow(clippy::too_many_arguments)]
fn promote_one(
    ctx: &Ctx,
    store: &mut Store,
    trees: &promote::Trees,
    p: &crate::config::PromotionDef,
    a: &cli::Run,
    tally: &mut Tally,
    snapshot: &std::collections::HashMap<String, (Option<String>, Option<String>)>,
    user: &str,
    log_dir: &std::path::Path,
) -> Result<()> {
    let cfg = ctx.config()?;
    let now = crate::clock::now();
    if crate::assess::uses_aggregates(store, p)? {
        promote_aggregate(ctx, store, trees, p, a.dry_run, user, tally)?;
        return Ok(());
    }
    let mut assessment = assess(store, cfg, p, now)?;
    if !p.jobs.is_empty() {
        // Jobs only help the candidates newer than one that already
        // qualifies (unless --rerun asks for a job anyway).
        let upto = match assessment.decision.promote {
            Some(id) if a.rerun.is_empty() => assessment
                .candidates
                .iter()
                .position(|b| b.id == id)
                .unwrap_or(0),
            _ => assessment.candidates.len(),
        };
        let planned = crate::jobs::plan(
            cfg,
            p,
            &assessment.candidates[..upto],
            |b, job| store.has_final_vote(b.id, job),
            &a.rerun,
        )?;
        if a.dry_run {
            for j in &planned {
                ctx.print(&format!(
                    "would run {} on {} for {}",
                    j.instance.id, j.build.full_hash, p.name
                ))?;
            }
        } else if !planned.is_empty() {
            let batch = crate::jobs::Batch {
                cfg,
                promotion: p.name.as_str(),
                run_id: tally.run_id,
                user,
            };
            let mut errors = 0;
            crate::jobs::run_all(store, &batch, planned, &mut |e| {
                if matches!(
                    &e,
                    crate::jobs::Event::Ended {
                        outcome: crate::store::jobs::JobOutcome::Error,
                        ..
                    }
                ) {
                    errors += 1;
                }
                log_job(ctx, &p.name, e)
            })?;
            tally.failed += errors;
            assessment = assess(store, cfg, p, crate::clock::now())?;
        }
    }
    let Some(build) = assessment.promoted_build().cloned() else {
        match assessment.newest() {
            Some((b, e)) => {
                tally.blocked += 1;
                ctx.log(
                    Level::Info,
                    &format!("{}: {} is blocked: {}", p.name, b.full_hash, e.summary()),
                );
            }
            None => {
                tally.idle += 1;
                ctx.log(
                    Level::Debug,
                    &format!(
                        "{}: no candidate: {} has no build newer than the last one promoted",
                        p.name, p.candidate_label
                    ),
                );
            }
        }
        return Ok(());
    };
    let current =
        promote::current_target(&trees.trunk, p.name.as_str(), build.component.as_deref())?;
    if current.as_deref() == Some(build.repo_dir.as_str()) {
        tally.idle += 1;
        ctx.log(
            Level::Info,
            &format!(
                "{}: already points at {}; nothing to do",
                p.name, build.full_hash
            ),
        );
        return Ok(());
    }
    if let Err(e) = promote::check_promotable(trees, &build) {
        tally.stopped += 1;
        ctx.log(Level::Warn, &format!("{}: not promoting: {e}", p.name));
        return Ok(());
    }
    if a.dry_run {
        ctx.print(&format!(
            "would promote {} to {} (now {})",
            build.full_hash,
            p.name,
            current.as_deref().unwrap_or("unset")
        ))?;
        tally.promoted += 1;
        return Ok(());
    }
    // The links as the run found them (component builds: as they are
    // now, since the snapshot reads the trunk root's links).
    let (previous, image) = match (snapshot.get(p.name.as_str()), &build.component) {
        (Some((t, i)), None) => (t.clone(), i.clone()),
        _ => (
            current.clone(),
            promote::current_image(trees, p.name.as_str())?,
        ),
    };
    let mut attempt = store.new_attempt(
        &crate::store::runs::NewAttempt {
            run_id: Some(tally.run_id),
            name: p.name.as_str(),
            build_id: build.id,
            previous_repo_dir: previous.as_deref(),
            previous_image: image.as_deref(),
            kind: crate::store::promotions::Kind::Promote,
            user: Some(user),
            reason: "",
            aggregate_hash: None,
        },
        now,
    )?;
    let c = promote::Carry {
        cfg,
        trees,
        log_dir: log_dir.to_path_buf(),
        user,
    };
    let label = Label::promotable(&attempt.name)?;
    match promote::carry_out(store, &c, &mut attempt, &label, &build) {
        Ok(carried) => {
            report_carried(ctx, trees, &attempt.name, &build, carried, tally);
            Ok(())
        }
        Err(e) => {
            // Stopped when nothing moved yet, so that it does not fail every
            // later run; left open for the next run to finish otherwise.
            if attempt.step <= crate::store::runs::Step::Hooks {
                store.set_step(
                    attempt.id,
                    crate::store::runs::Step::Stopped,
                    &format!("stopped: {e}"),
                )?;
            }
            Err(e)
        }
    }
}

/// A promotion whose candidates are aggregates: decided on the aggregates'
/// votes, promoted as a batch of component builds.
fn promote_aggregate(
    ctx: &Ctx,
    store: &mut Store,
    trees: &promote::Trees,
    p: &crate::config::PromotionDef,
    dry_run: bool,
    user: &str,
    tally: &mut Tally,
) -> Result<()> {
    let cfg = ctx.config()?;
    let assessment = crate::assess::assess_aggregates(store, cfg, p, crate::clock::now())?;
    let Some(candidate) = assessment.promoted().cloned() else {
        match assessment.newest() {
            Some((c, e)) => {
                tally.blocked += 1;
                ctx.log(
                    Level::Info,
                    &format!(
                        "{}: aggregate {} is blocked: {}",
                        p.name,
                        c.aggregate.agg_hash,
                        e.summary()
                    ),
                );
            }
            None => tally.idle += 1,
        }
        return Ok(());
    };
    let hash = &candidate.aggregate.agg_hash;
    if dry_run {
        ctx.print(&format!(
            "would promote aggregate {hash} ({} component builds) to {}",
            candidate.builds.len(),
            p.name
        ))?;
        tally.promoted += 1;
        return Ok(());
    }
    let outcome = promote::promote_batch(
        store,
        trees,
        &p.name,
        &candidate.builds,
        &promote::AggregateSource::Existing(candidate.aggregate.clone()),
        &promote::Actor {
            user,
            kind: crate::store::promotions::Kind::Promote,
            reason: "",
        },
    );
    match outcome {
        Ok(_) => {
            tally.promoted += 1;
            ctx.log(
                Level::Info,
                &format!(
                    "promoted aggregate {hash} ({} component builds) to {}",
                    candidate.builds.len(),
                    p.name
                ),
            );
        }
        Err(e) if e.code() != crate::error::exit::FAILED || matches!(e, Error::Failed(_)) => {
            tally.stopped += 1;
            ctx.log(
                Level::Warn,
                &format!("{}: did not promote aggregate {hash}: {e}", p.name),
            );
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

fn log_job(ctx: &Ctx, promotion: &Label, e: crate::jobs::Event) {
    use crate::jobs::Event;
    match e {
        Event::Started {
            job_id,
            full_hash,
            testenv,
        } => ctx.log(
            Level::Info,
            &format!(
                "{promotion}: started {job_id} on {full_hash}{}",
                testenv
                    .map(|t| format!(" in test environment {t}"))
                    .unwrap_or_default()
            ),
        ),
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
            ctx.log(level, line.trim_end());
        }
    }
}

/// Logs how carrying out one promotion ended.
fn report_carried(
    ctx: &Ctx,
    trees: &promote::Trees,
    name: &str,
    build: &crate::store::builds::Build,
    carried: Carried,
    tally: &mut Tally,
) {
    match carried {
        Carried::Done { images, .. } => {
            tally.promoted += 1;
            if let Ok(label) = Label::promotable(name) {
                if let Some(left) = promote::image_left_behind(trees, &label, build) {
                    ctx.log(
                        Level::Warn,
                        &format!(
                            "{label}: the image link still points at {left}: build {} has no image directory in {}",
                            build.full_hash,
                            trees.images.display()
                        ),
                    );
                }
            }
            ctx.log(
                Level::Info,
                &format!(
                    "promoted {} to {name}{}",
                    build.full_hash,
                    if images { " (trunk and images)" } else { "" }
                ),
            );
        }
        Carried::Stopped { reason } => {
            tally.stopped += 1;
            ctx.log(
                Level::Warn,
                &format!("{name}: did not promote {}: {reason}", build.full_hash),
            );
        }
    }
}
