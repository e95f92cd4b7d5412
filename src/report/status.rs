//! The status of every label: where it points and since when, the newest
//! candidate waiting behind it and what blocks it, and the last run. Also
//! the criteria grids (required jobs × recent candidates) and the history
//! the HTML page shows. One gathering for the table, the JSON, the page
//! and the metrics, so they cannot disagree.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::assess::{self, Candidacy};
use crate::config::{Config, PromotionDef};
use crate::decide::{Evaluation, JobCheck, JobState};
use crate::error::Result;
use crate::ident::RESERVED_LABELS;
use crate::ident::{CommitHash, DistroHash, ExtendedHash, FullHash};
use crate::model::Verdict;
use crate::promote::Trees;
use crate::store::builds::Build;
use crate::store::promotions::{LabelRow, PromotionFilter};
use crate::store::Store;

/// Everything `status` shows. JSON fields are a contract: add, never rename.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub release: String,
    /// When this was gathered, seconds since the epoch.
    pub generated_at: i64,
    pub labels: Vec<LabelStatus>,
    pub last_run: Option<LastRun>,
    /// The newest publication of each publish target of the config.
    pub publications: Vec<LastPublication>,
    /// Things that look wrong (a link on disk that the database does not
    /// know, …); the status is still complete.
    pub warnings: Vec<String>,
    /// The jobs running now, oldest first.
    pub running: Vec<super::running::RunningJob>,
    /// The updates by state and combination, when the config has updates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates: Option<super::updates::UpdatesStatus>,
}

/// What a publish target shows.
#[derive(Debug, Clone, Serialize)]
pub struct LastPublication {
    pub target: String,
    pub full_hash: FullHash,
    pub published_at: i64,
}

/// Who moves a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `current` and `consistent`, kept by the builder.
    Builder,
    /// A promotion of the config.
    Promotion,
    /// Declared in `external_labels`: CI elsewhere moves it.
    External,
    /// A label moved only by hand (`repo-promote`) or by a replay.
    Other,
}

/// One label.
#[derive(Debug, Clone, Serialize)]
pub struct LabelStatus {
    pub label: String,
    pub component: Option<String>,
    pub role: Role,
    /// The build the link points at, `None` when there is no link.
    pub build: Option<BuildRef>,
    /// When the label last moved (for the builder's links: when import saw
    /// them move), seconds since the epoch.
    pub moved_at: Option<i64>,
    pub age_seconds: Option<i64>,
    /// Where it pointed before, as recorded.
    pub previous_full_hash: Option<FullHash>,
    /// Who moved it last (the user of its newest history row), for a label
    /// not kept by the builder.
    pub moved_by: Option<String>,
    /// For promotions: the label its candidates come from.
    pub candidate_label: Option<String>,
    /// For promotions: candidates newer than any build ever promoted here.
    pub candidates_waiting: Option<usize>,
    /// For promotions: the newest candidate and where its criteria stand.
    pub newest_candidate: Option<Candidate>,
    /// For a promotion of aggregates (component mode): the aggregate the
    /// label shows (the md5 written beside it); `build` is then `None`.
    pub aggregate: Option<String>,
}

/// A build, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildRef {
    pub full_hash: FullHash,
    pub commit_hash: CommitHash,
    pub distro_hash: DistroHash,
    pub extended_hash: Option<ExtendedHash>,
    pub project_name: String,
    pub built_at: i64,
}

impl From<&Build> for BuildRef {
    fn from(b: &Build) -> BuildRef {
        BuildRef {
            full_hash: b.full_hash.clone(),
            commit_hash: b.commit_hash.clone(),
            distro_hash: b.distro_hash.clone(),
            extended_hash: b.extended_hash.clone(),
            project_name: b.project_name.clone(),
            built_at: b.dt_build,
        }
    }
}

/// Where a promotion's newest candidate stands.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// For an aggregate candidate: its newest component build.
    pub build: BuildRef,
    /// The aggregate's hash, for an aggregate candidate.
    pub aggregate: Option<String>,
    /// `promotable` (the next run moves the label) or `blocked`.
    pub verdict: Verdict,
    pub passed: usize,
    pub required: usize,
    pub summary: String,
    /// How many required jobs stand where.
    pub results: Results,
    /// The required jobs that are not satisfied, in criteria order.
    pub blocking: Vec<JobCheck>,
}

/// Required jobs of one build by where they stand (disabled combinations
/// are not required, so not counted). A timed-out job counts as failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Results {
    pub passed: usize,
    pub failed: usize,
    pub missing: usize,
    pub running: usize,
    pub waived: usize,
}

impl Results {
    pub fn of(e: &Evaluation) -> Results {
        let mut r = Results::default();
        for j in &e.jobs {
            match j.state {
                JobState::Passed { .. } => r.passed += 1,
                JobState::Failed { .. } | JobState::TimedOut { .. } => r.failed += 1,
                JobState::Missing => r.missing += 1,
                JobState::Running { .. } => r.running += 1,
                JobState::Waived { .. } => r.waived += 1,
                JobState::Disabled { .. } => {}
            }
        }
        r
    }

    /// (result, count) in a fixed order.
    pub fn each(&self) -> [(&'static str, usize); 5] {
        [
            ("passed", self.passed),
            ("failed", self.failed),
            ("missing", self.missing),
            ("running", self.running),
            ("waived", self.waived),
        ]
    }
}

/// The last `run`.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub id: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub seconds: Option<i64>,
    pub outcome: crate::store::runs::RunOutcome,
    pub summary: String,
}

/// Gathers the status of every label: the builder's links first, then the
/// promotions in config order, then any other label the database knows.
pub fn gather(store: &Store, cfg: &Config, trees: &Trees, now: i64) -> Result<Status> {
    let mut warnings = Vec::new();
    let recorded = store.labels()?;
    let mut labels = Vec::new();
    for (name, component, role) in label_names(&recorded, cfg, trees) {
        let row = recorded
            .iter()
            .find(|r| r.name == name && r.component == component);
        let shown = Shown {
            name,
            component,
            role,
            row,
        };
        labels.push(label_status(store, cfg, trees, shown, now, &mut warnings)?);
    }
    Ok(Status {
        release: cfg.release.clone(),
        generated_at: now,
        labels,
        last_run: last_run(store)?,
        publications: last_publications(store, cfg)?,
        warnings,
        running: super::running::running(store, cfg, now)?,
        updates: super::updates::gather(store, cfg, now)?,
    })
}

/// A label to show: its name, its component, who moves it, and its row.
struct Shown<'a> {
    name: String,
    component: Option<String>,
    role: Role,
    row: Option<&'a LabelRow>,
}

/// The labels to show, in order: the builder's links that exist on disk or
/// in the database, the promotions of the config, then every other label
/// recorded, by name and component.
fn label_names(
    recorded: &[LabelRow],
    cfg: &Config,
    trees: &Trees,
) -> Vec<(String, Option<String>, Role)> {
    let mut names: Vec<(String, Option<String>, Role)> = Vec::new();
    for b in RESERVED_LABELS {
        let on_disk = crate::trunk::current_target(&trees.trunk, b, None)
            .ok()
            .flatten()
            .is_some();
        if on_disk
            || recorded
                .iter()
                .any(|r| r.name == b && r.component.is_none())
        {
            names.push((b.to_string(), None, Role::Builder));
        }
    }
    for l in &cfg.external_labels {
        names.push((l.to_string(), None, Role::External));
    }
    for p in &cfg.promotions {
        names.push((p.name.to_string(), None, Role::Promotion));
    }
    let mut others: Vec<&LabelRow> = recorded
        .iter()
        .filter(|r| {
            !names
                .iter()
                .any(|(n, c, _)| *n == r.name && *c == r.component)
        })
        .collect();
    others.sort_by(|a, b| (&a.name, &a.component).cmp(&(&b.name, &b.component)));
    for r in others {
        let role = if RESERVED_LABELS.contains(&r.name.as_str()) {
            Role::Builder
        } else if cfg.promotion(&r.name).is_some() {
            Role::Promotion
        } else {
            Role::Other
        };
        names.push((r.name.clone(), r.component.clone(), role));
    }
    names
}

/// One label's status: its build (or aggregate), since when, where it was
/// before, and for a promotion its newest candidate.
fn label_status(
    store: &Store,
    cfg: &Config,
    trees: &Trees,
    l: Shown,
    now: i64,
    warnings: &mut Vec<String>,
) -> Result<LabelStatus> {
    let promotion = match (cfg.promotion(&l.name), &l.component) {
        (Some(p), None) => Some(p),
        _ => None,
    };
    let aggregates = match promotion {
        Some(p) => crate::assess::uses_aggregates(store, p)?,
        None => false,
    };
    // An aggregate label is a directory of aggregates, not a link.
    let build = if aggregates {
        None
    } else {
        let component = l.component.as_deref();
        label_build(store, trees, &l.name, component, l.row, warnings)?
    };
    let moved_at = l
        .row
        .filter(|r| r.build_id.is_some() && r.build_id == build.as_ref().map(|b| b.id))
        .map(|r| r.updated_at);
    let previous_full_hash = match l.row.and_then(|r| r.previous_build_id) {
        Some(id) => store.build_by_id(id)?.map(|b| b.full_hash),
        None => None,
    };
    let moved_by = match l.role {
        Role::Builder => None,
        _ => store
            .promotions(&crate::store::promotions::PromotionFilter {
                name: Some(&l.name),
                component: l.component.as_deref(),
                limit: 1,
                ..Default::default()
            })?
            .into_iter()
            .next()
            .map(|p| p.user),
    };
    let mut status = LabelStatus {
        label: l.name,
        component: l.component,
        role: l.role,
        build: build.as_ref().map(BuildRef::from),
        moved_at,
        age_seconds: moved_at.map(|t| now - t),
        previous_full_hash,
        moved_by,
        candidate_label: None,
        candidates_waiting: None,
        newest_candidate: None,
        aggregate: None,
    };
    if let Some(p) = promotion {
        candidates(&mut status, store, cfg, trees, p, now, aggregates)?;
    }
    Ok(status)
}

/// Fills in a promotion's side of its label's status: the aggregate it
/// shows, where its candidates come from, how many wait, the newest.
fn candidates(
    status: &mut LabelStatus,
    store: &Store,
    cfg: &Config,
    trees: &Trees,
    p: &PromotionDef,
    now: i64,
    aggregates: bool,
) -> Result<()> {
    if aggregates {
        status.aggregate = assess::label_candidate(store, &trees.trunk, p, None, true)?.0;
    }
    let a = assess::assess_as(store, cfg, p, now, aggregates)?;
    status.candidate_label = Some(a.candidate_label.clone());
    status.candidates_waiting = Some(a.candidates.len());
    status.newest_candidate = a.newest().and_then(|(c, e)| candidate(c, e));
    // Votes that qualify it do not move images that fail their checksums.
    let newest_build = a.newest().and_then(|(c, _)| c.build());
    if let (Some(cand), Some(b)) = (status.newest_candidate.as_mut(), newest_build) {
        if cand.verdict == Verdict::Promotable {
            let rule = cfg.images_rule(p);
            if let Some(reason) = crate::promote::images::blocked(store, trees, b, &rule)? {
                cand.verdict = Verdict::Blocked;
                cand.summary = format!("its images: {reason}");
            } else if let Some(reason) =
                crate::promote::containers::blocked(store, cfg, trees, p, b)?
            {
                cand.verdict = Verdict::Blocked;
                cand.summary = format!("its containers: {reason}");
            }
        }
    }
    Ok(())
}

/// The last `run`, if any.
fn last_run(store: &Store) -> Result<Option<LastRun>> {
    Ok(store.last_run()?.map(|r| LastRun {
        id: r.id,
        started_at: r.started_at,
        ended_at: r.ended_at,
        seconds: r.ended_at.map(|e| e - r.started_at),
        outcome: r.outcome,
        summary: r.summary,
    }))
}

/// The newest publication of each publish target, in config order.
fn last_publications(store: &Store, cfg: &Config) -> Result<Vec<LastPublication>> {
    let mut publications = Vec::new();
    for t in &cfg.publish {
        if let Some(p) = store.publications(&t.name, 1)?.into_iter().next() {
            publications.push(LastPublication {
                target: t.name.clone(),
                full_hash: p.full_hash,
                published_at: p.finished_at,
            });
        }
    }
    Ok(publications)
}

/// The build a label's link points at; the database's record when the
/// link cannot be read, with a warning when the two disagree.
fn label_build(
    store: &Store,
    trees: &Trees,
    name: &str,
    component: Option<&str>,
    row: Option<&LabelRow>,
    warnings: &mut Vec<String>,
) -> Result<Option<Build>> {
    let recorded = match row.and_then(|r| r.build_id) {
        Some(id) => store.build_by_id(id)?,
        None => None,
    };
    let shown = match component.map(|c| format!("{c}/{name}")) {
        Some(s) => s,
        None => name.to_string(),
    };
    let dir = match crate::trunk::current_target(&trees.trunk, name, component) {
        Ok(d) => d,
        Err(e) => {
            warnings.push(format!("label {shown}: {e}; showing the database's record"));
            return Ok(recorded);
        }
    };
    let on_disk = match &dir {
        Some(d) => store.build_by_repo_dir(d)?,
        None => None,
    };
    match (&dir, &on_disk, &recorded) {
        (Some(d), None, _) => warnings.push(format!(
            "label {shown} points at {d}, which is not a recorded build (run import)"
        )),
        (Some(_), Some(disk), Some(rec)) if disk.id != rec.id => warnings.push(format!(
            "label {shown} points at {} on disk, but the database last recorded {}",
            disk.full_hash, rec.full_hash
        )),
        (None, _, Some(rec)) => warnings.push(format!(
            "label {shown} has no link on disk, but the database last recorded {}",
            rec.full_hash
        )),
        _ => {}
    }
    Ok(on_disk)
}

/// Where candidate `c` stands; an aggregate is shown by its newest
/// component build.
fn candidate(c: &assess::Candidate, e: &Evaluation) -> Option<Candidate> {
    let (passed, required) = e.counts();
    Some(Candidate {
        build: BuildRef::from(newest_build(c)?),
        aggregate: c.aggregate().map(|a| a.aggregate.agg_hash.clone()),
        verdict: if e.met() {
            Verdict::Promotable
        } else {
            Verdict::Blocked
        },
        passed,
        required,
        summary: e.summary(),
        results: Results::of(e),
        blocking: e.blocking().cloned().collect(),
    })
}

/// The build that stands for a candidate: itself, or an aggregate's
/// newest component.
fn newest_build(c: &assess::Candidate) -> Option<&Build> {
    c.builds().iter().max_by_key(|b| b.dt_build)
}

/// One promotion's criteria as a grid: its required jobs (rows) × its
/// newest candidates and the build the label points at (columns).
#[derive(Debug, Clone, Serialize)]
pub struct Grid {
    pub promotion: String,
    pub candidate_label: String,
    pub jobs: Vec<GridJob>,
    pub columns: Vec<Column>,
}

/// A required job: its id and the alternatives that count for it.
#[derive(Debug, Clone, Serialize)]
pub struct GridJob {
    pub job_id: String,
    pub alternatives: Vec<String>,
}

/// One build of a grid and the state of each required job on it.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// The build, or an aggregate's newest component build.
    pub build: BuildRef,
    /// The aggregate's hash, for an aggregate column.
    pub aggregate: Option<String>,
    /// Its place among the candidates (0 = newest); `None` for the build
    /// the label points at.
    pub rank: Option<usize>,
    /// promotable, blocked, or current (the label points at it)
    pub verdict: Verdict,
    /// One per job of [`Grid::jobs`], in the same order.
    pub cells: Vec<Cell>,
}

/// One required job on one build.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    #[serde(flatten)]
    pub check: JobCheck,
    /// The packed logs of the last run of the job here, when it ran here.
    pub archive: Option<String>,
}

/// The criteria grid of every promotion, in config order.
pub fn grids(store: &Store, cfg: &Config, trees: &Trees, now: i64) -> Result<Vec<Grid>> {
    cfg.promotions
        .iter()
        .map(|p| grid(store, cfg, trees, p, now))
        .collect()
}

fn grid(store: &Store, cfg: &Config, trees: &Trees, p: &PromotionDef, now: i64) -> Result<Grid> {
    let aggregates = assess::uses_aggregates(store, p)?;
    let a = assess::assess_as(store, cfg, p, now, aggregates)?;
    let jobs: Vec<GridJob> = a
        .requirements
        .iter()
        .map(|r| GridJob {
            job_id: r.id.to_string(),
            alternatives: r.alternatives.iter().map(|j| j.to_string()).collect(),
        })
        .collect();
    let mut shown: Vec<(&assess::Candidate, Option<usize>)> = a
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c, Some(i)))
        .collect();
    let current = assess::label_candidate(store, &trees.trunk, p, None, aggregates)?.1;
    if let Some(c) = current
        .as_ref()
        .filter(|c| shown.iter().all(|(s, _)| s.id() != c.id()))
    {
        shown.push((c, None));
    }
    let mut columns = Vec::with_capacity(shown.len());
    for (c, rank) in shown {
        let Some(b) = newest_build(c) else {
            continue;
        };
        let e = assess::evaluate(store, cfg, p, c, now)?;
        let images_ok = || -> Result<bool> {
            Ok(match c.build() {
                Some(b) => {
                    crate::promote::images::blocked(store, trees, b, &cfg.images_rule(p))?.is_none()
                        && crate::promote::containers::blocked(store, cfg, trees, p, b)?.is_none()
                }
                None => true,
            })
        };
        let verdict = if current.as_ref().is_some_and(|x| x.id() == c.id()) {
            Verdict::Promoted
        } else if e.met() && images_ok()? {
            Verdict::Promotable
        } else {
            Verdict::Blocked
        };
        let mut cells = Vec::with_capacity(e.jobs.len());
        for check in e.jobs {
            // Jobs run here for builds; an aggregate's votes come from outside.
            let archive = match (&check.state, c.build()) {
                (JobState::Missing | JobState::Waived { .. } | JobState::Disabled { .. }, _)
                | (_, None) => None,
                (_, Some(b)) => {
                    let job = check
                        .state
                        .vote()
                        .map(|v| v.job_id.clone())
                        .unwrap_or_else(|| check.job_id.clone());
                    store.last_job_run(b.id, &job)?.and_then(|r| r.archive)
                }
            };
            cells.push(Cell { check, archive });
        }
        columns.push(Column {
            build: BuildRef::from(b),
            aggregate: c.aggregate().map(|a| a.aggregate.agg_hash.clone()),
            rank,
            verdict,
            cells,
        });
    }
    Ok(Grid {
        promotion: p.name.to_string(),
        candidate_label: p.candidate_label.to_string(),
        jobs,
        columns,
    })
}

/// One row of the promotion history, for the page's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    pub id: i64,
    pub label: String,
    pub component: Option<String>,
    pub full_hash: FullHash,
    pub previous_full_hash: Option<FullHash>,
    pub kind: &'static str,
    pub timestamp: i64,
    pub user: String,
    pub reason: String,
}

/// The newest `limit` rows of the promotion history, newest first.
pub fn timeline(store: &Store, limit: i64) -> Result<Vec<Moved>> {
    let rows = store.promotions(&PromotionFilter {
        limit,
        ..Default::default()
    })?;
    let mut previous: BTreeMap<i64, FullHash> = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        let previous_full_hash = match p.previous_build_id {
            Some(id) => match previous.get(&id) {
                Some(h) => Some(h.clone()),
                None => {
                    let h = store.build_by_id(id)?.map(|b| b.full_hash);
                    if let Some(h) = &h {
                        previous.insert(id, h.clone());
                    }
                    h
                }
            },
            None => None,
        };
        out.push(Moved {
            id: p.id,
            label: p.name,
            component: p.component,
            full_hash: p.build.full_hash,
            previous_full_hash,
            kind: p.kind.as_str(),
            timestamp: p.timestamp,
            user: p.user,
            reason: p.reason,
        });
    }
    Ok(out)
}
