//! `update submit|list|show|withdraw`, `disable`, `enable`, `disabled` and
//! `must-provision`: updates as records, the combinations taken out for a
//! time, and the packages that need a fresh host.

use serde::Serialize;

use super::{Ctx, Level};
use crate::cli::{self, MustProvisionCommand, UpdateCommand};
use crate::clock;
use crate::config::Combination;
use crate::error::{Error, Result};
use crate::store::updates::{
    HistoryRow, PhaseJob, PhaseOutcome, UpdateBuild, UpdateRow, UpdateState,
};
use crate::store::Store;
use crate::usecase::updates::{self as flow, describe_disabled};

/// Lines of a failing job's log shown by `update show`.
const TAIL: usize = 8;

pub fn update(ctx: &Ctx, c: UpdateCommand) -> Result<u8> {
    match c {
        UpdateCommand::Submit(a) => submit(ctx, a),
        UpdateCommand::List(a) => list(ctx, a),
        UpdateCommand::Show(a) => show(ctx, a),
        UpdateCommand::Withdraw(a) => withdraw(ctx, a),
    }
}

fn submit(ctx: &Ctx, a: cli::UpdateSubmit) -> Result<u8> {
    let cfg = ctx.config()?;
    flow::section(cfg)?;
    let mut store = ctx.store()?;
    let s = flow::submit(cfg, &mut store, &a.file, &ctx.user())?;
    if ctx.global.json {
        ctx.print(&serde_json::to_string(&s).expect("serializes"))?;
    } else {
        let combos: Vec<String> = s.combinations.iter().map(|c| c.to_string()).collect();
        ctx.print(&format!(
            "update {}: {} submitted: {} RPMs for {}; the next run runs its phase 1",
            s.id,
            s.name,
            s.rpms,
            combos.join(", ")
        ))?;
    }
    Ok(0)
}

/// An update as `list` and `show --json` give it.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    update: UpdateRow,
    combinations: Vec<Combination>,
}

fn list(ctx: &Ctx, a: cli::UpdateList) -> Result<u8> {
    let cfg = ctx.config()?;
    let u = flow::section(cfg)?;
    let now = clock::now();
    let states = match &a.state {
        Some(s) => vec![UpdateState::parse(s).ok_or_else(|| {
            let all: Vec<&str> = UpdateState::ALL.iter().map(|s| s.as_str()).collect();
            Error::Invalid(format!("--state {s:?} is not a state ({})", all.join(", ")))
        })?],
        None => Vec::new(),
    };
    let store = ctx.store()?;
    let mut out = Vec::new();
    for u in store.updates_in(&states)? {
        let combinations = store.update_combinations(u.id)?;
        out.push(Listed {
            update: u,
            combinations,
        });
    }
    if ctx.global.json {
        return print_json(ctx, &serde_json::json!({ "updates": out }));
    }
    if out.is_empty() {
        ctx.print("no updates")?;
        return Ok(0);
    }
    let mut text = format!(
        "{:>4}  {:<10} {:<30} {:<17} combinations\n",
        "id", "state", "name", "submitted"
    );
    for l in &out {
        let combos: Vec<String> = l
            .combinations
            .iter()
            .map(|c| match flow::disabled(u, &store, c, now) {
                Ok(Some(_)) => format!("{c} (disabled)"),
                _ => c.to_string(),
            })
            .collect();
        text.push_str(&format!(
            "{:>4}  {:<10} {:<30} {:<17} {}\n",
            l.update.id,
            l.update.state.as_str(),
            l.update.name,
            clock::short(l.update.submitted_at),
            combos.join(", ")
        ));
    }
    ctx.print(&text)?;
    Ok(0)
}

/// One combination of an update, as `show` gives it.
#[derive(Serialize)]
struct ShownCombination {
    #[serde(flatten)]
    combination: Combination,
    builds: Vec<String>,
    rpms: usize,
    /// Why it is disabled now, if it is.
    disabled: Option<String>,
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    update: UpdateRow,
    combinations: Vec<ShownCombination>,
    history: Vec<HistoryRow>,
    jobs: Vec<ShownJob>,
}

#[derive(Serialize)]
struct ShownJob {
    #[serde(flatten)]
    job: PhaseJob,
    /// The end of its log, when it did not pass.
    log_tail: Vec<String>,
}

fn show(ctx: &Ctx, a: cli::UpdateShow) -> Result<u8> {
    let cfg = ctx.config()?;
    let u = flow::section(cfg)?;
    let store = ctx.store()?;
    let row = store
        .update(a.id)?
        .ok_or_else(|| Error::NotFound(format!("no update {}", a.id)))?;
    let builds = store.update_builds(row.id)?;
    let now = clock::now();
    let mut combinations = Vec::new();
    for c in store.update_combinations(row.id)? {
        let disabled =
            flow::disabled(u, &store, &c, now)?.map(|(r, until)| describe_disabled(&r, until));
        combinations.push(ShownCombination {
            builds: builds_of(&builds, &c),
            rpms: store.update_rpms(row.id, &c)?.len(),
            combination: c,
            disabled,
        });
    }
    // The log tail of the last failing run of each job of each phase: what
    // a person reads first, and the screen stays one.
    let mut tailed = std::collections::HashSet::new();
    let mut jobs: Vec<ShownJob> = store
        .phase_jobs_of(row.id)?
        .into_iter()
        .rev()
        .map(|job| {
            let failed = !matches!(job.outcome, PhaseOutcome::Passed | PhaseOutcome::Running);
            let log_tail = match failed && tailed.insert((job.phase, job.job_id.clone())) {
                true => tail(&job.log, TAIL),
                false => Vec::new(),
            };
            ShownJob { job, log_tail }
        })
        .collect();
    jobs.reverse();
    let shown = Shown {
        history: store.update_history(row.id)?,
        update: row,
        combinations,
        jobs,
    };
    if ctx.global.json {
        return print_json(ctx, &shown);
    }
    ctx.print(&render(&shown))?;
    Ok(0)
}

fn builds_of(builds: &[UpdateBuild], c: &Combination) -> Vec<String> {
    builds
        .iter()
        .filter(|b| b.release == c.release && b.dist == c.dist)
        .map(|b| b.nvr.clone())
        .collect()
}

/// The last `n` lines of a log file (none when it cannot be read).
fn tail(path: &str, n: usize) -> Vec<String> {
    let Ok(text) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| crate::terminal::escaped(l).into_owned())
        .collect()
}

fn render(s: &Shown) -> String {
    let u = &s.update;
    let mut out = format!(
        "update {}: {}: {}\n  submitted {} by {}\n",
        u.id,
        u.name,
        u.state.as_str(),
        clock::iso(u.submitted_at),
        u.submitted_by
    );
    if let Some(r) = &u.reason {
        out.push_str(&format!("  why: {r}\n"));
    }
    out.push_str("combinations:\n");
    for c in &s.combinations {
        out.push_str(&format!(
            "  {:<24} {} ({} RPMs){}\n",
            c.combination.to_string(),
            c.builds.join(", "),
            c.rpms,
            c.disabled
                .as_ref()
                .map(|d| format!("  {d}: not run, not required"))
                .unwrap_or_default()
        ));
    }
    out.push_str("history:\n");
    for h in &s.history {
        out.push_str(&format!(
            "  {}  {:<10} {}{}\n",
            clock::short(h.at),
            h.state.as_str(),
            h.user,
            if h.note.is_empty() {
                String::new()
            } else {
                format!(": {}", h.note)
            }
        ));
    }
    if !s.jobs.is_empty() {
        out.push_str("jobs:\n");
    }
    for j in &s.jobs {
        let pool = match j.job.pool.is_empty() {
            true => String::new(),
            false => format!(
                " (pool {})",
                j.job
                    .pool
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        out.push_str(&format!(
            "  {:<7} {:<32} {:<9} {}{pool}\n",
            j.job.phase.as_str(),
            j.job.job_id,
            j.job.outcome.as_str(),
            clock::short(j.job.started_at)
        ));
        if !j.log_tail.is_empty() {
            out.push_str(&format!("    log {}:\n", j.job.log));
            for l in &j.log_tail {
                out.push_str(&format!("    | {l}\n"));
            }
        }
    }
    out
}

fn withdraw(ctx: &Ctx, a: cli::UpdateWithdraw) -> Result<u8> {
    if a.reason.trim().is_empty() {
        return Err(Error::Invalid(
            "--reason is empty: say why, for the record".into(),
        ));
    }
    let cfg = ctx.config()?;
    let mut store = ctx.store()?;
    let row = flow::withdraw(cfg, &mut store, a.id, &a.reason, &ctx.user())?;
    ctx.print(&format!(
        "update {}: {} withdrawn: {}",
        row.id, row.name, a.reason
    ))?;
    Ok(0)
}

/// The combination `--release R --dist D` names, one of the config's.
fn combination(ctx: &Ctx, release: &str, dist: &str) -> Result<Combination> {
    let cfg = ctx.config()?;
    let u = flow::section(cfg)?;
    let c = Combination {
        release: release.into(),
        dist: dist.into(),
    };
    if !u.combinations.contains(&c) {
        let all: Vec<String> = u.combinations.iter().map(|c| c.to_string()).collect();
        return Err(Error::NotFound(format!(
            "{c} is not a combination of {} (it has: {})",
            cfg.path.display(),
            all.join(", ")
        )));
    }
    Ok(c)
}

pub fn disable(ctx: &Ctx, a: cli::Disable) -> Result<u8> {
    let c = combination(ctx, &a.release, &a.dist)?;
    let now = clock::now();
    let expires_at = super::exception_expiry(&a.reason, a.expires.as_deref(), now)?;
    let mut store = ctx.store()?;
    store.disable_combination(&c, &a.reason, expires_at, &ctx.user(), now)?;
    ctx.print(&format!(
        "{c}: {}",
        describe_disabled(&a.reason, expires_at)
    ))?;
    Ok(0)
}

pub fn enable(ctx: &Ctx, a: cli::Enable) -> Result<u8> {
    let c = combination(ctx, &a.release, &a.dist)?;
    let mut store = ctx.store()?;
    let now = clock::now();
    let n = store.enable_combination(&c, &ctx.user(), now)?;
    let u = flow::section(ctx.config()?)?;
    if let Some(d) = u.disabled_reason(&c, now) {
        ctx.log(
            Level::Warn,
            &format!(
                "{c} stays disabled by the config: {}",
                describe_disabled(&d.reason, d.until)
            ),
        );
    }
    if n == 0 {
        return Err(Error::NotFound(format!("{c} is not disabled by hand")));
    }
    ctx.print(&format!("{c}: enabled"))?;
    Ok(0)
}

/// A disabled combination as `disabled` lists it.
#[derive(Serialize)]
struct DisabledShown {
    #[serde(flatten)]
    combination: Combination,
    reason: String,
    until: Option<i64>,
    /// `config` or `hand`.
    by: String,
}

pub fn disabled(ctx: &Ctx) -> Result<u8> {
    let u = flow::section(ctx.config()?)?;
    let store = ctx.store()?;
    let now = clock::now();
    let mut out: Vec<DisabledShown> = u
        .disabled
        .iter()
        .filter(|d| d.until.is_none_or(|t| t > now))
        .map(|d| DisabledShown {
            combination: d.combination.clone(),
            reason: d.reason.clone(),
            until: d.until,
            by: "config".into(),
        })
        .collect();
    for d in store.disabled_combinations(now)? {
        out.push(DisabledShown {
            combination: Combination {
                release: d.release,
                dist: d.dist,
            },
            reason: d.reason,
            until: d.expires_at,
            by: d.user,
        });
    }
    if ctx.global.json {
        return print_json(ctx, &serde_json::json!({ "disabled": out }));
    }
    if out.is_empty() {
        ctx.print("no combination is disabled")?;
    }
    for d in &out {
        ctx.print(&format!(
            "{}: {} (by {})",
            d.combination,
            describe_disabled(&d.reason, d.until),
            d.by
        ))?;
    }
    Ok(0)
}

pub fn must_provision(ctx: &Ctx, c: MustProvisionCommand) -> Result<u8> {
    let mut store: Store = ctx.store()?;
    match c {
        MustProvisionCommand::Add(p) => {
            let name = p.package.trim();
            if name.is_empty()
                || name
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '/')
            {
                return Err(Error::Invalid(format!(
                    "{:?} is not an RPM name",
                    p.package
                )));
            }
            let added = store.add_must_provision(name, &ctx.user(), clock::now())?;
            ctx.print(&match added {
                true => format!("{name}: added to the must-provision list"),
                false => format!("{name}: already on the must-provision list"),
            })?;
        }
        MustProvisionCommand::Remove(p) => {
            if !store.remove_must_provision(&p.package)? {
                return Err(Error::NotFound(format!(
                    "{} is not on the must-provision list",
                    p.package
                )));
            }
            ctx.print(&format!(
                "{}: removed from the must-provision list",
                p.package
            ))?;
        }
        MustProvisionCommand::List => {
            let list = store.must_provision()?;
            if ctx.global.json {
                return print_json(ctx, &serde_json::json!({ "must_provision": list }));
            }
            for m in &list {
                ctx.print(&format!(
                    "{}  (added {} by {})",
                    m.package,
                    clock::short(m.added_at),
                    m.user
                ))?;
            }
        }
    }
    Ok(0)
}

fn print_json(ctx: &Ctx, v: &impl Serialize) -> Result<u8> {
    ctx.print(&serde_json::to_string_pretty(v).expect("serializes"))?;
    Ok(0)
}
