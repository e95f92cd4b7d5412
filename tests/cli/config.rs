use crate::util::*;

#[test]
fn config_check_reports_every_error_with_file_line_and_key() {
    let ws = Workspace::sample();
    ws.write_config(
        "release: master\ntrunk: trunk\nfrobnicate: yes\npromotions:\n  consistent:\n    candidate_label: current\n    criteria: [x]\n  ok:\n    candidate_label: consistent\n    criteria: []\n",
    );
    let r = ws.run(&["config", "check"]);
    r.code(2);
    let cfg = ws.config().display().to_string();
    assert!(
        r.stderr
            .contains(&format!("{cfg}:3: frobnicate: unknown key")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{cfg}:5: promotions.consistent:")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{cfg}:10: promotions.ok.criteria:")),
        "{}",
        r.stderr
    );
}

#[test]
fn every_command_that_needs_the_config_refuses_a_bad_one() {
    let ws = Workspace::sample();
    ws.write_config("release: master\ntrunk: trunk\nlatest_hashes_count: 1000\n");
    ws.run(&["import"])
        .code(2)
        .error_says("latest_hashes_count");
    ws.write_config("release: [\n");
    ws.run(&["init"]).code(2).error_says("not valid YAML");
    assert!(!ws.db().exists(), "nothing is created from a bad config");
}

#[test]
fn a_missing_config_says_where_it_looked() {
    let ws = Workspace::sample();
    std::fs::remove_file(ws.config()).unwrap();
    ws.run(&["import"]).code(2).error_says("promoter.yaml");
}

#[test]
fn the_sample_config_is_valid() {
    let ws = Workspace::sample();
    ws.run(&["config", "check"]).ok();
}

#[test]
fn help_teaches_with_examples() {
    let o = std::process::Command::new(BIN)
        .args(["report-result", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(text.contains("Example"), "{text}");
    assert!(text.contains("--info-url"), "{text}");
    let o = std::process::Command::new(BIN)
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn each_config_error_is_printed_once() {
    let ws = Workspace::sample();
    ws.write_config("release: master\ntrunk: trunk\nfrobnicate: yes\n");
    let r = ws.run(&["config", "check"]);
    r.code(2);
    assert_eq!(r.stderr.matches("frobnicate").count(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("caused by"), "{}", r.stderr);
    std::fs::remove_file(ws.config()).unwrap();
    let r = ws.run(&["status"]);
    r.code(2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn a_duplicate_key_is_reported_at_the_line_of_the_duplicate() {
    let ws = Workspace::sample();
    ws.write_config(
        "release: master\ntrunk: trunk\njobs:\n  a:\n    command: [x]\n  b:\n    command: [y]\n  a:\n    command: [z]\n",
    );
    let cfg = ws.config().display().to_string();
    ws.run(&["config", "check"]).code(2).error_says(&format!(
        "{cfg}:8: not valid YAML: jobs: duplicate entry with key \"a\""
    ));
}
