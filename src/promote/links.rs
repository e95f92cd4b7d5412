//! The links a promotion moves: `<images>/<name>`, and `<name>` in the
//! trunk (or in each component's directory), each after its
//! `previous-<name>`, each replaced atomically.

use std::path::{Path, PathBuf};

use super::Trees;
use crate::error::{IoContext, Result};
use crate::ident::Label;
use crate::store::builds::Build;
use crate::store::runs::Member;
use crate::store::Store;
use crate::trunk::{current_target, label_dir, label_target, links};

/// The target of the image link `label`, as written (a full hash).
pub fn current_image(trees: &Trees, label: &str) -> Result<Option<String>> {
    if let Some(r) = &trees.remote_images {
        return r.readlink(label).map_err(crate::error::Error::Failed);
    }
    let dir = &trees.images;
    Ok(links::read(dir, label)
        .at("read link", &dir.join(label))?
        .map(|p| p.to_string_lossy().into_owned()))
}

/// When a label moved in the trunk but its image link could not follow
/// (the build has no image directory), where the image link still points:
/// something to warn about, since the two trees now disagree.
pub fn image_left_behind(trees: &Trees, label: &Label, build: &Build) -> Option<String> {
    let has = match &trees.remote_images {
        Some(r) => r.has_dir(&build.full_hash).unwrap_or(true),
        None => trees.images.join(&build.full_hash).is_dir(),
    };
    if has {
        return None;
    }
    current_image(trees, label.as_str())
        .ok()
        .flatten()
        .filter(|t| build.full_hash != t.as_str())
}

/// `<images>/previous-<name>` → `previous` then `<images>/<name>` →
/// `<full_hash>`, when the build has an image directory. Returns whether
/// links were written.
pub(super) fn move_images(
    trees: &Trees,
    label: &Label,
    build: &Build,
    previous: Option<&Path>,
) -> Result<bool> {
    let dir = &trees.images;
    if let Some(r) = &trees.remote_images {
        if !r
            .has_dir(&build.full_hash)
            .map_err(crate::error::Error::Failed)?
        {
            return Ok(false);
        }
        if let Some(old) = previous.filter(|p| *p != Path::new(&build.full_hash)) {
            r.swap(&label.previous(), &old.to_string_lossy())
                .map_err(crate::error::Error::Failed)?;
        }
        crate::fault::point("remote-previous");
        r.swap(label.as_str(), &build.full_hash)
            .map_err(crate::error::Error::Failed)?;
        return Ok(true);
    }
    // Checked again where it is followed: the link may have changed since
    // the build was checked (hooks take time).
    if super::check::image_dir(trees, build)?.is_none() {
        return Ok(false);
    }
    if let Some(old) = previous.filter(|p| *p != Path::new(&build.full_hash)) {
        links::swap(dir, &label.previous(), old).at("write link", &dir.join(label.previous()))?;
    }
    links::swap(dir, label.as_str(), Path::new(&build.full_hash))
        .at("write link", &dir.join(label.as_str()))?;
    Ok(true)
}

/// `previous-<name>` → `previous` (a hash directory relative to the trunk),
/// then `<name>` → the build's hash directory.
pub(super) fn move_trunk(
    trees: &Trees,
    label: &Label,
    build: &Build,
    previous: Option<&str>,
) -> Result<()> {
    let component = trees.label_component(build);
    let dir = label_dir(&trees.trunk, component);
    if let Some(prev) = previous.filter(|p| *p != build.repo_dir) {
        let prev_target = label_target(prev, component);
        links::swap(&dir, &label.previous(), Path::new(&prev_target))
            .at("write link", &dir.join(label.previous()))?;
    }
    let target = label_target(&build.repo_dir, component);
    links::swap(&dir, label.as_str(), Path::new(&target))
        .at("write link", &dir.join(label.as_str()))
}

/// The members of a batch: each build with where its component's label
/// points now, or, when the link already points at the build (moved by
/// hand, or by a batch killed before it was recorded), where the history
/// says it was, so that no build is recorded as its own previous.
pub(super) fn batch_members(
    store: &Store,
    trees: &Trees,
    label: &Label,
    builds: &[Build],
) -> Result<Vec<Member>> {
    let mut out = Vec::with_capacity(builds.len());
    for b in builds {
        let c = trees.label_component(b);
        let on_disk = current_target(&trees.trunk, label.as_str(), c)?;
        let previous = if on_disk.as_deref() == Some(b.repo_dir.as_str()) {
            let row = store.label(label.as_str(), c)?;
            match row.and_then(|r| r.build_id) {
                Some(id) => store.build_by_id(id)?.map(|p| p.repo_dir),
                None => None,
            }
            .filter(|r| *r != b.repo_dir)
        } else {
            on_disk
        };
        out.push(Member {
            build_id: b.id,
            previous_repo_dir: previous,
        });
    }
    Ok(out)
}

/// Whether every build of a batch is where its component's label points,
/// and recorded there: promoting it again would change nothing.
pub(super) fn batch_in_place(
    store: &Store,
    trees: &Trees,
    label: &Label,
    builds: &[Build],
) -> Result<bool> {
    for b in builds {
        let c = trees.label_component(b);
        let on_disk = current_target(&trees.trunk, label.as_str(), c)?;
        let recorded = store.label(label.as_str(), c)?.and_then(|r| r.build_id);
        if on_disk.as_deref() != Some(b.repo_dir.as_str()) || recorded != Some(b.id) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The links a batch's move replaced, to put back if a later one fails.
#[derive(Default)]
pub(super) struct Undo {
    links: Vec<(PathBuf, String, Option<PathBuf>)>,
}

impl Undo {
    /// Remembers `<name>` and `previous-<name>` of `build`'s component as
    /// they are now.
    pub fn remember(&mut self, trees: &Trees, label: &Label, build: &Build) -> Result<()> {
        let dir = label_dir(&trees.trunk, trees.label_component(build));
        for name in [label.previous(), label.to_string()] {
            let before = links::read(&dir, &name).at("read link", &dir.join(&name))?;
            self.links.push((dir.clone(), name, before));
        }
        Ok(())
    }

    /// Puts every remembered link back, newest first.
    pub fn put_back(&self) {
        for (dir, name, target) in self.links.iter().rev() {
            let _ = match target {
                Some(t) => links::swap(dir, name, t),
                None => links::remove(dir, name),
            };
        }
    }
}
