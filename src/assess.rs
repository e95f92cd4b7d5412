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

/// What a promotion decides between: a build, or an aggregate of
/// component builds. Both are assessed by one code path.
pub trait Candidacy {
    /// Its id (a build's, or an aggregate's).
    fn id(&self) -> i64;
}

impl Candidacy for Build {
    fn id(&self) -> i64 {
        self.id
    }
}

impl Candidacy for AggregateCandidate {
    fn id(&self) -> i64 {
        self.aggregate.id
    }
}

/// A promotion's candidate: one build, or an aggregate of component builds.
#[derive(Debug, Clone)]
pub enum Candidate {
    Build(Build),
    Aggregate(AggregateCandidate),
}

impl Candidacy for Candidate {
    fn id(&self) -> i64 {
        match self {
            Candidate::Build(b) => b.id(),
            Candidate::Aggregate(a) => a.id(),
        }
    }
}

impl Candidate {
    /// How logs and `why` name it: a build's full hash, `aggregate <md5>`.
    pub fn what(&self) -> String {
        match self {
            Candidate::Build(b) => b.full_hash.to_string(),
            Candidate::Aggregate(a) => format!("aggregate {}", a.aggregate.agg_hash),
        }
    }

    /// The builds it is made of: one, or an aggregate's components.
    pub fn builds(&self) -> &[Build] {
        match self {
            Candidate::Build(b) => std::slice::from_ref(b),
            Candidate::Aggregate(a) => &a.builds,
        }
    }

    pub fn build(&self) -> Option<&Build> {
        match self {
            Candidate::Build(b) => Some(b),
            Candidate::Aggregate(_) => None,
        }
    }

    pub fn aggregate(&self) -> Option<&AggregateCandidate> {
        match self {
            Candidate::Build(_) => None,
            Candidate::Aggregate(a) => Some(a),
        }
    }

    /// Why it can never be promoted, if it cannot: one of its builds
    /// failed or was purged.
    pub fn unpromotable(&self) -> Option<String> {
        let names = |b: &Build| match self {
            Candidate::Build(_) => ("it".to_string(), "its build".to_string()),
            Candidate::Aggregate(_) => {
                let c = format!("its component build {}", b.full_hash);
                (c.clone(), c)
            }
        };
        self.builds().iter().find_map(|b| {
            if b.purged() {
                Some(format!("{} has been purged, its repo is gone", names(b).0))
            } else if !b.succeeded() {
                Some(format!(
                    "{} has status {}, only successful builds are promoted",
                    names(b).1,
                    b.status
                ))
            } else {
                None
            }
        })
    }
}

/// A promotion's candidates and the decision on them.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment<C = Build> {
    pub promotion: String,
    pub candidate_label: String,
    /// Newest first, already cut at the first one ever promoted here.
    pub candidates: Vec<C>,
    pub requirements: Vec<Requirement>,
    pub decision: Decision,
}

impl<C: Candidacy> Assessment<C> {
    pub fn candidate(&self, id: i64) -> Option<&C> {
        self.candidates.iter().find(|c| c.id() == id)
    }

    /// The evaluation of the newest candidate.
    pub fn newest(&self) -> Option<(&C, &Evaluation)> {
        let e = self.decision.evaluations.first()?;
        Some((self.candidate(e.candidate)?, e))
    }

    /// The candidate the decision promotes.
    pub fn promoted(&self) -> Option<&C> {
        self.decision.promote.and_then(|id| self.candidate(id))
    }
}

impl<C> Assessment<C> {
    /// The same assessment over another form of its candidates.
    pub fn map<D>(self, f: impl FnMut(C) -> D) -> Assessment<D> {
        Assessment {
            promotion: self.promotion,
            candidate_label: self.candidate_label,
            candidates: self.candidates.into_iter().map(f).collect(),
            requirements: self.requirements,
            decision: self.decision,
        }
    }
}

/// Decides promotion `p` on whichever kind of candidate its candidate
/// label holds: builds, or aggregates (component mode).
pub fn assess_any(
    store: &Store,
    cfg: &Config,
    p: &PromotionDef,
    now: i64,
) -> Result<Assessment<Candidate>> {
    assess_as(store, cfg, p, now, uses_aggregates(store, p)?)
}

/// Decides promotion `p` on its aggregates, or on its builds.
pub fn assess_as(
    store: &Store,
    cfg: &Config,
    p: &PromotionDef,
    now: i64,
    aggregates: bool,
) -> Result<Assessment<Candidate>> {
    Ok(if aggregates {
        assess_aggregates(store, cfg, p, now)?.map(Candidate::Aggregate)
    } else {
        assess(store, cfg, p, now)?.map(Candidate::Build)
    })
}

/// What the label of `p` (or its `component` link) holds in the trunk: the
/// name found there (a full hash, an aggregate's md5, else the directory
/// the link points at), and the recorded candidate it names.
pub fn label_candidate(
    store: &Store,
    trunk: &std::path::Path,
    p: &PromotionDef,
    component: Option<&str>,
    aggregates: bool,
) -> Result<(Option<String>, Option<Candidate>)> {
    if aggregates {
        // The aggregate the label shows: the md5 DLRN writes beside it.
        let md5 = std::fs::read_to_string(trunk.join(p.name.as_str()).join("delorean.repo.md5"))
            .ok()
            .map(|s| s.trim().to_string());
        let found = match md5.as_deref().map(|h| store.aggregate_by_hash(h)) {
            Some(a) => a?,
            None => None,
        };
        let candidate = match found {
            Some(aggregate) => {
                let builds = store.aggregate_builds(aggregate.id)?;
                Some(Candidate::Aggregate(AggregateCandidate {
                    aggregate,
                    builds,
                }))
            }
            None => None,
        };
        return Ok((md5, candidate));
    }
    let dir = crate::trunk::current_target(trunk, p.name.as_str(), component)?;
    let build = match &dir {
        Some(d) => store.build_by_repo_dir(d)?,
        None => None,
    };
    let shown = build.as_ref().map(|b| b.full_hash.to_string()).or(dir);
    Ok((shown, build.map(Candidate::Build)))
}

/// Checks the criteria of `p` against one given candidate, on its own
/// votes. Waivers for one build do not apply to an aggregate.
pub fn evaluate(
    store: &Store,
    cfg: &Config,
    p: &PromotionDef,
    c: &Candidate,
    now: i64,
) -> Result<Evaluation> {
    let requirements = cfg.required_jobs(p);
    let (votes, waivers) = match c {
        Candidate::Build(b) => (
            store.vote_facts(b.id, &decision_jobs(&requirements))?,
            store.live_waivers(p.name.as_str(), now)?,
        ),
        Candidate::Aggregate(a) => (
            store.aggregate_vote_facts(a.aggregate.id)?,
            aggregate_waivers(store, p, now)?,
        ),
    };
    Ok(decide::evaluate(
        &requirements,
        c.id(),
        &votes,
        &waivers,
        now,
    ))
}

/// The waivers that apply to aggregates: those for every build.
fn aggregate_waivers(
    store: &Store,
    p: &PromotionDef,
    now: i64,
) -> Result<Vec<crate::decide::WaiverFact>> {
    Ok(store
        .live_waivers(p.name.as_str(), now)?
        .into_iter()
        .filter(|w| w.build_id.is_none())
        .collect())
}

/// The jobs whose votes decide: each requirement and its alternatives.
fn decision_jobs(requirements: &[crate::config::Requirement]) -> Vec<&str> {
    requirements
        .iter()
        .flat_map(|r| std::iter::once(&r.id).chain(&r.alternatives))
        .map(|j| j.as_str())
        .collect()
}

/// Decides on `candidates` (newest first) with their votes: the step both
/// kinds of candidate share.
fn decided<C: Candidacy>(
    p: &PromotionDef,
    cfg: &Config,
    candidates: Vec<C>,
    votes: &HashMap<i64, Vec<crate::decide::VoteFact>>,
    waivers: &[crate::decide::WaiverFact],
    now: i64,
) -> Assessment<C> {
    let requirements = cfg.required_jobs(p);
    let order: Vec<i64> = candidates.iter().map(|c| c.id()).collect();
    let decision = decide::decide(
        &requirements,
        &order,
        |id| votes.get(&id).cloned().unwrap_or_default(),
        waivers,
        now,
    );
    Assessment {
        promotion: p.name.to_string(),
        candidate_label: p.candidate_label.to_string(),
        candidates,
        requirements,
        decision,
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
    let requirements = cfg.required_jobs(p);
    let jobs = decision_jobs(&requirements);
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
        votes.insert(id, store.vote_facts(id, &jobs)?);
        candidates.push(b);
    }
    let waivers = store.live_waivers(p.name.as_str(), now)?;
    Ok(decided(p, cfg, candidates, &votes, &waivers, now))
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

/// An aggregate candidate and its component builds.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateCandidate {
    pub aggregate: crate::store::aggregates::Aggregate,
    pub builds: Vec<Build>,
}

/// A promotion whose candidates are aggregates (component mode).
pub type AggregateAssessment = Assessment<AggregateCandidate>;

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
    let waivers = aggregate_waivers(store, p, now)?;
    Ok(decided(p, cfg, candidates, &votes, &waivers, now))
}
