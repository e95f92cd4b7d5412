//! `replay`: applies another database's exported history to this
//! machine's trees and database, under the run lock, after importing what
//! the trunk gained. Builds this mirror lacks are skipped with a warning
//! (exit 0); a row is never applied twice.

use std::io::Read;

use serde::Serialize;

use super::{Ctx, Level};
use crate::cli;
use crate::error::{Error, IoContext, Result};
use crate::mirror::{self, Fate};

#[derive(Debug, Default, Serialize)]
struct Tally {
    rows: usize,
    applied: usize,
    unchanged: usize,
    already_replayed: usize,
    superseded: usize,
    skipped: usize,
}

pub fn run(ctx: &Ctx, a: cli::Replay) -> Result<u8> {
    let (text, source) = if a.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context(|| "failed to read the history from stdin".into())?;
        (s, "stdin".to_string())
    } else {
        let s = std::fs::read_to_string(&a.file).at("read", &a.file)?;
        (s, a.file.display().to_string())
    };
    let rows = mirror::parse(&text, &source)?;
    let cfg = ctx.config()?;
    let (_lock, mut store) = ctx.moving_labels()?;
    let own = store.origin()?;
    if rows.iter().any(|r| r.origin == own) {
        return Err(Error::Refused(format!(
            "{source} holds this database's own history (origin {own}): nothing to replay"
        )));
    }
    super::import::import_if_moved(ctx, &mut store, &cfg.trunk)?;
    let trees = ctx.trees()?;
    let user = ctx.user();
    let c = ctx.carry(&trees, &user)?;
    let mut tally = Tally {
        rows: rows.len(),
        ..Tally::default()
    };
    for e in &rows {
        let what = format!("#{} of {} ({} -> {})", e.id, e.origin, e.label, e.full_hash);
        match mirror::replay(&mut store, &c, e)? {
            Fate::Applied { history_id } => {
                tally.applied += 1;
                ctx.log(
                    Level::Info,
                    &format!("replayed {what}: moved the links, history row {history_id}"),
                );
            }
            Fate::Unchanged => {
                tally.unchanged += 1;
                ctx.log(
                    Level::Info,
                    &format!("replayed {what}: the label already pointed there"),
                );
            }
            Fate::AlreadyReplayed => tally.already_replayed += 1,
            Fate::Superseded => {
                tally.superseded += 1;
                ctx.log(
                    Level::Info,
                    &format!(
                        "not replaying {what}: a later move of {} was replayed already",
                        e.label
                    ),
                );
            }
            Fate::Skipped { why } => {
                tally.skipped += 1;
                ctx.log(
                    Level::Warn,
                    &format!("skipped {what}: {why}; a later replay tries again"),
                );
            }
        }
    }
    if ctx.global.json {
        ctx.print(&serde_json::to_string(&tally).expect("a tally serializes"))?;
    } else {
        ctx.print(&format!(
            "replayed {} rows from {source}: {} applied, {} unchanged, {} already replayed, {} superseded, {} skipped",
            tally.rows, tally.applied, tally.unchanged, tally.already_replayed, tally.superseded, tally.skipped
        ))?;
    }
    Ok(0)
}
