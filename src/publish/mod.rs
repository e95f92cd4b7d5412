//! Publishing a build to a buildlogs-style tree: plan (which files, from
//! where; pure walking, no writes), then apply (copy and checksum in one
//! pass, reuse unchanged files, switch atomically), then verify.
//!
//! # Layout and atomicity
//!
//! A local target `dest` is a symlink to one complete version kept in a
//! hidden sibling directory: `<parent>/.<name>.versions/<full_hash>/` (or
//! `<full_hash>.N/`, a later copy of a build whose files changed since it
//! was published; see [`retention`]). A version is written as
//! `<name>.partial-<pid>`, made durable, then renamed to its name; only
//! then is `dest` switched, by renaming a new symlink over it. A reader
//! therefore sees exactly the previous build or exactly the new one, never
//! a mix and never a partial file, whatever is killed when; a killed
//! publish leaves a partial directory that the next publish removes, and
//! the next publish completes the work.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::terminal::escaped_path;

pub mod apply;
pub mod remote;
pub mod repo_file;
pub mod retention;
pub mod verify;

/// The manifest at the root of every version.
pub const MANIFEST: &str = "SHA256SUMS";

/// One file of a version: where it comes from and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the version.
    pub rel: PathBuf,
    /// The real file to read (symlinks already followed).
    pub src: PathBuf,
    pub size: u64,
}

/// Why a source cannot be published. Paths are shown with control
/// characters escaped, so that the message stays one line whatever the
/// builder named a file.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{} leads outside the source root {} (to {})",
        escaped_path(link),
        escaped_path(root),
        escaped_path(target)
    )]
    Escapes {
        link: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },
    #[error("{} is part of a symlink loop", escaped_path(.0))]
    Loop(PathBuf),
    #[error("{} is not a regular file, a directory or a symlink to one", escaped_path(.0))]
    Special(PathBuf),
    #[error("{}: its name has a newline or a backslash, which SHA256SUMS cannot hold", escaped_path(.0))]
    BadName(PathBuf),
    #[error("{}: the name is not UTF-8", escaped_path(.0))]
    NotUtf8(PathBuf),
    #[error("{}: {source}", escaped_path(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PlanError + '_ {
    move |source| {
        if source.raw_os_error() == Some(libc::ELOOP) {
            PlanError::Loop(path.to_path_buf())
        } else {
            PlanError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Lists the files of `source_dir` as a version will hold them: symlinks
/// that lead inside `root` are followed, anything else is refused;
/// `source_dir` itself (a hash directory a builder or someone else may
/// have made a link) is checked like every entry below it. The entries are
/// sorted by path.
pub fn plan(source_dir: &Path, root: &Path) -> Result<Vec<Entry>, PlanError> {
    let root = std::fs::canonicalize(root).map_err(io(root))?;
    let top = std::fs::canonicalize(source_dir).map_err(io(source_dir))?;
    if !top.starts_with(&root) {
        return Err(PlanError::Escapes {
            link: source_dir.to_path_buf(),
            target: top,
            root,
        });
    }
    let mut out = Vec::new();
    let mut active = HashSet::new();
    walk(&top, Path::new(""), &root, &mut active, &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &Path,
    root: &Path,
    active: &mut HashSet<(u64, u64)>,
    out: &mut Vec<Entry>,
) -> Result<(), PlanError> {
    let meta = std::fs::metadata(dir).map_err(io(dir))?;
    // A directory reached again below itself (through a symlink) is a loop.
    if !active.insert((meta.dev(), meta.ino())) {
        return Err(PlanError::Loop(dir.to_path_buf()));
    }
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let path = e.path();
        let name = e.file_name();
        let Some(name_str) = name.to_str() else {
            return Err(PlanError::NotUtf8(path));
        };
        if name_str.contains('\n') || name_str.contains('\\') {
            return Err(PlanError::BadName(path));
        }
        let rel_child = rel.join(&name);
        let ft = e.file_type().map_err(io(&path))?;
        let (real, meta) = if ft.is_symlink() {
            let target = std::fs::canonicalize(&path).map_err(io(&path))?;
            if !target.starts_with(root) {
                return Err(PlanError::Escapes {
                    link: path,
                    target,
                    root: root.to_path_buf(),
                });
            }
            let meta = std::fs::metadata(&target).map_err(io(&target))?;
            (target, meta)
        } else {
            let meta = e.metadata().map_err(io(&path))?;
            (path.clone(), meta)
        };
        if meta.is_dir() {
            walk(&real, &rel_child, root, active, out)?;
        } else if meta.is_file() {
            out.push(Entry {
                rel: rel_child,
                src: real,
                size: meta.len(),
            });
        } else {
            return Err(PlanError::Special(path));
        }
    }
    active.remove(&(meta.dev(), meta.ino()));
    Ok(())
}

/// Where a local target keeps its versions.
pub fn versions_dir(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "published".into());
    dest.with_file_name(format!(".{name}.versions"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("ab/cd/h1/repodata")).unwrap();
        std::fs::create_dir_all(r.join("ab/ce/h2")).unwrap();
        std::fs::write(r.join("ab/cd/h1/a.rpm"), "a").unwrap();
        std::fs::write(r.join("ab/cd/h1/repodata/repomd.xml"), "x").unwrap();
        std::fs::write(r.join("ab/ce/h2/b.rpm"), "bb").unwrap();
        symlink("../../ce/h2/b.rpm", r.join("ab/cd/h1/b.rpm")).unwrap();
        d
    }

    #[test]
    fn follows_links_inside_the_root() {
        let d = tree();
        let p = plan(&d.path().join("ab/cd/h1"), d.path()).unwrap();
        let rels: Vec<_> = p
            .iter()
            .map(|e| e.rel.to_str().unwrap().to_string())
            .collect();
        assert_eq!(rels, ["a.rpm", "b.rpm", "repodata/repomd.xml"]);
        assert_eq!(p[1].size, 2);
        assert!(p[1].src.ends_with("ab/ce/h2/b.rpm"));
    }

    #[test]
    fn a_file_name_with_a_newline_is_refused_in_one_line() {
        let d = tree();
        let h1 = d.path().join("ab/cd/h1");
        std::fs::write(h1.join("two\nlines.rpm"), "x").unwrap();
        let err = plan(&h1, d.path()).unwrap_err().to_string();
        assert!(matches!(plan(&h1, d.path()), Err(PlanError::BadName(_))));
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("two\\nlines.rpm"), "{err}");
    }

    #[test]
    fn a_source_directory_that_is_a_link_out_of_the_root_is_refused() {
        let d = tree();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "private").unwrap();
        symlink(outside.path(), d.path().join("ab/cd/h3")).unwrap();
        let err = plan(&d.path().join("ab/cd/h3"), d.path()).unwrap_err();
        assert!(matches!(err, PlanError::Escapes { .. }), "{err}");
        assert!(err.to_string().contains("h3 leads outside"), "{err}");
        // A link to a directory inside the root is followed.
        symlink("h1", d.path().join("ab/cd/h4")).unwrap();
        assert_eq!(plan(&d.path().join("ab/cd/h4"), d.path()).unwrap().len(), 3);
    }

    #[test]
    fn refuses_escapes_loops_and_special_files() {
        let d = tree();
        let h1 = d.path().join("ab/cd/h1");
        symlink("/etc/hostname", h1.join("escape")).unwrap();
        assert!(matches!(
            plan(&h1, d.path()),
            Err(PlanError::Escapes { .. })
        ));
        std::fs::remove_file(h1.join("escape")).unwrap();
        symlink("loop", h1.join("loop")).unwrap();
        assert!(matches!(plan(&h1, d.path()), Err(PlanError::Loop(_))));
        std::fs::remove_file(h1.join("loop")).unwrap();
        symlink("..", h1.join("repodata/up")).unwrap();
        assert!(matches!(plan(&h1, d.path()), Err(PlanError::Loop(_))));
        std::fs::remove_file(h1.join("repodata/up")).unwrap();
        let fifo = std::ffi::CString::new(h1.join("fifo").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(matches!(plan(&h1, d.path()), Err(PlanError::Special(_))));
    }
}
