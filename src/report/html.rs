//! The status page: one self-contained HTML file (styles inline, no
//! script, no fonts or images to fetch), so it works from `file://` and
//! behind any web server. Pure: data in, text out.

use std::fmt::Write;

use super::age;
use super::status::{Cell, Column, Grid, LabelStatus, Moved, Role, Status};
use crate::clock;
use crate::decide::JobState;

/// How often the page reloads itself, in seconds, for the engineer who
/// keeps it open.
const REFRESH_SECONDS: u32 = 120;

const STYLE: &str = r#"
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --panel: #f6f8fa;
  --passed: #a5d6a7; --failed: #ef9a9a; --timedout: #ffcc80; --running: #90caf9; --missing: #e0e0e0;
  --waived: #fff59d; --disabled: #f5f5f5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: var(--muted); }
main { padding: 8px 24px 32px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
h3 small { font-weight: normal; color: var(--muted); }
code, .hash { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border: 1px solid var(--line); }
th { background: var(--panel); font-weight: 600; }
.labels td.none { color: var(--muted); font-style: italic; }
.labels td:first-child { white-space: nowrap; }
.verdict { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; font-weight: 600; }
.verdict.promotable, .verdict.promoted { background: var(--passed); }
.verdict.blocked { background: var(--failed); }
.verdict.idle { background: var(--missing); }
.run.completed { color: #1b5e20; } .run.failed, .run.interrupted { color: #b71c1c; } .run.running { color: #0d47a1; }
.warnings { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; margin-top: 12px; }
.scroll { overflow-x: auto; max-width: 100%; }
table.grid th.job { max-width: 560px; overflow-wrap: anywhere; font-weight: normal; }
table.grid th.job small { display: block; color: var(--muted); }
table.grid th.col { min-width: 96px; text-align: center; font-weight: normal; font-size: 12px; }
table.grid th.col.current { outline: 2px solid #1b5e20; outline-offset: -2px; }
table.grid td.cell { text-align: center; min-width: 96px; height: 30px; padding: 0; }
table.grid td.cell a, table.grid td.cell span { display: block; padding: 5px 4px; color: inherit; text-decoration: none; }
td.passed { background: var(--passed); } td.failed { background: var(--failed); }
td.timed-out { background: var(--timedout); } td.running { background: var(--running); }
td.missing { background: var(--missing); } td.waived { background: var(--waived); }
td.disabled { background: var(--disabled); color: var(--muted); }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border: 1px solid var(--line); font-size: 12px; }
ol.timeline { list-style: none; margin: 0; padding: 0 0 0 14px; border-left: 3px solid var(--line); }
ol.timeline li { position: relative; padding: 3px 0 3px 12px; }
ol.timeline li::before { content: ""; position: absolute; left: -22px; top: 9px; width: 11px; height: 11px; border-radius: 50%; background: #2e7d32; border: 2px solid var(--bg); }
ol.timeline li.rollback::before { background: #c62828; } ol.timeline li.manual::before { background: #ef6c00; }
ol.timeline li.replay::before { background: #1565c0; }
ol.timeline time { color: var(--muted); font-variant-numeric: tabular-nums; }
ol.timeline .kind { font-size: 12px; color: var(--muted); }
table.summary td.summary { width: 200px; max-width: 200px; }
table.summary td.summary .verdict { max-width: 188px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
table.summary th.release { white-space: nowrap; }
a.verdict.blocked { color: inherit; }
h2.release { font-size: 18px; margin-top: 32px; padding-top: 8px; border-top: 2px solid var(--line); }
footer { padding: 12px 24px; color: var(--muted); border-top: 1px solid var(--line); font-size: 12px; }
"#;

/// The whole page of one release.
pub fn render(status: &Status, grids: &[Grid], timeline: &[Moved]) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let release = esc(&status.release);
    head(&mut h, &format!("promoter: {release}"));
    let _ = write!(
        h,
        "<header>\n<h1>promoter: {release}</h1>\n<p>Generated <time datetime=\"{iso}\">{short} UTC</time>. {run}</p>\n</header>\n<main>\n",
        iso = clock::iso(status.generated_at),
        short = clock::short(status.generated_at),
        run = last_run(status),
    );
    body(&mut h, status, grids, timeline, "");
    foot(&mut h);
    h
}

/// One release's page, for the page of several releases.
pub struct Release<'a> {
    pub status: &'a Status,
    pub grids: &'a [Grid],
    pub timeline: &'a [Moved],
}

/// The page of several releases: a grid of releases × labels first (each
/// cell the label's build, its age and what its newest candidate waits
/// for; a blocked one links to its failing job's log), then each release
/// as its own page shows it.
pub fn render_all(releases: &[Release]) -> String {
    let mut h = String::with_capacity(64 * 1024);
    head(&mut h, "promoter: every release");
    let now = releases
        .iter()
        .map(|r| r.status.generated_at)
        .max()
        .unwrap_or(0);
    let _ = write!(
        h,
        "<header>\n<h1>promoter: {} releases</h1>\n<p>Generated <time datetime=\"{}\">{} UTC</time>.</p>\n</header>\n<main>\n",
        releases.len(),
        clock::iso(now),
        clock::short(now),
    );
    summary(&mut h, releases);
    for r in releases {
        let id = format!("release-{}", esc(&r.status.release));
        let _ = write!(
            h,
            "<section class=\"release\" id=\"{id}\">\n<h2 class=\"release\">{}</h2>\n<p>{}</p>\n",
            esc(&r.status.release),
            last_run(r.status)
        );
        body(&mut h, r.status, r.grids, r.timeline, &format!("{id}-"));
        h.push_str("</section>\n");
    }
    foot(&mut h);
    h
}

/// The grid of releases × labels.
fn summary(h: &mut String, releases: &[Release]) {
    let mut names: Vec<&str> = Vec::new();
    for r in releases {
        for l in r.status.labels.iter().filter(|l| l.component.is_none()) {
            if !names.contains(&l.label.as_str()) {
                names.push(&l.label);
            }
        }
    }
    h.push_str("<section id=\"summary\">\n<h2>Every release</h2>\n<div class=\"scroll\"><table class=\"summary\">\n<tr><th>Release</th>");
    for n in &names {
        let _ = write!(h, "<th>{}</th>", esc(n));
    }
    h.push_str("</tr>\n");
    for r in releases {
        let rel = esc(&r.status.release);
        let _ = write!(
            h,
            "<tr><th class=\"release\"><a href=\"#release-{rel}\">{rel}</a></th>"
        );
        for n in &names {
            let l = r
                .status
                .labels
                .iter()
                .find(|l| l.component.is_none() && l.label == *n);
            match l {
                Some(l) => summary_cell(h, l, &rel),
                None => h.push_str("<td class=\"none\">&ndash;</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n</section>\n");
}

/// One cell of the summary: the label's build and age, and its newest
/// candidate's verdict; a blocked candidate links to the log of the first
/// job that failed it, else to the release's grid of that promotion.
fn summary_cell(h: &mut String, l: &LabelStatus, rel: &str) {
    let build = match (&l.build, &l.aggregate) {
        (Some(b), _) => format!(
            "<code class=\"hash\" title=\"{}\">{}</code>",
            esc(&b.full_hash),
            esc(short_hash(&b.full_hash))
        ),
        (None, Some(a)) => format!(
            "<code class=\"hash\" title=\"aggregate {}\">{}</code>",
            esc(a),
            esc(short_hash(a))
        ),
        (None, None) => "<span class=\"none\">not set</span>".to_string(),
    };
    let moved = l
        .age_seconds
        .map(|a| format!(" <small>{} ago</small>", age(a)))
        .unwrap_or_default();
    let verdict = match &l.newest_candidate {
        Some(c) if c.verdict == crate::model::Verdict::Blocked => {
            let failed = c
                .blocking
                .iter()
                .find_map(|j| j.state.vote().and_then(|v| href(&v.url)).map(|u| (j, u)));
            match failed {
                Some((j, url)) => format!(
                    "<br><a class=\"verdict blocked\" href=\"{}\" title=\"{} {}: its log\">blocked: {}</a>",
                    esc(&url),
                    esc(&j.job_id),
                    j.state.word(),
                    esc(&j.job_id)
                ),
                None => format!(
                    "<br><a class=\"verdict blocked\" href=\"#release-{rel}-promotion-{}\">blocked</a>",
                    esc(&l.label)
                ),
            }
        }
        Some(_) => "<br><span class=\"verdict promotable\">promotable</span>".to_string(),
        None if l.role == Role::Promotion => {
            "<br><span class=\"verdict idle\">up to date</span>".to_string()
        }
        None => String::new(),
    };
    let _ = write!(h, "<td class=\"summary\">{build}{moved}{verdict}</td>");
}

fn short_hash(h: &str) -> &str {
    &h[..h.len().min(8)]
}

fn head(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\n\
         <meta name=\"generator\" content=\"promoter status\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
}

fn foot(h: &mut String) {
    let _ = write!(
        h,
        "</main>\n<footer>Written by <code>promoter status --html</code>; reloads every {} minutes. \
         Why a build is blocked, with log tails: <code>promoter why --promotion NAME</code>.</footer>\n\
         </body>\n</html>\n",
        REFRESH_SECONDS / 60
    );
}

/// A release's sections; `p` prefixes their ids (empty on a release's own
/// page).
fn body(h: &mut String, status: &Status, grids: &[Grid], timeline: &[Moved], p: &str) {
    let now = status.generated_at;
    if !status.warnings.is_empty() {
        h.push_str("<div class=\"warnings\"><strong>Warnings</strong><ul>");
        for w in &status.warnings {
            let _ = write!(h, "<li>{}</li>", esc(w));
        }
        h.push_str("</ul></div>\n");
    }
    labels(h, status, p);
    running_jobs(h, status, p);
    if let Some(u) = &status.updates {
        updates(h, u, p);
    }
    let _ = write!(h, "<section id=\"{p}criteria\">\n<h2>Criteria</h2>\n");
    h.push_str(
        "<p class=\"legend\"><span style=\"background:var(--passed)\">&#10003; passed</span>\
         <span style=\"background:var(--failed)\">&#10007; failed</span>\
         <span style=\"background:var(--timedout)\">T timed out</span>\
         <span style=\"background:var(--running)\">&#8943; running</span>\
         <span style=\"background:var(--missing)\">&ndash; missing</span>\
         <span style=\"background:var(--waived)\">W waived</span>\
         <span style=\"background:var(--disabled)\">&empty; disabled</span></p>\n",
    );
    for g in grids {
        grid(h, g, p);
    }
    h.push_str("</section>\n");
    history(h, timeline, now, p);
}

/// The updates by state, over all and per combination.
fn updates(h: &mut String, u: &crate::report::updates::UpdatesStatus, p: &str) {
    use crate::report::updates::counts;
    let _ = write!(
        h,
        "<section id=\"{p}updates\">\n<h2>Updates</h2>\n<p>{}</p>\n<div class=\"scroll\"><table>\n<thead><tr><th>combination</th><th>updates</th><th>disabled</th></tr></thead>\n<tbody>\n",
        esc(&counts(&u.by_state))
    );
    for c in &u.combinations {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.combination.to_string()),
            esc(&counts(&c.by_state)),
            esc(c.disabled.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</tbody></table></div>\n");
    for pubd in &u.publications {
        let _ = writeln!(
            h,
            "<p>{}</p>",
            esc(&crate::report::updates::publication_line(pubd))
        );
    }
    h.push_str("</section>\n");
}

/// The jobs running now: where, since when, and how long they have left.
fn running_jobs(h: &mut String, s: &Status, p: &str) {
    if s.running.is_empty() {
        return;
    }
    let _ = write!(h, "<section id=\"{p}running\">");
    h.push_str(
        "\n<h2>Running jobs</h2>\n<div class=\"scroll\"><table>\n\
         <thead><tr><th>promotion</th><th>job</th><th>build</th><th>since</th><th>where</th><th>left</th></tr></thead>\n<tbody>\n",
    );
    for j in &s.running {
        let pid = j
            .pid
            .map_or(format!("supervisor {}", j.supervisor_pid), |p| {
                format!("pid {p}")
            });
        let left = j.seconds_left.map_or("-".to_string(), super::age);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code class=\"hash\">{}</code></td>\
             <td><time datetime=\"{}\">{}</time> ({} ago)</td><td>{} ({pid})</td><td>{left}</td></tr>",
            esc(&j.promotion),
            esc(&j.job_id),
            esc(&j.full_hash),
            clock::iso(j.started_at),
            clock::short(j.started_at),
            super::age(s.generated_at - j.started_at),
            esc(&j.host),
        );
        h.push('\n');
    }
    h.push_str("</tbody></table></div>\n</section>\n");
}

fn last_run(s: &Status) -> String {
    match &s.last_run {
        None => "No run recorded yet.".into(),
        Some(r) => {
            let took = r.seconds.map(|t| format!(" in {t}s")).unwrap_or_default();
            format!(
                "Last run {} started {} UTC ({} ago): <span class=\"run {}\">{}</span>{took}. {}",
                r.id,
                clock::short(r.started_at),
                age(s.generated_at - r.started_at),
                esc(r.outcome.as_str()),
                esc(r.outcome.as_str()),
                esc(&r.summary)
            )
        }
    }
}

fn labels(h: &mut String, s: &Status, p: &str) {
    let _ = write!(h, "<section id=\"{p}labels\">");
    h.push_str(
        "\n<h2>Labels</h2>\n<div class=\"scroll\"><table class=\"labels\">\n\
         <tr><th>Label</th><th>Build</th><th>Moved</th><th>Waiting</th><th>Newest candidate</th></tr>\n",
    );
    for l in &s.labels {
        label_row(h, l, s.generated_at);
    }
    h.push_str("</table></div>\n</section>\n");
}

/// One label's row of the labels table.
fn label_row(h: &mut String, l: &LabelStatus, now: i64) {
    let name = match &l.component {
        Some(c) => format!("{}/{}", esc(c), esc(&l.label)),
        None => esc(&l.label),
    };
    let role = match l.role {
        Role::Builder => " <small>(builder)</small>",
        Role::Promotion => "",
        Role::External => " <small>(external)</small>",
        Role::Other => " <small>(by hand)</small>",
    };
    let _ = write!(
        h,
        "<tr class=\"label\" data-label=\"{}\"><td><strong>{name}</strong>{role}</td>",
        esc(&l.label)
    );
    build_cell(h, l);
    match l.moved_at {
        Some(t) => {
            let _ = write!(
                h,
                "<td><time datetime=\"{}\" title=\"{} UTC\">{} ago</time></td>",
                clock::iso(t),
                clock::short(t),
                age(now - t)
            );
        }
        None => h.push_str("<td class=\"none\">&ndash;</td>"),
    }
    match l.candidates_waiting {
        Some(n) => {
            let _ = write!(h, "<td>{n}</td>");
        }
        None => h.push_str("<td class=\"none\">&ndash;</td>"),
    }
    candidate_cell(h, l);
    h.push_str("</tr>\n");
}

/// The cell of the build (or aggregate) a label points at.
fn build_cell(h: &mut String, l: &LabelStatus) {
    match (&l.build, &l.aggregate) {
        (Some(b), _) => {
            let _ = write!(
                h,
                "<td><code class=\"hash\">{}</code><br><small>{} &middot; built {}</small></td>",
                esc(&b.full_hash),
                esc(&b.project_name),
                clock::short(b.built_at)
            );
        }
        (None, Some(a)) => {
            let _ = write!(
                h,
                "<td><code class=\"hash\">{}</code><br><small>aggregate</small></td>",
                esc(a)
            );
        }
        (None, None) => h.push_str("<td class=\"none\">not set</td>"),
    }
}

/// The cell of a label's newest candidate and its verdict.
fn candidate_cell(h: &mut String, l: &LabelStatus) {
    match (&l.newest_candidate, l.role) {
        (Some(c), _) => {
            let _ = write!(
                h,
                "<td><span class=\"verdict {v}\">{v}</span> <code class=\"hash\">{}</code><br><small>{}</small></td>",
                esc(c.aggregate.as_deref().unwrap_or(&c.build.full_hash)),
                esc(&c.summary),
                v = c.verdict
            );
        }
        (None, Role::Promotion) => {
            let _ = write!(
                h,
                "<td><span class=\"verdict idle\">up to date</span> <small>nothing newer in {}</small></td>",
                esc(l.candidate_label.as_deref().unwrap_or(""))
            );
        }
        (None, Role::External) => {
            let _ = write!(
                h,
                "<td><small>moved by CI elsewhere{}</small></td>",
                l.moved_by
                    .as_deref()
                    .map(|u| format!(", last by {}", esc(u)))
                    .unwrap_or_default()
            );
        }
        (None, _) => h.push_str("<td class=\"none\">&ndash;</td>"),
    }
}

fn grid(h: &mut String, g: &Grid, p: &str) {
    let id = esc(&g.promotion);
    let _ = write!(
        h,
        "<article class=\"promotion\" id=\"{p}promotion-{id}\">\n<h3>{id} <small>candidates from {}</small></h3>\n",
        esc(&g.candidate_label)
    );
    if g.columns.is_empty() {
        let _ = write!(
            h,
            "<p>No candidate: {} has no build newer than the last one promoted, and the label is not set.</p>\n</article>\n",
            esc(&g.candidate_label)
        );
        return;
    }
    h.push_str("<div class=\"scroll\"><table class=\"grid\">\n<thead><tr><th>required job</th>");
    for c in &g.columns {
        column_head(h, c);
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (i, j) in g.jobs.iter().enumerate() {
        let _ = write!(h, "<tr><th class=\"job\">{}", esc(&j.job_id));
        if !j.alternatives.is_empty() {
            let alts: Vec<String> = j.alternatives.iter().map(|a| esc(a)).collect();
            let _ = write!(h, "<small>or {}</small>", alts.join(", "));
        }
        h.push_str("</th>");
        for c in &g.columns {
            match c.cells.get(i) {
                Some(cell) => self::cell(h, cell),
                None => h.push_str("<td class=\"cell missing\"></td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n</article>\n");
}

fn column_head(h: &mut String, c: &Column) {
    let b = &c.build;
    let rank = match c.rank {
        Some(0) => "newest".to_string(),
        Some(i) => format!("candidate {}", i + 1),
        None => "label now".to_string(),
    };
    // An aggregate column is named by its aggregate, dated by its newest build.
    let (full, short): (&str, String) = match &c.aggregate {
        Some(a) => (
            a,
            format!("aggregate {}", a.chars().take(10).collect::<String>()),
        ),
        None => (&b.full_hash, b.commit_hash.chars().take(10).collect()),
    };
    let current = if c.verdict == crate::model::Verdict::Promoted {
        " current"
    } else {
        ""
    };
    let _ = write!(
        h,
        "<th class=\"col{current}\" title=\"{full}\" data-hash=\"{full}\"><code>{}</code><br>{rank}<br>built {}<br><span class=\"verdict {v}\">{v}</span></th>",
        esc(&short),
        clock::short(b.built_at),
        full = esc(full),
        v = c.verdict,
    );
}

fn cell(h: &mut String, cell: &Cell) {
    let (class, glyph) = match &cell.check.state {
        JobState::Passed { .. } => ("passed", "&#10003;"),
        JobState::Failed { .. } => ("failed", "&#10007;"),
        JobState::TimedOut { .. } => ("timed-out", "T"),
        JobState::Running { .. } => ("running", "&#8943;"),
        JobState::Missing => ("missing", "&ndash;"),
        JobState::Waived { .. } => ("waived", "W"),
        JobState::Disabled { .. } => ("disabled", "&empty;"),
    };
    let mut title = cell.check.state.word().to_string();
    match &cell.check.state {
        JobState::Waived { waiver } => {
            let _ = write!(
                title,
                ": waiver {} by {}: {}",
                waiver.id, waiver.user, waiver.reason
            );
        }
        JobState::Disabled { reason } => {
            let _ = write!(title, ": {reason}");
        }
        JobState::Passed { by: Some(alt), .. } => {
            let _ = write!(title, " by alternative {alt}");
        }
        _ => {}
    }
    if let Some(v) = cell.check.state.vote() {
        let _ = write!(title, ", {} UTC", clock::short(v.timestamp));
        if !v.notes.is_empty() {
            let _ = write!(title, ": {}", v.notes);
        }
    }
    let link = cell
        .check
        .state
        .vote()
        .and_then(|v| href(&v.url))
        .or_else(|| cell.archive.as_deref().and_then(href));
    let _ = write!(h, "<td class=\"cell {class}\">");
    match link {
        Some(url) => {
            let _ = write!(
                h,
                "<a href=\"{}\" title=\"{}\">{glyph}</a>",
                esc(&url),
                esc(&title)
            );
        }
        None => {
            let _ = write!(h, "<span title=\"{}\">{glyph}</span>", esc(&title));
        }
    }
    h.push_str("</td>");
}

fn history(h: &mut String, timeline: &[Moved], now: i64, p: &str) {
    let _ = write!(h, "<section id=\"{p}history\">\n<h2>History</h2>\n");
    if timeline.is_empty() {
        h.push_str("<p>No promotion recorded yet.</p>\n</section>\n");
        return;
    }
    h.push_str("<ol class=\"timeline\">\n");
    for m in timeline {
        let label = match &m.component {
            Some(c) => format!("{}/{}", esc(c), esc(&m.label)),
            None => esc(&m.label),
        };
        let _ = write!(
            h,
            "<li class=\"{kind}\" data-id=\"{id}\"><time datetime=\"{iso}\">{short}</time> ({ago} ago) \
             <strong>{label}</strong> &rarr; <code class=\"hash\">{full}</code> <span class=\"kind\">{kind} #{id} by {user}</span>",
            kind = m.kind,
            id = m.id,
            iso = clock::iso(m.timestamp),
            short = clock::short(m.timestamp),
            ago = age(now - m.timestamp),
            full = esc(&m.full_hash),
            user = esc(&m.user),
        );
        if let Some(p) = &m.previous_full_hash {
            let _ = write!(h, " <small>(was {})</small>", esc(p));
        }
        if !m.reason.is_empty() {
            let _ = write!(h, ": {}", esc(&m.reason));
        }
        h.push_str("</li>\n");
    }
    h.push_str("</ol>\n</section>\n");
}

/// Escapes text for HTML content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link target for a vote url or a log archive: http(s) urls as they
/// are, absolute paths as `file://` urls; anything else (`javascript:`,
/// relative text) is not linked.
fn href(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Some(url.to_string());
    }
    if url.starts_with('/') {
        let mut out = String::from("file://");
        for b in url.bytes() {
            if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        return Some(out);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn only_web_urls_and_absolute_paths_become_links() {
        assert_eq!(
            href("https://logs.example.org/a?b=1").as_deref(),
            Some("https://logs.example.org/a?b=1")
        );
        assert_eq!(
            href("/srv/logs/run 1/job.tar.gz").as_deref(),
            Some("file:///srv/logs/run%201/job.tar.gz")
        );
        assert_eq!(href("javascript:alert(1)"), None);
        assert_eq!(href("JavaScript:alert(1)"), None);
        assert_eq!(href("logs/relative"), None);
        assert_eq!(href(""), None);
    }

    #[test]
    fn an_empty_status_is_still_a_whole_page() {
        let s = Status {
            release: "master<".into(),
            generated_at: 1_700_000_000,
            labels: vec![],
            last_run: None,
            publications: Vec::new(),
            warnings: vec![],
            running: Vec::new(),
            updates: None,
        };
        let page = render(&s, &[], &[]);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.ends_with("</html>\n"));
        assert!(page.contains("<title>promoter: master&lt;</title>"));
        assert!(page.contains("No promotion recorded yet."));
        for external in ["<script", "<link", "<img", "@import", "url("] {
            assert!(!page.contains(external), "{external}");
        }
    }
}
