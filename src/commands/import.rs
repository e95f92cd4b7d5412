//! `import`: record new hash directories and the builder's links;
//! `import-dlrn-db`: take over a DLRN database.

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

/// `import-dlrn-db`: the trunk first (so builds match their hash
/// directories), then DLRN's rows in one transaction; a report of what
/// was taken and skipped.
pub fn dlrn_db(ctx: &Ctx, a: crate::cli::ImportDlrnDb) -> Result<u8> {
    use super::Level;
    let dlrn = crate::store::dlrn_db::DlrnDb::open(&a.dlrn_db)?;
    let cfg = ctx.config()?;
    let trees = ctx.trees()?;
    let (_lock, mut store) = ctx.moving_labels()?;
    if cfg.trunk.is_dir() {
        crate::usecase::import::import(ctx, &mut store, &cfg.trunk)?;
    } else {
        ctx.log(
            Level::Warn,
            &format!(
                "trunk {} is not there: every DLRN build is kept as purged",
                cfg.trunk.display()
            ),
        );
    }
    let on_disk = |name: &str, component: Option<&str>| {
        crate::trunk::current_target(&trees.trunk, name, trees.layout.label_component(component))
    };
    let mut warn = |m: String| ctx.log(Level::Warn, &m);
    let t = store.take_over(&dlrn, crate::clock::now(), &on_disk, &mut warn)?;
    if ctx.global.json {
        ctx.print(&serde_json::to_string(&t).expect("a report serializes"))?;
        return Ok(0);
    }
    ctx.print(&format!(
        "took over {}: {} builds ({} matched to the trunk, {} kept as purged), {} votes ({} already here), \
         {} aggregates with {} votes, {} promotions ({} already here); {} rows taken before, {} skipped",
        dlrn.path().display(),
        t.builds_matched + t.builds_purged,
        t.builds_matched,
        t.builds_purged,
        t.votes,
        t.votes_present,
        t.aggregates,
        t.aggregate_votes,
        t.promotions,
        t.promotions_present,
        t.taken_before,
        t.skipped
    ))?;
    Ok(0)
}
