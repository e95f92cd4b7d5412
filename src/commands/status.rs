//! `status`: every label, its build and age, the newest candidate behind
//! it and what blocks it, and the last run; as a table (colours only on a
//! terminal, `NO_COLOR` respected), as JSON, as a static HTML page, or as
//! Prometheus metrics. The page and the metrics are written atomically.

use std::io::IsTerminal;

use super::{Ctx, Level};
use crate::cli;
use crate::clock;
use crate::error::Result;
use crate::report::{age, html, metrics, status};
use crate::terminal::escaped;

/// How many history rows the page's timeline shows.
const TIMELINE_ROWS: i64 = 50;

/// How many blocking jobs a table line names before "+N more".
const BLOCKING_SHOWN: usize = 3;

pub fn run(ctx: &Ctx, a: cli::Status) -> Result<u8> {
    let cfg = ctx.config()?;
    let store = ctx.store()?;
    let trees = ctx.trees()?;
    let now = clock::now();
    let st = status::gather(&store, cfg, &trees, now)?;
    for w in &st.warnings {
        ctx.log(Level::Warn, w);
    }
    if a.html.is_none() && a.metrics.is_none() {
        let text = if ctx.global.json {
            serde_json::to_string_pretty(&st).expect("a status serializes")
        } else {
            render(&st, Colours::for_stdout())
        };
        ctx.print(&text)?;
        return Ok(0);
    }
    if let Some(path) = &a.html {
        let grids = status::grids(&store, cfg, &trees, now)?;
        let timeline = status::timeline(&store, TIMELINE_ROWS)?;
        crate::atomic::write(path, html::render(&st, &grids, &timeline).as_bytes())?;
        ctx.log(Level::Info, &format!("wrote {}", path.display()));
    }
    if let Some(path) = &a.metrics {
        crate::atomic::write(path, metrics::render(&st).as_bytes())?;
        ctx.log(Level::Info, &format!("wrote {}", path.display()));
    }
    Ok(0)
}

/// Whether the table gets ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colours {
    On,
    Off,
}

impl Colours {
    /// On only when stdout is a terminal and `NO_COLOR` is unset or empty
    /// (https://no-color.org).
    pub(super) fn for_stdout() -> Colours {
        Colours::choose(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        )
    }

    fn choose(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> Colours {
        match (terminal, no_color) {
            (true, None) => Colours::On,
            (true, Some(v)) if v.is_empty() => Colours::On,
            _ => Colours::Off,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        match self {
            Colours::On => format!("\x1b[{code}m{text}\x1b[0m"),
            Colours::Off => text.to_string(),
        }
    }
}

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const DIM: &str = "2";
const BOLD: &str = "1";

/// A candidate as the table names it: its full hash, or its aggregate.
fn shown(c: &status::Candidate) -> String {
    match &c.aggregate {
        Some(a) => format!("aggregate {}", escaped(a)),
        None => escaped(&c.build.full_hash).into_owned(),
    }
}

/// The table: one line per label, then the last run. Text from the
/// database and the trees has its control characters escaped before the
/// table adds its own colours.
pub fn render(s: &status::Status, c: Colours) -> String {
    let w = Widths::of(s);
    let mut out = format!(
        "{}\n",
        c.paint(
            BOLD,
            &format!(
                "{:<wl$}  {:<wb$}  {:<10}  {:>7}  NEWEST CANDIDATE",
                "LABEL",
                "BUILD",
                "MOVED",
                "WAITING",
                wl = w.label,
                wb = w.build
            )
        )
    );
    for l in &s.labels {
        out.push_str(label_line(l, w, c).trim_end());
        out.push('\n');
    }
    out.push_str(&running_lines(s));
    if let Some(u) = &s.updates {
        out.push_str(&crate::report::updates::render(u));
    }
    out.push_str(&last_run_line(s, c));
    for p in &s.publications {
        out.push_str(&format!(
            "published {} to {} at {} UTC ({} ago)\n",
            escaped(&p.full_hash),
            escaped(&p.target),
            clock::short(p.published_at),
            age(s.generated_at - p.published_at)
        ));
    }
    out
}

/// One line per running job: "running deploy for tripleo-ci-testing on
/// <hash> since …".
fn running_lines(s: &status::Status) -> String {
    let mut out = String::new();
    for j in &s.running {
        let line = format!(
            "running {} for {} on {} {}",
            j.job_id,
            j.promotion,
            j.full_hash,
            j.describe(s.generated_at)
        );
        out.push_str(&escaped(&line));
        out.push('\n');
    }
    out
}

/// What the page of one release shows: its status, its criteria grids and
/// its recent history.
pub struct ReleasePage {
    pub status: status::Status,
    pub grids: Vec<status::Grid>,
    pub timeline: Vec<status::Moved>,
}

/// One release's status (and, for the page, its grids and history).
pub fn gather(ctx: &Ctx, page: bool) -> Result<ReleasePage> {
    let cfg = ctx.config()?;
    let store = ctx.store()?;
    let trees = ctx.trees()?;
    let now = clock::now();
    let status = status::gather(&store, cfg, &trees, now)?;
    let (grids, timeline) = match page {
        true => (
            status::grids(&store, cfg, &trees, now)?,
            status::timeline(&store, TIMELINE_ROWS)?,
        ),
        false => (Vec::new(), Vec::new()),
    };
    Ok(ReleasePage {
        status,
        grids,
        timeline,
    })
}

/// The table of several releases: one line per release and label, the
/// release first; then each release's last run.
pub fn render_releases(all: &[&status::Status], c: Colours) -> String {
    let w = all
        .iter()
        .map(|s| Widths::of(s))
        .fold(Widths { label: 5, build: 9 }, |a, b| Widths {
            label: a.label.max(b.label),
            build: a.build.max(b.build),
        });
    let wr = all
        .iter()
        .map(|s| escaped(&s.release).len())
        .chain(["RELEASE".len()])
        .max()
        .unwrap_or(7);
    let mut out = format!(
        "{}\n",
        c.paint(
            BOLD,
            &format!(
                "{:<wr$}  {:<wl$}  {:<wb$}  {:<10}  {:>7}  NEWEST CANDIDATE",
                "RELEASE",
                "LABEL",
                "BUILD",
                "MOVED",
                "WAITING",
                wl = w.label,
                wb = w.build
            )
        )
    );
    for s in all {
        for l in &s.labels {
            let line = format!("{:<wr$}  {}", escaped(&s.release), label_line(l, w, c));
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    for s in all {
        out.push_str(&format!("{}: {}", escaped(&s.release), last_run_line(s, c)));
        for line in running_lines(s).lines() {
            out.push_str(&format!("{}: {line}\n", escaped(&s.release)));
        }
    }
    out
}

/// The widths of the table's first two columns.
#[derive(Debug, Clone, Copy)]
struct Widths {
    label: usize,
    build: usize,
}

impl Widths {
    /// As wide as the widest label and build of `s`, and their headings.
    fn of(s: &status::Status) -> Widths {
        let label = s
            .labels
            .iter()
            .map(|l| label_name(l).len())
            .chain(["LABEL".len()])
            .max()
            .unwrap_or(5);
        let build = s
            .labels
            .iter()
            .filter_map(|l| l.build.as_ref().map(|b| b.full_hash.len()))
            .chain(["(not set)".len()])
            .max()
            .unwrap_or(9);
        Widths { label, build }
    }
}

/// A label as the table names it: `component/label` in component mode.
fn label_name(l: &status::LabelStatus) -> String {
    escaped(&match &l.component {
        Some(comp) => format!("{comp}/{}", l.label),
        None => l.label.clone(),
    })
    .into_owned()
}

/// One label's line, trailing spaces included.
fn label_line(l: &status::LabelStatus, w: Widths, c: Colours) -> String {
    let wb = w.build;
    let build = match (&l.build, &l.aggregate) {
        (Some(b), _) => escaped(&b.full_hash).into_owned(),
        (None, Some(a)) => format!("aggregate {}", escaped(a)),
        (None, None) => c.paint(DIM, &format!("{:<wb$}", "(not set)")),
    };
    let moved = match l.age_seconds {
        Some(a) => format!("{} ago", age(a)),
        None => "-".into(),
    };
    let waiting = l
        .candidates_waiting
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".into());
    format!(
        "{:<wl$}  {build:<wb$}  {moved:<10}  {waiting:>7}  {}",
        label_name(l),
        next_candidate(l, c),
        wl = w.label
    )
}

/// The last column: the newest candidate and its verdict, or why there is
/// none.
fn next_candidate(l: &status::LabelStatus, c: Colours) -> String {
    match (&l.newest_candidate, &l.candidate_label) {
        (Some(cand), _) if cand.verdict == crate::model::Verdict::Promotable => format!(
            "{} {}: {}",
            shown(cand),
            c.paint(GREEN, "promotable"),
            escaped(&cand.summary)
        ),
        (Some(cand), _) => blocked(cand, c),
        (None, Some(from)) => c.paint(
            DIM,
            &format!("up to date: nothing newer in {}", escaped(from)),
        ),
        (None, None) if l.role == status::Role::External => c.paint(
            DIM,
            &match &l.moved_by {
                Some(u) => format!("external: moved by {}", escaped(u)),
                None => "external: not moved yet".to_string(),
            },
        ),
        (None, None) => String::new(),
    }
}

/// A blocked candidate: the first few jobs that block it, and how many
/// of its criteria passed.
fn blocked(cand: &status::Candidate, c: Colours) -> String {
    if cand.blocking.is_empty() {
        // Every job passed; something else holds it (its images).
        return format!(
            "{} {}: {}",
            shown(cand),
            c.paint(RED, "blocked"),
            escaped(&cand.summary)
        );
    }
    let mut jobs: Vec<String> = cand
        .blocking
        .iter()
        .take(BLOCKING_SHOWN)
        .map(|j| format!("{} ({})", escaped(&j.job_id), j.state.word()))
        .collect();
    if cand.blocking.len() > BLOCKING_SHOWN {
        jobs.push(format!("+{} more", cand.blocking.len() - BLOCKING_SHOWN));
    }
    format!(
        "{} {} by {} ({} of {} passed)",
        shown(cand),
        c.paint(RED, "blocked"),
        jobs.join(", "),
        cand.passed,
        cand.required
    )
}

/// The line on the last run, or the hint that there is none yet.
fn last_run_line(s: &status::Status, c: Colours) -> String {
    use crate::store::runs::RunOutcome;
    let Some(r) = &s.last_run else {
        return format!("{}\n", c.paint(DIM, "no run recorded yet: promoter run"));
    };
    let o = r.outcome.as_str();
    let outcome = match r.outcome {
        RunOutcome::Completed => c.paint(GREEN, o),
        RunOutcome::Running => c.paint(YELLOW, o),
        RunOutcome::Failed | RunOutcome::Interrupted => c.paint(RED, o),
    };
    let took = r.seconds.map(|t| format!(" in {t}s")).unwrap_or_default();
    format!(
        "last run {} at {} UTC ({} ago): {outcome}{took}{}\n",
        r.id,
        clock::short(r.started_at),
        age(s.generated_at - r.started_at),
        if r.summary.is_empty() {
            String::new()
        } else {
            format!(" ({})", escaped(&r.summary))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        let cases: [(bool, Option<&OsStr>, Colours); 5] = [
            (true, None, Colours::On),
            (true, Some(OsStr::new("")), Colours::On),
            (true, Some(OsStr::new("1")), Colours::Off),
            (false, None, Colours::Off),
            (false, Some(OsStr::new("1")), Colours::Off),
        ];
        for (tty, env, want) in cases {
            assert_eq!(Colours::choose(tty, env), want, "{tty} {env:?}");
        }
    }

    #[test]
    fn without_colours_there_is_no_escape_code() {
        assert_eq!(Colours::Off.paint(RED, "blocked"), "blocked");
        assert_eq!(Colours::On.paint(RED, "blocked"), "\x1b[31mblocked\x1b[0m");
    }
}
