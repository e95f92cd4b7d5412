//! Yum repos of updates: a directory made to hold exactly a set of RPMs
//! (hard links to the promoter's copies), then its `repodata/` made with
//! `createrepo_c --update`, which reads again only the packages that
//! changed since the last time: the repo of each update's phase 1 and the
//! stage tree. The pool of phase 2 takes its packages' metadata from their
//! phase-1 repos instead ([`make_pool`]).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::metadata::{self, RepoMetadata};

/// How long `createrepo_c` may take on one repo.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// What making a repo did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Made {
    pub packages: usize,
    pub added: usize,
    pub removed: usize,
    pub seconds: f64,
    /// The metadata was put together from the packages' own, not made by
    /// `createrepo_c`.
    pub merged: bool,
}

/// Makes `dir` hold exactly the RPM files `rpms` (by file name; a file
/// already there with the same name, size and modification time is kept),
/// then its metadata with `createrepo_c`.
pub fn make(dir: &Path, rpms: &[PathBuf]) -> Result<Made, String> {
    let started = Instant::now();
    let (added, removed) = sync_files(dir, rpms)?;
    let fresh = !dir.join("repodata/repomd.xml").is_file();
    if fresh || added > 0 || removed > 0 {
        createrepo(dir, !fresh)?;
    }
    Ok(Made {
        packages: rpms.len(),
        added,
        removed,
        seconds: started.elapsed().as_secs_f64(),
        merged: false,
    })
}

/// Makes the pool `dir`: exactly the RPMs of `rpms`, each given with the
/// repo whose metadata describes it (its update's phase-1 repo), and its
/// metadata put together from theirs without reading an RPM; with
/// `createrepo_c --update` when some of theirs cannot be read. `cache`
/// keeps the metadata read, for the next pool of the same phase 2.
pub fn make_pool(
    dir: &Path,
    rpms: &[(PathBuf, PathBuf)],
    cache: &mut HashMap<PathBuf, RepoMetadata>,
) -> Result<Made, String> {
    let started = Instant::now();
    let files: Vec<PathBuf> = rpms.iter().map(|(f, _)| f.clone()).collect();
    let (added, removed) = sync_files(dir, &files)?;
    let merged = merge(dir, rpms, cache);
    if merged.is_err() {
        createrepo(dir, dir.join("repodata/repomd.xml").is_file())?;
    }
    Ok(Made {
        packages: rpms.len(),
        added,
        removed,
        seconds: started.elapsed().as_secs_f64(),
        merged: merged.is_ok(),
    })
}

/// Writes the metadata of the pool `dir` from its packages' own repos.
fn merge(
    dir: &Path,
    rpms: &[(PathBuf, PathBuf)],
    cache: &mut HashMap<PathBuf, RepoMetadata>,
) -> Result<(), String> {
    for (_, repo) in rpms {
        if !cache.contains_key(repo) {
            cache.insert(repo.clone(), metadata::read(repo)?);
        }
    }
    let mut packages = Vec::new();
    for (file, repo) in rpms {
        let href = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let p = cache[repo]
            .packages
            .get(&href)
            .ok_or_else(|| format!("{href} is not in the metadata of {}", repo.display()))?;
        packages.push(p);
    }
    let Some((_, first)) = rpms.first() else {
        return Err("an empty pool has no metadata to take".into());
    };
    let like = &cache[first];
    metadata::write(dir, like, &packages)
}

/// Makes `dir` hold exactly the RPM files `rpms`: (added, removed).
fn sync_files(dir: &Path, rpms: &[PathBuf]) -> Result<(usize, usize), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let wanted: BTreeSet<String> = rpms
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut removed = 0;
    for e in std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))? {
        let e = e.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rpm") && !wanted.contains(&name) {
            std::fs::remove_file(e.path())
                .map_err(|err| format!("cannot remove {}: {err}", e.path().display()))?;
            removed += 1;
        }
    }
    let mut added = 0;
    for src in rpms {
        let Some(name) = src.file_name() else {
            continue;
        };
        let dest = dir.join(name);
        if same_file(src, &dest) {
            continue;
        }
        let _ = std::fs::remove_file(&dest);
        if std::fs::hard_link(src, &dest).is_err() {
            std::fs::copy(src, &dest).map_err(|e| {
                format!("cannot copy {} into {}: {e}", src.display(), dir.display())
            })?;
        }
        added += 1;
    }
    Ok((added, removed))
}

/// Runs `createrepo_c` on `dir` (`--update`: the metadata of unchanged
/// packages is reused).
pub fn createrepo(dir: &Path, update: bool) -> Result<(), String> {
    let mut args = vec!["-q".to_string()];
    if update {
        args.push("--update".into());
    }
    args.push(dir.display().to_string());
    let (ended, out) =
        crate::exec::output("createrepo_c", args, &[], TIMEOUT, Duration::from_secs(5))?;
    if !ended.passed() {
        let last = out.lines().last().unwrap_or("").trim().to_string();
        return Err(format!(
            "createrepo_c could not make the repo {} ({ended}): {last}",
            dir.display()
        ));
    }
    Ok(())
}

/// Whether `b` is `a` already (the same inode), or a copy of the same size
/// and time.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => {
            (x.dev() == y.dev() && x.ino() == y.ino())
                || (x.len() == y.len() && x.mtime() == y.mtime())
        }
        _ => false,
    }
}

/// Every RPM file under `dir` (a production repo: its packages may be in
/// subdirectories), sorted.
pub fn rpms_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "repodata" || name.starts_with('.') {
                continue;
            }
            if p.is_dir() && depth < 4 {
                stack.push((p, depth + 1));
            } else if name.ends_with(".rpm") && !name.ends_with(".src.rpm") && p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
