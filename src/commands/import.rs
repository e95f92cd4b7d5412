//! `import`: record new hash directories and the builder's links.

use serde::Serialize;

use super::{Ctx, Level};
use crate::error::{Error, Result};
use crate::trunk::import::scan;

#[derive(Serialize)]
pub(crate) struct Summary {
    hash_dirs: usize,
    new_builds: usize,
    consistent: usize,
    skipped: usize,
    incomplete: usize,
}

pub fn run(ctx: &Ctx) -> Result<u8> {
    let cfg = ctx.config()?;
    let mut store = ctx.store()?;
    let summary = import(ctx, &mut store, &cfg.trunk)?;
    if ctx.global.json {
        ctx.print(&serde_json::to_string(&summary).expect("a summary serializes"))?;
    }
    Ok(0)
}

/// Imports the trunk into `store`, logging warnings; shared with `run`.
pub(crate) fn import(
    ctx: &Ctx,
    store: &mut crate::store::Store,
    trunk: &std::path::Path,
) -> Result<Summary> {
    if !trunk.is_dir() {
        return Err(Error::NotFound(format!(
            "trunk {} is not a directory",
            trunk.display()
        )));
    }
    let known = store.known_repo_dirs()?;
    let found = scan(trunk, &known);
    for w in &found.warnings {
        ctx.log(Level::Warn, w);
    }
    let (new_builds, consistent) =
        store.record_import(&found.new, &found.links, crate::clock::now())?;
    if found.incomplete > 0 {
        ctx.log(
            Level::Info,
            &format!(
                "{} hash directories have no commit.yaml yet; they will be read when they do",
                found.incomplete
            ),
        );
    }
    let level = if new_builds > 0 {
        Level::Info
    } else {
        Level::Debug
    };
    ctx.log(
        level,
        &format!(
            "imported {new_builds} new builds ({consistent} consistent) from {} hash directories in {}",
            found.hash_dirs,
            trunk.display()
        ),
    );
    Ok(Summary {
        hash_dirs: found.hash_dirs,
        new_builds,
        consistent,
        skipped: found.warnings.len(),
        incomplete: found.incomplete,
    })
}
