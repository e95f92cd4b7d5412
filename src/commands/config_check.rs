//! `config check`: validate the config, every error at once; `config
//! import`: the old promoter's config as a promoter.yaml.

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
        if let Some(u) = &c.updates {
            ctx.print(&describe_updates(u))?;
        }
    }
    Ok(0)
}

/// `config import OLD`: prints the converted config; the conversion is
/// checked as `config check` would, and what it would say is a warning.
pub fn import(ctx: &Ctx, a: crate::cli::ConfigImport) -> Result<u8> {
    use crate::config::convert;
    use crate::error::{Error, IoContext};
    let text = std::fs::read_to_string(&a.old).at("read", &a.old)?;
    let bad = |m: String| Error::Invalid(format!("{}: {m}", a.old.display()));
    let old = convert::read(&text).map_err(bad)?;
    let paths = convert::Paths {
        trunk: a.trunk,
        images: a.images,
        database: a.database,
    };
    let out = convert::render(&old, &a.old.display().to_string(), &paths).map_err(bad)?;
    let cwd = std::env::current_dir().at("read", std::path::Path::new("."))?;
    if let Err(errors) = crate::config::Config::parse(&cwd.join("promoter.yaml"), &out) {
        for e in errors.0 {
            ctx.log(
                super::Level::Warn,
                &format!("the converted config needs an edit: {}", e.message),
            );
        }
    }
    if !old.dropped.is_empty() {
        let keys: Vec<&str> = old.dropped.iter().map(|(k, _, _)| k.as_str()).collect();
        ctx.log(
            super::Level::Info,
            &format!(
                "not carried over: {} (each with why, in the comments at the end)",
                keys.join(", ")
            ),
        );
    }
    ctx.print(out.trim_end())?;
    Ok(0)
}

/// What `updates:` says, in a few lines: the combinations (and which are
/// disabled), the jobs of each phase, and where stage and production go.
fn describe_updates(u: &crate::config::UpdatesDef) -> String {
    let now = crate::clock::now();
    let combos: Vec<String> = u
        .combinations
        .iter()
        .map(|c| match u.disabled_reason(c, now) {
            Some(d) => format!(
                "{c} (disabled{}: {})",
                d.until
                    .map(|t| format!(" until {}", crate::clock::iso(t)))
                    .unwrap_or_default(),
                d.reason
            ),
            None => c.to_string(),
        })
        .collect();
    let list = |l: &[String]| match l.is_empty() {
        true => "none".to_string(),
        false => l.join(", "),
    };
    format!(
        "updates {}: combinations {}\nphase 1 jobs: {}; phase 2 jobs: {} every {}; stage jobs: {}\nstage publishes to {}, production to {}",
        u.dir.display(),
        combos.join(", "),
        list(&u.phase1_jobs),
        list(&u.phase2_jobs),
        crate::duration::format_secs(u.phase2_every.as_secs() as i64),
        list(&u.stage_jobs),
        u.stage_publish.as_deref().unwrap_or("nothing"),
        u.production_publish.as_deref().unwrap_or("nothing"),
    )
}
