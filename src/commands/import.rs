//! `import`: record new hash directories and the builder's links.

use super::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx) -> Result<u8> {
    let cfg = ctx.config()?;
    let mut store = ctx.store()?;
    let summary = crate::usecase::import::import(ctx, &mut store, &cfg.trunk)?;
    if ctx.global.json {
        ctx.print(&serde_json::to_string(&summary).expect("a summary serializes"))?;
    }
    Ok(0)
}
