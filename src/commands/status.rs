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
    fn for_stdout() -> Colours {
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
    let name = |l: &status::LabelStatus| {
        escaped(&match &l.component {
            Some(comp) => format!("{comp}/{}", l.label),
            None => l.label.clone(),
        })
        .into_owned()
    };
    let wl = s
        .labels
        .iter()
        .map(|l| name(l).len())
        .chain(["LABEL".len()])
        .max()
        .unwrap_or(5);
    let wb = s
        .labels
        .iter()
        .filter_map(|l| l.build.as_ref().map(|b| b.full_hash.len()))
        .chain(["(not set)".len()])
        .max()
        .unwrap_or(9);
    let mut out = format!(
        "{}\n",
        c.paint(
            BOLD,
            &format!(
                "{:<wl$}  {:<wb$}  {:<10}  {:>7}  NEWEST CANDIDATE",
                "LABEL", "BUILD", "MOVED", "WAITING"
            )
        )
    );
    for l in &s.labels {
        let build = match (&l.build, &l.aggregate) {
            (Some(b), _) => escaped(&b.full_hash).into_owned(),
            (None, Some(a)) => format!("aggregate {}", escaped(a)),
            (None, None) => "(not set)".into(),
        };
        let moved = match l.age_seconds {
            Some(a) => format!("{} ago", age(a)),
            None => "-".into(),
        };
        let waiting = l
            .candidates_waiting
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into());
        let next = match (&l.newest_candidate, &l.candidate_label) {
            (Some(cand), _) if cand.verdict == crate::model::Verdict::Promotable => format!(
                "{} {}: {}",
                shown(cand),
                c.paint(GREEN, "promotable"),
                escaped(&cand.summary)
            ),
            (Some(cand), _) => {
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
            (None, Some(from)) => c.paint(
                DIM,
                &format!("up to date: nothing newer in {}", escaped(from)),
            ),
            (None, None) => String::new(),
        };
        let build = if l.build.is_some() || l.aggregate.is_some() {
            build
        } else {
            c.paint(DIM, &format!("{build:<wb$}"))
        };
        let line = format!(
            "{:<wl$}  {build:<wb$}  {moved:<10}  {waiting:>7}  {next}",
            name(l)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    match &s.last_run {
        None => out.push_str(&format!(
            "{}\n",
            c.paint(DIM, "no run recorded yet: promoter run")
        )),
        Some(r) => {
            use crate::store::runs::RunOutcome;
            let o = r.outcome.as_str();
            let outcome = match r.outcome {
                RunOutcome::Completed => c.paint(GREEN, o),
                RunOutcome::Running => c.paint(YELLOW, o),
                RunOutcome::Failed | RunOutcome::Interrupted => c.paint(RED, o),
            };
            let took = r.seconds.map(|t| format!(" in {t}s")).unwrap_or_default();
            out.push_str(&format!(
                "last run {} at {} UTC ({} ago): {outcome}{took}{}\n",
                r.id,
                clock::short(r.started_at),
                age(s.generated_at - r.started_at),
                if r.summary.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", escaped(&r.summary))
                }
            ));
        }
    }
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
