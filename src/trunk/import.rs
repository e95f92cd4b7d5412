//! The import walk: finds hash directories the database does not have yet,
//! reads their `commit.yaml` and `versions.csv`, and reads the builder's
//! `current` and `consistent` links. What the builder wrote wrong is
//! skipped with a warning naming it; the rest is imported.
//!
//! The walk knows DLRN's layout, `[component/<c>/]<xx>/<yy>/<hash dir>`, so
//! it lists three directory levels and never the content of a hash
//! directory: an unchanged trunk costs one `readdir` per shard directory.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::commit_yaml::{self, CommitRow};
use super::versions_csv::{self, PackageRow};
use super::{label_dir, resolve_within};
use crate::pool::{self, Pool};

/// The links the builder keeps in the trunk root (and in each component).
pub const BUILDER_LINKS: [&str; 2] = [crate::model::CURRENT, crate::model::CONSISTENT];

/// A hash directory read from disk, not yet recorded.
#[derive(Debug, Clone)]
pub struct Scanned {
    pub repo_dir: String,
    pub row: CommitRow,
    pub packages: Vec<PackageRow>,
    pub consistent: bool,
    /// A problem that did not stop the import of this build.
    pub warning: Option<String>,
}

/// Where a builder link points: a hash directory relative to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderLink {
    pub name: String,
    pub component: Option<String>,
    pub repo_dir: Option<String>,
}

/// What a scan of the trunk found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every hash directory, relative to the root.
    pub hash_dirs: Vec<String>,
    /// Every aggregate directory (component mode), relative to the root:
    /// `current/<xx>/<yy>/<md5>` and `consistent/<xx>/<yy>/<md5>`.
    pub aggregate_dirs: Vec<String>,
    pub links: Vec<BuilderLink>,
    pub warnings: Vec<String>,
}

/// Walks the trunk at `root`: its hash directories (paths relative to the
/// root) and the builder's links. Reads no hash directory; [`read_each`]
/// does that, for the ones the caller does not know yet.
pub fn scan(root: &Path) -> Scan {
    let mut scan = Scan::default();
    let components = components(root, &mut scan.warnings);
    for component in &components {
        let base_rel = match component {
            Some(c) => format!("component/{c}/"),
            None => String::new(),
        };
        find_hash_dirs(root, &base_rel, &mut scan);
    }
    scan.links = read_links(root, &components, &mut scan.warnings);
    for name in BUILDER_LINKS {
        let dir = root.join(name);
        let is_dir = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
        if !is_dir {
            continue;
        }
        for e in WalkDir::new(&dir)
            .min_depth(3)
            .max_depth(3)
            .follow_links(false)
        {
            match e {
                Ok(e) if e.file_type().is_dir() => {
                    match e.path().strip_prefix(root).map(|p| p.to_str()) {
                        Ok(Some(rel)) => scan.aggregate_dirs.push(rel.to_string()),
                        _ => scan.warnings.push(format!(
                            "{}: skipped: the path is not UTF-8",
                            e.path().display()
                        )),
                    }
                }
                Ok(_) => {}
                Err(err) => scan
                    .warnings
                    .push(format!("{}: skipped: {err}", dir.display())),
            }
        }
    }
    scan
}

/// An aggregate directory read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedAggregate {
    pub agg_hash: String,
    pub repo_dir: String,
    /// The component hash directories its `delorean.repo` points at.
    pub hash_dirs: Vec<String>,
}

/// Reads an aggregate directory: its `delorean.repo`, whose md5 must be the
/// directory's name, as DLRN names it.
pub fn read_aggregate(root: &Path, rel: &str) -> Result<ScannedAggregate, String> {
    let dir = root.join(rel);
    let shown = dir.display();
    let bytes = std::fs::read(dir.join("delorean.repo"))
        .map_err(|e| format!("{shown}/delorean.repo: skipped: {e}"))?;
    let md5 = crate::hex::md5(&bytes);
    let name = rel.rsplit('/').next().unwrap_or("");
    if md5 != name {
        return Err(format!(
            "{shown}: skipped: the md5 of its delorean.repo is {md5}, not the directory's name"
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{shown}/delorean.repo: skipped: it is not UTF-8"))?;
    let sections = super::delorean_repo::parse(&text)
        .map_err(|e| format!("{shown}/delorean.repo: skipped: {e}"))?;
    let mut hash_dirs = Vec::new();
    for s in sections {
        let dir = s
            .baseurls
            .first()
            .and_then(|u| super::delorean_repo::hash_dir_of(u))
            .ok_or_else(|| {
                format!(
                    "{shown}/delorean.repo: skipped: section [{}] has no usable baseurl",
                    s.id
                )
            })?;
        hash_dirs.push(dir);
    }
    Ok(ScannedAggregate {
        agg_hash: md5,
        repo_dir: rel.to_string(),
        hash_dirs,
    })
}

/// What reading one hash directory gave.
#[derive(Debug)]
pub enum Read {
    Build(Box<Scanned>),
    /// Not complete yet: no `commit.yaml` (`None`), or a successful build
    /// whose `versions.csv` is missing or cut short (the reason). The
    /// builder, or a mirror's copy, is still writing it: a later import
    /// reads it again.
    Incomplete(Option<String>),
    /// Skipped, with the warning that says why.
    Skipped(String),
}

/// Reads the hash directories `dirs` on a few threads and hands each result
/// to `f` on the calling thread, in the order of `dirs`. Memory stays
/// bounded: readers wait while `f` is behind. The first error of `f` stops
/// the reading and is returned.
pub fn read_each<E: Send>(
    root: &Path,
    dirs: &[String],
    f: impl FnMut(Read) -> Result<(), E>,
) -> Result<(), E> {
    // Results travel in batches: one wake-up per batch, not per directory.
    const BATCH: usize = 32;
    let read = |_: &mut (), rel: &String| {
        Ok(match read_hash_dir(root, rel) {
            Ok(HashDir::Build(b)) => Read::Build(b),
            Ok(HashDir::Incomplete(why)) => Read::Incomplete(why),
            Err(w) => Read::Skipped(w),
        })
    };
    Pool::new(pool::threads().clamp(1, 4))
        .batch(BATCH)
        .for_each(dirs, || (), read, f)
}

/// The builder's links of the whole trunk and of each component, without
/// walking the hash directories: what `run` checks to see whether anything
/// new can have arrived.
pub fn builder_links(root: &Path) -> (Vec<BuilderLink>, Vec<String>) {
    let mut warnings = Vec::new();
    let components = components(root, &mut warnings);
    let links = read_links(root, &components, &mut warnings);
    (links, warnings)
}

/// `None` (the trunk root) and every component, sorted.
pub(crate) fn components(root: &Path, warnings: &mut Vec<String>) -> Vec<Option<String>> {
    let mut components: Vec<Option<String>> = vec![None];
    match std::fs::read_dir(root.join("component")) {
        Ok(entries) => {
            for e in entries.flatten() {
                let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if !is_dir {
                    continue;
                }
                match e.file_name().into_string() {
                    Ok(name) if !name.starts_with('.') => components.push(Some(name)),
                    Ok(_) => {}
                    Err(raw) => warnings.push(format!(
                        "{}: skipped: the component name is not UTF-8",
                        root.join("component").join(raw).display()
                    )),
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warnings.push(format!(
            "{}: skipped: {e}",
            root.join("component").display()
        )),
    }
    components.sort();
    components
}

fn read_links(
    root: &Path,
    components: &[Option<String>],
    warnings: &mut Vec<String>,
) -> Vec<BuilderLink> {
    let mut links = Vec::new();
    for component in components {
        for name in BUILDER_LINKS {
            if let Some(link) = read_builder_link(root, component.as_deref(), name, warnings) {
                links.push(link);
            }
        }
    }
    links
}

/// The hash directories under `<root>/<base_rel>`: `<xx>/<yy>/<hash dir>`.
/// The first level is listed here; each `<xx>` shard (its `<yy>` shards and
/// their hash directories) is listed by the pool, so the walk, a few
/// hundred thousand `getdents` on a big trunk, runs on every core. The
/// result is in the order the first level was listed, whatever the threads.
fn find_hash_dirs(root: &Path, base_rel: &str, scan: &mut Scan) {
    let base = root.join(base_rel);
    let shards = match std::fs::read_dir(&base) {
        Ok(entries) => {
            let mut shards = Vec::new();
            for e in entries {
                match e {
                    Ok(e) if is_shard(&e) => shards.push(e.path()),
                    Ok(_) => {}
                    Err(e) => scan
                        .warnings
                        .push(format!("{}: skipped: {e}", base.display())),
                }
            }
            shards
        }
        // No such component or trunk: nothing to import from it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            scan.warnings
                .push(format!("{}: skipped: {e}", base.display()));
            return;
        }
    };
    let listed = Pool::new(pool::threads().clamp(1, 4)).batch(8).map(
        &shards,
        || (),
        |_, shard| Ok::<_, std::convert::Infallible>(list_shard(root, shard)),
    );
    let Ok(listed) = listed;
    for l in listed {
        scan.hash_dirs.extend(l.hash_dirs);
        scan.warnings.extend(l.warnings);
    }
}

/// What one `<xx>` shard holds.
#[derive(Default)]
struct Listing {
    hash_dirs: Vec<String>,
    warnings: Vec<String>,
}

/// A shard level's entry: a directory with a two-letter name (a link there
/// is not followed, as anywhere above a hash directory).
fn is_shard(e: &std::fs::DirEntry) -> bool {
    e.file_name().len() == 2 && e.file_type().is_ok_and(|t| t.is_dir())
}

/// The hash directories of one `<xx>` shard, relative to `root`.
fn list_shard(root: &Path, shard: &Path) -> Listing {
    let mut l = Listing::default();
    let entries = match std::fs::read_dir(shard) {
        Ok(entries) => entries,
        Err(e) => {
            l.warnings
                .push(format!("{}: skipped: {e}", shard.display()));
            return l;
        }
    };
    for e in entries {
        let sub = match e {
            Ok(e) if is_shard(&e) => e.path(),
            Ok(_) => continue,
            Err(e) => {
                l.warnings
                    .push(format!("{}: skipped: {e}", shard.display()));
                continue;
            }
        };
        let dirs = match std::fs::read_dir(&sub) {
            Ok(dirs) => dirs,
            Err(e) => {
                l.warnings.push(format!("{}: skipped: {e}", sub.display()));
                continue;
            }
        };
        for d in dirs {
            let d = match d {
                Ok(d) => d,
                Err(e) => {
                    l.warnings.push(format!("{}: skipped: {e}", sub.display()));
                    continue;
                }
            };
            let Ok(t) = d.file_type() else { continue };
            if !t.is_dir() && !t.is_symlink() {
                continue;
            }
            let path = d.path();
            if t.is_symlink() {
                l.warnings.push(format!(
                    "{}: skipped: a symbolic link where a hash directory belongs",
                    path.display()
                ));
                continue;
            }
            match path.strip_prefix(root).map(|p| p.to_str()) {
                Ok(Some(rel)) => l.hash_dirs.push(rel.to_string()),
                _ => l.warnings.push(format!(
                    "{}: skipped: the path is not UTF-8",
                    path.display()
                )),
            }
        }
    }
    l
}

enum HashDir {
    Build(Box<Scanned>),
    Incomplete(Option<String>),
}

/// A `dt_build` this far past the clock is a builder's clock error.
const FUTURE_SLACK: i64 = 86_400;

/// Reads one hash directory.
fn read_hash_dir(root: &Path, rel: &str) -> Result<HashDir, String> {
    let dir = root.join(rel);
    let shown = || dir.display().to_string();
    let text = match read_file(&dir.join("commit.yaml")) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(HashDir::Incomplete(None)),
        Err(e) => return Err(format!("{}/commit.yaml: skipped: {e}", shown())),
    };
    let text = String::from_utf8(text)
        .map_err(|_| format!("{}/commit.yaml: skipped: it is not UTF-8", shown()))?;
    let rows = commit_yaml::parse(&text)
        .map_err(|e| format!("{}/commit.yaml: skipped: it does not parse: {e}", shown()))?;
    let row = rows
        .into_iter()
        .find(|r| r.repo_dir() == rel)
        .ok_or_else(|| {
            format!(
                "{}/commit.yaml: skipped: it describes no build whose hash directory is {rel}",
                shown()
            )
        })?;
    let mut warnings = Vec::new();
    let now = crate::clock::now();
    if row.dt_build > now + FUTURE_SLACK {
        warnings.push(format!(
            "{}/commit.yaml: dt_build {} is in the future (a builder's clock error?): the build is ordered by DLRN's id and by when it was first seen",
            shown(),
            crate::clock::short(row.dt_build)
        ));
    }
    // A successful build's repo always has a package list: without one (or
    // with one cut short) the directory is still being written.
    let needs_packages = row.status == crate::model::SUCCESS && !row.purged();
    let (packages, consistent) = match read_versions(&dir) {
        Versions::Rows(rows) => {
            let consistent = versions_csv::is_consistent(&rows);
            (rows, consistent)
        }
        Versions::Incomplete(why) if needs_packages => {
            return Ok(HashDir::Incomplete(Some(format!(
                "{}/versions.csv: {why}: the build is read again at the next import",
                shown()
            ))))
        }
        Versions::Incomplete(_) => (Vec::new(), false),
        Versions::Unreadable(e) => {
            // The build is real; only its package list is unreadable.
            warnings.push(format!("{}/versions.csv: ignored: {e}", shown()));
            (Vec::new(), false)
        }
    };
    let consistent = consistent && needs_packages;
    Ok(HashDir::Build(Box::new(Scanned {
        repo_dir: rel.to_string(),
        row,
        packages,
        consistent,
        warning: if warnings.is_empty() {
            None
        } else {
            Some(warnings.join("; "))
        },
    })))
}

/// What a hash directory's `versions.csv` holds.
#[derive(Debug)]
pub enum Versions {
    Rows(Vec<PackageRow>),
    /// Missing, or cut short (it does not end with a line end): still
    /// being written.
    Incomplete(&'static str),
    /// There, complete, and unreadable: the reason.
    Unreadable(String),
}

/// Reads the `versions.csv` of the hash directory `dir`.
pub fn read_versions(dir: &Path) -> Versions {
    match read_file(&dir.join("versions.csv")) {
        Ok(None) => Versions::Incomplete("it is missing"),
        Err(e) => Versions::Unreadable(e),
        // NUL bytes are garbage, not a file being written.
        Ok(Some(bytes)) if bytes.contains(&0) => {
            Versions::Unreadable("it holds NUL bytes: it is not a CSV file".into())
        }
        Ok(Some(bytes)) if !bytes.ends_with(b"\n") => {
            Versions::Incomplete("it is cut short (its last line has no end)")
        }
        Ok(Some(bytes)) => match String::from_utf8(bytes)
            .map_err(|_| "it is not UTF-8".to_string())
            .and_then(|t| versions_csv::parse(&t))
        {
            Ok(rows) => Versions::Rows(rows),
            Err(e) => Versions::Unreadable(e),
        },
    }
}

/// Largest `commit.yaml` or `versions.csv` read: DLRN's are kilobytes.
const MAX_FILE: u64 = 64 << 20;

/// Reads a file the builder wrote; `None` when it is not there. Anything
/// but a regular file is refused unread, and so is a file larger than
/// [`MAX_FILE`].
fn read_file(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match crate::input::read(path, MAX_FILE) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(crate::input::InputError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn read_builder_link(
    root: &Path,
    component: Option<&str>,
    name: &str,
    warnings: &mut Vec<String>,
) -> Option<BuilderLink> {
    let dir = label_dir(root, component);
    // In component mode the root's current/ and consistent/ are aggregate
    // directories, not links.
    if component.is_none() && std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.is_dir()) {
        return None;
    }
    let target = match super::links::read(&dir, name) {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(e) => {
            warnings.push(format!("{}: skipped: {e}", dir.join(name).display()));
            return None;
        }
    };
    let dir_rel: PathBuf = match component {
        Some(c) => Path::new("component").join(c),
        None => PathBuf::new(),
    };
    let link = dir.join(name);
    let Some(rel) = resolve_within(root, &dir_rel, &target) else {
        warnings.push(format!(
            "{}: skipped: it points at {}, outside the trunk",
            link.display(),
            target.display()
        ));
        return None;
    };
    // The builder may link to a directory under a link (a loop, or a chain);
    // only a real hash directory counts.
    match std::fs::symlink_metadata(root.join(&rel)) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            warnings.push(format!(
                "{}: skipped: {} is not a hash directory",
                link.display(),
                target.display()
            ));
            return None;
        }
        Err(e) => {
            warnings.push(format!(
                "{}: skipped: {}: {e}",
                link.display(),
                target.display()
            ));
            return None;
        }
    }
    let Some(rel) = rel.to_str() else {
        warnings.push(format!(
            "{}: skipped: the target is not UTF-8",
            link.display()
        ));
        return None;
    };
    Some(BuilderLink {
        name: name.to_string(),
        component: component.map(String::from),
        repo_dir: Some(rel.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builder_file_that_is_not_there_is_none_and_a_refusal_says_why() {
        // The refusals themselves are `input::read`'s, tested there.
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_file(&d.path().join("missing")).unwrap(), None);
        assert_eq!(read_file(d.path()).unwrap_err(), "it is not a regular file");
        std::fs::write(d.path().join("f"), "x").unwrap();
        assert_eq!(read_file(&d.path().join("f")).unwrap(), Some(b"x".to_vec()));
    }
}
