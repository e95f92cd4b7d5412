//! What must hold before a promotion moves anything: a successful, present
//! build inside its trees; for a batch, one component build per component
//! and a label of aggregates that is a directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Request, Trees};
use crate::error::{Error, IoContext, Result};
use crate::store::builds::Build;

/// Checks that `build` may be promoted at all: it succeeded, is not
/// purged, and its hash directory is there.
pub fn check_promotable(trees: &Trees, build: &Build) -> Result<()> {
    if !build.succeeded() {
        return Err(Error::Refused(format!(
            "build {} has status {}: only successful builds can be promoted",
            build.full_hash, build.status
        )));
    }
    if build.purged() {
        return Err(Error::Refused(format!(
            "build {}: commit_hash+distro_hash+extended_hash has been purged, cannot promote it (its repo is gone)",
            build.full_hash
        )));
    }
    let dir = trees.trunk.join(&build.repo_dir);
    if !dir.is_dir() {
        return Err(Error::Refused(format!(
            "build {}: its hash directory {} is missing",
            build.full_hash,
            dir.display()
        )));
    }
    inside(&trees.trunk, &dir, build, "hash directory", "trunk")?;
    image_dir(trees, build)?;
    Ok(())
}

/// Every check of a request, before an attempt is recorded.
pub(super) fn request(trees: &Trees, r: &Request) -> Result<()> {
    if r.builds.is_empty() {
        return Err(Error::Invalid(
            "a promotion needs at least one build".into(),
        ));
    }
    if r.batch.is_none() && r.builds.len() > 1 {
        return Err(Error::Invalid(
            "several builds are promoted to one label as a batch".into(),
        ));
    }
    for b in r.builds {
        check_promotable(trees, b)?;
    }
    if r.batch.is_some() {
        batch(trees, r)?;
    }
    Ok(())
}

/// A batch promotes component builds, one per component, to a label whose
/// top-level entry is a directory of aggregates.
fn batch(trees: &Trees, r: &Request) -> Result<()> {
    let mut seen = HashSet::new();
    for b in r.builds {
        let c = b.component.as_deref().ok_or_else(|| {
            Error::Refused(format!(
                "build {} has no component: a batch promotes component builds",
                b.full_hash
            ))
        })?;
        if !seen.insert(c) {
            return Err(Error::Invalid(format!(
                "two builds of component {c} in one batch: a label points at one build per component"
            )));
        }
    }
    aggregate_base(trees, r.label.as_str()).map(|_| ())
}

/// `<trunk>/<label>`, refused when it is a link (to one hash directory):
/// a label of aggregates is a directory.
pub(super) fn aggregate_base(trees: &Trees, label: &str) -> Result<PathBuf> {
    let base = trees.trunk.join(label);
    if std::fs::symlink_metadata(&base).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Refused(format!(
            "{} is a link to one hash directory; a label of aggregates is a directory",
            base.display()
        )));
    }
    Ok(base)
}

/// The build's image directory, when it has one inside the image tree;
/// refused when `<images>/<full_hash>` leads outside it (a label there
/// would serve whatever it leads to).
pub(super) fn image_dir(trees: &Trees, build: &Build) -> Result<Option<PathBuf>> {
    // A remote tree is read over ssh where its links are moved.
    if trees.remote_images.is_some() {
        return Ok(None);
    }
    let dir = trees.images.join(&build.full_hash);
    if !dir.is_dir() {
        return Ok(None);
    }
    inside(&trees.images, &dir, build, "image directory", "image tree")?;
    Ok(Some(dir))
}

/// Refuses `dir` (of `build`) when, links followed, it is not inside `root`.
fn inside(root: &Path, dir: &Path, build: &Build, what: &str, tree: &str) -> Result<()> {
    let real = std::fs::canonicalize(dir).at("resolve", dir)?;
    let real_root = std::fs::canonicalize(root).at("resolve", root)?;
    if real.starts_with(&real_root) {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "build {}: its {what} {} leads outside the {tree} {} (to {})",
        build.full_hash,
        dir.display(),
        root.display(),
        real.display()
    )))
}
