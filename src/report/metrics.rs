//! The status as Prometheus text-format metrics, for node_exporter's
//! textfile collector. Every series carries `release`, so the files of
//! several releases can sit in one collector directory. Pure: data in,
//! text out.

use std::fmt::Write;

use super::status::{LabelStatus, Status};

/// The metrics text.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let release = format!("release=\"{}\"", label_value(&s.release));
    label_series(&mut out, &release, s);
    job_series(&mut out, &release, s);
    run_series(&mut out, &release, s);
    if let Some(u) = &s.updates {
        update_series(&mut out, &release, u);
    }
    out
}

/// How many updates are in each state, per combination (every state
/// written, zeros too, so a series does not vanish when its last update
/// moves on), and whether each combination is disabled.
fn update_series(out: &mut String, release: &str, u: &super::updates::UpdatesStatus) {
    use crate::store::updates::UpdateState;
    family(
        out,
        "promoter_updates",
        "Updates in each state, per Release/Dist combination.",
    );
    for c in &u.combinations {
        for st in UpdateState::ALL {
            let n = c
                .by_state
                .iter()
                .find(|b| b.state == *st)
                .map_or(0, |b| b.count);
            let _ = writeln!(
                out,
                "promoter_updates{{{release},combination=\"{}\",state=\"{}\"}} {n}",
                label_value(&c.combination.to_string()),
                st.as_str()
            );
        }
    }
    family(
        out,
        "promoter_update_combination_disabled",
        "1 when the Release/Dist combination is disabled now.",
    );
    for c in &u.combinations {
        let _ = writeln!(
            out,
            "promoter_update_combination_disabled{{{release},combination=\"{}\"}} {}",
            label_value(&c.combination.to_string()),
            u8::from(c.disabled.is_some())
        );
    }
}

/// Several releases' metrics as one file: each family's `# HELP` and
/// `# TYPE` once, followed by every release's series of it (the text
/// format allows a family only once).
pub fn merge(texts: &[String]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut families: std::collections::HashMap<String, (Vec<String>, Vec<String>)> =
        std::collections::HashMap::new();
    for text in texts {
        for line in text.lines() {
            let (name, header) = match line.strip_prefix("# ") {
                Some(rest) => (rest.split_whitespace().nth(1).unwrap_or(""), true),
                None => (line.split(['{', ' ']).next().unwrap_or(""), false),
            };
            if name.is_empty() {
                continue;
            }
            let f = families.entry(name.to_string()).or_insert_with(|| {
                order.push(name.to_string());
                (Vec::new(), Vec::new())
            });
            match header {
                true if !f.0.iter().any(|h| h == line) => f.0.push(line.to_string()),
                true => {}
                false => f.1.push(line.to_string()),
            }
        }
    }
    let mut out = String::new();
    for name in order {
        let (headers, series) = &families[&name];
        for l in headers.iter().chain(series) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The series of each label and its newest candidate.
fn label_series(out: &mut String, release: &str, s: &Status) {
    let labels = |l: &LabelStatus| {
        let mut v = format!("{release},label=\"{}\"", label_value(&l.label));
        if let Some(c) = &l.component {
            let _ = write!(v, ",component=\"{}\"", label_value(c));
        }
        v
    };

    family(
        out,
        "promoter_label_info",
        "The candidate each label holds (value 1; full_hash names a build, aggregate an aggregate).",
    );
    for l in &s.labels {
        let named = match (&l.build, &l.aggregate) {
            (Some(b), _) => format!("full_hash=\"{}\"", label_value(&b.full_hash)),
            (None, Some(a)) => format!("aggregate=\"{}\"", label_value(a)),
            (None, None) => continue,
        };
        let _ = writeln!(out, "promoter_label_info{{{},{named}}} 1", labels(l));
    }

    family(
        out,
        "promoter_label_moved_timestamp_seconds",
        "When the label last moved: its last promotion, rollback or replay (for the builder's links: when import saw them move).",
    );
    for l in &s.labels {
        if let Some(t) = l.moved_at {
            let _ = writeln!(
                out,
                "promoter_label_moved_timestamp_seconds{{{}}} {t}",
                labels(l)
            );
        }
    }

    family(
        out,
        "promoter_candidates_waiting",
        "Candidates newer than any build ever promoted to the label.",
    );
    for l in &s.labels {
        if let Some(n) = l.candidates_waiting {
            let _ = writeln!(out, "promoter_candidates_waiting{{{}}} {n}", labels(l));
        }
    }

    family(
        out,
        "promoter_newest_candidate_jobs",
        "Required jobs of the newest candidate by result (disabled combinations are not required).",
    );
    for l in &s.labels {
        let Some(c) = &l.newest_candidate else {
            continue;
        };
        for (result, n) in c.results.each() {
            let _ = writeln!(
                out,
                "promoter_newest_candidate_jobs{{{},result=\"{result}\"}} {n}",
                labels(l)
            );
        }
    }

    family(
        out,
        "promoter_newest_candidate_blocked",
        "1 when the newest candidate does not meet the criteria, 0 when the next run promotes it.",
    );
    for l in &s.labels {
        if let Some(c) = &l.newest_candidate {
            let blocked = u8::from(c.verdict == crate::model::Verdict::Blocked);
            let _ = writeln!(
                out,
                "promoter_newest_candidate_blocked{{{}}} {blocked}",
                labels(l)
            );
        }
    }
}

/// The series of the jobs running now.
fn job_series(out: &mut String, release: &str, s: &Status) {
    family(
        out,
        "promoter_jobs_running",
        "Jobs running now, by promotion.",
    );
    let mut by: std::collections::BTreeMap<&str, usize> = s
        .labels
        .iter()
        .filter(|l| l.role == super::status::Role::Promotion && l.component.is_none())
        .map(|l| (l.label.as_str(), 0))
        .collect();
    for j in &s.running {
        *by.entry(j.promotion.as_str()).or_default() += 1;
    }
    for (promotion, n) in by {
        let _ = writeln!(
            out,
            "promoter_jobs_running{{{release},promotion=\"{}\"}} {n}",
            label_value(promotion)
        );
    }
    if s.running.is_empty() {
        return;
    }
    family(
        out,
        "promoter_job_started_timestamp_seconds",
        "When each running job started.",
    );
    for j in &s.running {
        let _ = writeln!(
            out,
            "promoter_job_started_timestamp_seconds{{{}}} {}",
            job_labels(release, j),
            j.started_at
        );
    }
    family(
        out,
        "promoter_job_timeout_seconds_left",
        "How long before each running job's timeout stops it.",
    );
    for j in &s.running {
        if let Some(left) = j.seconds_left {
            let _ = writeln!(
                out,
                "promoter_job_timeout_seconds_left{{{}}} {left}",
                job_labels(release, j)
            );
        }
    }
}

fn job_labels(release: &str, j: &super::running::RunningJob) -> String {
    format!(
        "{release},promotion=\"{}\",job_id=\"{}\",full_hash=\"{}\",host=\"{}\"",
        label_value(&j.promotion),
        label_value(&j.job_id),
        label_value(&j.full_hash),
        label_value(&j.host)
    )
}

/// The series of the last publications and the last run.
fn run_series(out: &mut String, release: &str, s: &Status) {
    if !s.publications.is_empty() {
        family(
            out,
            "promoter_last_publish_timestamp_seconds",
            "When each publish target last received a build.",
        );
        for p in &s.publications {
            let _ = writeln!(
                out,
                "promoter_last_publish_timestamp_seconds{{{release},target=\"{}\",full_hash=\"{}\"}} {}",
                label_value(&p.target),
                label_value(&p.full_hash),
                p.published_at
            );
        }
    }
    if let Some(r) = &s.last_run {
        family(
            out,
            "promoter_last_run_timestamp_seconds",
            "When the last run started.",
        );
        let _ = writeln!(
            out,
            "promoter_last_run_timestamp_seconds{{{release}}} {}",
            r.started_at
        );
        if let Some(secs) = r.seconds {
            family(
                out,
                "promoter_last_run_duration_seconds",
                "How long the last run took.",
            );
            let _ = writeln!(
                out,
                "promoter_last_run_duration_seconds{{{release}}} {secs}"
            );
        }
        family(
            out,
            "promoter_last_run_outcome",
            "The last run's outcome (1 for the one it had).",
        );
        for &o in crate::store::runs::RunOutcome::ALL {
            let _ = writeln!(
                out,
                "promoter_last_run_outcome{{{release},outcome=\"{}\"}} {}",
                o.as_str(),
                u8::from(r.outcome == o)
            );
        }
    }
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", help_text(help));
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// Escapes a label value: backslash, double quote and newline.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Escapes HELP text: backslash and newline.
fn help_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(help_text("a\\b\nc"), "a\\\\b\\nc");
    }

    #[test]
    fn a_status_without_labels_or_runs_has_only_family_headers() {
        let s = Status {
            release: "master".into(),
            generated_at: 0,
            labels: vec![],
            last_run: None,
            publications: Vec::new(),
            warnings: vec![],
            running: Vec::new(),
            updates: None,
        };
        let text = render(&s);
        assert!(text.lines().all(|l| l.starts_with("# ")), "{text}");
    }
}
