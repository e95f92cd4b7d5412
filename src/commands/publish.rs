//! `publish` and `verify`: publish a build to a target by hand, check a
//! published tree.

use super::Ctx;
use crate::cli;
use crate::error::{Error, Result};
use crate::publish::verify;
use crate::store::lock::RunLock;
use crate::store::Store;
use crate::usecase::publish::{describe, desired_build, publish_target};

pub fn publish(ctx: &Ctx, a: cli::Publish) -> Result<u8> {
    let cfg = ctx.config()?;
    let target = cfg.target(&a.target).ok_or_else(|| {
        let known: Vec<&str> = cfg.publish.iter().map(|t| t.name.as_str()).collect();
        let has = if known.is_empty() {
            "it has no publish: section".to_string()
        } else {
            format!("it has: {}", known.join(", "))
        };
        Error::NotFound(format!(
            "no publish target {:?} in {} ({has})",
            a.target,
            cfg.path.display()
        ))
    })?;
    let db = ctx
        .global
        .db
        .clone()
        .unwrap_or_else(|| cfg.database.clone());
    // A publish holds its target, not the release: runs go on meanwhile.
    let _lock = RunLock::publish(&db, &target.name)?;
    let mut store = Store::open(&db)?;
    let build = match &a.hash {
        Some(h) => ctx.build_by_full_hash(&store, h)?,
        None => desired_build(cfg, &store, target)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no promotion that publishes {} has promoted a build yet; give --hash FULL_HASH",
                target.name
            ))
        })?,
    };
    let p = publish_target(cfg, &mut store, target, &build, &ctx.user(), ctx)?;
    if ctx.global.json {
        ctx.print(&serde_json::to_string_pretty(&p).expect("JSON"))?;
    } else {
        ctx.print(&describe(&p))?;
    }
    Ok(0)
}

pub fn verify(ctx: &Ctx, a: cli::Verify) -> Result<u8> {
    let threads = crate::pool::threads().max(2);
    let report = verify::verify(&a.dir, threads).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(e.to_string()),
        _ => Error::io(format!("failed to verify {}", a.dir.display()), e),
    })?;
    if ctx.global.json {
        ctx.print(&serde_json::to_string_pretty(&report).expect("JSON"))?;
    } else {
        let mut out = String::new();
        for m in &report.missing {
            out.push_str(&format!("missing  {m}\n"));
        }
        for c in &report.changed {
            out.push_str(&format!("changed  {c}\n"));
        }
        for x in &report.extra {
            out.push_str(&format!("extra    {x}\n"));
        }
        for s in &report.special {
            out.push_str(&format!("{:<8} {}\n", s.kind.as_str(), s.path));
        }
        out.push_str(&format!(
            "{}: {} files checked; {} missing, {} changed, {} extra",
            a.dir.display(),
            report.checked,
            report.missing.len(),
            report.changed.len(),
            report.extra.len()
        ));
        if !report.special.is_empty() {
            out.push_str(&format!(
                ", {} neither a file nor a directory",
                report.special.len()
            ));
        }
        ctx.print(&out)?;
    }
    Ok(if report.clean() {
        0
    } else {
        crate::error::exit::FAILED
    })
}
