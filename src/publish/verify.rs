//! `verify`: recompute every checksum of a published tree against its
//! `SHA256SUMS`, and list what is missing, extra or changed, and what is
//! neither a regular file nor a directory (looked at, never opened: a FIFO
//! would block the read, a link to a device would never end it).

use std::collections::BTreeSet;
use std::fs::{File, FileType};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::apply::parse_manifest;
use super::MANIFEST;
use crate::pool::Pool;

/// What `verify` found.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub checked: usize,
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub changed: Vec<String>,
    /// Entries that are neither regular files nor directories (a published
    /// tree holds nothing else); never opened.
    pub special: Vec<Special>,
}

/// An entry of a published tree that is neither a file nor a directory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Special {
    pub path: String,
    pub kind: Kind,
}

/// What a [`Special`] entry is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Symlink,
    Fifo,
    Socket,
    BlockDevice,
    CharDevice,
}

impl Kind {
    /// The kind of a file type that is not a regular file or a directory.
    fn of(t: FileType) -> Option<Kind> {
        if t.is_file() || t.is_dir() {
            None
        } else if t.is_symlink() {
            Some(Kind::Symlink)
        } else if t.is_fifo() {
            Some(Kind::Fifo)
        } else if t.is_socket() {
            Some(Kind::Socket)
        } else if t.is_block_device() {
            Some(Kind::BlockDevice)
        } else {
            Some(Kind::CharDevice)
        }
    }

    /// As `verify` shows it, in a column of its own.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
            Kind::BlockDevice => "device",
            Kind::CharDevice => "device",
        }
    }
}

impl Report {
    pub fn clean(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.changed.is_empty()
            && self.special.is_empty()
    }
}

/// Opens `path` for reading only if it is a regular file: never follows a
/// symlink, never blocks on a FIFO, never reads a device. `Ok(Err(kind))`
/// says what it is instead.
fn open_regular(path: &Path) -> std::io::Result<Result<File, Kind>> {
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(Err(Kind::Symlink)),
        Err(e) => return Err(e),
    };
    let t = f.metadata()?.file_type();
    match Kind::of(t) {
        Some(kind) => Ok(Err(kind)),
        None if t.is_file() => Ok(Ok(f)),
        None => Err(std::io::Error::other(format!(
            "{} is a directory",
            path.display()
        ))),
    }
}

/// The sha256 of an open file.
fn sha256(f: &mut File, buf: &mut [u8]) -> std::io::Result<String> {
    let mut sha = Sha256::new();
    loop {
        match f.read(buf) {
            Ok(0) => break,
            Ok(n) => sha.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(crate::hex::encode(&sha.finalize()))
}

/// Checks the tree at `dir` (a published version, or `dest` itself).
pub fn verify(dir: &Path, threads: usize) -> std::io::Result<Report> {
    let mut report = Report::default();
    let text = match read_manifest(&dir.join(MANIFEST))? {
        Ok(text) => text,
        Err(kind) => {
            // Nothing to check the tree against.
            report.special.push(Special {
                path: MANIFEST.to_string(),
                kind,
            });
            return Ok(report);
        }
    };
    let listed = parse_manifest(&text);
    let mut present = walk(dir, &mut report.special)?;
    present.remove(MANIFEST);
    let mut to_check: Vec<(&String, &String)> = Vec::new();
    for (rel, sum) in &listed {
        if present.contains(rel) {
            to_check.push((rel, sum));
        } else if !report.special.iter().any(|s| &s.path == rel) {
            report.missing.push(rel.clone());
        }
    }
    report.extra = present
        .iter()
        .filter(|p| !listed.contains_key(*p))
        .cloned()
        .collect();
    for (check, (rel, _)) in check_all(dir, &to_check, threads)?
        .into_iter()
        .zip(&to_check)
    {
        match check {
            Check::Same => {}
            Check::Changed => report.changed.push((*rel).clone()),
            Check::Special(kind) => report.special.push(Special {
                path: (*rel).clone(),
                kind,
            }),
        }
    }
    report.checked = to_check.len();
    report.missing.sort();
    report.changed.sort();
    report.special.sort();
    Ok(report)
}

/// The manifest's text, or what it is instead of a regular file. It is
/// looked at before it is opened, like every file.
fn read_manifest(manifest: &Path) -> std::io::Result<Result<String, Kind>> {
    let cannot = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("cannot read {}: {e}", manifest.display()))
    };
    if let Some(kind) = std::fs::symlink_metadata(manifest)
        .map(|m| Kind::of(m.file_type()))
        .map_err(cannot)?
    {
        return Ok(Err(kind));
    }
    match open_regular(manifest).map_err(cannot)? {
        Ok(mut f) => {
            let mut text = String::new();
            f.read_to_string(&mut text).map_err(cannot)?;
            Ok(Ok(text))
        }
        Err(kind) => Ok(Err(kind)),
    }
}

/// The regular files under `dir`, by path relative to it; what is neither
/// a file nor a directory goes to `special`.
fn walk(dir: &Path, special: &mut Vec<Special>) -> std::io::Result<BTreeSet<String>> {
    let mut present = BTreeSet::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1) {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e
            .path()
            .strip_prefix(dir)
            .expect("under dir")
            .to_string_lossy()
            .into_owned();
        match Kind::of(e.file_type()) {
            None if e.file_type().is_dir() => {}
            None => {
                present.insert(rel);
            }
            Some(kind) => special.push(Special { path: rel, kind }),
        }
    }
    Ok(present)
}

/// What checking one listed file found.
enum Check {
    Same,
    Changed,
    /// It is no longer a regular file.
    Special(Kind),
}

/// Checks every `(rel, sha256)` of `to_check` on up to 16 threads, in
/// order; the first read that fails stops the rest.
fn check_all(
    dir: &Path,
    to_check: &[(&String, &String)],
    threads: usize,
) -> std::io::Result<Vec<Check>> {
    Pool::new(threads.clamp(1, 16)).map(
        to_check,
        || vec![0u8; 1 << 20],
        |buf, (rel, sum)| {
            // Opened without following or blocking: the entry may have
            // been replaced since the walk saw a file.
            Ok(match open_regular(&dir.join(rel))? {
                Ok(mut f) => {
                    if sha256(&mut f, buf)? == **sum {
                        Check::Same
                    } else {
                        Check::Changed
                    }
                }
                Err(kind) => Check::Special(kind),
            })
        },
    )
}
