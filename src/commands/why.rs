//! `why`: why a candidate is or is not promoted, a summary line first, then
//! each required job with its vote. Exits 0 whatever the verdict.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Ctx;
use crate::assess::{self, Candidacy, Candidate};
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
    pub log_tails: BTreeMap<String, Vec<String>>,
    /// Required jobs with no vote whose last run failed on this side, with why.
    pub errors: BTreeMap<String, String>,
    /// The jobs whose success counts in place of each required job.
    pub alternatives: BTreeMap<String, Vec<String>>,
    /// The required jobs running here on this build: since when, where,
    /// and how long before their timeout.
    pub running: BTreeMap<String, crate::report::running::RunningJob>,
    /// For a promotion of aggregates (component mode): the aggregate
    /// explained, and its component builds.
    pub aggregate: Option<crate::store::aggregates::Aggregate>,
    pub components: Vec<Build>,
}

/// The candidate `--hash` names: a build (its full hash, or its hash
/// directory's name), else an aggregate (its md5).
fn forced(ctx: &Ctx, store: &Store, hash: &str) -> Result<Candidate> {
    let build = ctx.build_by_full_hash(store, hash);
    use crate::error::Error;
    let agg = hash.parse::<crate::ident::AggHash>().ok();
    let aggregate = match (&build, &agg) {
        (Err(Error::NotFound(_) | Error::Invalid(_)), Some(a)) => {
            store.aggregate_by_hash(a.as_str())?
        }
        _ => None,
    };
    match (build, aggregate) {
        (_, Some(aggregate)) => {
            let builds = store.aggregate_builds(aggregate.id)?;
            Ok(Candidate::Aggregate(assess::AggregateCandidate { aggregate, builds }))
        }
        (Ok(b), None) => Ok(Candidate::Build(b)),
        (Err(Error::Invalid(_)), None) if agg.is_some() => Err(Error::NotFound(format!(
            "no build or aggregate with hash {hash}"
        ))),
        (Err(Error::Invalid(_)), None) => Err(Error::Invalid(format!(
            "--hash {hash:?} is neither a full hash (<commit_hash>_<distro_hash[0:8]>) nor an aggregate hash"
        ))),
        (Err(e), None) => Err(e),
    }
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
        Some(h) => Some(forced(ctx, &store, h)?),
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
        let text: Vec<String> = out.iter().map(|e| render(e, now)).collect();
        ctx.print(&text.join("\n"))?;
    }
    Ok(0)
}

fn explain(
    ctx: &Ctx,
    store: &Store,
    trees: &promote::Trees,
    p: &PromotionDef,
    forced: Option<&Candidate>,
    now: i64,
) -> Result<Explanation> {
    let cfg = ctx.config()?;
    let aggregates = match forced {
        Some(c) => c.aggregate().is_some(),
        None => assess::uses_aggregates(store, p)?,
    };
    let assessment = assess::assess_as(store, cfg, p, now, aggregates)?;
    let component = forced
        .and_then(Candidate::build)
        .and_then(|b| trees.label_component(b));
    let (label_now, on_label) =
        assess::label_candidate(store, &trees.trunk, p, component, aggregates)?;
    // The candidate to explain: the one asked for, else the newest
    // candidate, else the one the label holds (nothing newer waits).
    let chosen = match (forced, assessment.newest(), on_label.as_ref()) {
        (Some(c), _, _) => Some((c.clone(), assess::evaluate(store, cfg, p, c, now)?)),
        (None, Some((c, e)), _) => Some((c.clone(), e.clone())),
        (None, None, Some(c)) => Some((c.clone(), assess::evaluate(store, cfg, p, c, now)?)),
        (None, None, None) => None,
    };
    let on_label_id = on_label.as_ref().map(Candidacy::id);
    let mut e = Explanation {
        promotion: p.name.to_string(),
        candidate_label: p.candidate_label.to_string(),
        verdict: Verdict::NoCandidate,
        summary: format!(
            "no candidate: {} has no {} newer than the last one promoted to {}",
            p.candidate_label,
            if aggregates { "aggregate" } else { "build" },
            p.name
        ),
        label_now,
        build: None,
        candidate_rank: None,
        candidates: assessment.candidates.len(),
        passed: 0,
        required: 0,
        jobs: Vec::new(),
        log_tails: Default::default(),
        errors: Default::default(),
        alternatives: alternatives(cfg, p),
        running: BTreeMap::new(),
        aggregate: None,
        components: Vec::new(),
    };
    let Some((c, evaluation)) = chosen else {
        return Ok(e);
    };
    e.candidate_rank = assessment.candidates.iter().position(|x| x.id() == c.id());
    (e.passed, e.required) = evaluation.counts();
    (e.verdict, e.summary) = verdict(p, &c, &evaluation, on_label_id, e.candidates);
    // Votes that qualify it do not move images that fail their checksums.
    if let (Verdict::Promotable, Some(b)) = (e.verdict, c.build()) {
        let rule = cfg.images_rule(p);
        if let Some(reason) = promote::images::blocked(store, trees, b, &rule)? {
            e.verdict = Verdict::Blocked;
            e.summary = format!("{} is blocked: its images: {reason}", b.full_hash);
        } else if let Some(reason) = promote::containers::blocked(store, cfg, trees, p, b)? {
            e.verdict = Verdict::Blocked;
            e.summary = format!("{} is blocked: its containers: {reason}", b.full_hash);
        }
    }
    if let Some(b) = c.build() {
        (e.errors, e.log_tails) = job_runs(store, b, &evaluation)?;
        e.running = crate::report::running::running(store, cfg, now)?
            .into_iter()
            .filter(|r| r.full_hash == b.full_hash && r.promotion == p.name.as_str())
            .map(|r| (r.job_id.clone(), r))
            .collect();
    }
    e.jobs = evaluation.jobs;
    match c {
        Candidate::Build(b) => e.build = Some(b),
        Candidate::Aggregate(a) => {
            e.aggregate = Some(a.aggregate);
            e.components = a.builds;
        }
    }
    Ok(e)
}

/// The verdict on candidate `c` and the summary line that says it.
fn verdict(
    p: &PromotionDef,
    c: &Candidate,
    e: &Evaluation,
    on_label: Option<i64>,
    candidates: usize,
) -> (Verdict, String) {
    let what = c.what();
    if on_label == Some(c.id()) {
        let waits = if candidates == 0 {
            format!(", and no newer candidate waits in {}", p.candidate_label)
        } else {
            String::new()
        };
        let head = format!("{what} is where {} points{waits}; {}", p.name, e.summary());
        return (Verdict::Promoted, head);
    }
    if let Some(reason) = c.unpromotable() {
        return (
            Verdict::Unpromotable,
            format!("{what} cannot be promoted: {reason}"),
        );
    }
    if e.met() {
        (
            Verdict::Promotable,
            format!("{what} can be promoted: {}", e.summary()),
        )
    } else {
        (
            Verdict::Blocked,
            format!("{what} is blocked: {}", e.summary()),
        )
    }
}

/// What the job runs of this side say about a build's missing and failed
/// jobs: the error of a run that failed here (no vote, but the reason),
/// and the last console lines of a failed job.
#[allow(clippy::type_complexity)]
fn job_runs(
    store: &Store,
    b: &Build,
    e: &Evaluation,
) -> Result<(BTreeMap<String, String>, BTreeMap<String, Vec<String>>)> {
    let mut errors = BTreeMap::new();
    let mut log_tails = BTreeMap::new();
    for j in &e.jobs {
        let failed = matches!(j.state, JobState::Failed { .. } | JobState::TimedOut { .. });
        if !failed && !matches!(j.state, JobState::Missing) {
            continue;
        }
        let Some(r) = store.last_job_run(b.id, &j.job_id)? else {
            continue;
        };
        if !failed {
            if r.outcome == crate::store::jobs::RunState::Error {
                errors.insert(j.job_id.clone(), r.notes);
            }
            continue;
        }
        if let Some(a) = r.archive {
            if let Ok(lines) = crate::jobs::logs::tail(std::path::Path::new(&a), TAIL_LINES) {
                log_tails.insert(j.job_id.clone(), lines);
            }
        }
    }
    Ok((errors, log_tails))
}

fn alternatives(cfg: &crate::config::Config, p: &PromotionDef) -> BTreeMap<String, Vec<String>> {
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

/// The explanation as `why` prints it: the summary, the candidate, the
/// label, then one line per required job.
fn render(e: &Explanation, now: i64) -> String {
    let mut s = String::new();
    line(&mut s, format!("{}: {}", e.promotion, e.summary));
    render_candidate(&mut s, e);
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
        let word = if e.errors.contains_key(&j.job_id) {
            "error"
        } else {
            j.state.word()
        };
        let detail = job_detail(e, j, now);
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

/// Where the candidate stands among the others of its label.
fn rank(e: &Explanation) -> String {
    match e.candidate_rank {
        Some(0) => newest_of(e.candidates, &e.candidate_label),
        Some(i) => format!(
            "candidate {} of {} from {}",
            i + 1,
            e.candidates,
            e.candidate_label
        ),
        None => format!("not a candidate from {}", e.candidate_label),
    }
}

/// The lines on the build explained, or the aggregate and its components.
fn render_candidate(s: &mut String, e: &Explanation) {
    let rank = rank(e);
    if let Some(b) = &e.build {
        line(
            s,
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
            s,
            format!(
                "  aggregate {} ({} components, newest build {}), {rank}",
                a.agg_hash,
                e.components.len(),
                clock::short(a.created_at),
            ),
        );
        for b in &e.components {
            line(
                s,
                format!(
                    "    {:<12} {} ({})",
                    b.component.as_deref().unwrap_or("-"),
                    b.full_hash,
                    b.project_name
                ),
            );
        }
    }
}

/// What a job's line says after its name: the waiver, why it is disabled,
/// the error, the missing vote, or the vote itself.
fn job_detail(e: &Explanation, j: &crate::decide::JobCheck, now: i64) -> String {
    match &j.state {
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
        JobState::Running { .. } if e.running.contains_key(&j.job_id) => {
            e.running[&j.job_id].describe(now)
        }
        state => vote_detail(state),
    }
}

/// A vote's time and url, the alternative that cast it, and its notes when
/// it does not satisfy the criterion.
fn vote_detail(state: &JobState) -> String {
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

/// Appends one line of output. What it quotes from outside (vote urls and
/// notes, log lines, users, names a builder chose) has its control
/// characters escaped: it can neither drive the terminal nor forge a line.
fn line(out: &mut String, text: String) {
    out.push_str(&crate::terminal::escaped(&text));
    out.push('\n');
}
