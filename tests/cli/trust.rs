//! Regression tests of the defects found when the pipeline was attacked:
//! each is named after what it guards.

use std::path::Path;

use crate::util::*;

const HEADER: &str = "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Extended Sha,Pkg NVR\n";

/// A versions.csv row of package `p` with `status`.
fn row(p: &str, status: &str) -> String {
    format!("{p},https://g/{p},abc,https://d/{p},def,{status},1444300000,None,None,{p}-1.0-1.el7\n")
}

/// Writes a new hash directory `<n>` (DLRN id `id`, built at `dt`) into
/// the trunk with a commit.yaml and, when given, a versions.csv. Returns
/// (repo_dir, commit hash, distro hash).
fn add_build(
    ws: &Workspace,
    n: usize,
    id: i64,
    dt: i64,
    versions: Option<&str>,
) -> (String, String, String) {
    let ch = format!("c{n:03}{}", "1".repeat(36));
    let dh = "d15d15d15d15d15d15d15d15d15d15d15d15d15d".to_string();
    let rel = format!("{}/{}/{ch}_{}", &ch[..2], &ch[2..4], &dh[..8]);
    let dir = ws.trunk().join(&rel);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("commit.yaml"),
        format!(
            "commits:\n- commit_hash: {ch}\n  distro_hash: {dh}\n  dt_build: '{dt}'\n  id: '{id}'\n  project_name: p{n}\n  status: SUCCESS\n  flags: '0'\n"
        ),
    )
    .unwrap();
    if let Some(v) = versions {
        std::fs::write(dir.join("versions.csv"), v).unwrap();
    }
    (rel, ch, dh)
}

/// Points the trunk link `name` at `rel`, as the builder (or a person) does.
fn point(ws: &Workspace, name: &str, rel: &str) {
    let link = ws.trunk().join(name);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(rel, &link).unwrap();
}

fn consistent_of(ws: &Workspace, rel: &str) -> i64 {
    ws.sql(&format!(
        "SELECT consistent FROM builds WHERE repo_dir = '{rel}'"
    ))
}

const ONE_PHASE: &str = "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
";

#[test]
fn regression_a_hash_directory_still_being_written_is_read_again_and_consistency_follows_the_builders_link(
) {
    let ws = Workspace::sample();
    ws.write_config(ONE_PHASE);
    ws.run(&["import"]).ok();
    let before = ws.builder_link("consistent");
    // A mirror has copied commit.yaml, not yet versions.csv.
    let (n1, _, _) = add_build(&ws, 1, 9001, 1444400000, None);
    point(&ws, "current", &n1);
    let r = ws.run(&["import"]);
    r.ok();
    assert!(
        r.stderr
            .contains(&format!("{n1}/versions.csv: it is missing")),
        "the incomplete build is named:\n{}",
        r.stderr
    );
    let known: i64 = ws.sql(&format!(
        "SELECT count(*) FROM builds WHERE repo_dir = '{n1}'"
    ));
    assert_eq!(
        known, 0,
        "a build without its package list is not recorded yet"
    );
    // Half a line: still not read.
    let full = format!(
        "{HEADER}{}{}{}",
        row("a", "SUCCESS"),
        row("b", "SUCCESS"),
        row("c", "FAILED")
    );
    let cut_mid_line = &full[..HEADER.len() + 20];
    std::fs::write(ws.trunk().join(&n1).join("versions.csv"), cut_mid_line).unwrap();
    ws.run(&["import"]).ok();
    let known: i64 = ws.sql(&format!(
        "SELECT count(*) FROM builds WHERE repo_dir = '{n1}'"
    ));
    assert_eq!(known, 0, "a package list cut in a line is not read");
    // Cut at a row boundary, the rows so far all SUCCESS: recorded, but
    // DLRN's consistent link has not reached it, so it is not consistent.
    let cut_at_row = format!("{HEADER}{}{}", row("a", "SUCCESS"), row("b", "SUCCESS"));
    std::fs::write(ws.trunk().join(&n1).join("versions.csv"), &cut_at_row).unwrap();
    ws.run(&["import"]).ok();
    assert_eq!(consistent_of(&ws, &n1), 0);
    ws.run(&["run"]).ok();
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        before,
        "only what the builder's consistent link has reached is promoted"
    );
    // The copy completes (a FAILED row), DLRN builds a consistent n2 and
    // moves its link past n1: n1 is read again and is not consistent.
    std::fs::write(ws.trunk().join(&n1).join("versions.csv"), &full).unwrap();
    let ok = format!("{HEADER}{}{}", row("a", "SUCCESS"), row("b", "SUCCESS"));
    let (n2, _, _) = add_build(&ws, 2, 9002, 1444400100, Some(&ok));
    point(&ws, "current", &n2);
    point(&ws, "consistent", &n2);
    ws.run(&["run"]).ok();
    assert_eq!(
        consistent_of(&ws, &n1),
        0,
        "n1 was read again once the link passed it"
    );
    assert_eq!(consistent_of(&ws, &n2), 1);
    let n1_consistent_votes: i64 = ws.sql(&format!(
        "SELECT count(*) FROM votes v JOIN builds b ON b.id = v.build_id WHERE b.repo_dir = '{n1}' AND v.job_id = 'consistent'"
    ));
    assert_eq!(n1_consistent_votes, 0);
    assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), n2);
}

#[test]
fn regression_a_label_ahead_of_the_database_on_disk_never_moves_back() {
    let ws = Workspace::sample();
    ws.write_config(
        "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [job-x]
",
    );
    ws.run(&["import"]).ok();
    let newest: String =
        ws.sql("SELECT repo_dir FROM builds WHERE consistent ORDER BY seq DESC LIMIT 1");
    let older: String =
        ws.sql("SELECT repo_dir FROM builds WHERE consistent ORDER BY seq DESC LIMIT 1 OFFSET 1");
    // Someone points the label at the newest build by hand; CI reports a
    // success for an older one.
    point(&ws, "tripleo-ci-testing", &newest);
    let (c, d) = hashes_of(&older);
    ws.vote("job-x", &c, &d, true);
    ws.run(&["run"]).ok();
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        newest,
        "the label stays on the build it points at on disk"
    );
    let rows: i64 = ws.sql("SELECT count(*) FROM promotions");
    assert_eq!(rows, 0);
}

#[test]
fn regression_one_build_dated_in_the_far_future_does_not_hide_the_builds_after_it() {
    let ws = Workspace::sample();
    ws.write_config(ONE_PHASE);
    ws.run(&["import"]).ok();
    let ok = format!("{HEADER}{}", row("a", "SUCCESS"));
    // 2100-01-01: a builder's clock error.
    let (future, _, _) = add_build(&ws, 1, 9001, 4_102_444_800, Some(&ok));
    point(&ws, "current", &future);
    point(&ws, "consistent", &future);
    let r = ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains(" WARN ") && l.contains(&future) && l.contains("in the future")),
        "the absurd time is warned about:\n{}",
        r.stderr
    );
    assert_eq!(ws.link("trunk/tripleo-ci-testing").unwrap(), future);
    // The next build, at a sane time, comes after it in DLRN's order.
    let (next, _, _) = add_build(&ws, 2, 9002, 1_444_400_000, Some(&ok));
    point(&ws, "current", &next);
    point(&ws, "consistent", &next);
    ws.run(&["run"]).ok();
    assert_eq!(
        ws.link("trunk/tripleo-ci-testing").unwrap(),
        next,
        "the build after the one dated 2100 is promoted"
    );
    let r = ws.run(&["why"]);
    r.ok();
    assert!(!r.stdout.contains(&future), "{}", r.stdout);
}

#[allow(dead_code)]
fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}
