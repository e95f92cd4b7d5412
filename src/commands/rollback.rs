//! `rollback`: point a label back at an earlier build, as a new history row.

use super::{Ctx, Level};
use crate::cli;
use crate::error::{Error, Result};
use crate::ident::Label;
use crate::promote::{self, Actor, Outcome, Trees};
use crate::store::builds::Build;
use crate::store::promotions::Kind;
use crate::store::Store;

/// `rollback`: points a label back at `--to`, or at the build its
/// `previous-` link shows, through the one promotion path.
pub fn run(ctx: &Ctx, a: cli::Rollback) -> Result<u8> {
    let label = Label::promotable(&a.promotion)?;
    if a.reason.trim().is_empty() {
        return Err(Error::Invalid(
            "--reason is empty: say why, for the history".into(),
        ));
    }
    let trees = ctx.trees()?;
    let (_lock, mut store) = ctx.moving_labels()?;
    let current =
        crate::trunk::current_target(&trees.trunk, label.as_str(), None)?.ok_or_else(|| {
            Error::NotFound(format!(
                "there is no label {label} in {}",
                trees.trunk.display()
            ))
        })?;
    let target = match &a.to {
        Some(h) => ctx.build_by_full_hash(&store, h)?,
        None => previous_build(&store, &trees, &label)?,
    };
    if target.repo_dir == current {
        return Err(Error::Refused(format!(
            "{label} already points at {}: nothing to roll back",
            target.full_hash
        )));
    }
    let user = ctx.user();
    let actor = Actor {
        user: &user,
        kind: Kind::Rollback,
        reason: &a.reason,
    };
    let outcome = promote::promote(
        &mut store,
        &ctx.carry(&trees, &user)?,
        &promote::Request::one(&label, &target, actor),
    )?;
    report(ctx, &trees, &label, &target, &current, outcome)?;
    drop(_lock);
    // The trees this promotion publishes to stop serving the build it took
    // back now, not at some later run.
    let cfg = ctx.config()?;
    let targets = cfg
        .promotion(label.as_str())
        .map(|p| p.publish.clone())
        .unwrap_or_default();
    if targets.is_empty() {
        return Ok(0);
    }
    let failed =
        crate::usecase::publish::republish(cfg, &mut store, &ctx.db_path()?, &user, ctx, &targets)?;
    if failed > 0 {
        return Err(Error::Failed(format!(
            "rolled {label} back to {}, but {failed} of its publish targets could not be published again; the next run tries again",
            target.full_hash
        )));
    }
    Ok(0)
}

/// The recorded build the label's `previous-` link points at.
fn previous_build(store: &Store, trees: &Trees, label: &Label) -> Result<Build> {
    let prev =
        crate::trunk::current_target(&trees.trunk, &label.previous(), None)?.ok_or_else(|| {
            Error::NotFound(format!(
                "{label} has no {} link to go back to; give --to FULL_HASH",
                label.previous()
            ))
        })?;
    store.build_by_repo_dir(&prev)?.ok_or_else(|| {
        Error::NotFound(format!(
            "{} points at {prev}, which is not a recorded build",
            label.previous()
        ))
    })
}

/// Says where the label went back from and to, and warns when its image
/// link could not follow; a stopped rollback is an error.
fn report(
    ctx: &Ctx,
    trees: &Trees,
    label: &Label,
    target: &Build,
    current: &str,
    outcome: Outcome,
) -> Result<()> {
    if let Outcome::Stopped { reason } = &outcome {
        return Err(Error::Failed(format!(
            "did not roll {label} back to {}: {reason}",
            target.full_hash
        )));
    }
    if let Outcome::Moved { previous, .. } = outcome {
        ctx.print(&format!(
            "rolled {label} back from {} to {}",
            previous.as_deref().unwrap_or(current),
            target.full_hash
        ))?;
        if let Some(left) = promote::image_left_behind(trees, label, target) {
            ctx.log(
                Level::Warn,
                &format!(
                    "the image link {label} still points at {left}: build {} has no image directory in {}",
                    target.full_hash,
                    trees.images.display()
                ),
            );
        }
    }
    Ok(())
}
