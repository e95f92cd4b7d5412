//! `replay`: applies another database's exported history to this
//! machine's trees and database, under the run lock, after importing what
//! the trunk gained. Builds this mirror lacks are skipped with a warning
//! (exit 0); a row is never applied twice.

use serde::Serialize;

use super::{Ctx, Level};
use crate::cli;
use crate::error::{Error, Result};
use crate::input::InputError;
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

/// Largest history file replayed: a row is a few hundred bytes, so this is
/// millions of promotions. Each line is bounded too (see `mirror::read`).
const MAX_HISTORY: u64 = 1 << 30;

pub fn run(ctx: &Ctx, a: cli::Replay) -> Result<u8> {
    let (rows, source) = if a.file.as_os_str() == "-" {
        (
            mirror::read(std::io::stdin().lock(), "stdin")?,
            "stdin".into(),
        )
    } else {
        let source = a.file.display().to_string();
        let file = crate::input::open(&a.file, MAX_HISTORY).map_err(|e| match e {
            InputError::NotFound(_) => {
                Error::NotFound(format!("no history file {source} to replay"))
            }
            InputError::Io(e) => Error::io(format!("failed to read {source}"), e),
            e => Error::Invalid(format!("cannot replay {source}: {e}")),
        })?;
        (
            mirror::read(std::io::BufReader::new(file), &source)?,
            source,
        )
    };
    let cfg = ctx.config()?;
    let (_lock, mut store) = ctx.moving_labels()?;
    let own = store.origin()?;
    if rows.iter().any(|r| r.origin == own) {
        return Err(Error::Refused(format!(
            "{source} holds this database's own history (origin {own}): nothing to replay"
        )));
    }
    crate::usecase::import::import_if_moved(ctx, &mut store, &cfg.trunk)?;
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
