//! A run with nothing new to do: when everything a run reads is as the
//! last quiet run left it, its decisions stand, and the run repeats them
//! instead of making them again.
//!
//! A run is quiet when it started, stopped, promoted and published
//! nothing, no job of the release is running, no promotion is left
//! unfinished, and each promotion was decided on the database alone: no
//! candidate, its label already there, or blocked by its votes (not by its
//! images or containers, which live outside the database). It then leaves
//! a memo (`run_memo`) with what it found and what it said.
//!
//! What a run reads is the database, the config, the builder's links and
//! the labels. The database: every write of the promoter deletes the memo
//! first, and a run that saw another connection commit while it decided
//! leaves none. The rest is the fingerprint: the binary and schema, the
//! config's bytes, and every link the decisions read (a stat walk, no
//! hash directory). Time only ever makes a quiet decision stricter (a
//! waiver expires). What the fingerprint cannot see (a change made by hand
//! with `sqlite3`) is seen by a full run at least every [`MAX_AGE`]
//! seconds, and a memo made while a waiver lives stands only until it
//! expires.

use std::cell::RefCell;
use std::fmt::Write as _;

use super::{Level, Sink};
use crate::config::Config;
use crate::error::Result;
use crate::promote::Trees;
use crate::store::runs::{NewMemo, RunMemo};
use crate::store::Store;

/// The oldest memo a run repeats: after it, a run decides anew even when
/// nothing it can see changed.
pub const MAX_AGE: i64 = 600;

/// What a run found before it read anything, for its memo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub fingerprint: String,
    pub data_version: i64,
}

/// What a run reads outside the database, before it reads the database;
/// `None` when its decisions depend on more than a memo can stand for (the
/// updates' flow, which has times of its own; an image tree on another
/// host, which is not a stat walk away).
pub fn look(cfg: &Config, trees: &Trees, store: &Store) -> Result<Option<Seen>> {
    if cfg.updates.is_some() || trees.remote_images.is_some() {
        return Ok(None);
    }
    let fingerprint = fingerprint(cfg, trees);
    let data_version = store.data_version()?;
    Ok(Some(Seen {
        fingerprint,
        data_version,
    }))
}

/// The binary, the schema, the config's bytes, the builder's links and
/// every label link of each promotion (in the trunk, in each component,
/// in the image tree), as one hash. A link that cannot be read counts as
/// what the error says.
fn fingerprint(cfg: &Config, trees: &Trees) -> String {
    // The binary itself, not only its version: a rebuilt one decides anew.
    let exe = match std::fs::metadata("/proc/self/exe") {
        Ok(m) => {
            use std::os::unix::fs::MetadataExt;
            let (dev, ino, size) = (m.dev(), m.ino(), m.size());
            format!("{dev} {ino} {size} {}.{}", m.mtime(), m.mtime_nsec())
        }
        Err(e) => format!("! {e}"),
    };
    // The text the config was parsed from, not the file read again: an edit
    // made since would pair new bytes with the old config's decisions.
    let mut s = format!(
        "promoter {} schema {} binary {exe}\nconfig {} {:016x}\n",
        env!("CARGO_PKG_VERSION"),
        crate::store::SCHEMA_VERSION,
        cfg.path.display(),
        cfg.text_hash
    );
    let mut warnings = Vec::new();
    let components = crate::trunk::import::components(&trees.trunk, &mut warnings);
    let link = |s: &mut String, path: std::path::PathBuf| {
        let target = match std::fs::read_link(&path) {
            Ok(t) => t.display().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "-".to_string(),
            Err(e) => format!("! {e}"),
        };
        let _ = writeln!(s, "{} {target}", path.display());
    };
    let names = crate::trunk::import::BUILDER_LINKS
        .into_iter()
        .chain(cfg.promotions.iter().map(|p| p.name.as_str()));
    for name in names {
        for c in &components {
            link(
                &mut s,
                crate::trunk::label_dir(&trees.trunk, c.as_deref()).join(name),
            );
        }
        link(&mut s, trees.images.join(name));
    }
    for w in warnings {
        let _ = writeln!(s, "! {w}");
    }
    crate::hex::sha256(s.as_bytes())
}

/// What a run said: each line at its level.
pub type Lines = Vec<(Level, String)>;

/// The memo a run that found `seen` repeats: the last quiet run's, when
/// it found the same and it still stands (no older than [`MAX_AGE`], and
/// no waiver it counted has expired since), with the lines it says. A
/// memo whose lines cannot be read (edited by hand) does not stand: a
/// repeat would say nothing.
pub fn standing(store: &Store, seen: &Seen, now: i64) -> Result<Option<(RunMemo, Lines)>> {
    Ok(store
        .run_memo()?
        .filter(|m| m.fingerprint == seen.fingerprint && m.decided_at <= now && now < m.valid_until)
        .and_then(|m| lines(&m).map(|said| (m, said))))
}

/// Until when a memo made `now` stands: [`MAX_AGE`], or until the first
/// live waiver expires (a decision then says something else, even when it
/// still promotes nothing).
pub fn valid_until(store: &Store, now: i64) -> Result<i64> {
    let until = now + MAX_AGE;
    Ok(store
        .next_waiver_expiry(now)?
        .map_or(until, |e| e.min(until)))
}

/// The lines a memo says, at their levels; `None` when they are not the
/// JSON array of `[level, line]` pairs a run writes.
fn lines(m: &RunMemo) -> Option<Lines> {
    let parsed: Vec<(String, String)> = serde_json::from_str(&m.lines).ok()?;
    parsed
        .into_iter()
        .map(|(level, line)| Some((Level::named(&level)?, line)))
        .collect()
}

/// The memo a quiet run leaves, of what it found and said.
pub fn new(
    seen: &Seen,
    valid_until: i64,
    blocked: i64,
    idle: i64,
    said: &[(Level, String)],
) -> NewMemo {
    let lines: Vec<(&str, &str)> = said.iter().map(|(l, s)| (l.as_str(), s.as_str())).collect();
    NewMemo {
        fingerprint: seen.fingerprint.clone(),
        data_version: seen.data_version,
        valid_until,
        blocked,
        idle,
        lines: serde_json::to_string(&lines).expect("lines serialize"),
    }
}

/// What the promotions of a run said, and whether any of it was more than
/// where each stands (a warning, an error, data on stdout).
#[derive(Debug, Default)]
pub struct Recorder {
    lines: RefCell<Lines>,
    loud: std::cell::Cell<bool>,
}

impl Recorder {
    /// What was said, unless something was more than where each stands.
    pub fn quiet(self) -> Option<Lines> {
        (!self.loud.get()).then(|| self.lines.into_inner())
    }
}

/// A sink that says everything to `out` and keeps it in `to`.
pub struct Said<'a> {
    pub out: &'a dyn Sink,
    pub to: &'a Recorder,
}

impl Sink for Said<'_> {
    fn log(&self, level: Level, msg: &str) {
        if matches!(level, Level::Warn | Level::Error) {
            self.to.loud.set(true);
        }
        self.to.lines.borrow_mut().push((level, msg.to_string()));
        self.out.log(level, msg);
    }

    fn print(&self, text: &str) -> Result<()> {
        self.to.loud.set(true);
        self.out.print(text)
    }

    fn progress(&self) -> bool {
        self.out.progress()
    }
}
