//! `config check`: validate the config, every error at once.

use super::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx) -> Result<u8> {
    let c = ctx.config()?;
    for w in &c.warnings {
        ctx.log(super::Level::Warn, &w.to_string());
    }
    if !c.missing_tools.is_empty() {
        return Err(crate::config::ConfigErrors(c.missing_tools.clone()).into());
    }
    if !ctx.global.quiet {
        let jobs: usize = c.jobs.iter().map(|j| j.instances().len()).sum();
        ctx.print(&format!(
            "{}: ok: release {}, {} promotions, {} job ids, {} publish targets",
            c.path.display(),
            c.release,
            c.promotions.len(),
            jobs,
            c.publish.len()
        ))?;
        // Where promotions will put their links, as the builder's own
        // links show (PRODUCT.md, "Coming from DLRN").
        let layout = match c.trunk.is_dir() {
            true => crate::trunk::Layout::detect(&c.trunk).describe(),
            false => "not there yet (created by the builder)",
        };
        ctx.print(&format!("trunk {}: {layout}", c.trunk.display()))?;
    }
    Ok(0)
}
