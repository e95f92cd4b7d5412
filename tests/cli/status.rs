//! `status`: the table, the JSON, the metrics file and the HTML page, all
//! checked against the database; the page in a real browser.

use std::collections::BTreeMap;
use std::process::Command;

use crate::browser::{artifacts, chromium, decode_png, headless};
use crate::util::*;

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

/// A pipeline with a history, a passed, a failed and a missing job: the
/// older consistent build went all the way through, the newest one passed
/// job-a and is blocked at current-tripleo-rdo by job-b (failed) and job-c
/// (missing).
fn pipeline() -> (Workspace, String) {
    let ws = Workspace::sample();
    ws.write_config(CHAIN);
    ws.run(&["import"]).ok();
    let old = nth_consistent(&ws, 1);
    let new = nth_consistent(&ws, 0);
    for (label, h) in [
        ("tripleo-ci-testing", &old),
        ("current-tripleo", &old),
        ("current-tripleo-rdo", &old),
    ] {
        promote_by_hand(&ws, h, label);
    }
    ws.vote("job-a", &new.0, &new.1, true);
    ws.vote("job-b", &new.0, &new.1, false);
    ws.run(&["run", "--wait"]).ok();
    let full = full_hash(&new);
    assert_eq!(
        ws.sql::<String>("SELECT full_hash FROM labels_view WHERE name = 'current-tripleo'"),
        full,
        "the setup promotes the newest build to current-tripleo"
    );
    (ws, full)
}

/// The commit and distro hash of the n-th newest consistent build.
fn nth_consistent(ws: &Workspace, n: i64) -> (String, String) {
    let dir: String = ws.sql(&format!(
        "SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET {n}"
    ));
    hashes_of(&dir)
}

fn full_hash((c, d): &(String, String)) -> String {
    format!("{c}_{}", &d[..8])
}

fn promote_by_hand(ws: &Workspace, (c, d): &(String, String), label: &str) {
    ws.repo_promote(c, d, label).ok();
}

/// (label, full hash, updated_at) of every label, from the database.
fn db_labels(ws: &Workspace) -> Vec<(String, String, i64)> {
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let mut s = c
        .prepare(
            "SELECT l.name, b.full_hash, l.updated_at FROM labels l JOIN builds b ON b.id = l.build_id
             ORDER BY l.name",
        )
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn status_and_status_json_agree_with_the_database() {
    let (ws, newest) = pipeline();
    let labels = db_labels(&ws);
    assert_eq!(labels.len(), 5, "current, consistent and three promotions");

    let j = ws.run(&["status", "--json"]);
    j.ok();
    let j = j.json();
    let by_name: BTreeMap<&str, &serde_json::Value> = j["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["label"].as_str().unwrap(), l))
        .collect();
    assert_eq!(by_name.len(), labels.len(), "{j:#}");
    for (name, full, updated) in &labels {
        let l = by_name[name.as_str()];
        assert_eq!(l["build"]["full_hash"], *full, "{name}");
        assert_eq!(l["moved_at"], *updated, "{name}");
    }
    let order: Vec<&str> = j["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "current",
            "consistent",
            "tripleo-ci-testing",
            "current-tripleo",
            "current-tripleo-rdo"
        ]
    );
    let rdo = by_name["current-tripleo-rdo"];
    assert_eq!(rdo["candidate_label"], "current-tripleo");
    assert_eq!(rdo["candidates_waiting"], 1);
    assert_eq!(rdo["newest_candidate"]["build"]["full_hash"], newest);
    assert_eq!(rdo["newest_candidate"]["verdict"], "blocked");
    let blocking: Vec<(&str, &str)> = rdo["newest_candidate"]["blocking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["job_id"].as_str().unwrap(), b["state"].as_str().unwrap()))
        .collect();
    assert_eq!(blocking, [("job-b", "failed"), ("job-c", "missing")]);
    assert_eq!(
        by_name["current-tripleo"]["newest_candidate"],
        serde_json::Value::Null
    );
    assert_eq!(by_name["current-tripleo"]["candidates_waiting"], 0);

    let run_id: i64 = ws.sql("SELECT max(id) FROM runs");
    let started: i64 = ws.sql("SELECT started_at FROM runs ORDER BY id DESC LIMIT 1");
    assert_eq!(j["last_run"]["id"], run_id);
    assert_eq!(j["last_run"]["started_at"], started);
    assert_eq!(j["last_run"]["outcome"], "completed");

    // The table: the same facts, one line per label, then the last run.
    let t = ws.run(&["status"]);
    t.ok();
    assert!(!t.stdout.contains('\x1b'), "no colour into a pipe");
    let lines: Vec<&str> = t.stdout.lines().collect();
    assert_eq!(lines.len(), 1 + labels.len() + 1, "{}", t.stdout);
    assert!(lines[0].starts_with("LABEL"), "{}", t.stdout);
    for (name, full, _) in &labels {
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{}", t.stdout));
        assert_eq!(
            line.split_whitespace().nth(1),
            Some(full.as_str()),
            "{line}"
        );
    }
    let rdo_line = lines
        .iter()
        .find(|l| l.starts_with("current-tripleo-rdo"))
        .unwrap();
    assert!(
        rdo_line.ends_with(&format!(
            "{newest} blocked by job-b (failed), job-c (missing) (0 of 2 passed)"
        )),
        "{rdo_line}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with(&format!("last run {run_id} at ")) && last.contains(": completed"),
        "{last}"
    );
}

#[test]
fn status_colours_only_on_a_terminal_and_never_with_no_color() {
    let (ws, _) = pipeline();
    // `script` gives the command a terminal, as a person's shell would.
    let on_a_terminal = |no_color: Option<&str>| {
        let cmd = format!("{} -c {} status", BIN, ws.config().display());
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let out = c.output().expect("script(1) from util-linux");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_a_terminal(None);
    assert!(
        coloured.contains("\x1b[31mblocked\x1b[0m"),
        "blocked in red on a terminal:\n{coloured}"
    );
    let plain = on_a_terminal(Some("1"));
    assert!(plain.contains("blocked by job-b"), "{plain}");
    assert!(!plain.contains('\x1b'), "NO_COLOR is respected:\n{plain}");
}

/// One sample of a metrics file.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses Prometheus text format strictly enough to fail on what a
/// scraper rejects: every sample's family declared by a TYPE line before
/// it, one TYPE per family, valid names, quoted and escaped label values,
/// numeric values, no duplicate series, a final newline.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the file ends with a newline");
    let name_ok = |n: &str| {
        let mut cs = n.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("line {}: {line}", i + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or_else(|| panic!("{at}"));
            assert!(name_ok(name), "{at}");
            if kind == "TYPE" {
                let t = parts.next().unwrap_or_else(|| panic!("{at}"));
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "{at}"
                );
                assert!(
                    typed.insert(name.into(), t.into()).is_none(),
                    "two TYPE lines: {at}"
                );
            } else {
                assert_eq!(kind, "HELP", "{at}");
                assert!(!typed.contains_key(name), "HELP after TYPE: {at}");
            }
            continue;
        }
        assert!(!line.is_empty() && !line.starts_with('#'), "{at}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{at}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value: {at}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{at}"));
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert!(name_ok(&key), "label name {key:?}: {at}");
                    assert_eq!(chars.next(), Some('"'), "{at}");
                    let mut v = String::new();
                    loop {
                        match chars.next().unwrap_or_else(|| panic!("unterminated: {at}")) {
                            '\\' => match chars.next() {
                                Some('\\') => v.push('\\'),
                                Some('"') => v.push('"'),
                                Some('n') => v.push('\n'),
                                e => panic!("bad escape {e:?}: {at}"),
                            },
                            '"' => break,
                            '\n' => panic!("{at}"),
                            c => v.push(c),
                        }
                    }
                    match chars.next() {
                        None => {}
                        Some(',') => {}
                        c => panic!("unexpected {c:?}: {at}"),
                    }
                    assert!(labels.insert(key, v).is_none(), "repeated label: {at}");
                }
                (n, labels)
            }
        };
        assert!(name_ok(name), "{at}");
        assert!(typed.contains_key(name), "no TYPE before the sample: {at}");
        assert!(seen.insert(series.to_string()), "duplicate series: {at}");
        samples.push(Sample {
            name: name.into(),
            labels,
            value,
        });
    }
    samples
}

#[test]
fn the_metrics_file_parses_as_prometheus_text_and_agrees_with_the_database() {
    let (ws, newest) = pipeline();
    let dir = ws.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("promoter-master.prom");
    std::fs::write(&file, "stale").unwrap();
    let r = ws.run(&["status", "--metrics", file.to_str().unwrap()]);
    r.ok();
    assert_eq!(r.stdout, "", "with --metrics, nothing on stdout");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["promoter-master.prom"], "no temporary file left");
    let text = std::fs::read_to_string(&file).unwrap();
    let samples = parse_prometheus(&text);
    let get = |name: &str, want: &[(&str, &str)]| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| {
                s.name == name
                    && want
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .collect()
    };
    assert!(samples.iter().all(|s| s.labels["release"] == "master"));
    for (name, full, updated) in db_labels(&ws) {
        assert_eq!(
            get(
                "promoter_label_info",
                &[("label", name.as_str()), ("full_hash", full.as_str())]
            ),
            [1.0],
            "{name}\n{text}"
        );
        assert_eq!(
            get(
                "promoter_label_moved_timestamp_seconds",
                &[("label", name.as_str())]
            ),
            [updated as f64],
            "{name}"
        );
    }
    let rdo = [("label", "current-tripleo-rdo")];
    assert_eq!(get("promoter_candidates_waiting", &rdo), [1.0]);
    assert_eq!(get("promoter_newest_candidate_blocked", &rdo), [1.0]);
    for (result, n) in [("passed", 0.0), ("failed", 1.0), ("missing", 1.0)] {
        assert_eq!(
            get(
                "promoter_newest_candidate_jobs",
                &[("label", "current-tripleo-rdo"), ("result", result)]
            ),
            [n],
            "{result}"
        );
    }
    assert!(!text.contains(&format!(
        "label=\"current-tripleo-rdo\",full_hash=\"{newest}\""
    )));
    let started: i64 = ws.sql("SELECT started_at FROM runs ORDER BY id DESC LIMIT 1");
    let took: i64 = ws.sql("SELECT ended_at - started_at FROM runs ORDER BY id DESC LIMIT 1");
    assert_eq!(
        get("promoter_last_run_timestamp_seconds", &[]),
        [started as f64]
    );
    assert_eq!(
        get("promoter_last_run_duration_seconds", &[]),
        [took as f64]
    );
    assert_eq!(
        get("promoter_last_run_outcome", &[("outcome", "completed")]),
        [1.0]
    );
    assert_eq!(
        get("promoter_last_run_outcome", &[("outcome", "failed")]),
        [0.0]
    );

    // promtool, the reference checker, where it is installed.
    if let Ok(out) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
    {
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_status_file_in_a_missing_directory_fails_and_says_where() {
    let (ws, _) = pipeline();
    let r = ws.run(&["status", "--html", "no/such/dir/page.html"]);
    r.code(1)
        .error_says("failed to write no/such/dir/page.html");
}

#[test]
fn a_metrics_file_in_proc_names_the_temporary_file_that_cannot_be_made() {
    let (ws, _) = pipeline();
    let r = ws.run(&["status", "--metrics", "/proc/version"]);
    r.code(1).error_says(
        "failed to write /proc/version: cannot create the temporary file /proc/.version.tmp-",
    );
}

#[test]
fn history_of_an_unknown_promotion_is_not_found_as_in_why() {
    let (ws, _) = pipeline();
    let why = ws.run(&["why", "--promotion", "nope"]);
    why.code(3).error_says("no promotion \"nope\"");
    ws.run(&["history", "--promotion", "nope"])
        .code(3)
        .error_says("no promotion \"nope\" in ");
    // A known promotion with no history yet, and a label moved by hand
    // that the config does not name, are still answered.
    let fresh = Workspace::sample();
    fresh.write_config(CHAIN);
    fresh
        .run(&["history", "--promotion", "current-tripleo-rdo"])
        .ok();
    let (c, d) = nth_consistent(&ws, 0);
    ws.repo_promote(&c, &d, "by-hand").ok();
    let h = ws.run(&["history", "--promotion", "by-hand"]);
    h.ok();
    assert!(h.stdout.contains("by-hand"), "{}", h.stdout);
    // With only the database, no config to ask: nothing recorded under
    // that name.
    std::fs::remove_file(ws.config()).unwrap();
    ws.run_db(&["history", "--promotion", "nope"])
        .code(3)
        .error_says("no promotion \"nope\" in the history of ");
    ws.run_db(&["history", "--promotion", "by-hand"]).ok();
}

#[test]
fn the_status_page_in_headless_chromium_shows_every_label_and_hash() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (ws, newest) = pipeline();
    let page = ws.path().join("www/master.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    ws.run(&["status", "--html", page.to_str().unwrap()]).ok();
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script", "<link", "<img", "@import", "url(", "<iframe"] {
        assert!(
            !html.contains(external),
            "the page is self-contained, yet has {external}"
        );
    }
    let url = format!("file://{}", page.display());

    let dom = headless(&chromium, &["--dump-dom", &url]);
    assert!(dom.contains("<title>promoter: master</title>"), "{dom}");
    for (name, full, _) in db_labels(&ws) {
        assert!(
            dom.contains(&format!("data-label=\"{name}\"")),
            "label {name} in the DOM"
        );
        assert!(dom.contains(&full), "{name}'s build {full} in the DOM");
    }
    assert!(dom.contains(&newest));
    for grid in [
        "tripleo-ci-testing",
        "current-tripleo",
        "current-tripleo-rdo",
    ] {
        assert!(
            dom.contains(&format!("id=\"promotion-{grid}\"")),
            "criteria grid of {grid}"
        );
    }
    let rdo = &dom[dom.find("id=\"promotion-current-tripleo-rdo\"").unwrap()..];
    let rdo = &rdo[..rdo.find("</article>").unwrap()];
    assert!(rdo.contains("class=\"cell failed\""), "{rdo}");
    assert!(rdo.contains("class=\"cell missing\""), "{rdo}");
    assert!(
        rdo.contains("href=\"https://logs.example.org/job-b\""),
        "{rdo}"
    );
    assert!(rdo.contains(&format!("data-hash=\"{newest}\"")), "{rdo}");
    let history: i64 = ws.sql("SELECT count(*) FROM promotions");
    let timeline = &dom[dom.find("<ol class=\"timeline\">").unwrap()..];
    let timeline = &timeline[..timeline.find("</ol>").unwrap()];
    assert_eq!(
        timeline.matches("<li ").count() as i64,
        history,
        "one timeline entry per history row"
    );

    let shot = artifacts().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &chromium,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000",
            &url,
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    let (w, h, pixels) = decode_png(&png);
    assert_eq!((w, h), (1400, 1000));
    let near = |p: [u8; 3], q: [u8; 3]| p.iter().zip(q).all(|(a, b)| a.abs_diff(b) <= 4);
    let count = |c: [u8; 3]| pixels.iter().filter(|p| near(**p, c)).count();
    let passed = count([0xa5, 0xd6, 0xa7]);
    let failed = count([0xef, 0x9a, 0x9a]);
    let white = count([0xff, 0xff, 0xff]);
    assert!(passed > 2000, "green passed cells on screen ({passed} px)");
    assert!(failed > 2000, "red failed cells on screen ({failed} px)");
    assert!(
        white < pixels.len() * 95 / 100,
        "the page is not blank ({white} of {} px white)",
        pixels.len()
    );
    eprintln!("screenshot: {}", shot.display());
}
