//! Gathers what a decision needs from the store (candidates, votes,
//! waivers) and decides: the thin layer between the database and the pure
//! functions of `decide`.

use std::collections::HashMap;

use serde::Serialize;

use crate::config::{Config, PromotionDef, Requirement};
use crate::decide::{self, Decision, Evaluation};
use crate::error::{Error, Result};
use crate::store::builds::Build;
use crate::store::Store;

/// A promotion's candidates and the decision on them.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub promotion: String,
    pub candidate_label: String,
    /// Newest first, already cut at the first build ever promoted here.
    pub candidates: Vec<Build>,
    pub requirements: Vec<Requirement>,
    pub decision: Decision,
}

impl Assessment {
    pub fn build(&self, id: i64) -> Option<&Build> {
        self.candidates.iter().find(|b| b.id == id)
    }

    /// The evaluation of the newest candidate.
    pub fn newest(&self) -> Option<(&Build, &Evaluation)> {
        let e = self.decision.evaluations.first()?;
        Some((self.build(e.build_id)?, e))
    }

    pub fn promoted_build(&self) -> Option<&Build> {
        self.decision.promote.and_then(|id| self.build(id))
    }
}

/// The history of the candidate label, newest first.
fn candidate_history(store: &Store, label: &str, limit: usize) -> Result<Vec<i64>> {
    match label {
        crate::model::CONSISTENT => store.newest_builds(true, limit),
        crate::model::CURRENT => store.newest_builds(false, limit),
        other => store.label_history(other, limit),
    }
}

/// Decides one promotion on what the store holds now.
pub fn assess(store: &Store, cfg: &Config, p: &PromotionDef, now: i64) -> Result<Assessment> {
    let history = candidate_history(store, p.candidate_label.as_str(), cfg.latest_hashes_count)?;
    let mut promoted = store.ever_promoted(p.name.as_str(), &history)?;
    // The build the label points at on disk counts as promoted, whatever
    // the database remembers (a first run over an existing trunk, a
    // restored backup, a label moved by hand): a label never moves back
    // by itself: only builds after it in the builder's order are
    // candidates.
    let on_disk = label_on_disk(store, cfg, p)?;
    let mut after: Option<(i64, i64, i64)> = None;
    if let Some(b) = &on_disk {
        if history.contains(&b.id) {
            promoted.insert(b.id);
        }
        after = Some(b.order());
    }
    let ids = decide::candidates(&history, &promoted, cfg.latest_hashes_count);
    let mut candidates = Vec::with_capacity(ids.len());
    let mut votes = HashMap::new();
    for id in ids {
        let b = store.build_by_id(id)?.ok_or_else(|| {
            Error::Failed(format!("build {id} is in the history but not recorded"))
        })?;
        // A purged or failed build in a label's history is never promoted.
        if !b.succeeded() || b.purged() {
            continue;
        }
        if after.is_some_and(|o| b.order() <= o) {
            continue;
        }
        votes.insert(id, store.vote_facts(id)?);
        candidates.push(b);
    }
    let requirements = cfg.required_jobs(p);
    let waivers = store.live_waivers(p.name.as_str(), now)?;
    let order: Vec<i64> = candidates.iter().map(|b| b.id).collect();
    let decision = decide::decide(
        &requirements,
        &order,
        |id| votes.get(&id).cloned().unwrap_or_default(),
        &waivers,
        now,
    );
    Ok(Assessment {
        promotion: p.name.to_string(),
        candidate_label: p.candidate_label.to_string(),
        candidates,
        requirements,
        decision,
    })
}

/// The recorded build the label of `p` points at in the trunk, if any. A
/// link that cannot be read or leaves the trunk counts as none here: the
/// promotion's own steps report it.
fn label_on_disk(store: &Store, cfg: &Config, p: &PromotionDef) -> Result<Option<Build>> {
    let Ok(Some(dir)) = crate::trunk::current_target(&cfg.trunk, p.name.as_str(), None) else {
        return Ok(None);
    };
    store.build_by_repo_dir(&dir)
}

/// Checks the criteria of `p` against one given build.
pub fn evaluate_build(
    store: &Store,
    cfg: &Config,
    p: &PromotionDef,
    build: &Build,
    now: i64,
) -> Result<Evaluation> {
    let votes = store.vote_facts(build.id)?;
    let waivers = store.live_waivers(p.name.as_str(), now)?;
    Ok(decide::evaluate(
        &cfg.required_jobs(p),
        build.id,
        &votes,
        &waivers,
        now,
    ))
}

/// An aggregate candidate and its component builds.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateCandidate {
    pub aggregate: crate::store::aggregates::Aggregate,
    pub builds: Vec<Build>,
}

/// A promotion whose candidates are aggregates (component mode).
#[derive(Debug, Clone, Serialize)]
pub struct AggregateAssessment {
    pub promotion: String,
    pub candidate_label: String,
    /// Newest first, cut at the first aggregate ever promoted here.
    pub candidates: Vec<AggregateCandidate>,
    pub requirements: Vec<Requirement>,
    pub decision: Decision,
}

impl AggregateAssessment {
    pub fn candidate(&self, id: i64) -> Option<&AggregateCandidate> {
        self.candidates.iter().find(|c| c.aggregate.id == id)
    }

    pub fn newest(&self) -> Option<(&AggregateCandidate, &Evaluation)> {
        let e = self.decision.evaluations.first()?;
        Some((self.candidate(e.build_id)?, e))
    }

    pub fn promoted(&self) -> Option<&AggregateCandidate> {
        self.decision.promote.and_then(|id| self.candidate(id))
    }
}

/// Whether promotion `p` decides on aggregates: its candidate label's
/// history is made of aggregates.
pub fn uses_aggregates(store: &Store, p: &PromotionDef) -> Result<bool> {
    store.label_has_aggregates(p.candidate_label.as_str())
}

/// Decides an aggregate promotion on the aggregates' own votes. Waivers
/// for one build do not apply to aggregates; waivers for every build do.
pub fn assess_aggregates(
    store: &Store,
    cfg: &Config,
    p: &PromotionDef,
    now: i64,
) -> Result<AggregateAssessment> {
    let label = p.candidate_label.as_str();
    let history = match label {
        crate::model::CONSISTENT | crate::model::CURRENT => {
            store.newest_aggregates(label, cfg.latest_hashes_count)?
        }
        other => store.aggregate_label_history(other, cfg.latest_hashes_count)?,
    };
    let promoted = store.ever_promoted_aggregates(p.name.as_str(), &history)?;
    let ids = decide::candidates(&history, &promoted, cfg.latest_hashes_count);
    let mut candidates = Vec::new();
    let mut votes = HashMap::new();
    for id in ids {
        let aggregate = store.aggregate_by_id(id)?.ok_or_else(|| {
            Error::Failed(format!("aggregate {id} is in the history but not recorded"))
        })?;
        let builds = store.aggregate_builds(id)?;
        if builds.is_empty() || builds.iter().any(|b| !b.succeeded() || b.purged()) {
            continue;
        }
        votes.insert(id, store.aggregate_vote_facts(id)?);
        candidates.push(AggregateCandidate { aggregate, builds });
    }
    let requirements = cfg.required_jobs(p);
    let waivers: Vec<_> = store
        .live_waivers(p.name.as_str(), now)?
        .into_iter()
        .filter(|w| w.build_id.is_none())
        .collect();
    let order: Vec<i64> = candidates.iter().map(|c| c.aggregate.id).collect();
    let decision = decide::decide(
        &requirements,
        &order,
        |id| votes.get(&id).cloned().unwrap_or_default(),
        &waivers,
        now,
    );
    Ok(AggregateAssessment {
        promotion: p.name.to_string(),
        candidate_label: label.to_string(),
        candidates,
        requirements,
        decision,
    })
}
