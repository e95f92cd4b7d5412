//! `why`: why a candidate is or is not promoted, a summary line first, then
//! each required job with its vote. Exits 0 whatever the verdict.

use serde::Serialize;

use super::Ctx;
use crate::assess::{assess, evaluate_build};
use crate::cli;
use crate::clock;
use crate::config::PromotionDef;
use crate::decide::{Evaluation, JobState};
use crate::error::Result;
use crate::model::Verdict;
use crate::promote;
use crate::store::builds::Build;
use crate::store::Store;

/// The explanation of one promotion, human and JSON alike.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub promotion: String,
    pub candidate_label: String,
    pub verdict: Verdict,
    pub summary: String,
    /// Where the label points now (a full hash), if anywhere.
    pub label_now: Option<String>,
    pub build: Option<Build>,
    /// The build's place among the candidates (0 = newest), and how many.
    pub candidate_rank: Option<usize>,
    pub candidates: usize,
    pub passed: usize,
    pub required: usize,
    pub jobs: Vec<crate::decide::JobCheck>,
    /// The last lines of the console log of each failed job that ran here.
    pub log_tails: std::collections::BTreeMap<String, Vec<String>>,
    /// Required jobs with no vote whose last run failed on this side, with why.
    pub errors: std::collections::BTreeMap<String, String>,
    /// The jobs whose success counts in place of each required job.
    pub alternatives: std::collections::BTreeMap<String, Vec<String>>,
    /// For a promotion of aggregates (component mode): the aggregate
    /// explained, and its component builds.
    pub aggregate: Option<crate::store::aggregates::Aggregate>,
    pub components: Vec<Build>,
}

/// How many console lines `why` shows under a failed job.
const TAIL_LINES: usize = 10;

pub fn run(ctx: &Ctx, a: cli::Why) -> Result<u8> {
    let cfg = ctx.config()?;
    let promotions: Vec<&PromotionDef> = match &a.promotion {
        Some(n) => vec![ctx.promotion(n)?],
        None => cfg.promotions.iter().collect(),
    };
    let store = ctx.store()?;
    let forced = match &a.hash {
        Some(h) => Some(ctx.build_by_full_hash(&store, h)?),
        None => None,
    };
    let trees = ctx.trees()?;
    let now = clock::now();
    let mut out = Vec::new();
    for p in promotions {
        out.push(explain(ctx, &store, &trees, p, forced.as_ref(), now)?);
    }
    if ctx.global.json {
        let text = if a.promotion.is_some() {
            serde_json::to_string_pretty(&out[0])
        } else {
            serde_json::to_string_pretty(&out)
        };
        ctx.print(&text.expect("JSON"))?;
    } else {
        let text: Vec<String> = out.iter().map(render).collect();
        ctx.print(&text.join("\n"))?;
    }
    Ok(0)
}

fn explain(
    ctx: &Ctx,
    store: &Store,
    trees: &promote::Trees,
    p: &PromotionDef,
    forced: Option<&Build>,
    now: i64,
) -> Result<Explanation> {
    let cfg = ctx.config()?;
    if crate::assess::uses_aggregates(store, p)? && forced.is_none() {
        return explain_aggregate(store, trees, cfg, p, now);
    }
    let assessment = assess(store, cfg, p, now)?;
    let component = forced.and_then(|b| b.component.clone());
    let label_dir =
        crate::trunk::current_target(&trees.trunk, p.name.as_str(), component.as_deref())?;
    let label_build = match &label_dir {
        Some(d) => store.build_by_repo_dir(d)?,
        None => None,
    };
    let label_now = label_build
        .as_ref()
        .map(|b| b.full_hash.clone())
        .or(label_dir.clone());
    // The build to explain: the one asked for, else the newest candidate,
    // else the one the label points at (nothing newer waits).
    let (build, evaluation): (Option<Build>, Option<Evaluation>) = match forced {
        Some(b) => (
            Some(b.clone()),
            Some(evaluate_build(store, cfg, p, b, now)?),
        ),
        None => match (assessment.newest(), &label_build) {
            (Some((b, e)), _) => (Some(b.clone()), Some(e.clone())),
            (None, Some(b)) => (
                Some(b.clone()),
                Some(evaluate_build(store, cfg, p, b, now)?),
            ),
            (None, None) => (None, None),
        },
    };
    let candidate_rank = build
        .as_ref()
        .and_then(|b| assessment.candidates.iter().position(|c| c.id == b.id));
    let (passed, required) = evaluation.as_ref().map(|e| e.counts()).unwrap_or((0, 0));
    let (verdict, summary) = match (&build, &evaluation) {
        (Some(b), Some(e)) => {
            let verdict = if label_build.as_ref().is_some_and(|l| l.id == b.id) {
                Verdict::Promoted
            } else if !b.succeeded() || b.purged() {
                Verdict::Unpromotable
            } else if e.met() {
                Verdict::Promotable
            } else {
                Verdict::Blocked
            };
            let head = match verdict {
                Verdict::Promoted if assessment.candidates.is_empty() => format!(
                    "{} is where {} points, and no newer candidate waits in {}; {}",
                    b.full_hash,
                    p.name,
                    p.candidate_label,
                    e.summary()
                ),
                Verdict::Promoted => format!(
                    "{} is where {} points; {}",
                    b.full_hash,
                    p.name,
                    e.summary()
                ),
                Verdict::Promotable => format!("{} can be promoted: {}", b.full_hash, e.summary()),
                Verdict::Unpromotable if b.purged() => format!(
                    "{} cannot be promoted: it has been purged, its repo is gone",
                    b.full_hash
                ),
                Verdict::Unpromotable => format!(
                    "{} cannot be promoted: its build has status {}, only successful builds are promoted",
                    b.full_hash, b.status
                ),
                _ => format!("{} is blocked: {}", b.full_hash, e.summary()),
            };
            (verdict, head)
        }
        _ => (
            Verdict::NoCandidate,
            format!(
                "no candidate: {} has no build newer than the last one promoted to {}",
                p.candidate_label, p.name
            ),
        ),
    };
    let mut log_tails = std::collections::BTreeMap::new();
    let mut errors = std::collections::BTreeMap::new();
    if let (Some(b), Some(e)) = (&build, &evaluation) {
        for j in &e.jobs {
            if matches!(j.state, JobState::Missing) {
                // A run that failed on this side is no vote, but says why
                // the job has none yet.
                if let Some(r) = store.last_job_run(b.id, &j.job_id)? {
                    if r.outcome == crate::store::jobs::RunState::Error {
                        errors.insert(j.job_id.clone(), r.notes);
                    }
                }
            }
            if !matches!(j.state, JobState::Failed { .. } | JobState::TimedOut { .. }) {
                continue;
            }
            let archive = store.last_job_run(b.id, &j.job_id)?.and_then(|r| r.archive);
            if let Some(a) = archive {
                if let Ok(lines) = crate::jobs::logs::tail(std::path::Path::new(&a), TAIL_LINES) {
                    log_tails.insert(j.job_id.clone(), lines);
                }
            }
        }
    }
    Ok(Explanation {
        promotion: p.name.to_string(),
        candidate_label: p.candidate_label.to_string(),
        verdict,
        summary,
        label_now,
        build,
        candidate_rank,
        candidates: assessment.candidates.len(),
        errors,
        passed,
        required,
        jobs: evaluation.map(|e| e.jobs).unwrap_or_default(),
        log_tails,
        alternatives: alternatives(cfg, p),
        aggregate: None,
        components: Vec::new(),
    })
}

fn explain_aggregate(
    store: &Store,
    trees: &promote::Trees,
    cfg: &crate::config::Config,
    p: &PromotionDef,
    now: i64,
) -> Result<Explanation> {
    let assessment = crate::assess::assess_aggregates(store, cfg, p, now)?;
    // The aggregate the label shows: the md5 DLRN writes beside it.
    let label_now =
        std::fs::read_to_string(trees.trunk.join(p.name.as_str()).join("delorean.repo.md5"))
            .ok()
            .map(|s| s.trim().to_string());
    let (verdict, summary, aggregate, components, jobs, rank) = match assessment.newest() {
        Some((c, e)) => {
            let verdict = if label_now.as_deref() == Some(c.aggregate.agg_hash.as_str()) {
                Verdict::Promoted
            } else if e.met() {
                Verdict::Promotable
            } else {
                Verdict::Blocked
            };
            let head = match verdict {
                Verdict::Promotable => format!(
                    "aggregate {} can be promoted: {}",
                    c.aggregate.agg_hash,
                    e.summary()
                ),
                Verdict::Promoted => format!(
                    "aggregate {} is where {} points; {}",
                    c.aggregate.agg_hash,
                    p.name,
                    e.summary()
                ),
                _ => format!(
                    "aggregate {} is blocked: {}",
                    c.aggregate.agg_hash,
                    e.summary()
                ),
            };
            (
                verdict,
                head,
                Some(c.aggregate.clone()),
                c.builds.clone(),
                e.jobs.clone(),
                Some(0),
            )
        }
        None => (
            Verdict::NoCandidate,
            format!(
                "no candidate: {} has no aggregate newer than the last one promoted to {}",
                p.candidate_label, p.name
            ),
            None,
            Vec::new(),
            Vec::new(),
            None,
        ),
    };
    let required = jobs
        .iter()
        .filter(|j| !matches!(j.state, JobState::Disabled { .. }))
        .count();
    let passed = jobs
        .iter()
        .filter(|j| j.state.satisfied() && !matches!(j.state, JobState::Disabled { .. }))
        .count();
    Ok(Explanation {
        promotion: p.name.to_string(),
        candidate_label: p.candidate_label.to_string(),
        verdict,
        summary,
        label_now,
        build: None,
        candidate_rank: rank,
        candidates: assessment.candidates.len(),
        passed,
        required,
        jobs,
        log_tails: Default::default(),
        errors: Default::default(),
        alternatives: alternatives(cfg, p),
        aggregate,
        components,
    })
}

fn alternatives(
    cfg: &crate::config::Config,
    p: &PromotionDef,
) -> std::collections::BTreeMap<String, Vec<String>> {
    cfg.required_jobs(p)
        .into_iter()
        .filter(|r| !r.alternatives.is_empty())
        .map(|r| {
            (
                r.id.to_string(),
                r.alternatives.iter().map(|a| a.to_string()).collect(),
            )
        })
        .collect()
}

/// "the only candidate from L", "the newest of 3 candidates from L".
fn newest_of(candidates: usize, label: &str) -> String {
    match candidates {
        1 => format!("the only candidate from {label}"),
        n => format!("the newest of {n} candidates from {label}"),
    }
}

fn render(e: &Explanation) -> String {
    let mut s = String::new();
    line(&mut s, format!("{}: {}", e.promotion, e.summary));
    if let Some(b) = &e.build {
        let rank = match e.candidate_rank {
            Some(0) => newest_of(e.candidates, &e.candidate_label),
            Some(i) => format!(
                "candidate {} of {} from {}",
                i + 1,
                e.candidates,
                e.candidate_label
            ),
            None => format!("not a candidate from {}", e.candidate_label),
        };
        line(
            &mut s,
            format!(
                "  build     {} ({}, built {}), {rank}",
                b.full_hash,
                b.project_name,
                clock::short(b.dt_build)
            ),
        );
    }
    if let Some(a) = &e.aggregate {
        line(
            &mut s,
            format!(
                "  aggregate {} ({} components, newest build {}), {}",
                a.agg_hash,
                e.components.len(),
                clock::short(a.created_at),
                newest_of(e.candidates, &e.candidate_label)
            ),
        );
        for b in &e.components {
            line(
                &mut s,
                format!(
                    "    {:<12} {} ({})",
                    b.component.as_deref().unwrap_or("-"),
                    b.full_hash,
                    b.project_name
                ),
            );
        }
    }
    line(
        &mut s,
        format!(
            "  label     {} -> {}",
            e.promotion,
            e.label_now.as_deref().unwrap_or("(not set)")
        ),
    );
    let width = e.jobs.iter().map(|j| j.job_id.len()).max().unwrap_or(0);
    for j in &e.jobs {
        let detail = match &j.state {
            JobState::Waived { waiver } => format!(
                "waiver {} by {}: {}{}",
                waiver.id,
                waiver.user,
                waiver.reason,
                waiver
                    .expires_at
                    .map(|t| format!(" (until {})", clock::short(t)))
                    .unwrap_or_default()
            ),
            JobState::Disabled { reason } => reason.clone(),
            JobState::Missing if e.errors.contains_key(&j.job_id) => format!(
                "error: {}; not a vote, the next run tries again",
                e.errors[&j.job_id]
            ),
            JobState::Missing => match e.alternatives.get(&j.job_id) {
                Some(alts) => format!("no vote, nor from {}", alts.join(" or ")),
                None => "no vote".into(),
            },
            state => {
                let v = state.vote().expect("a state with a vote");
                let mut d = format!("{}  {}", clock::short(v.timestamp), v.url);
                if let JobState::Passed { by: Some(alt), .. } = state {
                    d.push_str(&format!("  (by alternative {alt})"));
                }
                if !v.notes.is_empty() && !state.satisfied() {
                    d.push_str(&format!("  {}", v.notes));
                }
                d
            }
        };
        let word = if e.errors.contains_key(&j.job_id) {
            "error"
        } else {
            j.state.word()
        };
        line(
            &mut s,
            format!("  {:<9} {:<width$}  {}", word, j.job_id, detail.trim_end()),
        );
        if let Some(lines) = e.log_tails.get(&j.job_id) {
            for l in lines {
                line(&mut s, format!("  {:<9} | {l}", ""));
            }
        }
    }
    s
}

/// Appends one line of output. What it quotes from outside (vote urls and
/// notes, log lines, users, names a builder chose) has its control
/// characters escaped: it can neither drive the terminal nor forge a line.
fn line(out: &mut String, text: String) {
    out.push_str(&crate::terminal::escaped(&text));
    out.push('\n');
}
