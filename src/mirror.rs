//! Mirrors: another database's exported promotion history, read and
//! checked whole (nothing is applied from a file with a bad line), then
//! applied row by row to this machine's trees and database.
//!
//! A row is applied once: what became of it is recorded under the
//! exporting database's name and the row's id there, so replaying the
//! same file again changes nothing, even if the label moved on here since.
//! A row whose build this mirror lacks is skipped and not recorded, so a
//! later replay tries it again; by then a later move of the same label may
//! have been applied, and the older row is superseded rather than moving
//! the label back.

use std::ops::ControlFlow;

use crate::error::{Error, Result};
use crate::ident::{CommitHash, DistroHash, ExtendedHash, FullHash, Label};
use crate::promote::{self, Actor, Outcome};
use crate::store::builds::Build;
use crate::store::promotions::Kind;
use crate::store::replay::{ExportedPromotion, Replayed, ReplayedRow};
use crate::store::Store;

/// Longest origin name accepted.
const MAX_ORIGIN: usize = 64;

/// Longest line of an exported history read: a row is a few hundred bytes.
const MAX_LINE: u64 = 1 << 20;

/// Reads exported JSON lines, checking every line before any is applied.
/// Blank lines are ignored. Rows come back in the order to apply them:
/// by origin (in order of first appearance), then by id.
pub fn parse(text: &str, source: &str) -> Result<Vec<ExportedPromotion>> {
    read(text.as_bytes(), source)
}

/// As [`parse`], streaming from `input`: a line longer than [`MAX_LINE`]
/// is refused when its bound is reached, so an endless line (`/dev/zero`
/// on stdin) ends the read instead of filling the memory.
pub fn read(mut input: impl std::io::BufRead, source: &str) -> Result<Vec<ExportedPromotion>> {
    use std::io::{BufRead as _, Read as _};
    let mut rows: Vec<(usize, ExportedPromotion)> = Vec::new();
    let mut origins: Vec<String> = Vec::new();
    let mut bytes = Vec::new();
    for i in 0.. {
        let at = |msg: String| Error::Invalid(format!("{source}:{}: {msg}", i + 1));
        bytes.clear();
        let got = (&mut input)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| Error::io(format!("failed to read the history from {source}"), e))?;
        if got == 0 {
            break;
        }
        if bytes.len() as u64 > MAX_LINE && bytes.last() != Some(&b'\n') {
            return Err(at(format!(
                "the line is longer than {}",
                crate::input::size(MAX_LINE)
            )));
        }
        let line = std::str::from_utf8(&bytes).map_err(|_| at("the line is not UTF-8".into()))?;
        if line.trim().is_empty() {
            continue;
        }
        let e: ExportedPromotion = serde_json::from_str(line)
            .map_err(|err| at(format!("not an exported promotion: {err}")))?;
        check(&e).map_err(|err| at(err.to_string()))?;
        let o = match origins.iter().position(|o| *o == e.origin) {
            Some(o) => o,
            None => {
                origins.push(e.origin.clone());
                origins.len() - 1
            }
        };
        rows.push((o, e));
    }
    rows.sort_by_key(|(o, e)| (*o, e.id));
    rows.dedup_by(|a, b| a.0 == b.0 && a.1.id == b.1.id);
    Ok(rows.into_iter().map(|(_, e)| e).collect())
}

/// Checks the fields of one exported row, as if they came from the
/// command line.
fn check(e: &ExportedPromotion) -> Result<()> {
    let origin_ok = !e.origin.is_empty()
        && e.origin.len() <= MAX_ORIGIN
        && e.origin
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !origin_ok {
        return Err(Error::Invalid(format!(
            "origin {:?} is not valid: 1 to {MAX_ORIGIN} letters, digits, '-' or '_'",
            e.origin
        )));
    }
    if e.id < 1 {
        return Err(Error::Invalid(format!("id {} is not valid", e.id)));
    }
    Label::promotable(&e.label).map_err(|err| Error::Invalid(err.to_string()))?;
    if let Some(c) = &e.component {
        Label::any(c).map_err(|_| Error::Invalid(format!("component {c:?} is not valid")))?;
    }
    let commit: CommitHash = e.commit_hash.parse()?;
    let distro: DistroHash = e.distro_hash.parse()?;
    if let Some(x) = &e.extended_hash {
        x.parse::<ExtendedHash>()?;
    }
    let full: FullHash = e.full_hash.parse()?;
    if full != FullHash::of(commit.as_str(), distro.as_str()) {
        return Err(Error::Invalid(format!(
            "full hash {full} does not match commit hash {commit} and distro hash {distro}"
        )));
    }
    if !["promote", "manual", "rollback", "replay"].contains(&e.kind.as_str()) {
        return Err(Error::Invalid(format!(
            "kind {:?} is not one of promote, manual, rollback, replay",
            e.kind
        )));
    }
    crate::ident::parse_timestamp(&e.timestamp.to_string())?;
    if e.user.is_empty() || e.user.chars().any(char::is_control) {
        return Err(Error::Invalid(format!("user {:?} is not valid", e.user)));
    }
    Ok(())
}

/// What replaying one row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The links moved; the local history row has this id.
    Applied { history_id: i64 },
    /// The label already pointed at the build.
    Unchanged,
    /// This row was dealt with by an earlier replay.
    AlreadyReplayed,
    /// A later move of the same label from the same origin was applied.
    Superseded,
    /// This mirror cannot apply the row now (it lacks the build, or the
    /// build cannot be promoted here); a later replay tries again.
    Skipped { why: String },
}

/// Applies one exported row to the trees of `c` and `store`, through the
/// same recorded steps as every promotion.
pub fn replay(store: &mut Store, c: &promote::Carry, e: &ExportedPromotion) -> Result<Fate> {
    let recorded = store.replayed(&e.origin, e.id)?;
    if recorded
        .as_ref()
        .is_some_and(|r| r.outcome != Replayed::Applying)
    {
        return Ok(Fate::AlreadyReplayed);
    }
    let build = match local_build(store, e)? {
        ControlFlow::Continue(build) => build,
        ControlFlow::Break(fate) => return Ok(fate),
    };
    let now = crate::clock::now();
    let mark = match history_mark(store, e, recorded.as_ref(), &build, now)? {
        ControlFlow::Continue(mark) => mark,
        ControlFlow::Break(fate) => return Ok(fate),
    };
    if let Err(err) = promote::check_promotable(c.trees, &build) {
        return match err {
            Error::Refused(why) => Ok(Fate::Skipped { why }),
            other => Err(other),
        };
    }
    apply(store, c, e, &build, mark, now)
}

/// This mirror's build of the row, of the same component; or the row
/// skipped, saying why.
fn local_build(store: &Store, e: &ExportedPromotion) -> Result<ControlFlow<Fate, Build>> {
    let extended = e.extended_hash.as_deref().unwrap_or("");
    let Some(build) = store.find_build(&e.commit_hash, &e.distro_hash, Some(extended))? else {
        return Ok(ControlFlow::Break(Fate::Skipped {
            why: format!("this mirror has no build {}", e.full_hash),
        }));
    };
    if build.component != e.component {
        return Ok(ControlFlow::Break(Fate::Skipped {
            why: format!(
                "build {} is of component {} here, of component {} there",
                e.full_hash,
                build.component.as_deref().unwrap_or("(none)"),
                e.component.as_deref().unwrap_or("(none)")
            ),
        }));
    }
    Ok(ControlFlow::Continue(build))
}

/// The newest local history row before this replay, below which its own
/// row is not looked for. A replay that died after moving the links is
/// finished here instead, and a row a later move superseded is recorded
/// as such.
fn history_mark(
    store: &mut Store,
    e: &ExportedPromotion,
    recorded: Option<&ReplayedRow>,
    build: &Build,
    now: i64,
) -> Result<ControlFlow<Fate, i64>> {
    Ok(match recorded {
        // A replay died while moving these links: finish what it started.
        Some(r) => {
            if let Some(id) = store.replay_row_after(r.history_mark, &e.label, build.id)? {
                store.record_replayed(e, Replayed::Applied, Some(id), r.history_mark, now)?;
                return Ok(ControlFlow::Break(Fate::Applied { history_id: id }));
            }
            ControlFlow::Continue(r.history_mark)
        }
        None => {
            if store.replayed_later(e)? {
                store.record_replayed(e, Replayed::Superseded, None, 0, now)?;
                return Ok(ControlFlow::Break(Fate::Superseded));
            }
            ControlFlow::Continue(store.last_promotion_id()?)
        }
    })
}

/// Moves the label to `build` as the row says, recording the replay before
/// (as applying, at `now`) and after (as what it did).
fn apply(
    store: &mut Store,
    c: &promote::Carry,
    e: &ExportedPromotion,
    build: &Build,
    mark: i64,
    now: i64,
) -> Result<Fate> {
    store.record_replayed(e, Replayed::Applying, None, mark, now)?;
    let label = Label::promotable(&e.label)?;
    let actor = Actor {
        user: &e.user,
        kind: Kind::Replay,
        reason: &e.reason,
    };
    let request = promote::Request {
        aggregate_hash: e.aggregate_hash.as_deref(),
        ..promote::Request::one(&label, build, actor)
    };
    let outcome = promote::promote(store, c, &request)?;
    let now = crate::clock::now();
    match outcome {
        Outcome::Moved { history_ids, .. } => {
            let history_id = history_ids[0];
            store.record_replayed(e, Replayed::Applied, Some(history_id), mark, now)?;
            Ok(Fate::Applied { history_id })
        }
        Outcome::Unchanged => {
            store.record_replayed(e, Replayed::Unchanged, None, mark, now)?;
            Ok(Fate::Unchanged)
        }
        Outcome::Stopped { reason } => Err(Error::Failed(format!(
            "did not move {} to {}: {reason}",
            e.label, e.full_hash
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: i64, label: &str) -> String {
        format!(
            r#"{{"origin":"up","id":{id},"label":"{label}","component":null,"commit_hash":"abc123","distro_hash":"def4567890","extended_hash":null,"full_hash":"abc123_def45678","kind":"promote","timestamp":1700000000,"user":"ci","reason":""}}"#
        )
    }

    #[test]
    fn rows_come_back_by_origin_then_id_without_duplicates() {
        let text = [line(3, "a"), String::new(), line(1, "a"), line(3, "a")].join("\n");
        let rows = parse(&text, "f").unwrap();
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 3]);
    }

    #[test]
    fn a_bad_line_is_named_and_nothing_is_returned() {
        let cases = [
            ("{not json", "f:2: not an exported promotion"),
            (&line(2, "current") as &str, "f:2: \"current\" is reserved"),
            (
                &line(2, "a").replace("abc123_def45678", "abc123_00000000"),
                "does not match",
            ),
            (
                &line(2, "a").replace("\"promote\"", "\"teleport\""),
                "kind \"teleport\"",
            ),
            (&line(2, "a").replace("\"up\"", "\"u p\""), "origin \"u p\""),
            (
                &line(2, "a").replace("abc123\"", "abc/123\""),
                "commit hash",
            ),
            (&line(2, "a").replace("\"id\":2", "\"id\":0"), "id 0"),
        ];
        for (bad, says) in cases {
            let text = format!("{}\n{bad}\n", line(1, "a"));
            let err = parse(&text, "f").unwrap_err();
            assert!(matches!(err, Error::Invalid(_)), "{bad}: {err}");
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }
}
