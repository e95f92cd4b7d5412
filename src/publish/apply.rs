//! Writing a version: each file copied and checksummed in one pass (or
//! hard-linked from the previous version when its size and checksum are the
//! same), on every core; sidecars and `SHA256SUMS` from the published bytes;
//! made durable, renamed into place, then `dest` switched.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::retention::{self, VersionName};
use super::{versions_dir, Entry, MANIFEST};
use crate::config::Sidecar;
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
    let vdir = versions_dir(dest);
    std::fs::create_dir_all(&vdir)?;
    remove_partials(&vdir)?;
    let want_md5 = opts.sidecars.contains(&Sidecar::Md5);
    // The version's directory: `<full_hash>`, or `<full_hash>.N` when the
    // build has versions already. A complete one made from exactly these
    // files is reused; otherwise the new one is numbered after every copy
    // there, so that the highest-numbered copy of a build is always the
    // newest (retention keeps that one) and no version is written over.
    let copies = build_copies(&vdir, full_hash)?;
    let matching = copies.iter().rev().find(|(n, _)| {
        vdir.join(n).join(MANIFEST).is_file()
            && index_matches(
                &vdir.join(n),
                &vdir.join(index_name(n)),
                plan,
                want_md5,
                &opts.sidecars,
            )
    });
    let (vname, reuse) = match matching {
        Some((n, _)) => (n.clone(), true),
        None => {
            let next = copies.last().map_or(1, |(_, copy)| copy + 1);
            (VersionName::format(full_hash, next), false)
        }
    };
    let version = vdir.join(&vname);
    let written = if reuse {
        let manifest = std::fs::read(version.join(MANIFEST))?;
        let entries = parse_manifest(&String::from_utf8_lossy(&manifest));
        let mut bytes = 0;
        for rel in entries.keys() {
            bytes += std::fs::metadata(version.join(rel))?.len();
        }
        Written {
            version: version.clone(),
            files: entries.len() as u64 + 1,
            bytes: bytes + manifest.len() as u64,
            copied_files: 0,
            copied_bytes: 0,
            reused_files: 0,
            manifest_sha256: crate::hex::sha256(&manifest),
            reused: true,
        }
    } else {
        let previous = current_version(dest);
        let prev_index = previous
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|h| read_index(&vdir.join(index_name(&h.to_string_lossy()))))
            .unwrap_or_default();
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
            std::fs::write(vdir.join(index_name(&vname)), index)?;
            std::fs::rename(&partial, &version)?;
            File::open(&vdir)?.sync_all()?;
            Ok(w)
        });
        let w = match w {
            Ok(w) => w,
            Err(e) => {
                // A full disk is the likeliest cause: give the space back
                // now rather than at the next publish.
                let _ = std::fs::remove_dir_all(&partial);
                let _ = std::fs::remove_file(vdir.join(index_name(&vname)));
                return Err(e);
            }
        };
        crate::fault::point("publish-version");
        Written {
            version: version.clone(),
            ..w
        }
    };
    let name = dest
        .file_name()
        .ok_or_else(|| io::Error::other("dest has no name"))?;
    let vdir_name = vdir.file_name().expect("a versions directory has a name");
    links::swap(
        parent,
        &name.to_string_lossy(),
        &Path::new(vdir_name).join(&vname),
    )?;
    crate::fault::point("publish-switch");
    Ok(written)
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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    stat: (u64, u64, u64, i64),
    sha256: String,
    md5: Option<String>,
}

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
    let data: Vec<&Entry> = plan
        .iter()
        .filter(|e| {
            let ext = e.rel.extension().and_then(|x| x.to_str());
            !(ext == Some("md5") && want_md5
                || ext == Some("sha256") && sidecars.contains(&Sidecar::Sha256))
                && e.rel != Path::new(MANIFEST)
        })
        .collect();
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

struct Done {
    rel: String,
    stat: (u64, u64, u64, i64),
    size: u64,
    sha256: String,
    md5: Option<String>,
    copied: bool,
}

fn is_sidecar(rel: &Path) -> bool {
    matches!(
        rel.extension().and_then(|e| e.to_str()),
        Some("md5") | Some("sha256")
    )
}

fn write_version(
    plan: &[Entry],
    dir: &Path,
    previous: Option<&Path>,
    prev_index: &HashMap<String, Seen>,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> io::Result<(Written, String)> {
    std::fs::create_dir_all(dir)?;
    let prev_sums = match previous {
        Some(p) => parse_manifest(&std::fs::read_to_string(p.join(MANIFEST)).unwrap_or_default()),
        None => HashMap::new(),
    };
    let want_md5 = opts.sidecars.contains(&Sidecar::Md5);
    // Sidecars of the kinds this target writes are made anew from the
    // published bytes, not copied.
    let data: Vec<&Entry> = plan
        .iter()
        .filter(|e| {
            let ext = e.rel.extension().and_then(|x| x.to_str());
            !(ext == Some("md5") && want_md5
                || ext == Some("sha256") && opts.sidecars.contains(&Sidecar::Sha256))
                && e.rel != Path::new(MANIFEST)
        })
        .collect();
    let total = Progress {
        files_total: data.len() as u64,
        bytes_total: data.iter().map(|e| e.size).sum(),
        ..Progress::default()
    };
    let next = AtomicUsize::new(0);
    let files_done = AtomicU64::new(0);
    let bytes_done = AtomicU64::new(0);
    let results: Mutex<Vec<Done>> = Mutex::new(Vec::with_capacity(data.len()));
    let first_error: Mutex<Option<io::Error>> = Mutex::new(None);
    let threads = opts.threads.clamp(1, 16).min(data.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut buf = vec![0u8; BUF];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(e) = data.get(i) else { break };
                    if first_error.lock().expect("lock").is_some() {
                        break;
                    }
                    match write_one(e, dir, previous, &prev_sums, prev_index, want_md5, &mut buf) {
                        Ok(d) => {
                            let f = files_done.fetch_add(1, Ordering::Relaxed) + 1;
                            let b = bytes_done.fetch_add(d.size, Ordering::Relaxed) + d.size;
                            results.lock().expect("lock").push(d);
                            progress(Progress {
                                files_done: f,
                                bytes_done: b,
                                ..total
                            });
                        }
                        Err(err) => {
                            let err =
                                io::Error::new(err.kind(), format!("{}: {err}", e.src.display()));
                            first_error.lock().expect("lock").get_or_insert(err);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("lock") {
        return Err(e);
    }
    let mut done = results.into_inner().expect("lock");
    let mut files = done.len() as u64;
    let mut bytes: u64 = done.iter().map(|d| d.size).sum();
    let copied_files = done.iter().filter(|d| d.copied).count() as u64;
    let copied_bytes = done.iter().filter(|d| d.copied).map(|d| d.size).sum();
    let reused_files = done.iter().filter(|d| !d.copied).count() as u64;
    let mut sidecars = Vec::new();
    for d in &done {
        if is_sidecar(Path::new(&d.rel)) {
            continue;
        }
        let base = Path::new(&d.rel)
            .file_name()
            .expect("a file has a name")
            .to_string_lossy()
            .into_owned();
        for kind in &opts.sidecars {
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
    let mut index = String::new();
    for d in &done {
        let (dev, ino, size, mtime) = d.stat;
        index.push_str(&format!(
            "{dev} {ino} {size} {mtime} {} {} {}\n",
            d.sha256,
            d.md5.as_deref().unwrap_or("-"),
            d.rel
        ));
    }
    files += sidecars.len() as u64;
    bytes += sidecars.iter().map(|d| d.size).sum::<u64>();
    done.extend(sidecars);
    done.sort_by(|a, b| a.rel.cmp(&b.rel));
    let mut manifest = String::new();
    for d in &done {
        manifest.push_str(&format!("{}  {}\n", d.sha256, d.rel));
    }
    std::fs::write(dir.join(MANIFEST), &manifest)?;
    files += 1;
    bytes += manifest.len() as u64;
    sync_filesystem(dir)?;
    Ok((
        Written {
            version: dir.to_path_buf(),
            files,
            bytes,
            copied_files,
            copied_bytes,
            reused_files,
            manifest_sha256: crate::hex::sha256(manifest.as_bytes()),
            reused: false,
        },
        index,
    ))
}

#[allow(clippy::too_many_arguments)]
fn write_one(
    e: &Entry,
    dir: &Path,
    previous: Option<&Path>,
    prev_sums: &HashMap<String, String>,
    prev_index: &HashMap<String, Seen>,
    want_md5: bool,
    buf: &mut [u8],
) -> io::Result<Done> {
    let rel = e.rel.to_str().expect("plan names are UTF-8").to_string();
    let target = dir.join(&e.rel);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let stat = source_stat(&e.src)?;
    // The very source file the previous version was made from, unchanged
    // since: its checksums are known; link without reading it.
    if let (Some(prev), Some(seen)) = (previous, prev_index.get(&rel)) {
        let known = seen.stat == stat
            && prev_sums.get(&rel) == Some(&seen.sha256)
            && (!want_md5 || seen.md5.is_some());
        if known && std::fs::hard_link(prev.join(&e.rel), &target).is_ok() {
            return Ok(Done {
                rel,
                stat,
                size: e.size,
                sha256: seen.sha256.clone(),
                md5: seen.md5.clone(),
                copied: false,
            });
        }
    }
    // Same path, same size in the previous version: checksum, and link it
    // when the bytes are the same too.
    if let (Some(prev), Some(prev_sum)) = (previous, prev_sums.get(&rel)) {
        let prev_file = prev.join(&e.rel);
        if std::fs::metadata(&prev_file).is_ok_and(|m| m.len() == e.size) {
            let (sha256, md5) = hash_file(&e.src, want_md5, buf)?;
            if &sha256 == prev_sum {
                std::fs::hard_link(&prev_file, &target)?;
                return Ok(Done {
                    rel,
                    stat,
                    size: e.size,
                    sha256,
                    md5,
                    copied: false,
                });
            }
        }
    }
    let (sha256, md5, size) = copy_hashing(&e.src, &target, want_md5, buf)?;
    Ok(Done {
        rel,
        stat,
        size,
        sha256,
        md5,
        copied: true,
    })
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
