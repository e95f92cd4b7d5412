//! `publish` and `verify`: publish a build to a target by hand, check a
//! published tree.

use super::Ctx;
use crate::cli;
use crate::error::{Error, Result};
use crate::publish::verify;
use crate::store::lock::RunLock;
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
    let mut store = ctx.open_store(&db)?;
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
    // A remote tree is fetched as it is served, then checked here.
    let fetched = match a.remote {
        true => Some(fetch_remote(ctx, &a.dir)?),
        false => None,
    };
    let dir = fetched.as_ref().map_or(a.dir.as_path(), |t| t.path());
    let report = verify::verify(dir, threads).map_err(|e| match e.kind() {
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

/// What the remote tree `dest` serves, fetched into a temporary directory
/// with rsync (bounded by `push_timeout` when a config is at hand).
fn fetch_remote(ctx: &Ctx, dest: &std::path::Path) -> Result<tempfile::TempDir> {
    let text = dest.to_string_lossy();
    if !crate::publish::remote::is_remote(&text) {
        return Err(Error::Invalid(format!(
            "{text:?} is not a remote tree: give host:path or rsync://host/module/path"
        )));
    }
    let limits = match ctx.config() {
        Ok(cfg) => crate::publish::remote::Limits {
            timeout: cfg.push_timeout,
            grace: cfg.kill_grace,
        },
        Err(_) => crate::publish::remote::Limits {
            timeout: std::time::Duration::from_secs(7200),
            grace: std::time::Duration::from_secs(10),
        },
    };
    let into =
        tempfile::tempdir().map_err(|e| Error::io("failed to make a scratch directory", e))?;
    crate::publish::remote::fetch(&text, into.path(), limits).map_err(Error::Failed)?;
    Ok(into)
}
