//! Writing a version: each file copied and checksummed in one pass (or
//! hard-linked from the previous version when its size and checksum are the
//! same), on every core; sidecars and `SHA256SUMS` from the published bytes;
//! made durable, renamed into place, then `dest` switched.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use md5::Md5;
use sha2::{Digest, Sha256};

use super::retention::{self, VersionName};
use super::{versions_dir, Entry, MANIFEST};
use crate::config::Sidecar;
use crate::pool::Pool;
use crate::trunk::links;

/// How to write a version.
#[derive(Debug, Clone)]
pub struct Options {
    pub sidecars: Vec<Sidecar>,
    pub threads: usize,
}

/// How far a publish is, for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What a publish wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The version directory `dest` now points at.
    pub version: PathBuf,
    pub files: u64,
    pub bytes: u64,
    pub copied_files: u64,
    pub copied_bytes: u64,
    /// Files hard-linked from the previous version, not written.
    pub reused_files: u64,
    pub manifest_sha256: String,
    /// The version was complete already (a publish killed after writing
    /// it, or a republish): nothing was written.
    pub reused: bool,
}

const BUF: usize = 1 << 20;

/// Writes the version of `full_hash` from `plan` beside `dest` (reusing an
/// identical file of the version `dest` shows now) and switches `dest` to
/// it.
pub fn publish_local(
    plan: &[Entry],
    dest: &Path,
    full_hash: &str,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> io::Result<Written> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    refuse_foreign_dest(dest)?;
    let vdir = versions_dir(dest);
    std::fs::create_dir_all(&vdir)?;
    remove_partials(&vdir)?;
    let (vname, written) = match choose_version(&vdir, full_hash, plan, &opts.sidecars)? {
        Version::Complete(vname) => {
            let written = read_complete(&vdir.join(&vname))?;
            (vname, written)
        }
        Version::New(vname) => {
            let written = write_new(plan, dest, &vdir, &vname, opts, progress)?;
            (vname, written)
        }
    };
    switch(parent, dest, &vdir, &vname)?;
    crate::fault::point("publish-switch");
    Ok(written)
}

/// Refuses a `dest` that exists and is not a link: promoter made none of it.
fn refuse_foreign_dest(dest: &Path) -> io::Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(dest) {
        if !m.file_type().is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a link made by promoter; move it aside first",
                    dest.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The version directory a publish ends in.
enum Version {
    /// A complete version made from exactly these files: reused as it is.
    Complete(String),
    /// A version to write.
    New(String),
}

/// The version's directory: `<full_hash>`, or `<full_hash>.N` when the
/// build has versions already. A complete one made from exactly these
/// files is reused; otherwise the new one is numbered after every copy
/// there, so that the highest-numbered copy of a build is always the
/// newest (retention keeps that one) and no version is written over.
fn choose_version(
    vdir: &Path,
    full_hash: &str,
    plan: &[Entry],
    sidecars: &[Sidecar],
) -> io::Result<Version> {
    let want_md5 = sidecars.contains(&Sidecar::Md5);
    let copies = build_copies(vdir, full_hash)?;
    let matching = copies.iter().rev().find(|(n, _)| {
        vdir.join(n).join(MANIFEST).is_file()
            && index_matches(
                &vdir.join(n),
                &vdir.join(index_name(n)),
                plan,
                want_md5,
                sidecars,
            )
    });
    Ok(match matching {
        Some((n, _)) => Version::Complete(n.clone()),
        None => {
            let next = copies.last().map_or(1, |(_, copy)| copy + 1);
            Version::New(VersionName::format(full_hash, next))
        }
    })
}

/// What a complete version already holds, read from its manifest: nothing
/// is written.
fn read_complete(version: &Path) -> io::Result<Written> {
    let manifest = std::fs::read(version.join(MANIFEST))?;
    let entries = parse_manifest(&String::from_utf8_lossy(&manifest));
    let mut bytes = 0;
    for rel in entries.keys() {
        bytes += std::fs::metadata(version.join(rel))?.len();
    }
    Ok(Written {
        version: version.to_path_buf(),
        files: entries.len() as u64 + 1,
        bytes: bytes + manifest.len() as u64,
        copied_files: 0,
        copied_bytes: 0,
        reused_files: 0,
        manifest_sha256: crate::hex::sha256(&manifest),
        reused: true,
    })
}

/// Writes the version `vname` in a partial directory beside the others,
/// reusing the files of the version `dest` shows now, then renames it into
/// place. On failure the partial directory is removed at once.
fn write_new(
    plan: &[Entry],
    dest: &Path,
    vdir: &Path,
    vname: &str,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> io::Result<Written> {
    let previous = current_version(dest);
    let prev_index = previous
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|h| read_index(&vdir.join(index_name(&h.to_string_lossy()))))
        .unwrap_or_default();
    let version = vdir.join(vname);
    let partial = vdir.join(format!("{vname}.partial-{}", std::process::id()));
    let w = write_version(
        plan,
        &partial,
        previous.as_deref(),
        &prev_index,
        opts,
        progress,
    )
    .and_then(|(w, index)| {
        std::fs::write(vdir.join(index_name(vname)), index)?;
        std::fs::rename(&partial, &version)?;
        File::open(vdir)?.sync_all()?;
        Ok(w)
    });
    let w = match w {
        Ok(w) => w,
        Err(e) => {
            // A full disk is the likeliest cause: give the space back
            // now rather than at the next publish.
            let _ = std::fs::remove_dir_all(&partial);
            let _ = std::fs::remove_file(vdir.join(index_name(vname)));
            return Err(e);
        }
    };
    crate::fault::point("publish-version");
    Ok(Written { version, ..w })
}

/// Points `dest` at the version `vname` of `vdir`, atomically.
fn switch(parent: &Path, dest: &Path, vdir: &Path, vname: &str) -> io::Result<()> {
    let name = dest
        .file_name()
        .ok_or_else(|| io::Error::other("dest has no name"))?;
    let vdir_name = vdir.file_name().expect("a versions directory has a name");
    links::swap(
        parent,
        &name.to_string_lossy(),
        &Path::new(vdir_name).join(vname),
    )
}

/// The versions of `full_hash` in `vdir` (`<full_hash>`, `<full_hash>.N`),
/// as (name, copy), lowest copy first.
fn build_copies(vdir: &Path, full_hash: &str) -> io::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(vdir)? {
        let e = e?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let v = VersionName::parse(&name);
        if v.full_hash == full_hash && e.file_type()?.is_dir() {
            out.push((name.clone(), v.copy));
        }
    }
    out.sort_by_key(|(_, copy)| *copy);
    Ok(out)
}

/// The version directory `dest` points at now.
pub fn current_version(dest: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(dest).ok()?;
    let dir = dest.parent().unwrap_or(Path::new(".")).join(target);
    dir.join(MANIFEST).is_file().then_some(dir)
}

/// Removes what killed publishes left behind.
fn remove_partials(vdir: &Path) -> io::Result<()> {
    for e in std::fs::read_dir(vdir)? {
        let e = e?;
        if e.file_name().to_string_lossy().contains(".partial-") {
            std::fs::remove_dir_all(e.path())?;
        }
    }
    Ok(())
}

/// `rel -> sha256` of a manifest's lines.
pub fn parse_manifest(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (sum, rest) = l.split_once(' ')?;
            let rel = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
            Some((rel.to_string(), sum.to_string()))
        })
        .collect()
}

/// Where each file of a version came from (device, inode, size, mtime)
/// and its checksums: a source file that has not changed since is reused
/// without being read again. Kept beside the version, not in it.
fn index_name(full_hash: &str) -> String {
    format!(".index-{full_hash}")
}

/// One line of an index: a source file's stat and checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    stat: (u64, u64, u64, i64),
    sha256: String,
    md5: Option<String>,
}

/// (device, inode, size, mtime in ns) of a source file.
fn source_stat(path: &Path) -> io::Result<(u64, u64, u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
    ))
}

/// The index at `path`, `rel -> Seen`; empty when it cannot be read.
fn read_index(path: &Path) -> HashMap<String, Seen> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(7, ' ');
            let stat = (
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
            );
            let sha256 = f.next()?.to_string();
            let md5 = match f.next()? {
                "-" => None,
                m => Some(m.to_string()),
            };
            Some((f.next()?.to_string(), Seen { stat, sha256, md5 }))
        })
        .collect()
}

/// Whether a complete version's index says it was made from exactly the
/// files of `plan`, as they are now, with the sidecars asked for.
fn index_matches(
    version: &Path,
    index: &Path,
    plan: &[Entry],
    want_md5: bool,
    sidecars: &[Sidecar],
) -> bool {
    let seen = read_index(index);
    let data = data_entries(plan, sidecars);
    let recorded = seen.values().filter(|s| s.stat != (0, 0, 0, 0)).count();
    recorded == data.len()
        && data.iter().all(|e| {
            let Some(rel) = e.rel.to_str() else {
                return false;
            };
            match (seen.get(rel), source_stat(&e.src)) {
                (Some(s), Ok(stat)) => s.stat == stat && (!want_md5 || s.md5.is_some()),
                _ => false,
            }
        })
        // The sidecars it has are the ones asked for now.
        && [(Sidecar::Md5, "md5"), (Sidecar::Sha256, "sha256")]
            .iter()
            .all(|(kind, ext)| {
                data.iter().filter(|e| !is_sidecar(&e.rel)).all(|e| {
                    let rel = format!("{}.{ext}", e.rel.display());
                    let has = version.join(&rel).is_file();
                    // A sidecar of a kind not asked for may be a file of
                    // the build itself, copied as data.
                    let copied = data.iter().any(|d| d.rel == Path::new(&rel));
                    has == (sidecars.contains(kind) || copied)
                })
            })
}

/// One file of a version as written: where it came from, its checksums,
/// and whether its bytes were copied (or linked from the previous version).
struct Done {
    rel: String,
    stat: (u64, u64, u64, i64),
    size: u64,
    sha256: String,
    md5: Option<String>,
    copied: bool,
}

/// Whether `rel` names a sidecar (`.md5`, `.sha256`).
fn is_sidecar(rel: &Path) -> bool {
    matches!(
        rel.extension().and_then(|e| e.to_str()),
        Some("md5") | Some("sha256")
    )
}

/// What the version a file is published beside offers to reuse: its
/// directory, its manifest's checksums, and its index.
struct Previous<'a> {
    dir: Option<&'a Path>,
    sums: HashMap<String, String>,
    index: &'a HashMap<String, Seen>,
}

/// Writes the version into `dir`: every data file of `plan`, its sidecars
/// and `SHA256SUMS`, made durable. Returns what was written and the
/// version's index.
fn write_version(
    plan: &[Entry],
    dir: &Path,
    previous: Option<&Path>,
    prev_index: &HashMap<String, Seen>,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> io::Result<(Written, String)> {
    std::fs::create_dir_all(dir)?;
    let prev = Previous {
        dir: previous,
        sums: match previous {
            Some(p) => {
                parse_manifest(&std::fs::read_to_string(p.join(MANIFEST)).unwrap_or_default())
            }
            None => HashMap::new(),
        },
        index: prev_index,
    };
    let data = data_entries(plan, &opts.sidecars);
    // The builder's md5 sidecars are checked against the published bytes,
    // so those bytes are md5-summed whenever there is one.
    let want_md5 = opts.sidecars.contains(&Sidecar::Md5)
        || plan
            .iter()
            .any(|e| e.rel.extension().is_some_and(|x| x == "md5"));
    let done = write_data(&data, dir, &prev, opts, want_md5, progress)?;
    check_builder_sidecars(plan, &done)?;
    let sidecars = write_sidecars(&done, dir, &opts.sidecars)?;
    let index = index_text(&done);
    let mut all: Vec<&Done> = done.iter().chain(&sidecars).collect();
    all.sort_by(|a, b| a.rel.cmp(&b.rel));
    let manifest: String = all
        .iter()
        .map(|d| format!("{}  {}\n", d.sha256, d.rel))
        .collect();
    std::fs::write(dir.join(MANIFEST), &manifest)?;
    sync_filesystem(dir)?;
    Ok((written(dir, &done, &sidecars, &manifest), index))
}

/// The entries of `plan` copied as data: sidecars of the kinds this target
/// writes are made anew from the published bytes, not copied, and the
/// manifest is always made anew.
fn data_entries<'a>(plan: &'a [Entry], sidecars: &[Sidecar]) -> Vec<&'a Entry> {
    plan.iter()
        .filter(|e| {
            let ext = e.rel.extension().and_then(|x| x.to_str());
            !(ext == Some("md5") && sidecars.contains(&Sidecar::Md5)
                || ext == Some("sha256") && sidecars.contains(&Sidecar::Sha256))
                && e.rel != Path::new(MANIFEST)
        })
        .collect()
}

/// Writes the data files on up to 16 threads, reporting each one done to
/// `progress`; the first failure, named after its source, stops the rest.
fn write_data(
    data: &[&Entry],
    dir: &Path,
    prev: &Previous,
    opts: &Options,
    want_md5: bool,
    progress: &(dyn Fn(Progress) + Sync),
) -> io::Result<Vec<Done>> {
    let total = Progress {
        files_total: data.len() as u64,
        bytes_total: data.iter().map(|e| e.size).sum(),
        ..Progress::default()
    };
    let files_done = AtomicU64::new(0);
    let bytes_done = AtomicU64::new(0);
    Pool::new(opts.threads.clamp(1, 16)).map(
        data,
        || vec![0u8; BUF],
        |buf, e| {
            let d = write_one(e, dir, prev, want_md5, buf)
                .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", e.src.display())))?;
            let f = files_done.fetch_add(1, Ordering::Relaxed) + 1;
            let b = bytes_done.fetch_add(d.size, Ordering::Relaxed) + d.size;
            progress(Progress {
                files_done: f,
                bytes_done: b,
                ..total
            });
            Ok(d)
        },
    )
}

/// Refuses the version when a sidecar its builder wrote (`X.md5`,
/// `X.sha256`) does not match the published bytes of `X`: no sidecar is
/// ever made anew over bytes that fail their builder's checksum.
fn check_builder_sidecars(plan: &[Entry], done: &[Done]) -> io::Result<()> {
    for e in plan {
        let Some(ext) = e.rel.extension().and_then(|x| x.to_str()) else {
            continue;
        };
        if ext != "md5" && ext != "sha256" {
            continue;
        }
        let base = e.rel.with_extension("");
        let Some(d) = done.iter().find(|d| Path::new(&d.rel) == base) else {
            continue;
        };
        let text = std::fs::read_to_string(&e.src).unwrap_or_default();
        let expected = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let found = if ext == "md5" {
            d.md5.clone().unwrap_or_default()
        } else {
            d.sha256.clone()
        };
        if expected != found {
            return Err(io::Error::other(format!(
                "{}: {ext} expected {} (its builder's {}), found {found}; nothing was published",
                base.display(),
                if expected.is_empty() {
                    "(nothing)"
                } else {
                    &expected
                },
                e.rel.display()
            )));
        }
    }
    Ok(())
}

/// Writes the sidecars asked for beside each data file, from the checksums
/// of its published bytes.
fn write_sidecars(done: &[Done], dir: &Path, kinds: &[Sidecar]) -> io::Result<Vec<Done>> {
    let mut sidecars = Vec::new();
    for d in done.iter().filter(|d| !is_sidecar(Path::new(&d.rel))) {
        let base = Path::new(&d.rel)
            .file_name()
            .expect("a file has a name")
            .to_string_lossy()
            .into_owned();
        for kind in kinds {
            let (ext, sum) = match kind {
                Sidecar::Md5 => ("md5", d.md5.clone().expect("md5 computed when asked")),
                Sidecar::Sha256 => ("sha256", d.sha256.clone()),
            };
            let text = format!("{sum}  {base}\n");
            let rel = format!("{}.{ext}", d.rel);
            std::fs::write(dir.join(&rel), &text)?;
            sidecars.push(Done {
                rel,
                stat: (0, 0, 0, 0),
                size: text.len() as u64,
                sha256: crate::hex::sha256(text.as_bytes()),
                md5: None,
                copied: true,
            });
        }
    }
    Ok(sidecars)
}

/// The index of a version's data files: each one's source stat and
/// checksums, one line each.
fn index_text(done: &[Done]) -> String {
    let mut index = String::new();
    for d in done {
        let (dev, ino, size, mtime) = d.stat;
        index.push_str(&format!(
            "{dev} {ino} {size} {mtime} {} {} {}\n",
            d.sha256,
            d.md5.as_deref().unwrap_or("-"),
            d.rel
        ));
    }
    index
}

/// The counts of a version written into `dir`: its data files, its
/// sidecars and its manifest.
fn written(dir: &Path, data: &[Done], sidecars: &[Done], manifest: &str) -> Written {
    let all = data.iter().chain(sidecars);
    Written {
        version: dir.to_path_buf(),
        files: (data.len() + sidecars.len()) as u64 + 1,
        bytes: all.map(|d| d.size).sum::<u64>() + manifest.len() as u64,
        copied_files: data.iter().filter(|d| d.copied).count() as u64,
        copied_bytes: data.iter().filter(|d| d.copied).map(|d| d.size).sum(),
        reused_files: data.iter().filter(|d| !d.copied).count() as u64,
        manifest_sha256: crate::hex::sha256(manifest.as_bytes()),
        reused: false,
    }
}

/// Publishes one data file into `dir`: hard-linked from the previous
/// version when it is the same, else copied and checksummed.
fn write_one(
    e: &Entry,
    dir: &Path,
    prev: &Previous,
    want_md5: bool,
    buf: &mut [u8],
) -> io::Result<Done> {
    let rel = e.rel.to_str().expect("plan names are UTF-8").to_string();
    let target = dir.join(&e.rel);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let stat = source_stat(&e.src)?;
    let mut done = Done {
        rel,
        stat,
        size: e.size,
        sha256: String::new(),
        md5: None,
        copied: false,
    };
    if link_unchanged(e, &target, prev, want_md5, &mut done) {
        return Ok(done);
    }
    if link_same_bytes(e, &target, prev, want_md5, buf, &mut done)? {
        return Ok(done);
    }
    let (sha256, md5, size) = copy_hashing(&e.src, &target, want_md5, buf)?;
    Ok(Done {
        size,
        sha256,
        md5,
        copied: true,
        ..done
    })
}

/// Links the very source file the previous version was made from,
/// unchanged since, without reading it: its checksums are known. Fills
/// `done`'s checksums and says whether it linked.
fn link_unchanged(
    e: &Entry,
    target: &Path,
    prev: &Previous,
    want_md5: bool,
    done: &mut Done,
) -> bool {
    let (Some(dir), Some(seen)) = (prev.dir, prev.index.get(&done.rel)) else {
        return false;
    };
    let known = seen.stat == done.stat
        && prev.sums.get(&done.rel) == Some(&seen.sha256)
        && (!want_md5 || seen.md5.is_some());
    if !(known && std::fs::hard_link(dir.join(&e.rel), target).is_ok()) {
        return false;
    }
    done.sha256 = seen.sha256.clone();
    done.md5 = seen.md5.clone();
    true
}

/// Links the file of the same path and size in the previous version when
/// the checksum says its bytes are the same too. Fills `done`'s checksums
/// and says whether it linked.
fn link_same_bytes(
    e: &Entry,
    target: &Path,
    prev: &Previous,
    want_md5: bool,
    buf: &mut [u8],
    done: &mut Done,
) -> io::Result<bool> {
    let (Some(dir), Some(prev_sum)) = (prev.dir, prev.sums.get(&done.rel)) else {
        return Ok(false);
    };
    let prev_file = dir.join(&e.rel);
    if !std::fs::metadata(&prev_file).is_ok_and(|m| m.len() == e.size) {
        return Ok(false);
    }
    let (sha256, md5) = hash_file(&e.src, want_md5, buf)?;
    if &sha256 != prev_sum {
        return Ok(false);
    }
    std::fs::hard_link(&prev_file, target)?;
    done.sha256 = sha256;
    done.md5 = md5;
    Ok(true)
}

/// Copies `src` to `dst` and checksums it in the same pass.
fn copy_hashing(
    src: &Path,
    dst: &Path,
    want_md5: bool,
    buf: &mut [u8],
) -> io::Result<(String, Option<String>, u64)> {
    let mut r = File::open(src)?;
    let mode = r.metadata()?.permissions();
    let mut w = File::create(dst)?;
    let (sha256, md5, size) = digest(&mut r, want_md5, buf, |chunk| w.write_all(chunk))?;
    w.set_permissions(mode)?;
    Ok((sha256, md5, size))
}

/// The sha256 (and md5 when asked) of a file.
pub fn hash_file(
    path: &Path,
    want_md5: bool,
    buf: &mut [u8],
) -> io::Result<(String, Option<String>)> {
    let (sha256, md5, _) = digest(&mut File::open(path)?, want_md5, buf, |_| Ok(()))?;
    Ok((sha256, md5))
}

/// Reads `r` to the end through `buf`, checksumming each chunk and handing
/// it to `each`. Returns (sha256, md5 when asked, bytes read).
fn digest(
    r: &mut impl Read,
    want_md5: bool,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<(String, Option<String>, u64)> {
    let mut sha = Sha256::new();
    let mut md5 = want_md5.then(Md5::new);
    let mut size = 0u64;
    loop {
        let n = match r.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        if let Some(m) = md5.as_mut() {
            m.update(&buf[..n]);
        }
        each(&buf[..n])?;
        size += n as u64;
    }
    Ok((
        crate::hex::encode(&sha.finalize()),
        md5.map(|m| crate::hex::encode(&m.finalize())),
        size,
    ))
}

/// Makes everything written under `dir` durable with one `syncfs(2)`
/// instead of an fsync per file.
fn sync_filesystem(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = File::open(dir)?;
    // SAFETY: syncfs on a descriptor we own.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes the versions [`retention::to_remove`] names: beyond `keep`
/// builds (the current one and the `keep - 1` published before it, by
/// `history`, newest first), never the version a build in `protected` is
/// served from. Returns the version names removed.
pub fn retain(
    dest: &Path,
    keep: usize,
    history: &[String],
    protected: &std::collections::HashSet<String>,
) -> io::Result<Vec<String>> {
    let vdir = versions_dir(dest);
    let current = std::fs::read_link(dest)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut versions = Vec::new();
    for e in std::fs::read_dir(&vdir)? {
        let e = e?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if name.contains(".partial-") || name.starts_with('.') || !e.file_type()?.is_dir() {
            continue;
        }
        versions.push(name);
    }
    let removed = retention::to_remove(&versions, current.as_deref(), history, protected, keep);
    for name in &removed {
        std::fs::remove_dir_all(vdir.join(name))?;
        let _ = std::fs::remove_file(vdir.join(index_name(name)));
    }
    Ok(removed)
}
