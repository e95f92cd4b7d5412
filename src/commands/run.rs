//! `run`: the cron entry. Takes the lock, records the run, calls the run
//! use case ([`crate::usecase::run`]) and prints its summary.

use std::time::Instant;

use super::{Ctx, Level};
use crate::cli;
use crate::error::{Error, Result};
use crate::store::lock::RunLock;
use crate::store::runs::RunOutcome;
use crate::usecase::run::{Env, Options, Tally};

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
    let db_path = ctx.db_path()?;
    // Another release's database is refused before the lock is taken.
    let mut store = ctx.open_store(&db_path)?;
    // A dry run changes nothing, so it does not need the lock.
    let lock = match a.dry_run {
        true => None,
        false => Some(RunLock::acquire(&db_path)?),
    };
    if !a.dry_run {
        // A stop request ends the run at the next step and records it as
        // interrupted; the jobs it started go on under their supervisors.
        crate::signals::catch_stop_requests();
    }
    let started = Instant::now();
    let trees = ctx.trees()?;
    // A plain run looks first at what it reads outside the database: when
    // it is as the last quiet run found it, and nothing wrote since, that
    // run's decisions stand.
    let plain = !a.dry_run && !a.wait && !a.phase2 && a.promotions.is_empty() && a.rerun.is_empty();
    // `None` too when the config is one no memo can stand for.
    let seen = match plain {
        true => crate::usecase::memo::look(cfg, &trees, &store)?,
        false => None,
    };
    if let Some(seen) = &seen {
        let begun = crate::clock::now();
        if let Some((m, said)) = crate::usecase::memo::standing(&store, seen, begun)? {
            return repeat(ctx, &mut store, &m, &said, begun, started);
        }
    }
    if a.dry_run {
        // The import a dry run does is undone with the rest: it decides on
        // what it would import, and records nothing.
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
    let user = ctx.user();
    let env = Env {
        cfg,
        trees: &trees,
        user: &user,
        run_id,
        database: &db_path,
    };
    let opts = Options {
        promotions: &a.promotions,
        rerun: &a.rerun,
        dry_run: a.dry_run,
        wait: a.wait,
        memo: seen.is_some(),
    };
    if let (Some(u), true) = (&cfg.updates, a.dry_run) {
        let flow = crate::usecase::updates::Flow {
            cfg,
            u,
            user: &user,
            phase2_now: a.phase2,
            out: ctx,
        };
        for line in crate::usecase::updates::plan(&flow, &store)? {
            ctx.print(&line)?;
        }
    }
    let mut result = crate::usecase::run::run(&env, &mut store, &opts, lock, ctx, &mut tally);
    // Then the updates' flow, under its own lock, not the release's: its
    // phase jobs may take hours, and the promotions of the next runs go
    // on meanwhile.
    let stopped = matches!(result, Err(Error::Interrupted { .. }));
    if let (Some(u), false, false) = (&cfg.updates, a.dry_run, stopped) {
        let flow = crate::usecase::updates::Flow {
            cfg,
            u,
            user: &user,
            phase2_now: a.phase2,
            out: ctx,
        };
        match updates(&flow, &db_path, &mut store) {
            Ok(Some(done)) => {
                if done.errors > 0 && result.is_ok() {
                    result = Err(Error::Failed(format!(
                        "{} step(s) of the updates' flow could not proceed (see the errors above); the next run tries again",
                        done.errors
                    )));
                } else if done.busy > 0 && result.is_ok() {
                    result = Err(Error::Busy(format!(
                        "{} step(s) of the updates' flow wait for a combination another flow holds; the next run tries again",
                        done.busy
                    )));
                }
                tally.updates = Some(done);
            }
            Ok(None) => {}
            Err(e) if result.is_ok() => result = Err(e),
            Err(e) => ctx.log(Level::Error, &format!("updates: {e}")),
        }
    }
    let summary = summary(&tally, started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok(()) => RunOutcome::Completed,
        Err(Error::Interrupted { .. }) => RunOutcome::Interrupted,
        Err(_) => RunOutcome::Failed,
    };
    if a.dry_run {
        store.end_dry_run()?;
    } else {
        let now = crate::clock::now();
        let (p, b) = (tally.promoted, tally.blocked);
        let memo = match (&seen, &tally.steady, &result) {
            (Some(seen), Some(said), Ok(())) => Some(crate::usecase::memo::new(
                seen,
                crate::usecase::memo::valid_until(&store, now)?,
                tally.blocked,
                tally.idle,
                said,
            )),
            _ => None,
        };
        if store.finish_run(run_id, outcome, p, b, &summary, now, memo.as_ref())? {
            ctx.log(
                Level::Debug,
                "nothing to do: the next runs repeat these decisions until something changes",
            );
        }
    }
    result?;
    ctx.log(Level::Info, &summary);
    if ctx.global.json {
        ctx.print(&serde_json::to_string(&tally).expect("a tally serializes"))?;
    }
    Ok(0)
}

/// A run that found everything as quiet run `m.run_id` left it: it says
/// what that run said (`said`), and records itself.
fn repeat(
    ctx: &Ctx,
    store: &mut crate::store::Store,
    m: &crate::store::runs::RunMemo,
    said: &[(Level, String)],
    begun: i64,
    started: Instant,
) -> Result<u8> {
    ctx.log(
        Level::Debug,
        &format!(
            "nothing changed since run {} (the links, the config, the database): its decisions stand",
            m.run_id
        ),
    );
    for (level, line) in said {
        ctx.log(*level, line);
    }
    let tally = |run_id| Tally {
        run_id,
        blocked: m.blocked,
        idle: m.idle,
        ..Tally::default()
    };
    let (run_id, summary) = store.record_repeated_run(
        m,
        |id| summary(&tally(id), started.elapsed().as_secs_f64()),
        begun,
        crate::clock::now(),
    )?;
    let tally = tally(run_id);
    ctx.log(Level::Info, &summary);
    if ctx.global.json {
        ctx.print(&serde_json::to_string(&tally).expect("a tally serializes"))?;
    }
    Ok(0)
}

/// "run 7: 1 promoted, 0 blocked, 0 stopped, 2 with nothing new in 0.01s".
fn summary(t: &Tally, seconds: f64) -> String {
    let failed = match t.failed {
        0 => String::new(),
        n => format!(", {n} failed"),
    };
    let jobs = match (t.started, t.running) {
        (0, 0) => String::new(),
        (s, 0) => format!(", {s} job(s) started"),
        (s, r) => format!(", {s} job(s) started ({r} still running)"),
    };
    let updates = match &t.updates {
        Some(u) => format!(
            "; updates: {} passed phase 1, {} failed it, {} ready, {} failed phase 2, {} staged, {} released",
            u.phase1_passed, u.phase1_failed, u.ready, u.failed_in_phase2, u.staged, u.released
        ),
        None => String::new(),
    };
    format!(
        "run {}: {} promoted, {} blocked, {} stopped, {} with nothing new{failed}{jobs}{updates} in {seconds:.2}s",
        t.run_id, t.promoted, t.blocked, t.stopped, t.idle
    )
}

/// Advances the updates under the lock of the release's updates' flow
/// (`<database>.updates.lock`); `None` when another run's flow holds it.
fn updates(
    flow: &crate::usecase::updates::Flow,
    database: &std::path::Path,
    store: &mut crate::store::Store,
) -> Result<Option<crate::usecase::updates::Advanced>> {
    let mut path = database.as_os_str().to_owned();
    path.push(".updates.lock");
    let _lock = match crate::store::lock::try_lock(std::path::Path::new(&path))? {
        crate::store::lock::Held::Now(l) => l,
        crate::store::lock::Held::By(who) => {
            flow.out.log(
                Level::Info,
                &format!(
                    "updates: another run's flow holds {} ({who}); this run leaves updates to it",
                    std::path::Path::new(&path).display()
                ),
            );
            return Ok(None);
        }
    };
    crate::usecase::updates::advance(flow, store).map(Some)
}
