//! The effects of a promotion: move the image links, then the trunk links
//! (`previous-<name>` first, then `<name>`), then write the history row.
//! Each link is replaced atomically; a build whose hash directory is
//! missing is never linked.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::ident::Label;
use crate::store::builds::Build;
use crate::store::promotions::{record_promotion, Kind, NewPromotion};
use crate::store::Store;
use crate::trunk::{label_dir, label_target, links, resolve_within};

/// The trees a promotion writes links into.
#[derive(Debug, Clone)]
pub struct Trees {
    pub trunk: PathBuf,
    pub images: PathBuf,
}

/// Who moves a label, and why.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub user: &'a str,
    pub kind: Kind,
    pub reason: &'a str,
}

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The label moved; the history row has this id.
    Moved {
        history_id: i64,
        previous: Option<String>,
        images: bool,
    },
    /// The label already pointed at the build: nothing changed.
    Unchanged,
}

/// Where a label points on disk now, as a hash directory relative to the
/// trunk root; `None` when there is no link.
pub fn current_target(
    trunk: &Path,
    label: &str,
    component: Option<&str>,
) -> Result<Option<String>> {
    let dir = label_dir(trunk, component);
    let Some(target) = links::read(&dir, label).at("read link", &dir.join(label))? else {
        return Ok(None);
    };
    let dir_rel: PathBuf = match component {
        Some(c) => Path::new("component").join(c),
        None => PathBuf::new(),
    };
    let rel = resolve_within(trunk, &dir_rel, &target).ok_or_else(|| {
        Error::Failed(format!(
            "link {} points at {}, outside the trunk",
            dir.join(label).display(),
            target.display()
        ))
    })?;
    Ok(rel.to_str().map(String::from))
}

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
            "build {} has been purged: its repo is gone, so it cannot be promoted",
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
    Ok(())
}

/// Moves `label` to `build` in the image tree and the trunk, then records
/// the history row. Promoting the build the label already points at
/// changes nothing.
pub fn promote(
    store: &mut Store,
    trees: &Trees,
    label: &Label,
    build: &Build,
    actor: &Actor,
    aggregate_hash: Option<&str>,
) -> Result<Outcome> {
    check_promotable(trees, build)?;
    let component = build.component.as_deref();
    let current = current_target(&trees.trunk, label.as_str(), component)?;
    if current.as_deref() == Some(build.repo_dir.as_str()) {
        return Ok(Outcome::Unchanged);
    }
    let images = move_image_links(trees, label, build)?;
    move_trunk_links(trees, label, build, current.as_deref())?;
    let previous_build = match &current {
        Some(r) => store.build_by_repo_dir(r)?,
        None => None,
    };
    let now = crate::store::now();
    let history_id = store.write(|tx| {
        record_promotion(
            tx,
            &NewPromotion {
                name: label.as_str(),
                build_id: build.id,
                previous_build_id: previous_build.as_ref().map(|b| b.id),
                aggregate_hash,
                component,
                kind: actor.kind,
                timestamp: now,
                user: actor.user,
                reason: actor.reason,
            },
        )
    })?;
    Ok(Outcome::Moved {
        history_id,
        previous: previous_build.map(|b| b.full_hash),
        images,
    })
}

/// `<images>/previous-<name>` then `<images>/<name>` → `<full_hash>`, when
/// the build has an image directory. Returns whether links were written.
fn move_image_links(trees: &Trees, label: &Label, build: &Build) -> Result<bool> {
    let dir = &trees.images;
    if !dir.join(&build.full_hash).is_dir() {
        return Ok(false);
    }
    let old = links::read(dir, label.as_str()).at("read link", &dir.join(label.as_str()))?;
    if let Some(old) = &old {
        if old == Path::new(&build.full_hash) {
            return Ok(true);
        }
        links::swap(dir, &label.previous(), old).at("write link", &dir.join(label.previous()))?;
    }
    links::swap(dir, label.as_str(), Path::new(&build.full_hash))
        .at("write link", &dir.join(label.as_str()))?;
    Ok(true)
}

fn move_trunk_links(
    trees: &Trees,
    label: &Label,
    build: &Build,
    current: Option<&str>,
) -> Result<()> {
    let component = build.component.as_deref();
    let dir = label_dir(&trees.trunk, component);
    if let Some(cur) = current {
        let prev_target = label_target(cur, component);
        links::swap(&dir, &label.previous(), Path::new(&prev_target))
            .at("write link", &dir.join(label.previous()))?;
    }
    let target = label_target(&build.repo_dir, component);
    links::swap(&dir, label.as_str(), Path::new(&target))
        .at("write link", &dir.join(label.as_str()))
}
