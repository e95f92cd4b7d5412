//! The decision, as pure functions of recorded data: which builds are
//! candidates for a promotion, whether each meets the criteria, and which
//! one (if any) is promoted. No filesystem, no database.

use std::collections::HashSet;

use serde::Serialize;

use crate::config::Requirement;

/// What a decision needs to know of one vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoteFact {
    pub id: i64,
    pub job_id: String,
    pub success: bool,
    pub in_progress: bool,
    pub timestamp: i64,
    pub url: String,
    pub notes: String,
    /// Cast by a job of this promoter that ran out of time (its job run
    /// says so, not its notes).
    pub timed_out: bool,
}

/// A recorded exception: a job that does not have to pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverFact {
    pub id: i64,
    pub job_id: String,
    /// `None`: every build of the promotion.
    pub build_id: Option<i64>,
    pub expires_at: Option<i64>,
    pub reason: String,
    pub user: String,
}

impl WaiverFact {
    fn covers(&self, job: &str, build_id: i64, now: i64) -> bool {
        self.job_id == job
            && self.build_id.is_none_or(|b| b == build_id)
            && self.expires_at.is_none_or(|e| e > now)
    }
}

/// Where one required job stands for one build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    /// A success vote of the job itself, or of `by` (an alternative).
    Passed { vote: VoteFact, by: Option<String> },
    /// Covered by a live waiver.
    Waived { waiver: WaiverFact },
    /// A disabled matrix combination: neither run nor required.
    Disabled { reason: String },
    /// The newest vote is in progress.
    Running { vote: VoteFact },
    /// The newest vote is a failure of a job that ran out of time.
    TimedOut { vote: VoteFact },
    /// The newest vote is a failure.
    Failed { vote: VoteFact },
    /// No vote at all.
    Missing,
}

impl JobState {
    /// Whether this state lets the build through.
    pub fn satisfied(&self) -> bool {
        matches!(
            self,
            JobState::Passed { .. } | JobState::Waived { .. } | JobState::Disabled { .. }
        )
    }

    pub fn word(&self) -> &'static str {
        match self {
            JobState::Passed { .. } => "passed",
            JobState::Waived { .. } => "waived",
            JobState::Disabled { .. } => "disabled",
            JobState::Running { .. } => "running",
            JobState::TimedOut { .. } => "timed out",
            JobState::Failed { .. } => "failed",
            JobState::Missing => "missing",
        }
    }

    /// The vote behind the state, when there is one.
    pub fn vote(&self) -> Option<&VoteFact> {
        match self {
            JobState::Passed { vote, .. }
            | JobState::Running { vote }
            | JobState::TimedOut { vote }
            | JobState::Failed { vote } => Some(vote),
            _ => None,
        }
    }
}

/// One required job and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobCheck {
    pub job_id: String,
    #[serde(flatten)]
    pub state: JobState,
}

/// The criteria checked against one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The candidate's id: a build's, or an aggregate's.
    #[serde(rename = "build_id")]
    pub candidate: i64,
    pub jobs: Vec<JobCheck>,
}

impl Evaluation {
    pub fn met(&self) -> bool {
        !self.jobs.is_empty() && self.jobs.iter().all(|j| j.state.satisfied())
    }

    /// Required jobs that are satisfied / all required jobs (disabled ones
    /// are not required, so they count on neither side).
    pub fn counts(&self) -> (usize, usize) {
        let required: Vec<_> = self
            .jobs
            .iter()
            .filter(|j| !matches!(j.state, JobState::Disabled { .. }))
            .collect();
        let ok = required.iter().filter(|j| j.state.satisfied()).count();
        (ok, required.len())
    }

    pub fn blocking(&self) -> impl Iterator<Item = &JobCheck> {
        self.jobs.iter().filter(|j| !j.state.satisfied())
    }

    /// "2 of 3 required jobs passed; blocked by: a (failed), b (missing)".
    pub fn summary(&self) -> String {
        let (ok, total) = self.counts();
        let blocking: Vec<String> = self
            .blocking()
            .map(|j| format!("{} ({})", j.job_id, j.state.word()))
            .collect();
        let jobs = if total == 1 { "job" } else { "jobs" };
        match (blocking.is_empty(), total) {
            (true, 1) => "the required job passed".to_string(),
            (true, _) => format!("all {total} required jobs passed"),
            (false, _) => format!(
                "{ok} of {total} required {jobs} passed; blocked by: {}",
                blocking.join(", ")
            ),
        }
    }
}

/// Checks the criteria against the votes of one build. Any success counts,
/// whenever it was cast; votes in progress never count.
pub fn evaluate(
    requirements: &[Requirement],
    build_id: i64,
    votes: &[VoteFact],
    waivers: &[WaiverFact],
    now: i64,
) -> Evaluation {
    let jobs = requirements
        .iter()
        .map(|r| {
            let job = r.id.as_str();
            let passed = |id: &str| {
                votes
                    .iter()
                    .filter(|v| v.job_id == id && v.success && !v.in_progress)
                    .max_by_key(|v| v.id)
            };
            let state = if let Some(reason) = &r.disabled {
                JobState::Disabled {
                    reason: reason.clone(),
                }
            } else if let Some(v) = passed(job) {
                JobState::Passed {
                    vote: v.clone(),
                    by: None,
                }
            } else if let Some((alt, v)) = r
                .alternatives
                .iter()
                .find_map(|a| passed(a.as_str()).map(|v| (a, v)))
            {
                JobState::Passed {
                    vote: v.clone(),
                    by: Some(alt.to_string()),
                }
            } else if let Some(w) = waivers.iter().find(|w| w.covers(job, build_id, now)) {
                JobState::Waived { waiver: w.clone() }
            } else {
                match votes
                    .iter()
                    .filter(|v| v.job_id == job)
                    .max_by_key(|v| v.id)
                {
                    None => JobState::Missing,
                    Some(v) if v.in_progress => JobState::Running { vote: v.clone() },
                    Some(v) if v.timed_out => JobState::TimedOut { vote: v.clone() },
                    Some(v) => JobState::Failed { vote: v.clone() },
                }
            };
            JobCheck {
                job_id: job.to_string(),
                state,
            }
        })
        .collect();
    Evaluation {
        candidate: build_id,
        jobs,
    }
}

/// The candidates of a promotion: the newest `limit` distinct builds of the
/// candidate label's history (`history` newest first), cut at the first one
/// that was ever promoted to the target.
pub fn candidates(history: &[i64], promoted_to_target: &HashSet<i64>, limit: usize) -> Vec<i64> {
    let mut seen = HashSet::new();
    history
        .iter()
        .copied()
        .filter(|b| seen.insert(*b))
        .take(limit)
        .take_while(|b| !promoted_to_target.contains(b))
        .collect()
}

/// The outcome for one promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The build to promote: the newest candidate that meets the criteria.
    pub promote: Option<i64>,
    /// Every candidate checked, newest first.
    pub evaluations: Vec<Evaluation>,
}

/// Tries the candidates newest first; the first that meets the criteria
/// is promoted. At most one promotion per target.
pub fn decide(
    requirements: &[Requirement],
    candidates: &[i64],
    votes_of: impl Fn(i64) -> Vec<VoteFact>,
    waivers: &[WaiverFact],
    now: i64,
) -> Decision {
    let mut evaluations = Vec::new();
    let mut promote = None;
    for &b in candidates {
        let e = evaluate(requirements, b, &votes_of(b), waivers, now);
        let met = e.met();
        evaluations.push(e);
        if met {
            promote = Some(b);
            break;
        }
    }
    Decision {
        promote,
        evaluations,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::ident::JobId;

    fn req(id: &str) -> Requirement {
        Requirement {
            id: id.parse::<JobId>().unwrap(),
            alternatives: vec![],
            disabled: None,
        }
    }

    fn vote(id: i64, job: &str, success: bool) -> VoteFact {
        VoteFact {
            id,
            job_id: job.into(),
            success,
            in_progress: false,
            timestamp: id,
            url: format!("https://logs/{id}"),
            notes: String::new(),
            timed_out: false,
        }
    }

    #[test]
    fn candidates_are_cut_at_the_first_build_ever_promoted_to_the_target() {
        // The real promoter's scenario.
        type Case<'a> = (&'a [i64], &'a [i64], usize, &'a [i64]);
        let cases: &[Case] = &[
            (&[27, 26, 25, 24, 23], &[24, 25], 10, &[27, 26]),
            (&[27, 26, 25, 24, 23], &[], 10, &[27, 26, 25, 24, 23]),
            (&[27, 26, 25, 24, 23], &[], 2, &[27, 26]),
            (&[27, 27, 26, 26, 25], &[], 2, &[27, 26]),
            (&[27, 26], &[27], 10, &[]),
            (&[], &[], 10, &[]),
        ];
        for (history, promoted, limit, want) in cases {
            let promoted: HashSet<i64> = promoted.iter().copied().collect();
            assert_eq!(&candidates(history, &promoted, *limit), want, "{history:?}");
        }
    }

    #[test]
    fn the_newest_qualifying_candidate_is_promoted_and_only_one() {
        let reqs = [req("a"), req("b")];
        let votes: HashMap<i64, Vec<VoteFact>> = HashMap::from([
            (27, vec![vote(1, "a", true)]),
            (26, vec![vote(2, "a", true), vote(3, "b", true)]),
            (25, vec![vote(4, "a", true), vote(5, "b", true)]),
        ]);
        let d = decide(&reqs, &[27, 26, 25], |b| votes[&b].clone(), &[], 0);
        assert_eq!(d.promote, Some(26));
        assert_eq!(d.evaluations.len(), 2, "stops at the first that qualifies");
    }

    #[test]
    fn no_promotion_without_every_required_success() {
        let reqs = [req("a"), req("b")];
        let table: &[(&str, Vec<VoteFact>)] = &[
            ("a job missing", vec![vote(1, "a", true)]),
            (
                "zero successes",
                vec![vote(1, "a", false), vote(2, "b", false)],
            ),
            ("no votes", vec![]),
        ];
        for (name, votes) in table {
            let d = decide(&reqs, &[1], |_| votes.clone(), &[], 0);
            assert_eq!(d.promote, None, "{name}");
        }
        let d = decide(&reqs, &[], |_| vec![], &[], 0);
        assert_eq!(d.promote, None, "no candidates");
        assert!(d.evaluations.is_empty());
    }

    #[test]
    fn any_success_counts_even_after_a_failure_and_in_progress_never_counts() {
        let reqs = [req("a")];
        let retried = vec![vote(1, "a", false), vote(2, "a", true)];
        assert!(evaluate(&reqs, 1, &retried, &[], 0).met());
        let earlier = vec![vote(1, "a", true), vote(2, "a", false)];
        assert!(evaluate(&reqs, 1, &earlier, &[], 0).met());
        let mut running = vote(3, "a", true);
        running.in_progress = true;
        let e = evaluate(&reqs, 1, &[running], &[], 0);
        assert!(!e.met());
        assert_eq!(e.jobs[0].state.word(), "running");
    }

    #[test]
    fn an_alternative_satisfies_its_criterion() {
        let mut r = req("ovb-fs001");
        r.alternatives = vec!["ovb-fs001-internal".parse().unwrap()];
        let e = evaluate(&[r], 1, &[vote(1, "ovb-fs001-internal", true)], &[], 0);
        assert!(e.met());
        match &e.jobs[0].state {
            JobState::Passed { by, .. } => assert_eq!(by.as_deref(), Some("ovb-fs001-internal")),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn live_waivers_count_expired_ones_do_not() {
        let reqs = [req("a")];
        let w = |build_id, expires_at| WaiverFact {
            id: 1,
            job_id: "a".into(),
            build_id,
            expires_at,
            reason: "flaky".into(),
            user: "re".into(),
        };
        assert!(evaluate(&reqs, 7, &[], &[w(None, None)], 100).met());
        assert!(evaluate(&reqs, 7, &[], &[w(Some(7), Some(200))], 100).met());
        assert!(
            !evaluate(&reqs, 7, &[], &[w(Some(8), None)], 100).met(),
            "other build"
        );
        assert!(
            !evaluate(&reqs, 7, &[], &[w(None, Some(100))], 100).met(),
            "expired"
        );
    }

    #[test]
    fn states_and_summary_explain_what_blocks() {
        let mut disabled = req("d");
        disabled.disabled = Some("broken since monday".into());
        let reqs = [req("ok"), req("bad"), req("slow"), req("none"), disabled];
        let mut timeout = vote(3, "slow", false);
        timeout.notes = "timed out after 1h".into();
        timeout.timed_out = true;
        let votes = vec![vote(1, "ok", true), vote(2, "bad", false), timeout];
        let e = evaluate(&reqs, 1, &votes, &[], 0);
        let words: Vec<_> = e.jobs.iter().map(|j| j.state.word()).collect();
        assert_eq!(
            words,
            ["passed", "failed", "timed out", "missing", "disabled"]
        );
        assert_eq!(
            e.summary(),
            "1 of 4 required jobs passed; blocked by: bad (failed), slow (timed out), none (missing)"
        );
        let all = evaluate(&[req("ok")], 1, &votes, &[], 0);
        assert_eq!(all.summary(), "the required job passed");
    }
}
