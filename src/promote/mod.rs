//! Promoting: one path for every command that moves a label. A promotion
//! is an attempt of recorded steps (hooks, image links, trunk links, the
//! aggregate and the history rows), carried out by [`steps::carry_out`]
//! for `run`, `repo-promote`, `repo-promote-batch`, `rollback` and
//! `replay` alike, and completed by the next command if one dies half-way.
//! A batch of component builds is the same path over several labels.

use std::path::PathBuf;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ident::Label;
use crate::store::aggregates::Aggregate;
use crate::store::builds::Build;
use crate::store::promotions::Kind;
use crate::store::runs::{Attempt, Member, NewAttempt, Step};
use crate::store::Store;

mod aggregate;
mod check;
pub mod containers;
mod hooks;
pub mod images;
mod links;
pub mod remote_images;
mod steps;

pub use check::check_promotable;
pub use links::{current_image, image_left_behind};
pub use steps::Carried;

/// The trees a promotion writes links into.
#[derive(Debug, Clone)]
pub struct Trees {
    pub trunk: PathBuf,
    /// Where the trunk keeps its labels (detected from the builder's links).
    pub layout: crate::trunk::Layout,
    pub images: PathBuf,
    /// The image tree, when it is on another host.
    pub remote_images: Option<remote_images::SshTree>,
}

impl Trees {
    /// The component whose directory holds `build`'s labels, as the
    /// trunk's layout has it (none: the top of the trunk).
    pub fn label_component<'b>(&self, build: &'b Build) -> Option<&'b str> {
        self.layout.label_component(build.component.as_deref())
    }
}

/// Who moves a label, and why.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub user: &'a str,
    pub kind: Kind,
    pub reason: &'a str,
}

/// What carrying out a promotion needs: the trees, the config (hooks,
/// their timeout, the build's variables), who acts, where hook logs go.
pub struct Carry<'a> {
    pub cfg: &'a Config,
    pub trees: &'a Trees,
    /// Where hook output goes.
    pub log_dir: PathBuf,
    /// Who acts, when the attempt does not name its own user.
    pub user: &'a str,
}

/// Where the aggregate a batch writes under `<trunk>/<label>/` comes from.
#[derive(Debug, Clone)]
pub enum AggregateSource {
    /// A recorded aggregate (the candidate the votes were cast on): its
    /// files are copied.
    Existing(Aggregate),
    /// Joined from every component's `<label>` link after the move, as
    /// DLRN does.
    Compute,
}

/// What to promote: a label, the build (or the component builds of a
/// batch) it moves to, and who asks.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub label: &'a Label,
    pub builds: &'a [Build],
    /// `Some`: a batch, written as an aggregate under `<trunk>/<label>/`.
    pub batch: Option<AggregateSource>,
    pub actor: Actor<'a>,
    /// The run that decided it; `None` for a command by hand.
    pub run_id: Option<i64>,
    /// The aggregate a replayed row names, for its history row.
    pub aggregate_hash: Option<&'a str>,
    /// The trunk and image links as the caller found them before its jobs
    /// ran; `None`: as they are now.
    pub found: Option<(Option<String>, Option<String>)>,
}

impl<'a> Request<'a> {
    /// A promotion of one build by hand: no run, the links as they are.
    pub fn one(label: &'a Label, build: &'a Build, actor: Actor<'a>) -> Request<'a> {
        Request {
            label,
            builds: std::slice::from_ref(build),
            batch: None,
            actor,
            run_id: None,
            aggregate_hash: None,
            found: None,
        }
    }
}

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The label moved; the history rows have these ids.
    Moved {
        history_ids: Vec<i64>,
        /// The full hash of the build the label left (the first member's).
        previous: Option<crate::ident::FullHash>,
        images: bool,
        aggregate_hash: Option<String>,
        /// What its containers step did, when it had one.
        containers: Option<containers::Tagged>,
    },
    /// The label already pointed at the build: nothing changed.
    Unchanged,
    /// Stopped before moving anything more (a hook failed, the label was
    /// moved by someone else, the build is gone); the reason says why.
    Stopped { reason: String },
}

/// Promotes as `r` asks, through the recorded steps: checked first (a
/// refusal records nothing), then an attempt that a later command
/// completes if this one dies. Promoting one build to the label that
/// already points at it changes nothing. The caller holds the lock.
pub fn promote(store: &mut Store, c: &Carry, r: &Request) -> Result<Outcome> {
    check::request(c.trees, r)?;
    let first = &r.builds[0];
    let component = c.trees.label_component(first);
    let now_trunk = crate::trunk::current_target(&c.trees.trunk, r.label.as_str(), component)?;
    let unchanged = match r.batch {
        None => now_trunk.as_deref() == Some(first.repo_dir.as_str()),
        Some(_) => links::batch_in_place(store, c.trees, r.label, r.builds)?,
    };
    if unchanged {
        return Ok(Outcome::Unchanged);
    }
    // Images that do not match their builder's checksums never move, by
    // any command; nothing is recorded.
    let rule = match c.cfg.promotion(r.label.as_str()) {
        Some(p) => c.cfg.images_rule(p),
        None => crate::config::ImagesRule {
            dir_required: false,
            files: Vec::new(),
        },
    };
    for b in r.builds {
        if let Some(reason) = images::blocked(store, c.trees, b, &rule)? {
            return Err(Error::Refused(format!(
                "build {} cannot be promoted to {}: {reason}",
                b.full_hash, r.label
            )));
        }
    }
    let (previous, image) = match &r.found {
        Some((t, i)) if component.is_none() => (t.clone(), i.clone()),
        _ => (now_trunk, current_image(c.trees, r.label.as_str())?),
    };
    let members = match r.batch {
        Some(_) => links::batch_members(store, c.trees, r.label, r.builds).map_err(|e| {
            Error::Failed(format!(
                "the batch promotion to {} stopped and every label was put back as it was: {e}",
                r.label
            ))
        })?,
        None => Vec::new(),
    };
    let aggregate_hash = match &r.batch {
        Some(AggregateSource::Existing(a)) => Some(a.agg_hash.as_str()),
        _ => r.aggregate_hash,
    };
    let mut attempt = store.new_attempt(
        &NewAttempt {
            run_id: r.run_id,
            name: r.label.as_str(),
            build_id: first.id,
            previous_repo_dir: members
                .first()
                .map_or(previous.as_deref(), |m| m.previous_repo_dir.as_deref()),
            previous_image: image.as_deref(),
            kind: r.actor.kind,
            user: Some(r.actor.user),
            reason: r.actor.reason,
            aggregate_hash,
            aggregate: r.batch.is_some(),
            members: &members,
        },
        crate::clock::now(),
    )?;
    let carried = carry(store, c, &mut attempt, r.label, r.builds)?;
    outcome(store, &attempt, carried)
}

/// Carries out `attempt`; an error before any link moved stops it (so that
/// it does not fail every later command), one after stays open for the
/// next command to finish.
fn carry(
    store: &mut Store,
    c: &Carry,
    attempt: &mut Attempt,
    label: &Label,
    builds: &[Build],
) -> Result<Carried> {
    let result = steps::carry_out(store, c, attempt, label, builds);
    if let Err(e) = &result {
        if attempt.step <= Step::Containers {
            store.set_step(attempt.id, Step::Stopped, &format!("stopped: {e}"))?;
            attempt.step = Step::Stopped;
        }
    }
    result
}

fn outcome(store: &Store, attempt: &Attempt, carried: Carried) -> Result<Outcome> {
    match carried {
        Carried::Done {
            history_ids,
            images,
            aggregate_hash,
            containers,
        } => {
            let previous = match &attempt.members[0].previous_repo_dir {
                Some(r) => store.build_by_repo_dir(r)?.map(|b| b.full_hash),
                None => None,
            };
            Ok(Outcome::Moved {
                history_ids,
                previous,
                images,
                aggregate_hash,
                containers,
            })
        }
        Carried::Stopped { reason } => Ok(Outcome::Stopped { reason }),
    }
}

/// How completing one unfinished attempt ended.
#[derive(Debug)]
pub struct Completed {
    pub attempt: Attempt,
    /// Its (first) build, when recorded.
    pub build: Option<Build>,
    pub result: Result<Carried>,
}

impl Completed {
    /// Whether its promotion must wait: it failed with a link already moved.
    pub fn left_open(&self) -> bool {
        self.result.is_err() && self.attempt.step != Step::Stopped
    }
}

/// Completes the attempts a command left unfinished (killed, or failed
/// half-way), oldest first, through the same steps. The caller holds the
/// lock.
pub fn complete_open_attempts(store: &mut Store, c: &Carry) -> Result<Vec<Completed>> {
    let mut out = Vec::new();
    for mut attempt in store.open_attempts()? {
        let builds = members(store, &attempt.members);
        let result = match (&builds, Label::promotable(&attempt.name)) {
            (Err(e), _) => Err(Error::Failed(e.to_string())),
            (_, Err(e)) => Err(e.into()),
            (Ok(b), Ok(label)) => carry(store, c, &mut attempt, &label, b),
        };
        out.push(Completed {
            attempt,
            build: builds.ok().and_then(|b| b.into_iter().next()),
            result,
        });
    }
    Ok(out)
}

/// The recorded builds of an attempt's members.
fn members(store: &Store, members: &[Member]) -> Result<Vec<Build>> {
    members
        .iter()
        .map(|m| {
            store
                .build_by_id(m.build_id)?
                .ok_or_else(|| Error::Failed(format!("build {} is not recorded", m.build_id)))
        })
        .collect()
}

/// Crash-test hook: see [`crate::fault`].
fn fault_point(step: Step) {
    crate::fault::point(step.as_str());
}

#[cfg(test)]
mod tests;
