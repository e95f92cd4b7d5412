//! `waive`, `waivers`, `unwaive`: recorded, expiring exceptions in place of
//! editing the criteria.

use super::Ctx;
use crate::cli;
use crate::clock;
use crate::duration::format_secs;
use crate::error::{Error, Result};
use crate::store::waivers::NewWaiver;

pub fn waive(ctx: &Ctx, a: cli::Waive) -> Result<u8> {
    let promotion = ctx.promotion(&a.promotion)?;
    let job = a.job_id.clone();
    let now = clock::now();
    let expires_at = super::exception_expiry(&a.reason, a.expires.as_deref(), now)?;
    let mut store = ctx.store()?;
    let build = match &a.hash {
        Some(h) => Some(ctx.build_by_full_hash(&store, h)?),
        None => None,
    };
    let cfg = ctx.config()?;
    let required = cfg.required_jobs(promotion);
    if !required.iter().any(|r| r.id == job) {
        let names: Vec<&str> = required.iter().map(|r| r.id.as_str()).collect();
        return Err(Error::NotFound(format!(
            "{job} is not a required job of {} (it requires: {})",
            promotion.name,
            names.join(", ")
        )));
    }
    let user = ctx.user();
    let id = store.add_waiver(
        &NewWaiver {
            promotion: promotion.name.as_str(),
            job_id: job.as_str(),
            build_id: build.as_ref().map(|b| b.id),
            reason: &a.reason,
            user: &user,
            expires_at,
        },
        now,
    )?;
    let scope = build
        .map(|b| format!("build {}", b.full_hash))
        .unwrap_or_else(|| "every build".into());
    let until = match expires_at {
        Some(t) => format!("until {} ({})", clock::iso(t), format_secs(t - now)),
        None => "until removed".into(),
    };
    ctx.print(&format!(
        "waiver {id}: {job} need not pass for {} on {scope}, {until}",
        promotion.name
    ))?;
    Ok(0)
}

pub fn list(ctx: &Ctx, a: cli::Waivers) -> Result<u8> {
    let store = ctx.store()?;
    let now = clock::now();
    let rows = store.waivers(a.all, now)?;
    if ctx.global.json {
        return ctx
            .print(&serde_json::to_string_pretty(&rows).expect("JSON"))
            .map(|_| 0);
    }
    if rows.is_empty() {
        ctx.print(if a.all {
            "no waivers recorded"
        } else {
            "no live waivers"
        })?;
        return Ok(0);
    }
    let mut out = format!(
        "{:>4}  {:<20}  {:<40}  {:<17}  {:<10}  {:<20}  {}\n",
        "ID", "PROMOTION", "JOB", "BUILD", "USER", "EXPIRES", "REASON"
    );
    for w in rows {
        let expires = match (w.removed_at, w.expires_at) {
            (Some(t), _) => format!("removed {}", clock::short(t)),
            (None, Some(t)) if t <= now => "expired".to_string(),
            (None, Some(t)) => clock::short(t),
            (None, None) => "never".into(),
        };
        let build: String = w
            .full_hash
            .map(|h| h.chars().take(17).collect())
            .unwrap_or_else(|| "every build".into());
        // The user and the reason come from outside: escaped, one row a line.
        let row = format!(
            "{:>4}  {:<20}  {:<40}  {:<17}  {:<10}  {:<20}  {}",
            w.id, w.promotion, w.job_id, build, w.user, expires, w.reason
        );
        out.push_str(&crate::terminal::escaped(&row));
        out.push('\n');
    }
    ctx.print(&out)?;
    Ok(0)
}

pub fn unwaive(ctx: &Ctx, a: cli::Unwaive) -> Result<u8> {
    let mut store = ctx.store()?;
    store.remove_waiver(a.id, &ctx.user(), clock::now())?;
    ctx.print(&format!("waiver {} removed", a.id))?;
    Ok(0)
}
