//! Mirrors: `export` from one workspace, `replay` into another.

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
";

fn workspace() -> Workspace {
    let ws = Workspace::sample();
    ws.write_config(CHAIN);
    ws
}

/// The (commit, distro) of the n-th newest consistent build of the sample.
fn consistent(ws: &Workspace, n: i64) -> (String, String) {
    let dir: String = ws.sql(&format!(
        "SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET {n}"
    ));
    hashes_of(&dir)
}

fn full((c, d): &(String, String)) -> String {
    format!("{c}_{}", &d[..8])
}

fn repo_dir(ws: &Workspace, b: &(String, String)) -> String {
    ws.sql(&format!(
        "SELECT repo_dir FROM builds WHERE full_hash = '{}'",
        full(b)
    ))
}

fn promote(ws: &Workspace, (c, d): &(String, String), label: &str) {
    ws.repo_promote(c, d, label).ok();
}

/// A source with a history of five rows: both labels moved twice, then
/// current-tripleo rolled back.
fn source() -> Workspace {
    let up = workspace();
    up.run(&["import"]).ok();
    let (old, new) = (consistent(&up, 1), consistent(&up, 0));
    promote(&up, &old, "tripleo-ci-testing");
    promote(&up, &old, "current-tripleo");
    promote(&up, &new, "tripleo-ci-testing");
    promote(&up, &new, "current-tripleo");
    up.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--reason",
        "breaks ovb",
    ])
    .ok();
    up
}

fn export(ws: &Workspace) -> String {
    let r = ws.run_db(&["export"]);
    r.ok();
    r.stdout
}

/// (label, full hash, user, reason) of every history row, in order.
fn history(ws: &Workspace) -> Vec<(String, String, String, String)> {
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let mut s = c
        .prepare("SELECT name, full_hash, user, reason FROM promotions_view ORDER BY id")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every label link and previous- link, in the trunk and the image tree.
fn links(ws: &Workspace) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for tree in ["trunk", "images"] {
        for label in ["tripleo-ci-testing", "current-tripleo"] {
            for name in [label.to_string(), format!("previous-{label}")] {
                let rel = format!("{tree}/{name}");
                out.push((rel.clone(), ws.link(&rel)));
            }
        }
    }
    out
}

fn write(ws: &Workspace, name: &str, text: &str) -> String {
    let p = ws.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn export_writes_one_json_line_per_history_row_oldest_first() {
    let up = source();
    let text = export(&up);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5);
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    let origin: String = up.sql("SELECT name FROM origin");
    let (old, new) = (consistent(&up, 1), consistent(&up, 0));
    let last = &rows[4];
    assert_eq!(last["origin"], origin);
    assert_eq!(last["label"], "current-tripleo");
    assert_eq!(last["commit_hash"], old.0);
    assert_eq!(last["distro_hash"], old.1);
    assert_eq!(last["full_hash"], full(&old));
    assert_eq!(last["previous_full_hash"], full(&new));
    assert_eq!(last["kind"], "rollback");
    assert_eq!(last["user"], "tester");
    assert_eq!(last["reason"], "breaks ovb");
    let t: i64 = up.sql("SELECT timestamp FROM promotions WHERE id = 5");
    assert_eq!(last["timestamp"], t);

    let since = up.run_db(&["export", "--since", "3"]);
    since.ok();
    let ids: Vec<i64> = since
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [4, 5]);
    let bad = up.run_db(&["export", "--since", "x1"]);
    bad.code(2);
    assert!(bad.stderr.contains("--since"), "{}", bad.stderr);
}

#[test]
fn replay_gives_the_same_links_and_history_and_twice_changes_nothing() {
    let up = source();
    let file_text = export(&up);
    let mirror = workspace();
    let file = write(&mirror, "history.jsonl", &file_text);

    // The mirror imports its own trunk first: no `import` needed.
    let r = mirror.run(&["replay", &file]);
    r.ok();
    assert_eq!(
        r.stdout.trim(),
        format!(
            "replayed 5 rows from {file}: 5 applied, 0 unchanged, 0 already replayed, 0 superseded, 0 skipped"
        )
    );
    assert_eq!(links(&mirror), links(&up));
    assert!(links(&mirror).iter().all(|(_, l)| l.is_some()));
    assert_eq!(history(&mirror), history(&up));
    assert_eq!(
        mirror.sql::<i64>("SELECT count(*) FROM promotions WHERE kind = 'replay'"),
        5
    );
    let labels = |ws: &Workspace| -> Vec<(String, String)> {
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        let mut s = c
            .prepare(
                "SELECT name, full_hash FROM labels_view WHERE source = 'promoter' ORDER BY name",
            )
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(labels(&mirror), labels(&up));

    // Twice changes nothing.
    let before = (links(&mirror), history(&mirror));
    let again = mirror.run(&["replay", &file]);
    again.ok();
    assert!(
        again
            .stdout
            .contains("0 applied, 0 unchanged, 5 already replayed"),
        "{}",
        again.stdout
    );
    assert_eq!((links(&mirror), history(&mirror)), before);
    assert!(!again.stderr.contains("WARN"), "{}", again.stderr);
}

#[test]
fn replay_skips_a_build_this_mirror_lacks_with_a_warning_and_applies_the_rest() {
    let up = source();
    let mut text = export(&up);
    let origin: String = up.sql("SELECT name FROM origin");
    let unknown = format!(
        r#"{{"origin":"{origin}","id":6,"label":"current-tripleo","component":null,"commit_hash":"0123456789abcdef0123456789abcdef01234567","distro_hash":"89abcdef0123456789abcdef0123456789abcdef","extended_hash":null,"full_hash":"0123456789abcdef0123456789abcdef01234567_89abcdef","kind":"promote","timestamp":1700000000,"user":"ci","reason":""}}"#
    );
    text.push_str(&unknown);
    text.push('\n');
    let mirror = workspace();
    let file = write(&mirror, "history.jsonl", &text);
    let r = mirror.run(&["replay", &file]);
    r.ok();
    assert!(
        r.stdout.contains("5 applied") && r.stdout.contains("1 skipped"),
        "{}",
        r.stdout
    );
    let warnings: Vec<&str> = r.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].contains(&format!(
            "skipped #6 of {origin} (current-tripleo -> 0123456789abcdef0123456789abcdef01234567_89abcdef): this mirror has no build"
        )),
        "{}",
        warnings[0]
    );
    assert_eq!(history(&mirror), history(&up));
    assert_eq!(links(&mirror), links(&up));
    // Not recorded: the next replay tries it again, and warns again.
    let again = mirror.run(&["replay", &file]);
    again.ok();
    assert!(again
        .stdout
        .contains("5 already replayed, 0 superseded, 1 skipped"));
    assert_eq!(history(&mirror), history(&up));
}

#[test]
fn a_replayed_promotion_is_not_applied_again_after_the_label_moved_on_here() {
    let up = source();
    let mirror = workspace();
    let file = write(&mirror, "history.jsonl", &export(&up));
    mirror.run(&["replay", &file]).ok();
    let new = consistent(&mirror, 0);
    // current-tripleo points at the old build (the rollback); move it here.
    promote(&mirror, &new, "current-tripleo");
    let moved = links(&mirror);
    let rows = history(&mirror).len();
    mirror.run(&["replay", &file]).ok();
    assert_eq!(links(&mirror), moved, "the local move stays");
    assert_eq!(history(&mirror).len(), rows);
    assert_eq!(
        mirror.link("trunk/current-tripleo").unwrap(),
        repo_dir(&mirror, &new)
    );
}

#[test]
fn an_older_row_whose_build_arrives_later_is_superseded_not_applied() {
    let up = source();
    let text = export(&up);
    let mirror = workspace();
    // The mirror's trunk lacks the older build at first.
    let old_dir = repo_dir(&up, &consistent(&up, 1));
    let hidden = mirror.path().join("hidden");
    std::fs::rename(mirror.trunk().join(&old_dir), &hidden).unwrap();
    let file = write(&mirror, "history.jsonl", &text);
    let r = mirror.run(&["replay", &file]);
    r.ok();
    // Rows 1, 2 and 5 name the older build; 3 and 4 move both labels to
    // the newest.
    assert!(
        r.stdout
            .contains("2 applied, 0 unchanged, 0 already replayed, 0 superseded, 3 skipped"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    let new = consistent(&up, 0);
    let new_dir = repo_dir(&mirror, &new);
    assert_eq!(mirror.link("trunk/current-tripleo").unwrap(), new_dir);

    // The build arrives; the builder's links moved, so replay imports it.
    std::fs::rename(&hidden, mirror.trunk().join(&old_dir)).unwrap();
    let consistent_link = mirror.trunk().join("consistent");
    std::fs::remove_file(&consistent_link).unwrap();
    std::os::unix::fs::symlink(&old_dir, &consistent_link).unwrap();
    let r = mirror.run(&["replay", &file]);
    r.ok();
    // Rows 1 and 2 are older than rows 3 and 4 of the same labels: they
    // would move the labels back, so they are superseded. Row 5 (the
    // rollback) is newer than row 4: it applies.
    assert!(
        r.stdout
            .contains("1 applied, 0 unchanged, 2 already replayed, 2 superseded, 0 skipped"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(mirror.link("trunk/tripleo-ci-testing").unwrap(), new_dir);
    assert_eq!(mirror.link("trunk/current-tripleo").unwrap(), old_dir);
    assert_eq!(
        mirror.sql::<i64>("SELECT count(*) FROM replayed WHERE outcome = 'superseded'"),
        2
    );
}

#[test]
fn replay_refuses_a_file_with_a_bad_line_and_applies_nothing() {
    let up = source();
    let mut lines: Vec<String> = export(&up).lines().map(String::from).collect();
    assert!(lines[3].contains("\"kind\":\"manual\""), "{}", lines[3]);
    lines[3] = lines[3].replace("\"kind\":\"manual\"", "\"kind\":\"teleport\"");
    let mirror = workspace();
    let file = write(&mirror, "history.jsonl", &(lines.join("\n") + "\n"));
    let r = mirror.run(&["replay", &file]);
    r.code(2)
        .error_says(&format!("{file}:4: kind \"teleport\" is not one of"));
    assert!(!mirror.db().exists() || history(&mirror).is_empty());
    assert_eq!(mirror.link("trunk/tripleo-ci-testing"), None);
}

#[test]
fn replay_refuses_this_databases_own_history() {
    let up = source();
    let file = write(&up, "own.jsonl", &export(&up));
    let before = history(&up);
    up.run(&["replay", &file])
        .code(4)
        .error_says("holds this database's own history");
    assert_eq!(history(&up), before);
}

#[test]
fn replay_reads_stdin_and_applies_from_it() {
    use std::io::Write;
    let up = source();
    let text = export(&up);
    let mirror = workspace();
    let mut child = std::process::Command::new(BIN)
        .current_dir(mirror.path())
        .arg("-c")
        .arg(mirror.config())
        .args(["replay", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("from stdin: 5 applied"));
    assert_eq!(links(&mirror), links(&up));
}

#[test]
fn replay_of_a_missing_file_is_not_found_in_one_line() {
    let mirror = workspace();
    let r = mirror.run(&["replay", "/nonexistent"]);
    r.code(3)
        .error_says("no history file /nonexistent to replay");
    assert!(!r.stderr.contains("caused by"), "{}", r.stderr);
}
