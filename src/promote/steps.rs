//! Carrying out an attempt from its recorded step: hooks, container tags,
//! image links, trunk links, then the aggregate (a batch) and the history rows with the
//! `done` step in one transaction. Each step is recorded as it ends, so a
//! killed command is completed by the next one, not repeated. Before each
//! link move the links are read again: if someone else moved one since the
//! attempt was decided, the promotion stops and leaves them as it found
//! them.

use std::path::Path;

use super::aggregate::{self, Written};
use super::links::{self, Undo};
use super::{fault_point, AggregateSource, Carry};
use crate::error::{Error, Result};
use crate::ident::Label;
use crate::store::aggregates::{insert_aggregate, NewAggregate};
use crate::store::builds::Build;
use crate::store::promotions::{record_promotion, NewPromotion};
use crate::store::runs::{Attempt, Step};
use crate::store::Store;
use crate::trunk::current_target;

/// How carrying out a promotion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    Done {
        history_ids: Vec<i64>,
        images: bool,
        aggregate_hash: Option<String>,
        /// What the containers step did, when this call carried it out.
        containers: Option<super::containers::Tagged>,
    },
    /// Stopped before moving anything more; the reason says why.
    Stopped { reason: String },
}

/// Carries out `attempt` (whose members are `builds`, in order) from its
/// recorded step.
pub(super) fn carry_out(
    store: &mut Store,
    c: &Carry,
    attempt: &mut Attempt,
    label: &Label,
    builds: &[Build],
) -> Result<Carried> {
    // A batch killed among its trunk moves has links moved: it is
    // finished, never stopped half-moved, nor put back half-way.
    let resumed = partly_moved(c, attempt, label, builds)?;
    if let Some(reason) = still_promotable(c, attempt, label, builds, resumed)? {
        return stop(store, attempt, reason);
    }
    if attempt.step == Step::Decided {
        // A batch runs none yet: a hook gets one build's variables, and an
        // aggregate's (its containers, its images) come with issue 17.
        if !attempt.aggregate {
            if let Err(reason) = super::hooks::run(c, label, &builds[0]) {
                return stop(store, attempt, reason);
            }
        }
        advance(store, attempt, Step::Hooks)?;
    }
    let mut containers = None;
    if attempt.step == Step::Hooks {
        // A batch tags none yet: its images are an aggregate's.
        if !attempt.aggregate {
            if let Some(reason) = moved_since(c, attempt, label, builds)? {
                return stop(store, attempt, reason);
            }
            match super::containers::tag(store, c, attempt, label, &builds[0])? {
                Ok(t) => containers = t,
                Err(reason) => return stop(store, attempt, reason),
            }
        }
        advance(store, attempt, Step::Containers)?;
    }
    let mut images = false;
    if attempt.step == Step::Containers {
        // Both links, again: a hook or the registries may have taken long,
        // and the image link must not move ahead of a trunk link someone
        // else has moved.
        if let Some(reason) = moved_since(c, attempt, label, builds)? {
            return stop(store, attempt, reason);
        }
        images = match move_images(c, attempt, label, builds) {
            Ok(moved) => moved,
            // The image directory was made a link out of the image tree
            // since the build was checked: nothing has moved yet.
            Err(Error::Refused(reason)) => return stop(store, attempt, reason),
            Err(e) => return Err(e),
        };
        advance(store, attempt, Step::Images)?;
    }
    if attempt.step == Step::Images {
        if let Some(reason) = move_trunk(c, attempt, label, builds, resumed)? {
            return stop(store, attempt, reason);
        }
        advance(store, attempt, Step::Trunk)?;
    }
    let written = match aggregate_source(store, attempt)? {
        Some(source) => Some(aggregate::write(c.trees, label, builds, &source)?),
        None => None,
    };
    let history_ids = record(store, c, attempt, label, builds, written.as_ref())?;
    Ok(Carried::Done {
        history_ids,
        images,
        aggregate_hash: written.map(|w| w.hash).or(attempt.aggregate_hash.clone()),
        containers,
    })
}

/// What a first attempt checks, a resumed one checks again: a build may
/// have been purged, or its hash directory removed, meanwhile; and both
/// links are checked before any effect (hooks included). The reason to
/// stop, if any.
fn still_promotable(
    c: &Carry,
    attempt: &Attempt,
    label: &Label,
    builds: &[Build],
    resumed: bool,
) -> Result<Option<String>> {
    if attempt.step < Step::Trunk && !resumed {
        for b in builds {
            if let Err(e) = super::check_promotable(c.trees, b) {
                return Ok(Some(format!("{e}; nothing more was moved")));
            }
        }
    }
    if attempt.step <= Step::Containers {
        return moved_since(c, attempt, label, builds);
    }
    Ok(None)
}

/// Whether a batch's trunk moves have begun: resumed at `images`, a
/// member's link already points at its build although it pointed elsewhere
/// when decided.
fn partly_moved(c: &Carry, attempt: &Attempt, label: &Label, builds: &[Build]) -> Result<bool> {
    if !attempt.aggregate || attempt.step != Step::Images {
        return Ok(false);
    }
    for (m, b) in attempt.members.iter().zip(builds) {
        let now = current_target(&c.trees.trunk, label.as_str(), c.trees.label_component(b))?;
        if now.as_deref() == Some(b.repo_dir.as_str()) && m.previous_repo_dir != now {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The image links follow a promotion of one build; a batch has none.
fn move_images(c: &Carry, attempt: &Attempt, label: &Label, builds: &[Build]) -> Result<bool> {
    if attempt.aggregate {
        return Ok(false);
    }
    let previous = attempt.previous_image.as_deref().map(Path::new);
    links::move_images(c.trees, label, &builds[0], previous)
}

/// Moves every member's trunk links. In a batch, a move that fails puts
/// back the ones this call made: a batch moves all or nothing. The reason
/// to stop, if any.
fn move_trunk(
    c: &Carry,
    attempt: &Attempt,
    label: &Label,
    builds: &[Build],
    resumed: bool,
) -> Result<Option<String>> {
    // Resumed with some links moved already: putting back only this call's
    // moves would leave the batch half-moved, so any failure leaves it open
    // for the next command to finish.
    let mut undo = Undo::default();
    for (m, b) in attempt.members.iter().zip(builds) {
        let now = current_target(&c.trees.trunk, label.as_str(), c.trees.label_component(b))?;
        if now != m.previous_repo_dir && now.as_deref() != Some(b.repo_dir.as_str()) {
            let why = moved_by_someone(label, "trunk", &m.previous_repo_dir, &now);
            if resumed {
                return Err(Error::Failed(why));
            }
            undo.put_back();
            return Ok(Some(why));
        }
        let moved = undo
            .remember(c.trees, label, b)
            .and_then(|()| links::move_trunk(c.trees, label, b, m.previous_repo_dir.as_deref()));
        if let Err(e) = moved {
            if !attempt.aggregate || resumed {
                return Err(e);
            }
            undo.put_back();
            return Ok(Some(format!(
                "the batch promotion to {label} stopped and every label was put back as it was: {e}"
            )));
        }
    }
    Ok(None)
}

/// Where a batch's aggregate comes from; `None` for one build.
fn aggregate_source(store: &Store, attempt: &Attempt) -> Result<Option<AggregateSource>> {
    if !attempt.aggregate {
        return Ok(None);
    }
    let Some(hash) = &attempt.aggregate_hash else {
        return Ok(Some(AggregateSource::Compute));
    };
    let a = store
        .aggregate_by_hash(hash)?
        .ok_or_else(|| Error::Failed(format!("aggregate {hash} is not recorded")))?;
    Ok(Some(AggregateSource::Existing(a)))
}

/// The history rows (one per member, naming the aggregate of a batch), the
/// aggregate's row and the `done` step, in one transaction.
fn record(
    store: &mut Store,
    c: &Carry,
    attempt: &mut Attempt,
    label: &Label,
    builds: &[Build],
    written: Option<&Written>,
) -> Result<Vec<i64>> {
    let mut previous = Vec::with_capacity(builds.len());
    for m in &attempt.members {
        previous.push(match &m.previous_repo_dir {
            Some(r) => store.build_by_repo_dir(r)?.map(|b| b.id),
            None => None,
        });
    }
    let now = crate::clock::now();
    let agg_hash = written.map(|w| w.hash.as_str());
    let a = &*attempt;
    let ids = store.write(|tx| {
        if let Some(w) = written {
            insert_aggregate(
                tx,
                &NewAggregate {
                    agg_hash: w.hash.clone(),
                    repo_dir: Some(w.repo_dir.clone()),
                    created_at: w.created_at,
                    build_ids: builds.iter().map(|b| b.id).collect(),
                },
            )?;
        }
        let mut ids = Vec::with_capacity(builds.len());
        for (b, prev) in builds.iter().zip(&previous) {
            ids.push(record_promotion(
                tx,
                &NewPromotion {
                    name: label.as_str(),
                    build_id: b.id,
                    previous_build_id: *prev,
                    aggregate_hash: agg_hash.or(a.aggregate_hash.as_deref()),
                    component: b.component.as_deref(),
                    label_component: c.trees.label_component(b),
                    kind: a.kind,
                    timestamp: now,
                    user: a.user.as_deref().unwrap_or(c.user),
                    reason: &a.reason,
                },
            )?);
        }
        crate::store::runs::set_step(tx, a.id, Step::Done, "", now)?;
        crate::store::runs::link_attempt(tx, a.id, ids[0])?;
        Ok(ids)
    })?;
    attempt.step = Step::Done;
    fault_point(Step::Done);
    Ok(ids)
}

/// Whether someone else moved the label's image or trunk links since the
/// attempt read them; the reason to stop, if so.
fn moved_since(
    c: &Carry,
    attempt: &Attempt,
    label: &Label,
    builds: &[Build],
) -> Result<Option<String>> {
    if !attempt.aggregate {
        let image = super::current_image(c.trees, label.as_str())?;
        let full = builds[0].full_hash.as_str();
        if image != attempt.previous_image && image.as_deref() != Some(full) {
            let was = &attempt.previous_image;
            return Ok(Some(moved_by_someone(label, "image", was, &image)));
        }
    }
    for (m, b) in attempt.members.iter().zip(builds) {
        let trunk = current_target(&c.trees.trunk, label.as_str(), c.trees.label_component(b))?;
        if trunk != m.previous_repo_dir && trunk.as_deref() != Some(b.repo_dir.as_str()) {
            let was = &m.previous_repo_dir;
            return Ok(Some(moved_by_someone(label, "trunk", was, &trunk)));
        }
    }
    Ok(None)
}

fn advance(store: &mut Store, attempt: &mut Attempt, step: Step) -> Result<()> {
    store.set_step(attempt.id, step, "")?;
    attempt.step = step;
    fault_point(step);
    Ok(())
}

fn stop(store: &mut Store, attempt: &mut Attempt, reason: String) -> Result<Carried> {
    store.set_step(attempt.id, Step::Stopped, &reason)?;
    attempt.step = Step::Stopped;
    Ok(Carried::Stopped { reason })
}

fn moved_by_someone(
    label: &Label,
    tree: &str,
    was: &Option<String>,
    now: &Option<String>,
) -> String {
    format!(
        "the {tree} link {label} was moved by someone else since this run read it (from {} to {}); left as found",
        was.as_deref().unwrap_or("nothing"),
        now.as_deref().unwrap_or("nothing")
    )
}
