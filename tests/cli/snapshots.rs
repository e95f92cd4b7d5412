//! Whole-output snapshots of the human output of `why`, `status` and
//! `history` (and of a run's log lines), checked with insta: a line that
//! went wrong next to the one a `contains()` looked for shows up here.
//!
//! What changes from one run to the next is normalised by [`Scrub`] before
//! the comparison: the workspace's temporary path, times taken from the
//! clock while the test ran, ages and durations. Times the fixtures or the
//! test fix (build times, reported vote timestamps) are kept as they are.
//! `INSTA_UPDATE=always cargo test snapshots` rewrites the `.snap` files
//! under `snapshots/`; review their diff before committing it.

use regex::{Captures, Regex};

use crate::util::*;

/// Normalises an output: see the module's doc.
struct Scrub {
    /// The workspace's path, as given and as the kernel resolves it.
    paths: Vec<String>,
    /// When the test started, seconds since the epoch.
    since: i64,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Days since the epoch of a proleptic Gregorian date (days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Replaces each match of `re` (whose last group is the run of spaces
/// after the token) by `rep(token)`. A token followed by two spaces or
/// more sits in a column of a table: the replacement is padded to the
/// width of the token and its spaces, so the columns after it stay where
/// the program put them, whatever the token's own width was.
fn replace_in_columns(text: &str, re: &Regex, rep: impl Fn(&Captures) -> String) -> String {
    re.replace_all(text, |c: &Captures| {
        let whole = c.get(0).unwrap().as_str();
        let pad = c.get(c.len() - 1).unwrap().as_str();
        let r = rep(c);
        if pad.len() < 2 {
            format!("{r}{pad}")
        } else {
            let width = whole.chars().count().max(r.chars().count() + 1);
            format!("{r:<width$}")
        }
    })
    .into_owned()
}

impl Scrub {
    /// Call before the first command of the test.
    fn new(ws: &Workspace) -> Scrub {
        let mut paths = vec![ws.path().display().to_string()];
        if let Ok(real) = ws.path().canonicalize() {
            paths.push(real.display().to_string());
        }
        paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
        paths.dedup();
        Scrub {
            paths,
            since: now(),
        }
    }

    /// `text` with the workspace path as `[ws]`, times of this test's run
    /// as `[now]` (or `[now+Nh]`, N whole hours after the test started),
    /// ages as `[age]` and durations as `[secs]`.
    fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for p in &self.paths {
            out = out.replace(p.as_str(), "[ws]");
        }
        // `2026-11-21T11:06:02Z` (log lines) and `2026-11-21 11:06` (tables).
        let time = Regex::new(
            r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})Z| (\d{2}):(\d{2}))( *)",
        )
        .unwrap();
        let since = self.since;
        out = replace_in_columns(&out, &time, |c| {
            let n = |i: usize| c.get(i).map(|m| m.as_str().parse::<i64>().unwrap());
            let (h, mi, s) = match n(4) {
                Some(h) => (h, n(5).unwrap(), n(6).unwrap()),
                None => (n(7).unwrap(), n(8).unwrap(), 0),
            };
            let t = days_from_civil(n(1).unwrap(), n(2).unwrap(), n(3).unwrap()) * 86_400
                + h * 3600
                + mi * 60
                + s;
            let token = c.get(0).unwrap().as_str().trim_end();
            // A table shows minutes: the minute the test started counts.
            if t < since - since.rem_euclid(60) {
                return token.to_string();
            }
            match (t - since + 1800).div_euclid(3600) {
                0 => "[now]".to_string(),
                hours => format!("[now+{hours}h]"),
            }
        });
        let age = Regex::new(r"\b\d+[smhd](?: \d+[mh])? ago( *)").unwrap();
        out = replace_in_columns(&out, &age, |_| "[age] ago".to_string());
        let secs = Regex::new(r"\b(in|after) \d+(?:\.\d+)?s\b").unwrap();
        secs.replace_all(&out, "$1 [secs]").into_owned()
    }

    /// A run's stdout, exit code and normalised stderr, as one text.
    fn run(&self, r: &Run) -> String {
        format!(
            "exit code: {}\n--- stdout\n{}--- stderr\n{}",
            r.code,
            self.apply(&r.stdout),
            self.apply(&r.stderr)
        )
    }
}

#[test]
fn the_scrub_keeps_fixed_times_and_columns_and_replaces_what_varies() {
    let ws = Workspace::sample();
    // As if the test had started at 2025-12-02T10:30:15Z.
    let s = Scrub {
        since: 1_764_671_415,
        ..Scrub::new(&ws)
    };
    let text = format!(
        "2025-12-02T10:30:16Z INFO  wrote {}/page.html\n\
         a    2025-12-02 10:30  url\n\
         b    2015-10-08 14:26  url\n\
         c    2025-12-02 10:29  the minute before the test started\n\
         x    6s ago      -\n\
         y    1h 20m ago  -\n\
         (until 2025-12-04 10:30) (0s ago): completed in 3s, after 0.04s\n",
        ws.path().display()
    );
    assert_eq!(
        s.apply(&text),
        "[now] INFO  wrote [ws]/page.html\n\
         a    [now]             url\n\
         b    2015-10-08 14:26  url\n\
         c    2025-12-02 10:29  the minute before the test started\n\
         x    [age] ago   -\n\
         y    [age] ago   -\n\
         (until [now+48h]) ([age] ago): completed in [secs], after [secs]\n"
    );
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
}

/// The commit and distro hash, and the full hash, of the n-th newest
/// consistent build.
fn nth_consistent(ws: &Workspace, n: i64) -> (String, String, String) {
    let dir: String = ws.sql(&format!(
        "SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET {n}"
    ));
    let (c, d) = hashes_of(&dir);
    let full = format!("{c}_{}", &d[..8]);
    (c, d, full)
}

/// A vote with notes, at a fixed time, as CI elsewhere reports it.
fn vote_with_notes(ws: &Workspace, job: &str, (c, d): (&str, &str), success: bool, notes: &str) {
    ws.run_db(&[
        "report-result",
        "--job-id",
        job,
        "--commit-hash",
        c,
        "--distro-hash",
        d,
        "--info-url",
        &format!("https://logs.example.org/{job}"),
        "--timestamp",
        "1700000100",
        "--success",
        if success { "true" } else { "false" },
        "--notes",
        notes,
    ])
    .ok();
}

/// One promotion whose newest candidate has a job in every state `why`
/// knows: failed here (with its log), failed elsewhere (twice), passed,
/// passed by an alternative, running, waived, missing (with and without
/// alternatives) and a disabled matrix combination.
fn blocked() -> (Workspace, Scrub, Run) {
    let ws = Workspace::sample();
    let scrub = Scrub::new(&ws);
    ws.script(
        "repo-check.sh",
        "echo \"checking $PROMOTER_FULL_HASH\"\n\
         echo 'package python-foo: no RPM for python-foo-1.0-1.el7'\n\
         echo '1 packages, 1 missing'\n\
         exit 1",
    );
    ws.write_config(
        "release: master
trunk: trunk
images: images
logs: logs
jobs:
  repo-check:
    command: [./repo-check.sh]
    timeout: 5m
  packstack:
    command: [/bin/true]
    matrix:
      dist: [epel-7, fedora-21]
    disabled:
      - {dist: fedora-21, reason: \"fedora-21 images broken since 2015-01-28\"}
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    jobs: [repo-check]
    criteria: [repo-check, packstack, job-passed, job-alt, job-running, job-waived, job-missing, job-lonely, job-flaky]
    alternative_criteria:
      job-alt: [job-alt-internal]
      job-missing: [job-missing-internal]
",
    );
    ws.run(&["import"]).ok();
    let (c, d, _) = nth_consistent(&ws, 0);
    for job in ["packstack-epel-7", "job-passed", "job-alt-internal"] {
        ws.vote(job, &c, &d, true);
    }
    vote_with_notes(&ws, "job-flaky", (&c, &d), false, "timed out after 3h");
    ws.vote("job-flaky", &c, &d, false);
    let run = ws.run(&["run", "--wait"]);
    run.ok();
    // CI elsewhere takes the build for job-running: an in-progress vote.
    ws.run_db(&["repo-use", "--reporting-job-id", "job-running"])
        .ok();
    ws.run(&[
        "waive",
        "--promotion",
        "tripleo-ci-testing",
        "--job-id",
        "job-waived",
        "--reason",
        "infra outage",
        "--expires",
        "2d",
    ])
    .ok();
    (ws, scrub, run)
}

#[test]
fn why_of_a_blocked_build_shows_every_job_state_and_the_failed_jobs_log() {
    let (ws, scrub, _) = blocked();
    let r = ws.run(&["why", "--promotion", "tripleo-ci-testing"]);
    insta::assert_snapshot!(scrub.run(&r));
}

#[test]
fn the_run_that_blocks_logs_the_job_it_ran_and_the_verdict() {
    let (_, scrub, run) = blocked();
    insta::assert_snapshot!(scrub.run(&run));
}

#[test]
fn status_of_a_blocked_candidate_names_three_jobs_and_counts_the_rest() {
    let (ws, scrub, _) = blocked();
    let r = ws.run(&["status"]);
    insta::assert_snapshot!(scrub.run(&r));
}

#[test]
fn why_of_a_failed_build_says_it_cannot_be_promoted() {
    let (ws, scrub, _) = blocked();
    let r = ws.run(&[
        "why",
        "--hash",
        "1c67b1ab8c6fe273d4e175a14f0df5d3cbbd0edc_885e8077",
    ]);
    insta::assert_snapshot!(scrub.run(&r));
}

const TWO_JOBS: &str = "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [job-a, job-b]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    criteria: [job-c]
";

#[test]
fn why_of_a_promotable_build_then_of_the_promoted_one() {
    let ws = Workspace::sample();
    let scrub = Scrub::new(&ws);
    ws.write_config(TWO_JOBS);
    ws.run(&["import"]).ok();
    let (c, d, _) = nth_consistent(&ws, 0);
    ws.vote("job-a", &c, &d, true);
    vote_with_notes(&ws, "job-b", (&c, &d), true, "passed on the second try");
    let before = ws.run(&["why"]);
    insta::assert_snapshot!("why_promotable", scrub.run(&before));
    ws.run(&["run", "--wait", "--promotion", "tripleo-ci-testing"])
        .ok();
    let after = ws.run(&["why"]);
    insta::assert_snapshot!("why_promoted_then_blocked_at_the_next", scrub.run(&after));
}

const CHAIN: &str = "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    criteria: [job-a]
  current-tripleo-rdo:
    candidate_label: current-tripleo
    criteria: [job-b, job-c]
";

/// A pipeline with a history: the older consistent build was promoted by
/// hand all the way, the newest one went through two promotions in a run
/// and is blocked at the third by a failed and a missing job.
fn pipeline() -> (Workspace, Scrub, Run) {
    let ws = Workspace::sample();
    let scrub = Scrub::new(&ws);
    ws.write_config(CHAIN);
    ws.run(&["import"]).ok();
    let (oc, od, _) = nth_consistent(&ws, 1);
    let (nc, nd, _) = nth_consistent(&ws, 0);
    for label in [
        "tripleo-ci-testing",
        "current-tripleo",
        "current-tripleo-rdo",
    ] {
        ws.repo_promote(&oc, &od, label).ok();
    }
    ws.vote("job-a", &nc, &nd, true);
    ws.vote("job-b", &nc, &nd, false);
    let run = ws.run(&["run", "--wait"]);
    run.ok();
    (ws, scrub, run)
}

#[test]
fn status_shows_every_label_its_build_and_what_blocks_the_next() {
    let (ws, scrub, _) = pipeline();
    let r = ws.run(&["status"]);
    insta::assert_snapshot!(scrub.run(&r));
}

#[test]
fn the_run_that_cascades_logs_each_promotion() {
    let (_, scrub, run) = pipeline();
    insta::assert_snapshot!(scrub.run(&run));
}

#[test]
fn history_lists_promotions_by_hand_by_run_and_a_rollback_newest_first() {
    let (ws, scrub, _) = pipeline();
    let rollback = ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--reason",
        "breaks ovb featureset001",
    ]);
    insta::assert_snapshot!("history_rollback", scrub.run(&rollback));
    let all = ws.run(&["history"]);
    insta::assert_snapshot!("history_all", scrub.run(&all));
    let one = ws.run(&["history", "--promotion", "current-tripleo", "--limit", "2"]);
    insta::assert_snapshot!("history_of_one_promotion_limited", scrub.run(&one));
    let why = ws.run(&["why", "--promotion", "current-tripleo"]);
    insta::assert_snapshot!("history_why_after_the_rollback", scrub.run(&why));
}

#[test]
fn history_and_status_of_a_new_database_say_there_is_nothing_yet() {
    let ws = Workspace::sample();
    let scrub = Scrub::new(&ws);
    ws.write_config(CHAIN);
    let history = ws.run(&["history"]);
    insta::assert_snapshot!("new_database_history", scrub.run(&history));
    let status = ws.run(&["status"]);
    insta::assert_snapshot!("new_database_status", scrub.run(&status));
}

const COMPONENTS: &str = "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [periodic-integration, periodic-ovb]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    criteria: [periodic-ovb]
";

/// A vote on an aggregate, at a fixed time.
fn vote_on_aggregate(ws: &Workspace, job: &str, agg: &str, success: bool, notes: &str) {
    ws.run_db(&[
        "report-result",
        "--job-id",
        job,
        "--agg-hash",
        agg,
        "--info-url",
        &format!("https://logs.example.org/{job}"),
        "--timestamp",
        "1700000000",
        "--success",
        if success { "true" } else { "false" },
        "--notes",
        notes,
    ])
    .ok();
}

#[test]
fn why_and_status_of_an_aggregate_in_component_mode() {
    let ws = Workspace::components(COMPONENTS);
    let scrub = Scrub::new(&ws);
    ws.run(&["import"]).ok();
    let agg: String = ws.sql("SELECT agg_hash FROM aggregates ORDER BY created_at DESC LIMIT 1");
    vote_on_aggregate(&ws, "periodic-integration", &agg, true, "");
    vote_on_aggregate(&ws, "periodic-ovb", &agg, false, "overcloud deploy failed");
    let blocked = ws.run(&["why"]);
    insta::assert_snapshot!("components_why_blocked", scrub.run(&blocked));
    let status = ws.run(&["status"]);
    insta::assert_snapshot!("components_status_blocked", scrub.run(&status));
    vote_on_aggregate(&ws, "periodic-ovb", &agg, true, "");
    ws.run(&["run", "--wait"]).ok();
    let promoted = ws.run(&["why", "--promotion", "tripleo-ci-testing"]);
    insta::assert_snapshot!("components_why_promoted", scrub.run(&promoted));
    let history = ws.run(&["history"]);
    insta::assert_snapshot!("components_history", scrub.run(&history));
}
