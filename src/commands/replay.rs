//! `replay`: applies another database's exported history to this
//! machine's trees and database, under the run lock, after importing what
//! the trunk gained. Builds this mirror lacks are skipped with a warning
//! (exit 0); a row is never applied twice.

use std::path::Path;

use serde::Serialize;

use super::{Ctx, Level};
use crate::cli;
use crate::error::{Error, Result};
use crate::input::InputError;
use crate::mirror::{self, Fate};
use crate::store::replay::ExportedPromotion;

/// How many rows of the file became what; its JSON is printed with `--json`.
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

/// `replay`: reads the whole history file, refuses this database's own,
/// imports what the trunk gained, then applies the rows in order.
pub fn run(ctx: &Ctx, a: cli::Replay) -> Result<u8> {
    let (rows, source) = read_history(&a.file)?;
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
        let fate = mirror::replay(&mut store, &c, e)?;
        tally.count(ctx, e, fate);
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

/// The rows of the history file (`-`: stdin), checked whole, and the name
/// messages give it.
fn read_history(file: &Path) -> Result<(Vec<ExportedPromotion>, String)> {
    if file.as_os_str() == "-" {
        let rows = mirror::read(std::io::stdin().lock(), "stdin")?;
        return Ok((rows, "stdin".into()));
    }
    let source = file.display().to_string();
    let input = crate::input::open(file, MAX_HISTORY).map_err(|e| match e {
        InputError::NotFound(_) => Error::NotFound(format!("no history file {source} to replay")),
        InputError::Io(e) => Error::io(format!("failed to read {source}"), e),
        e => Error::Invalid(format!("cannot replay {source}: {e}")),
    })?;
    let rows = mirror::read(std::io::BufReader::new(input), &source)?;
    Ok((rows, source))
}

impl Tally {
    /// Counts what became of row `e`, and says so (an already replayed row
    /// silently).
    fn count(&mut self, ctx: &Ctx, e: &ExportedPromotion, fate: Fate) {
        let what = format!("#{} of {} ({} -> {})", e.id, e.origin, e.label, e.full_hash);
        match fate {
            Fate::Applied { history_id } => {
                self.applied += 1;
                ctx.log(
                    Level::Info,
                    &format!("replayed {what}: moved the links, history row {history_id}"),
                );
            }
            Fate::Unchanged => {
                self.unchanged += 1;
                ctx.log(
                    Level::Info,
                    &format!("replayed {what}: the label already pointed there"),
                );
            }
            Fate::AlreadyReplayed => self.already_replayed += 1,
            Fate::Superseded => {
                self.superseded += 1;
                ctx.log(
                    Level::Info,
                    &format!(
                        "not replaying {what}: a later move of {} was replayed already",
                        e.label
                    ),
                );
            }
            Fate::Skipped { why } => {
                self.skipped += 1;
                ctx.log(
                    Level::Warn,
                    &format!("skipped {what}: {why}; a later replay tries again"),
                );
            }
        }
    }
}
