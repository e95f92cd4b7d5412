//! `history`: the promotion history, newest first.

use super::Ctx;
use crate::cli;
use crate::error::{Error, Result};
use crate::ident::Label;
use crate::store::promotions::{PromotionFilter, PromotionRow};

/// `history`: the rows of one promotion, or of all, newest first, as a
/// table or JSON.
pub fn run(ctx: &Ctx, a: cli::History) -> Result<u8> {
    if a.limit < 1 {
        return Err(Error::Invalid("--limit must be at least 1".into()));
    }
    if let Some(n) = &a.promotion {
        Label::any(n)?;
    }
    let store = ctx.store()?;
    if a.containers {
        return containers(ctx, &store, &a);
    }
    let rows = store.promotions(&PromotionFilter {
        name: a.promotion.as_deref(),
        limit: a.limit,
        ..Default::default()
    })?;
    if let (Some(n), true) = (&a.promotion, rows.is_empty()) {
        known_promotion(ctx, n)?;
    }
    if ctx.global.json {
        let out: Vec<serde_json::Value> = rows.iter().map(json).collect();
        return ctx
            .print(&serde_json::to_string_pretty(&out).expect("JSON"))
            .map(|_| 0);
    }
    if rows.is_empty() {
        ctx.print("no promotions recorded")?;
        return Ok(0);
    }
    ctx.print(&table(&rows))?;
    Ok(0)
}

/// `history --containers`: the tags made, newest first.
fn containers(ctx: &Ctx, store: &crate::store::Store, a: &cli::History) -> Result<u8> {
    let rows = store.container_tags(a.promotion.as_deref(), a.limit)?;
    if ctx.global.json {
        return ctx
            .print(&serde_json::to_string_pretty(&rows).expect("JSON"))
            .map(|_| 0);
    }
    if rows.is_empty() {
        ctx.print("no container tags recorded")?;
        return Ok(0);
    }
    let mut out = format!(
        "{:>6}  {:<16}  {:<20}  {:<49}  {:<32}  {:<20}  {}\n",
        "ID", "TIME (UTC)", "LABEL", "BUILD", "IMAGE", "TAG", "DIGEST"
    );
    for t in &rows {
        let row = format!(
            "{:>6}  {:<16}  {:<20}  {:<49}  {:<32}  {:<20}  {}",
            t.id,
            crate::clock::short(t.tagged_at),
            t.name,
            t.full_hash,
            format!("{}/{}", t.registry, t.repository),
            t.tag,
            t.digest
        );
        out.push_str(&crate::terminal::escaped(&row));
        out.push('\n');
    }
    ctx.print(&out)?;
    Ok(0)
}

/// One history row as JSON.
fn json(p: &PromotionRow) -> serde_json::Value {
    serde_json::json!({
        "id": p.id,
        "promotion": p.name,
        "full_hash": p.build.full_hash,
        "commit_hash": p.build.commit_hash,
        "distro_hash": p.build.distro_hash,
        "extended_hash": p.build.extended_hash,
        "component": p.component,
        "aggregate_hash": p.aggregate_hash,
        "kind": p.kind,
        "timestamp": p.timestamp,
        "user": p.user,
        "reason": p.reason,
    })
}

/// The history table, a heading then a line per row.
fn table(rows: &[PromotionRow]) -> String {
    let mut out = format!(
        "{:>5}  {:<16}  {:<20}  {:<49}  {:<8}  {:<10}  {}\n",
        "ID", "TIME (UTC)", "LABEL", "BUILD", "KIND", "USER", "REASON"
    );
    for p in rows {
        // The user and the reason come from outside: escaped, one row a line.
        let row = format!(
            "{:>5}  {:<16}  {:<20}  {:<49}  {:<8}  {:<10}  {}",
            p.id,
            crate::clock::short(p.timestamp),
            p.name,
            build_column(p),
            p.kind.as_str(),
            p.user,
            p.reason
        );
        out.push_str(&crate::terminal::escaped(&row));
        out.push('\n');
    }
    out
}

/// The build a row moved the label to, and for an aggregate its component
/// and the aggregate's short hash.
fn build_column(p: &PromotionRow) -> String {
    match &p.aggregate_hash {
        Some(a) => format!(
            "{} [{} of {}]",
            p.build.full_hash,
            p.component.as_deref().unwrap_or("-"),
            &a[..a.len().min(8)]
        ),
        None => p.build.full_hash.to_string(),
    }
}

/// Fails with "not found" for a promotion with no history that the config
/// does not name either, as `why` does. A label moved by hand
/// (`repo-promote`) needs no config entry: its rows make it known.
fn known_promotion(ctx: &Ctx, name: &str) -> Result<()> {
    match ctx.config() {
        Ok(_) => ctx.promotion(name).map(|_| ()),
        // `--db` alone, no config to ask.
        Err(_) if ctx.global.db.is_some() => Err(Error::NotFound(format!(
            "no promotion {name:?} in the history of {}",
            ctx.global.db.as_ref().expect("--db").display()
        ))),
        Err(e) => Err(e),
    }
}
