//! `export`: the promotion history as JSON lines, oldest first, for a
//! mirror to `replay`. Needs only the database.

use super::Ctx;
use crate::cli;
use crate::error::Result;

pub fn run(ctx: &Ctx, a: cli::Export) -> Result<u8> {
    let store = ctx.store()?;
    let rows = store.exported_promotions(a.since)?;
    let mut out = String::with_capacity(rows.len() * 400);
    for r in &rows {
        out.push_str(&serde_json::to_string(r).expect("a promotion serializes"));
        out.push('\n');
    }
    if !out.is_empty() {
        ctx.print(&out)?;
    }
    Ok(0)
}
