//! The DLRN API commands, with the `dlrnapi` client's flags and JSON:
//! `report-result`, `repo-status`, `agg-status`, `promotion-get`,
//! `repo-get`, `repo-use` and `repo-promote`.

use serde_json::Value;

use super::{extended_hash, Ctx, Level};
use crate::api;
use crate::cli;
use crate::error::{Error, Result};
use crate::ident::{AggHash, CommitHash, DistroHash, JobId, Label};
use crate::promote::{self, Actor, Outcome};
use crate::store::builds::Build;
use crate::store::promotions::{Kind, PromotionFilter, PromotionRow};
use crate::store::votes::{NewVote, Vote, VoteQuery, VoteTarget};
use crate::store::Store;

pub fn report_result(ctx: &Ctx, a: cli::ReportResult) -> Result<u8> {
    let job = &a.job_id;
    let (success, timestamp) = (a.success, a.timestamp);
    let user = ctx.user();
    let mut store = ctx.store()?;
    let (target, build, agg) = match (&a.commit_hash, &a.agg_hash) {
        (Some(_), _) => {
            let hashes = cli::BuildHashes {
                commit_hash: a.commit_hash.clone().unwrap_or_default(),
                distro_hash: a.distro_hash.clone().unwrap_or_default(),
                extended_hash: a.extended_hash.clone(),
            };
            let b = ctx.build_by_hashes(&store, &hashes)?;
            (VoteTarget::Build(b.id), Some(b), None)
        }
        (None, Some(h)) => {
            let h: AggHash = h.parse()?;
            // DLRN's words: an aggregate is known once a promotion made it.
            let id = store.find_aggregate(h.as_str())?.ok_or_else(|| {
                Error::NotFound(format!(
                    "aggregate_hash not found: no promotion made an aggregate with hash {h}"
                ))
            })?;
            (VoteTarget::Aggregate(id), None, Some(h))
        }
        (None, None) => {
            return Err(Error::Invalid(
                "give either --agg-hash or --commit-hash and --distro-hash".into(),
            ))
        }
    };
    let new = NewVote {
        target,
        job_id: job.as_str(),
        success,
        in_progress: false,
        url: &a.info_url,
        notes: &a.notes,
        timestamp,
        user: &user,
    };
    let id = store.add_vote(&new)?;
    let vote = Vote {
        id,
        build_id: build.as_ref().map(|b| b.id),
        aggregate_id: None,
        job_id: job.to_string(),
        success,
        in_progress: false,
        url: a.info_url.clone(),
        notes: a.notes.clone(),
        timestamp,
        user,
    };
    ctx.print(&api::to_text(&api::reported(
        &vote,
        build.as_ref(),
        agg.as_ref().map(|h| h.as_str()),
    )))?;
    Ok(0)
}

pub fn repo_status(ctx: &Ctx, a: cli::RepoStatus) -> Result<u8> {
    let success = a.success;
    let store = ctx.store()?;
    let build = ctx.build_by_hashes(&store, &a.build)?;
    let votes = store.votes_of_build(build.id, success)?;
    let out: Vec<Value> = votes.iter().map(|v| api::build_vote(v, &build)).collect();
    ctx.print(&api::to_text(&Value::Array(out)))?;
    Ok(0)
}

pub fn agg_status(ctx: &Ctx, a: cli::AggStatus) -> Result<u8> {
    let success = a.success;
    let hash: AggHash = a.agg_hash.parse()?;
    let store = ctx.store()?;
    // As DLRN: an aggregate nobody voted on (or nobody made) has no votes.
    let votes = match store.find_aggregate(hash.as_str())? {
        Some(id) => store.votes_of_aggregate(id, success)?,
        None => Vec::new(),
    };
    let out: Vec<Value> = votes
        .iter()
        .map(|v| api::aggregate_vote(v, hash.as_str()))
        .collect();
    ctx.print(&api::to_text(&Value::Array(out)))?;
    Ok(0)
}

/// `repo_url` of a build: under the config's `trunk_url` when set, else
/// its path.
fn repo_url(ctx: &Ctx, b: &Build) -> String {
    let cfg = if ctx.global.db.is_some() && ctx.global.config.is_none() {
        None
    } else {
        ctx.config().ok()
    };
    match cfg {
        Some(c) => match &c.trunk_url {
            Some(u) => format!("{}/{}", u.trim_end_matches('/'), b.repo_dir),
            None => c.trunk.join(&b.repo_dir).display().to_string(),
        },
        None => b.repo_dir.clone(),
    }
}

pub fn promotion_get(ctx: &Ctx, a: cli::PromotionGet) -> Result<u8> {
    if a.offset < 0 || a.limit < 0 {
        return Err(Error::Invalid(
            "--offset and --limit cannot be negative".into(),
        ));
    }
    if let Some(n) = &a.promote_name {
        Label::any(n)?;
    }
    let agg = a
        .agg_hash
        .as_deref()
        .map(str::parse::<AggHash>)
        .transpose()?;
    let store = ctx.store()?;
    let build = match (&a.commit_hash, &a.distro_hash) {
        (Some(c), Some(d)) => Some(ctx.build_by_hashes(
            &store,
            &cli::BuildHashes {
                commit_hash: c.clone(),
                distro_hash: d.clone(),
                extended_hash: a.extended_hash.clone(),
            },
        )?),
        _ => None,
    };
    let rows = store.promotions(&PromotionFilter {
        name: a.promote_name.as_deref(),
        build_id: build.map(|b| b.id),
        aggregate_hash: agg.as_ref().map(|h| h.as_str()),
        component: a.component.as_deref(),
        offset: a.offset,
        limit: a.limit.min(100),
    })?;
    let out: Vec<Value> = rows
        .iter()
        .map(|p| api::promotion(p, &repo_url(ctx, &p.build)))
        .collect();
    ctx.print(&api::to_text(&Value::Array(out)))?;
    Ok(0)
}

/// `repo-get`, and `repo-use` when `reporting` is given.
pub fn repo_get(ctx: &Ctx, a: cli::RepoGet, reporting: Option<JobId>) -> Result<u8> {
    let mut store = ctx.store()?;
    let (vote, build) = newest_tested(&store, &a)?.ok_or_else(|| {
        Error::NotFound("no vote found: no tested build matches these filters".into())
    })?;
    let shown = match reporting {
        None => vote,
        Some(r) => report_in_progress(ctx, &mut store, &build, &r)?,
    };
    ctx.print(&api::to_text(&api::tested_repo(&shown, &build)))?;
    Ok(0)
}

/// The newest vote that matches `repo-get`'s filters, and its build: in
/// sequential mode only `--previous-job-id`'s; otherwise `--job-id`'s,
/// then any job's, then any job's on a consistent build.
fn newest_tested(store: &Store, a: &cli::RepoGet) -> Result<Option<(Vote, Build)>> {
    let newer_than = if a.max_age == 0 {
        0
    } else {
        crate::clock::now() - i64::from(a.max_age) * 3600
    };
    let q = VoteQuery {
        newer_than,
        success: a.success,
        job_id: a.job_id.as_ref().map(|j| j.as_str()),
        component: a.component.as_deref(),
    };
    if a.sequential_mode {
        let job_id = a.previous_job_id.as_ref().map(|j| j.as_str());
        return store.newest_vote(&VoteQuery { job_id, ..q }, false);
    }
    let mut found = store.newest_vote(&q, false)?;
    if found.is_none() && q.job_id.is_some() {
        found = store.newest_vote(
            &VoteQuery {
                job_id: None,
                ..q.clone()
            },
            false,
        )?;
    }
    if found.is_none() {
        found = store.newest_vote(&VoteQuery { job_id: None, ..q }, true)?;
    }
    Ok(found)
}

/// Records the in-progress vote of `repo-use`'s reporting job on `build`.
fn report_in_progress(ctx: &Ctx, store: &mut Store, build: &Build, job: &JobId) -> Result<Vote> {
    let user = ctx.user();
    let now = crate::clock::now();
    let new = NewVote {
        target: VoteTarget::Build(build.id),
        job_id: job.as_str(),
        success: false,
        in_progress: true,
        url: "",
        notes: "",
        timestamp: now,
        user: &user,
    };
    let id = store.add_vote(&new)?;
    Ok(Vote {
        id,
        build_id: Some(build.id),
        aggregate_id: None,
        job_id: job.to_string(),
        success: false,
        in_progress: true,
        url: String::new(),
        notes: String::new(),
        timestamp: now,
        user,
    })
}

/// Refuses hashes that are not DLRN's shapes before any lookup.
/// A `--promote-name`, refused in DLRN's words when it cannot be one.
fn promote_name(name: &str) -> Result<Label> {
    use crate::ident::IdError;
    Label::promotable(name).map_err(|e| match e {
        IdError::Refused(m) => Error::Refused(format!("Invalid promote_name {name}: {m}")),
        IdError::Invalid(m) => Error::Invalid(format!("Invalid promote_name {name}: {m}")),
    })
}

fn check_hashes(h: &cli::BuildHashes) -> Result<()> {
    h.commit_hash.parse::<CommitHash>()?;
    h.distro_hash.parse::<DistroHash>()?;
    extended_hash(h.extended_hash.as_deref())?;
    Ok(())
}

/// `repo-promote`: one build to a label by hand; prints its history row.
pub fn repo_promote(ctx: &Ctx, a: cli::RepoPromote) -> Result<u8> {
    let label = promote_name(&a.promote_name)?;
    check_hashes(&a.build)?;
    let trees = ctx.trees()?;
    let (_lock, mut store) = ctx.moving_labels()?;
    let build = ctx.build_by_hashes(&store, &a.build)?;
    let user = ctx.user();
    let actor = Actor {
        user: &user,
        kind: Kind::Manual,
        reason: "repo-promote",
    };
    let outcome = promote::promote(
        &mut store,
        &ctx.carry(&trees, &user)?,
        &promote::Request::one(&label, &build, actor),
    )?;
    if let Some(left) = promote::image_left_behind(&trees, &label, &build) {
        ctx.log(
            Level::Warn,
            &format!(
                "the image link {label} still points at {left}: build {} has no image directory in {}",
                build.full_hash,
                trees.images.display()
            ),
        );
    }
    log_promotion(ctx, &label, &build, &outcome)?;
    let row = promotion_row(ctx, &mut store, &label, &build, &user)?;
    let json = api::promotion(&row, &repo_url(ctx, &build));
    ctx.print(&api::to_text(&json))?;
    Ok(0)
}

/// Says what a promotion by hand did; a stopped one is an error.
fn log_promotion(ctx: &Ctx, label: &Label, build: &Build, outcome: &Outcome) -> Result<()> {
    match outcome {
        Outcome::Moved { previous, .. } => ctx.log(
            Level::Info,
            &format!(
                "promoted {} to {label} by hand (was {})",
                build.full_hash,
                previous.as_deref().unwrap_or("unset")
            ),
        ),
        Outcome::Unchanged => ctx.log(
            Level::Info,
            &format!(
                "{label} already points at {}: nothing changed",
                build.full_hash
            ),
        ),
        Outcome::Stopped { reason } => {
            return Err(Error::Failed(format!(
                "did not promote {} to {label}: {reason}",
                build.full_hash
            )))
        }
    }
    Ok(())
}

/// The newest history row of `build` at `label`.
fn last_promotion(store: &Store, label: &Label, build: &Build) -> Result<Option<PromotionRow>> {
    Ok(store
        .promotions(&PromotionFilter {
            name: Some(label.as_str()),
            build_id: Some(build.id),
            limit: 1,
            ..Default::default()
        })?
        .into_iter()
        .next())
}

/// The history row of `build` at `label`, recorded now when the links
/// point at the build but no row says so: a promotion killed between its
/// links and its row, or links set by hand. The history then matches the
/// trees.
fn promotion_row(
    ctx: &Ctx,
    store: &mut Store,
    label: &Label,
    build: &Build,
    user: &str,
) -> Result<PromotionRow> {
    let trees = ctx.trees()?;
    if let Some(p) = last_promotion(store, label, build)? {
        return Ok(p);
    }
    ctx.log(
        Level::Warn,
        &format!(
            "{label} already pointed at {} without a history row; recording it now",
            build.full_hash
        ),
    );
    let now = crate::clock::now();
    store.write(|tx| {
        crate::store::promotions::record_promotion(
            tx,
            &crate::store::promotions::NewPromotion {
                name: label.as_str(),
                build_id: build.id,
                previous_build_id: None,
                aggregate_hash: None,
                component: build.component.as_deref(),
                label_component: trees.label_component(build),
                kind: Kind::Manual,
                timestamp: now,
                user,
                reason: "repo-promote: recorded after the links had moved",
            },
        )
    })?;
    last_promotion(store, label, build)?
        .ok_or_else(|| Error::Failed("the promotion was not recorded".into()))
}

/// `repo-promote-batch`: several component builds to a label by hand, as
/// one aggregate; prints its history row.
pub fn repo_promote_batch(ctx: &Ctx, a: cli::RepoPromoteBatch) -> Result<u8> {
    let label = promote_name(&a.promote_name)?;
    let hashes = hash_pairs(&a.hash_pairs)?;
    for h in &hashes {
        check_hashes(h)?;
    }
    let trees = ctx.trees()?;
    if trees.layout == crate::trunk::Layout::Flat && hashes.len() > 1 {
        return Err(Error::Refused(format!(
            "this trunk keeps its labels at the top ({}): {label} can hold one build, not a batch of {}; promote one build with repo-promote",
            trees.layout.describe(),
            hashes.len()
        )));
    }
    if trees.layout == crate::trunk::Layout::Flat {
        // One build: as repo-promote, with no aggregate (DLRN writes one
        // only with use_components).
        let build = hashes
            .into_iter()
            .next()
            .ok_or_else(|| Error::Invalid("--hash-pairs names no build".into()))?;
        return repo_promote(
            ctx,
            cli::RepoPromote {
                build,
                promote_name: a.promote_name,
            },
        );
    }
    let (_lock, mut store) = ctx.moving_labels()?;
    let mut builds = Vec::new();
    for h in &hashes {
        builds.push(ctx.build_by_hashes(&store, h)?);
    }
    let user = ctx.user();
    let request = promote::Request {
        label: &label,
        builds: &builds,
        batch: Some(promote::AggregateSource::Compute),
        actor: Actor {
            user: &user,
            kind: Kind::Manual,
            reason: "repo-promote-batch",
        },
        run_id: None,
        aggregate_hash: None,
        found: None,
    };
    let outcome = promote::promote(&mut store, &ctx.carry(&trees, &user)?, &request)?;
    let aggregate_hash = batch_aggregate(ctx, &store, &label, &builds, outcome)?;
    let last = store
        .promotions(&PromotionFilter {
            aggregate_hash: Some(&aggregate_hash),
            name: Some(label.as_str()),
            limit: 1,
            ..Default::default()
        })?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Failed("the batch promotion was not recorded".into()))?;
    ctx.print(&api::to_text(&api::promotion(
        &last,
        &repo_url(ctx, &last.build),
    )))?;
    Ok(0)
}

/// `--hash-pairs` as the dlrnapi client splits them: commit, distro, then
/// the rest (which may hold '_') as the extended hash.
fn hash_pairs(pairs: &str) -> Result<Vec<cli::BuildHashes>> {
    let mut hashes = Vec::new();
    for pair in pairs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(3, '_');
        let (Some(c), Some(d)) = (parts.next(), parts.next()) else {
            return Err(Error::Invalid(format!(
                "{pair:?} is not a hash pair: expected <commit_hash>_<distro_hash>[_<extended_hash>]"
            )));
        };
        hashes.push(cli::BuildHashes {
            commit_hash: c.to_string(),
            distro_hash: d.to_string(),
            extended_hash: parts.next().map(String::from),
        });
    }
    if hashes.is_empty() {
        return Err(Error::Invalid("--hash-pairs is empty".into()));
    }
    Ok(hashes)
}

/// The aggregate a batch promotion left the label at, said in the log:
/// the one it wrote, or the one the label already held.
fn batch_aggregate(
    ctx: &Ctx,
    store: &Store,
    label: &Label,
    builds: &[Build],
    outcome: Outcome,
) -> Result<String> {
    match outcome {
        Outcome::Moved {
            aggregate_hash: Some(h),
            ..
        } => {
            let n = builds.len();
            let msg = format!("promoted {n} builds to {label} by hand as aggregate {h}");
            ctx.log(Level::Info, &msg);
            Ok(h)
        }
        Outcome::Stopped { reason } => Err(Error::Failed(reason)),
        Outcome::Unchanged => {
            let row = store.promotions(&PromotionFilter {
                name: Some(label.as_str()),
                build_id: Some(builds[0].id),
                limit: 1,
                ..Default::default()
            })?;
            let hash = row.into_iter().next().and_then(|r| r.aggregate_hash);
            let hash = hash.ok_or_else(|| {
                Error::Failed(format!(
                    "{label} points at these builds, but not as an aggregate"
                ))
            })?;
            ctx.log(
                Level::Info,
                &format!(
                    "{label} already points at these builds (aggregate {hash}): nothing changed"
                ),
            );
            Ok(hash)
        }
        Outcome::Moved { .. } => Err(Error::Failed(format!(
            "the batch promotion to {label} wrote no aggregate"
        ))),
    }
}
