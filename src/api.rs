//! The DLRN API's JSON shapes, as the `dlrnapi` client prints them (keys
//! sorted, two-space indent), built from the store's types.

use serde_json::{json, Value};

use crate::store::builds::Build;
use crate::store::promotions::PromotionRow;
use crate::store::votes::Vote;

/// Prints a value the way the `dlrnapi` client does.
pub fn to_text(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON values always serialize")
}

/// A vote on a build, as `repo-status` prints it (the client's model has
/// no `user`).
pub fn build_vote(v: &Vote, b: &Build) -> Value {
    reported(v, Some(b), None)
}

/// A vote on an aggregate, as `agg_status` returns it.
pub fn aggregate_vote(v: &Vote, agg_hash: &str) -> Value {
    json!({
        "aggregate_hash": agg_hash,
        "job_id": v.job_id,
        "success": v.success,
        "in_progress": v.in_progress,
        "timestamp": v.timestamp,
        "url": v.url,
        "notes": v.notes,
        "user": v.user,
    })
}

/// What `report-result` prints for a recorded vote.
pub fn reported(v: &Vote, build: Option<&Build>, agg_hash: Option<&str>) -> Value {
    json!({
        "commit_hash": build.map(|b| &b.commit_hash),
        "distro_hash": build.map(|b| &b.distro_hash),
        "extended_hash": build.and_then(|b| b.extended_hash.as_ref()),
        "aggregate_hash": agg_hash,
        "job_id": v.job_id,
        "success": v.success,
        "in_progress": v.in_progress,
        "timestamp": v.timestamp,
        "url": v.url,
        "notes": v.notes,
        "component": build.and_then(|b| b.component.as_ref()),
    })
}

/// What `last_tested_repo` returns: the build and the vote that chose it
/// (or the in-progress vote `repo-use` recorded).
pub fn tested_repo(v: &Vote, b: &Build) -> Value {
    json!({
        "commit_hash": b.commit_hash,
        "distro_hash": b.distro_hash,
        "extended_hash": b.extended_hash,
        "job_id": v.job_id,
        "success": v.success,
        "in_progress": v.in_progress,
        "timestamp": v.timestamp,
        "user": dlrn_user(&v.user),
        "component": b.component,
    })
}

/// A vote's user as DLRN answers it: the builder's own votes have none.
fn dlrn_user(user: &str) -> Option<&str> {
    (user != crate::store::votes::BUILDER_USER).then_some(user)
}

/// A promotion, as `promotions` and `promote` return it.
pub fn promotion(p: &PromotionRow, repo_url: &str) -> Value {
    json!({
        "commit_hash": p.build.commit_hash,
        "distro_hash": p.build.distro_hash,
        "extended_hash": p.build.extended_hash,
        "aggregate_hash": p.aggregate_hash,
        "repo_hash": p.build.full_hash,
        "repo_url": repo_url,
        "promote_name": p.name,
        "component": p.component,
        "timestamp": p.timestamp,
        "user": p.user,
    })
}
