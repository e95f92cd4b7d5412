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

#[test]
fn config_check_reports_publish_dests_that_collide_with_file_line_and_key() {
    let ws = Workspace::sample();
    let hash_dir = "1c/67/1c67b1ab8c6fe273d4e175a14f0df5d3cbbd0edc_8170b868_abcdef12";
    assert!(ws.trunk().join(hash_dir).is_dir());
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: images
promotions:
  current-tripleo:
    candidate_label: consistent
    criteria: [consistent]
publish:
  tested:
    source: trunk
    dest: buildlogs/tested
  again:
    source: trunk
    dest: {}/buildlogs/x/../tested/
  label:
    source: trunk
    dest: trunk/current-tripleo
  in-trunk:
    source: trunk
    dest: trunk/published
  in-images:
    source: images
    dest: ./images/../images/published
  in-hash-dir:
    source: trunk
    dest: trunk/{hash_dir}/published
  remote:
    source: trunk
    dest: buildlogs.example.org:/srv/tested
  remote-again:
    source: images
    dest: buildlogs.example.org:/srv/tested
",
        ws.path().display()
    ));
    let r = ws.run(&["config", "check"]);
    r.code(2);
    let cfg = ws.config().display().to_string();
    let root = ws.path().display().to_string();
    for want in [
        format!("{cfg}:14: publish.again.dest: {root}/buildlogs/tested is also the dest of publish target \"tested\""),
        format!("{cfg}:17: publish.label.dest: {root}/trunk/current-tripleo is the label current-tripleo of the trunk"),
        format!("{cfg}:20: publish.in-trunk.dest: {root}/trunk/published is inside the trunk {root}/trunk"),
        format!("{cfg}:23: publish.in-images.dest: {root}/images/published is inside the image tree {root}/images"),
        format!("{cfg}:26: publish.in-hash-dir.dest: {root}/trunk/{hash_dir}/published is inside the hash directory {root}/trunk/{hash_dir}"),
        format!("{cfg}:32: publish.remote-again.dest: \"buildlogs.example.org:/srv/tested\" is also the dest of publish target \"remote\""),
    ] {
        assert!(r.stderr.contains(&want), "{want}\nnot in\n{}", r.stderr);
    }
    assert_eq!(
        r.stderr.lines().count(),
        6,
        "every error once:\n{}",
        r.stderr
    );
    // Every command that reads the config refuses it, before writing.
    ws.run(&["import"]).code(2);
    assert!(!ws.db().exists());
    assert!(!ws.path().join("buildlogs").exists());
}

#[test]
fn config_check_places_a_key_inside_a_flow_mapping_at_its_own_line() {
    let ws = Workspace::sample();
    ws.write_config(
        "release: master\ntrunk: trunk\njobs:\n  a:\n    {command: [x], timeout: 3 fortnights}\npublish:\n  tested: {source: trunk,\n    dest: buildlogs/tested, keep: 0}\n",
    );
    let r = ws.run(&["config", "check"]);
    r.code(2);
    let cfg = ws.config().display().to_string();
    for want in [
        format!("{cfg}:5: jobs.a.timeout: \"3 fortnights\" is not a duration"),
        format!("{cfg}:8: publish.tested.keep: expected a whole number from 1 to 1000"),
    ] {
        assert!(r.stderr.contains(&want), "{want}\nnot in\n{}", r.stderr);
    }
    assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
}

#[test]
fn a_duplicate_key_in_a_flow_mapping_is_reported_at_the_line_of_the_duplicate() {
    let ws = Workspace::sample();
    ws.write_config("release: master\ntrunk: trunk\njobs: {a: {command: [x]},\n  b: {command: [y]}, a: {command: [z]}}\n");
    let cfg = ws.config().display().to_string();
    ws.run(&["config", "check"]).code(2).error_says(&format!(
        "{cfg}:4: not valid YAML: jobs: duplicate entry with key \"a\""
    ));
}

#[test]
fn config_check_reports_bad_executors_and_a_slurm_executor_without_slurm_on_the_path() {
    let ws = Workspace::sample();
    let cfg = ws.config().display().to_string();
    ws.write_config(
        "release: master\ntrunk: trunk\nexecutors:\n  hpc:\n    kind: pbs\n  local2:\n    kind: local\n    partition: x\n  nopart:\n    kind: slurm\n  local:\n    kind: slurm\n    partition: ci\njobs:\n  j:\n    command: [true]\n    executor: gpu\n",
    );
    let r = ws.run(&["config", "check"]);
    r.code(2);
    for needle in [
        format!("{cfg}:5: executors.hpc.kind: unknown kind \"pbs\""),
        format!("{cfg}:8: executors.local2.partition: unknown key"),
        format!("{cfg}:9: executors.nopart.partition: missing"),
        format!("{cfg}:17: jobs.j.executor: no executor \"gpu\""),
        format!("{cfg}:11: executors.local: local is the name of this host's executor"),
    ] {
        assert!(r.stderr.contains(&needle), "{needle}\n{}", r.stderr);
    }
    // A good config whose host has no sbatch: the other commands read it,
    // config check says what is missing, at the executor's line.
    ws.write_config(
        "release: master\ntrunk: trunk\nexecutors:\n  hpc:\n    kind: slurm\n    partition: ci\n    sbatch_args: [--mem=8G]\njobs:\n  j:\n    command: [true]\n    executor: hpc\n",
    );
    let empty = ws.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let path = [("PATH", empty.to_str().unwrap())];
    let r = ws.run_env(&["config", "check"], &path);
    r.code(2);
    assert!(
        r.stderr.contains(&format!(
            "{cfg}:5: executors.hpc.kind: kind slurm needs sbatch on the PATH"
        )),
        "{}",
        r.stderr
    );
    ws.run_env(&["status"], &path).ok();
}
