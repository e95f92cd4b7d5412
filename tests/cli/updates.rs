//! Updates, as rdopkg CI gated them, end to end with real RPMs built by
//! `rpmbuild`, repos made by `createrepo_c`, phase jobs that install with
//! `dnf` (the sample's `jobs/installable.sh`), and production pushed to an
//! rsync daemon.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{copy_tree, fixtures, Run, Workspace};

/// Whether the tools these tests drive are here. A missing one fails the
/// test (CI must run them all), unless PROMOTER_SKIP_RPM=1 allows a dev
/// box without them: then the test says why and skips.
fn tools() -> bool {
    for (tool, package) in [
        ("rpmbuild", "rpm"),
        ("createrepo_c", "createrepo-c"),
        ("dnf", "dnf"),
    ] {
        if Command::new(tool).arg("--version").output().is_err() {
            if std::env::var("PROMOTER_SKIP_RPM").is_ok_and(|v| v == "1") {
                eprintln!(
                    "SKIPPED: {tool} is not installed (Debian's {package}) and PROMOTER_SKIP_RPM=1"
                );
                return false;
            }
            panic!("{tool} is not installed: Debian's {package}; scripts/test.sh installs it");
        }
    }
    true
}

/// The updates sample (config, update file, phase job) in a scratch
/// directory, with `config` as its config when given.
fn sample(config: Option<&str>) -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("updates"), dir.path());
    std::fs::create_dir_all(dir.path().join("trunk")).unwrap();
    let ws = Workspace { dir };
    if let Some(c) = config {
        ws.write_config(c);
    }
    ws
}

/// A noarch RPM `name-version-1` (with `requires`, as a spec writes it),
/// built with rpmbuild.
fn rpm(ws: &Workspace, name: &str, version: &str, requires: &str) -> PathBuf {
    let top = ws.path().join("rpmbuild");
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    let spec = top.join(format!("SPECS/{name}-{version}.spec"));
    let requires = match requires {
        "" => String::new(),
        r => format!("Requires: {r}\n"),
    };
    std::fs::write(
        &spec,
        format!("Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name} for the updates tests\nLicense: MIT\nBuildArch: noarch\n{requires}%description\n{name}.\n%files\n"),
    )
    .unwrap();
    let out = Command::new("rpmbuild")
        .args(["-bb", "--quiet", "--define"])
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    top.join(format!("RPMS/noarch/{name}-{version}-1.noarch.rpm"))
}

/// A build directory `builds/<nvr>/` holding `rpms`.
fn build(ws: &Workspace, nvr: &str, rpms: &[&Path]) -> PathBuf {
    let dir = ws.path().join("builds").join(nvr);
    std::fs::create_dir_all(&dir).unwrap();
    for r in rpms {
        std::fs::copy(r, dir.join(r.file_name().unwrap())).unwrap();
    }
    dir
}

/// An update file `incoming/<name>.yml` with one build per
/// (nvr, release, dist).
fn update_file(ws: &Workspace, name: &str, builds: &[(&str, &str, &str)]) -> PathBuf {
    let mut text = String::from("builds:\n");
    for (nvr, release, dist) in builds {
        text.push_str(&format!(
            "  - {{id: {nvr}, repo: {release}, dist: {dist}, source: ../builds/{nvr}/}}\n"
        ));
    }
    let p = ws.path().join("incoming").join(format!("{name}.yml"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

/// `update submit FILE`, which must succeed; the update's id.
fn submit(ws: &Workspace, file: &Path) -> i64 {
    let r = ws.run(&["--json", "update", "submit", file.to_str().unwrap()]);
    r.ok();
    r.json()["id"].as_i64().unwrap()
}

/// The production repo of juno/epel-7 as it starts: `rpms` with their
/// metadata in `seed/`, and `at` a link to it, as a publish leaves it.
fn seed_production(ws: &Workspace, at: &Path, rpms: &[&Path]) {
    let seed = ws.path().join("seed/juno-epel-7");
    std::fs::create_dir_all(&seed).unwrap();
    for r in rpms {
        std::fs::copy(r, seed.join(r.file_name().unwrap())).unwrap();
    }
    let made = Command::new("createrepo_c")
        .arg("-q")
        .arg(&seed)
        .output()
        .unwrap();
    assert!(made.status.success());
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&seed, at).unwrap();
}

fn show(ws: &Workspace, id: i64) -> serde_json::Value {
    let r = ws.run(&["--json", "update", "show", &id.to_string()]);
    r.ok();
    r.json()
}

fn state(ws: &Workspace, id: i64) -> String {
    show(ws, id)["state"].as_str().unwrap().to_string()
}

/// The job ids of an update's phase jobs, as (phase, job id, outcome).
fn jobs(ws: &Workspace, id: i64) -> Vec<(String, String, String)> {
    show(ws, id)["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["phase"].as_str().unwrap().to_string(),
                j["job_id"].as_str().unwrap().to_string(),
                j["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The packages dnf finds in the repo at `repo`, as name-version-release.
fn dnf_packages(ws: &Workspace, repo: &Path) -> Vec<String> {
    // A client of its own each time: dnf keeps the metadata it read.
    let client = tempfile::tempdir_in(ws.path()).unwrap();
    let root = client.path();
    let out = Command::new("dnf")
        .arg("-q")
        .arg(format!("--installroot={}", root.display()))
        .arg("--setopt=reposdir=/nonexistent")
        .arg(format!(
            "--setopt=cachedir={}",
            root.join("cache").display()
        ))
        .args(["--releasever=1", "--disableplugin=*"])
        .arg(format!("--repofrompath=production,{}", repo.display()))
        .args([
            "repoquery",
            "--available",
            "--qf",
            "%{name}-%{version}-%{release}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn error_line(r: &Run) -> String {
    r.stderr
        .lines()
        .find(|l| l.starts_with("promoter: error:"))
        .unwrap_or("")
        .to_string()
}

#[test]
fn an_update_goes_from_submit_through_both_phases_and_stage_to_production_over_rsync() {
    if !tools() {
        return;
    }
    let ws = sample(None);
    let remote = ws.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let Some(daemon) = crate::publish::rsync_daemon(&remote, ws.path()) else {
        return;
    };
    // Production is on the other side of rsync; the promoter reads what it
    // had from the tree the daemon serves.
    let config = std::fs::read_to_string(ws.config()).unwrap().replace(
        "production: {source: updates, dest: \"production/openstack-{release}/{dist}\"}",
        &format!(
            "production: {{source: updates, dest: \"rsync://127.0.0.1:{}/mod/openstack-{{release}}/{{dist}}\"}}",
            daemon.port
        ),
    );
    let config = config.replace("production/openstack-juno/", "remote/openstack-juno/");
    ws.write_config(&config);
    ws.run(&["config", "check"]).ok();
    let production = remote.join("openstack-juno/epel-7");
    let libfoo1 = rpm(&ws, "libfoo", "1.0", "");
    let tool1 = rpm(&ws, "tool", "1.0", "");
    seed_production(&ws, &production, &[&libfoo1, &tool1]);
    build(&ws, "libfoo-2.0-1", &[&rpm(&ws, "libfoo", "2.0", "")]);
    // The sample's update file, as rdopkg writes it, for both
    // combinations; fedora-21 is disabled in the config.
    let file = ws.path().join("incoming/libfoo-2.0.yml");
    let id = submit(&ws, &file);
    assert_eq!(state(&ws, id), "submitted");
    let r = ws.run(&["update", "list", "--state", "submitted"]);
    r.ok();
    assert!(r.stdout.contains("libfoo-2.0"), "{}", r.stdout);
    assert!(
        r.stdout
            .trim_end()
            .ends_with("juno/epel-7, juno/fedora-21 (disabled)"),
        "{}",
        r.stdout
    );

    let r = ws.run(&["run"]);
    r.ok();
    assert!(r.stderr.contains("juno/fedora-21 disabled until 2099-01-01T00:00:00Z: f21 images broken: not run, not required"), "{}", r.stderr);
    assert_eq!(state(&ws, id), "released", "{}", r.stderr);
    let phases: Vec<(String, String, String)> = jobs(&ws, id);
    let want = |p: &str| {
        (
            p.to_string(),
            "installable-juno-epel-7".to_string(),
            "passed".to_string(),
        )
    };
    assert_eq!(phases, [want("phase1"), want("phase2"), want("stage")]);
    let states: Vec<String> = show(&ws, id)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        states,
        [
            "submitted",
            "testing",
            "passed",
            "pooled",
            "ready",
            "staged",
            "released"
        ]
    );
    assert_eq!(
        files_in(&ws.path().join("rdo-update/ready")),
        ["libfoo-2.0.yml"]
    );
    assert!(files_in(&ws.path().join("rdo-update/updates")).is_empty());

    // Stage and production hold what production had plus the update,
    // each a complete version behind a link, checked by its manifest.
    for tree in [
        ws.path().join("stage/openstack-juno/epel-7"),
        production.clone(),
    ] {
        assert!(std::fs::symlink_metadata(&tree)
            .unwrap()
            .file_type()
            .is_symlink());
        let sums = Command::new("sha256sum")
            .args(["-c", "--quiet", "SHA256SUMS"])
            .current_dir(&tree)
            .output()
            .unwrap();
        assert!(
            sums.status.success(),
            "{}",
            String::from_utf8_lossy(&sums.stdout)
        );
        assert_eq!(dnf_packages(&ws, &tree), ["libfoo-2.0-1", "tool-1.0-1"]);
    }
    let root = ws.path().join("client");
    let repolist = Command::new("dnf")
        .arg(format!("--installroot={}", root.display()))
        .arg("--setopt=reposdir=/nonexistent")
        .arg(format!(
            "--setopt=cachedir={}",
            root.join("cache").display()
        ))
        .args(["--releasever=1", "--disableplugin=*", "-v"])
        .arg(format!(
            "--repofrompath=production,{}",
            production.display()
        ))
        .arg("repolist")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&repolist.stdout);
    assert!(listed.contains("Repo-pkgs          : 2"), "{listed}");
    // The disabled combination is shown where the update is.
    let r = ws.run(&["update", "show", &id.to_string()]);
    r.ok();
    assert!(
        r.stdout.contains("juno/fedora-21           libfoo-2.0-1 (1 RPMs)  disabled until 2099-01-01T00:00:00Z: f21 images broken: not run, not required"),
        "{}",
        r.stdout
    );
}

/// A config without stage: phase 1 and phase 2, phase 2 once a day.
const TWO_PHASES: &str = "release: juno
trunk: trunk
jobs:
  installable: {command: jobs/installable.sh, timeout: 10m}
updates:
  dir: rdo-update
  combinations:
    juno: [epel-7, fedora-21]
  phase1: {jobs: [installable]}
  phase2: {jobs: [installable], every: 1d}
  production:
    repos:
      juno/epel-7: production/openstack-juno/epel-7
";

#[test]
fn updates_that_pass_phase1_alone_but_break_the_pool_are_named_by_bisection_and_the_rest_go_on() {
    if !tools() {
        return;
    }
    let ws = sample(Some(TWO_PHASES));
    let libfoo1 = rpm(&ws, "libfoo", "1.0", "");
    seed_production(
        &ws,
        &ws.path().join("production/openstack-juno/epel-7"),
        &[&libfoo1],
    );
    // libfoo 2.0 replaces the 1.0 that app requires: each installs on
    // production alone, not together.
    build(&ws, "libfoo-2.0-1", &[&rpm(&ws, "libfoo", "2.0", "")]);
    build(&ws, "tool-1.0-1", &[&rpm(&ws, "tool", "1.0", "")]);
    build(&ws, "app-1.0-1", &[&rpm(&ws, "app", "1.0", "libfoo = 1.0")]);
    build(&ws, "extra-1.0-1", &[&rpm(&ws, "extra", "1.0", "")]);
    let ids: Vec<i64> = ["libfoo-2.0-1", "tool-1.0-1", "app-1.0-1", "extra-1.0-1"]
        .iter()
        .map(|nvr| {
            let name = nvr.trim_end_matches("-1");
            submit(&ws, &update_file(&ws, name, &[(nvr, "juno", "epel-7")]))
        })
        .collect();
    let (libfoo, tool, app, extra) = (ids[0], ids[1], ids[2], ids[3]);
    // A dry run says what the run will do, and does none of it.
    let r = ws.run(&["run", "--dry-run"]);
    r.ok();
    assert!(
        r.stdout.starts_with(&format!(
            "would run phase 1 of update {libfoo} (libfoo-2.0): installable-juno-epel-7\n"
        )),
        "{}",
        r.stdout
    );
    assert!(jobs(&ws, libfoo).is_empty());
    let r = ws.run(&["run"]);
    r.ok();
    for id in &ids {
        assert_eq!(
            jobs(&ws, *id)[0],
            (
                "phase1".into(),
                "installable-juno-epel-7".into(),
                "passed".into()
            )
        );
    }
    // The whole pool failed, then its first two passed, then its first
    // three failed: app is the one whose addition breaks it.
    let s = show(&ws, app);
    assert_eq!(s["state"], "failed");
    let why = s["reason"].as_str().unwrap();
    assert!(
        why.starts_with(&format!("phase 2: adding it to production and updates {libfoo}, {tool} breaks the pool: installable-juno-epel-7 failed (")),
        "{why}"
    );
    let pools: Vec<Vec<i64>> = s["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["phase"] == "phase2")
        .map(|j| {
            j["pool"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_i64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        pools,
        [vec![libfoo, tool, app, extra], vec![libfoo, tool, app]]
    );
    assert_eq!(state(&ws, libfoo), "ready");
    assert_eq!(state(&ws, tool), "ready");
    assert_eq!(state(&ws, extra), "pooled");
    assert_eq!(
        files_in(&ws.path().join("rdo-update/ready")),
        ["libfoo-2.0.yml", "tool-1.0.yml"]
    );
    assert_eq!(
        files_in(&ws.path().join("rdo-update/failed")),
        ["app-1.0.yml"]
    );
    assert_eq!(
        files_in(&ws.path().join("rdo-update/updates")),
        ["extra-1.0.yml"]
    );
    // The pool holds what its last probe tested, the newest of each
    // package, as dnf reads its metadata.
    let pool = ws.path().join("state/juno.updates/pool/juno/epel-7");
    assert_eq!(
        dnf_packages(&ws, &pool),
        ["app-1.0-1", "libfoo-2.0-1", "tool-1.0-1"]
    );
    // status shows them by state, over all and per combination.
    let r = ws.run(&["status"]);
    r.ok();
    assert!(
        r.stdout.contains("updates: 1 failed, 1 pooled, 2 ready\n  juno/epel-7: 1 failed, 1 pooled, 2 ready\n  juno/fedora-21: none\n"),
        "{}",
        r.stdout
    );
    let metrics = ws.path().join("promoter.prom");
    ws.run(&["status", "--metrics", metrics.to_str().unwrap()])
        .ok();
    let text = std::fs::read_to_string(&metrics).unwrap();
    for line in [
        "promoter_updates{release=\"juno\",combination=\"juno/epel-7\",state=\"ready\"} 2",
        "promoter_updates{release=\"juno\",combination=\"juno/epel-7\",state=\"failed\"} 1",
        "promoter_updates{release=\"juno\",combination=\"juno/fedora-21\",state=\"ready\"} 0",
        "promoter_update_combination_disabled{release=\"juno\",combination=\"juno/fedora-21\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    // One screen says why, with the failing log's tail.
    let r = ws.run(&["update", "show", &app.to_string()]);
    r.ok();
    assert!(
        r.stdout
            .contains("requires libfoo = 1.0, but none of the providers can be installed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.lines().count() < 40, "{}", r.stdout);

    // Phase 2 is not due again for a day; --phase2 runs it now.
    ws.run(&["run"]).ok();
    let r = ws.run(&["run", "--dry-run"]);
    assert!(
        r.stdout
            .contains(&format!("phase 2 of updates {extra} waits until ")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "updates {libfoo} {tool} are ready: no stage target to publish them to"
        )),
        "{}",
        r.stdout
    );
    assert_eq!(state(&ws, extra), "pooled");
    let r = ws.run(&["run", "--phase2"]);
    r.ok();
    assert_eq!(state(&ws, extra), "ready", "{}", r.stderr);
    assert!(
        r.stderr
            .contains("pool of juno/epel-7: 1 packages of 1 update(s) (1 added, 3 removed)"),
        "{}",
        r.stderr
    );
    assert_eq!(dnf_packages(&ws, &pool), ["extra-1.0-1"]);
}

#[test]
fn a_must_provision_package_sets_the_variable_and_every_job_gets_the_list_as_a_file() {
    if !tools() {
        return;
    }
    let ws = sample(Some(TWO_PHASES));
    ws.run(&["must-provision", "add", "openstack-puppet-modules"])
        .ok();
    ws.run(&["must-provision", "add", "libfoo"]).ok();
    ws.run(&["must-provision", "remove", "libfoo"]).ok();
    ws.run(&["must-provision", "remove", "libfoo"]).code(3);
    let r = ws.run(&["must-provision", "list"]);
    r.ok();
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.starts_with("openstack-puppet-modules  (added "),
        "{}",
        r.stdout
    );
    build(
        &ws,
        "openstack-puppet-modules-2014.2-1",
        &[&rpm(&ws, "openstack-puppet-modules", "2014.2", "")],
    );
    build(&ws, "tool-1.0-1", &[&rpm(&ws, "tool", "1.0", "")]);
    let opm = submit(
        &ws,
        &update_file(
            &ws,
            "opm",
            &[("openstack-puppet-modules-2014.2-1", "juno", "epel-7")],
        ),
    );
    let tool = submit(
        &ws,
        &update_file(&ws, "tool", &[("tool-1.0-1", "juno", "epel-7")]),
    );
    ws.run(&["run"]).ok();
    let log_of = |id: i64, phase: &str| {
        let s = show(&ws, id);
        let j = s["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["phase"] == phase)
            .unwrap()
            .clone();
        std::fs::read_to_string(j["log"].as_str().unwrap()).unwrap()
    };
    assert!(
        log_of(opm, "phase1").contains("must provision: 1 (openstack-puppet-modules )"),
        "{}",
        log_of(opm, "phase1")
    );
    assert!(
        log_of(tool, "phase1").contains("must provision: 0 (openstack-puppet-modules )"),
        "{}",
        log_of(tool, "phase1")
    );
    // The pool holds it, so phase 2 needs a fresh host too.
    assert!(
        log_of(tool, "phase2").contains("must provision: 1"),
        "{}",
        log_of(tool, "phase2")
    );
}

#[test]
fn a_combination_disabled_by_hand_is_neither_run_nor_required_and_one_past_its_until_is_back() {
    if !tools() {
        return;
    }
    let config = TWO_PHASES.to_string()
        + "  disabled:\n    - {release: juno, dist: epel-7, reason: \"long ago\", until: 2015-02-03}\n";
    let ws = sample(Some(&config));
    let r = ws.run(&["disabled"]);
    r.ok();
    assert_eq!(r.stdout.trim(), "no combination is disabled");
    ws.run(&[
        "disable",
        "--release",
        "juno",
        "--dist",
        "fedora-20",
        "--reason",
        "x",
    ])
    .code(3);
    let r = ws.run(&[
        "disable",
        "--release",
        "juno",
        "--dist",
        "fedora-21",
        "--reason",
        "f21 images broken",
        "--expires",
        "1d",
    ]);
    r.ok();
    assert!(
        r.stdout.starts_with("juno/fedora-21: disabled until "),
        "{}",
        r.stdout
    );
    let r = ws.run(&["disabled"]);
    r.ok();
    assert!(
        r.stdout.contains(": f21 images broken (by tester)"),
        "{}",
        r.stdout
    );
    let tool = rpm(&ws, "tool", "1.0", "");
    build(&ws, "tool-1.0-1", &[&tool]);
    let id = submit(
        &ws,
        &update_file(
            &ws,
            "tool",
            &[
                ("tool-1.0-1", "juno", "epel-7"),
                ("tool-1.0-1", "juno", "fedora-21"),
            ],
        ),
    );
    ws.run(&["run"]).ok();
    assert_eq!(state(&ws, id), "ready");
    assert!(jobs(&ws, id)
        .iter()
        .all(|(_, job, _)| job == "installable-juno-epel-7"));
    ws.run(&["enable", "--release", "juno", "--dist", "fedora-21"])
        .ok();
    ws.run(&["enable", "--release", "juno", "--dist", "fedora-21"])
        .code(3);
    assert_eq!(
        ws.run(&["disabled"]).stdout.trim(),
        "no combination is disabled"
    );
    // Enabled again, a new update runs on it.
    build(&ws, "tool-1.1-1", &[&rpm(&ws, "tool", "1.1", "")]);
    let next = submit(
        &ws,
        &update_file(&ws, "tool-1.1", &[("tool-1.1-1", "juno", "fedora-21")]),
    );
    ws.run(&["run"]).ok();
    assert_eq!(jobs(&ws, next)[0].1, "installable-juno-fedora-21");
}

#[test]
fn a_malformed_update_a_build_without_rpms_an_unknown_combination_or_a_foreign_rpm_is_refused_with_exit_2(
) {
    if !tools() {
        return;
    }
    let ws = sample(Some(TWO_PHASES));
    let tool = rpm(&ws, "tool", "1.0", "");
    build(&ws, "tool-1.0-1", &[&tool]);
    std::fs::create_dir_all(ws.path().join("builds/empty-1.0-1")).unwrap();
    build(&ws, "other-1.0-1", &[&tool]);
    let bad = ws.path().join("incoming/bad.yml");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    for (text, says) in [
        ("builds: [", "not valid YAML"),
        ("builds: []\n", "it has no builds"),
        ("builds:\n  - {id: tool, repo: juno, dist: epel-7, source: ../builds/tool-1.0-1/}\n", "\"tool\" is not a name-version-release"),
        ("builds:\n  - {id: empty-1.0-1, repo: juno, dist: epel-7, source: ../builds/empty-1.0-1/}\n", "holds no RPMs"),
        ("builds:\n  - {id: tool-1.0-1, repo: icehouse, dist: epel-6, source: ../builds/tool-1.0-1/}\n", "icehouse/epel-6 is not a combination"),
        ("builds:\n  - {id: other-1.0-1, repo: juno, dist: epel-7, source: ../builds/other-1.0-1/}\n", "tool-1.0-1.noarch.rpm: built from tool-1.0-1.src.rpm, not from other-1.0-1"),
        ("builds:\n  - {id: tool-1.1-1, repo: juno, dist: epel-7, source: ../builds/tool-1.0-1/}\n", "version-release 1.0-1 is not the build's 1.1-1"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let r = ws.run(&["update", "submit", bad.to_str().unwrap()]);
        r.code(2).error_says(says);
        assert!(error_line(&r).contains("bad.yml"), "{}", r.stderr);
    }
    assert_eq!(ws.run(&["update", "list"]).stdout.trim(), "no updates");
    // A good one, then the same name again while it is live.
    let good = update_file(&ws, "tool", &[("tool-1.0-1", "juno", "epel-7")]);
    let id = submit(&ws, &good);
    ws.run(&["update", "submit", good.to_str().unwrap()])
        .code(4)
        .error_says("already submitted");
    // Withdrawn, it leaves the flow and the directory, and can come again.
    let r = ws.run(&[
        "update",
        "withdraw",
        &id.to_string(),
        "--reason",
        "superseded",
    ]);
    r.ok();
    assert_eq!(state(&ws, id), "withdrawn");
    ws.run(&["update", "withdraw", &id.to_string(), "--reason", "again"])
        .code(4);
    let r = ws.run(&["update", "list", "--state", "withdrawn"]);
    assert!(r.stdout.contains("tool"), "{}", r.stdout);
    ws.run(&["update", "list", "--state", "lost"]).code(2);
    submit(&ws, &good);
}

#[test]
fn an_update_that_does_not_install_fails_phase1_and_its_file_goes_to_failed() {
    if !tools() {
        return;
    }
    let ws = sample(Some(TWO_PHASES));
    build(
        &ws,
        "app-1.0-1",
        &[&rpm(&ws, "app", "1.0", "libmissing >= 3")],
    );
    let id = submit(
        &ws,
        &update_file(&ws, "app", &[("app-1.0-1", "juno", "epel-7")]),
    );
    ws.run(&["run"]).ok();
    let s = show(&ws, id);
    assert_eq!(s["state"], "failed");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .starts_with("phase 1: installable-juno-epel-7 failed ("),
        "{s}"
    );
    assert_eq!(files_in(&ws.path().join("rdo-update/failed")), ["app.yml"]);
    let r = ws.run(&["update", "show", &id.to_string()]);
    assert!(
        r.stdout.contains("nothing provides libmissing >= 3"),
        "{}",
        r.stdout
    );
}

/// A process holding the flock `lock` until its stdin closes.
fn hold(lock: &Path) -> std::process::Child {
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let mut holder = Command::new("flock")
        .arg(lock)
        .args(["-c", "echo held; read _"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "held\n");
    holder
}

#[test]
fn a_flow_holding_the_updates_or_a_combination_is_not_run_twice_at_once() {
    if !tools() {
        return;
    }
    assert!(
        Command::new("flock").arg("--version").output().is_ok(),
        "flock is not installed (Debian's util-linux)"
    );
    let ws = sample(Some(TWO_PHASES));
    build(&ws, "tool-1.0-1", &[&rpm(&ws, "tool", "1.0", "")]);
    let id = submit(
        &ws,
        &update_file(&ws, "tool", &[("tool-1.0-1", "juno", "epel-7")]),
    );
    // Another run's flow holds the release's updates: this run promotes
    // what it can and leaves updates to it.
    let mut holder = hold(&ws.path().join("state/juno.sqlite.updates.lock"));
    let r = ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr.contains("updates: another run's flow holds"),
        "{}",
        r.stderr
    );
    assert!(jobs(&ws, id).is_empty());
    drop(holder.stdin.take());
    holder.wait().unwrap();
    // Another flow of juno/epel-7 holds the combination's lock.
    let mut holder = hold(&ws.path().join("state/juno.updates/locks/juno-epel-7.lock"));
    let r = ws.run(&["run"]);
    r.code(75);
    assert!(
        r.stderr
            .contains("updates: phase 1 waits: another flow of juno/epel-7 holds its lock"),
        "{}",
        r.stderr
    );
    assert!(jobs(&ws, id).is_empty());
    drop(holder.stdin.take());
    holder.wait().unwrap();
    // Once it is free, the next run takes the update on.
    ws.run(&["run"]).ok();
    assert_eq!(state(&ws, id), "ready");
}

#[test]
fn when_the_stage_jobs_fail_production_is_left_as_it_was_and_the_staged_updates_fail() {
    if !tools() {
        return;
    }
    let ws = sample(None);
    ws.script(
        "jobs/stage-red.sh",
        "[ \"$PROMOTER_PHASE\" != stage ] || { echo 'stage: the deployment failed'; exit 1; }",
    );
    let config = std::fs::read_to_string(ws.config())
        .unwrap()
        .replace("  installable: {command: jobs/installable.sh, timeout: 10m}", "  installable: {command: jobs/installable.sh, timeout: 10m}\n  stage-red: {command: jobs/stage-red.sh}")
        .replace("stage: {publish: stage, jobs: [installable]}", "stage: {publish: stage, jobs: [stage-red]}");
    ws.write_config(&config);
    let production = ws.path().join("production/openstack-juno/epel-7");
    seed_production(&ws, &production, &[&rpm(&ws, "libfoo", "1.0", "")]);
    build(&ws, "libfoo-2.0-1", &[&rpm(&ws, "libfoo", "2.0", "")]);
    let id = submit(&ws, &ws.path().join("incoming/libfoo-2.0.yml"));
    ws.run(&["run"]).ok();
    let s = show(&ws, id);
    assert_eq!(s["state"], "failed");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .starts_with("stage: stage-red-juno-epel-7 failed ("),
        "{s}"
    );
    // Stage shows the update; production still serves its seed.
    assert_eq!(
        dnf_packages(&ws, &ws.path().join("stage/openstack-juno/epel-7")),
        ["libfoo-2.0-1"]
    );
    assert_eq!(dnf_packages(&ws, &production), ["libfoo-1.0-1"]);
    assert_eq!(
        files_in(&ws.path().join("rdo-update/failed")),
        ["libfoo-2.0.yml"]
    );
    let r = ws.run(&["update", "show", &id.to_string()]);
    assert!(
        r.stdout.contains("    | stage: the deployment failed"),
        "{}",
        r.stdout
    );
}

#[test]
fn phase_jobs_that_need_a_test_environment_lease_it_one_at_a_time_and_give_it_back() {
    if !tools() {
        return;
    }
    let config = TWO_PHASES.replace(
        "  installable: {command: jobs/installable.sh, timeout: 10m}",
        "  installable: {command: jobs/on-testenv.sh, timeout: 10m, testenv: ovb}",
    );
    let ws = sample(Some(&config));
    // The job holds a directory while it runs: a second one at the same
    // time could not make it.
    let busy = ws.path().join("busy");
    ws.script(
        "jobs/on-testenv.sh",
        &format!(
            "mkdir {busy} || {{ echo 'another job holds the environment'; exit 3; }}\necho \"environment: $(cat \"$TE_DATAFILE\")\"\n\"$(dirname \"$0\")/installable.sh\"; rc=$?\nrmdir {busy}\nexit $rc",
            busy = busy.display()
        ),
    );
    std::fs::write(ws.path().join("ovb-1.json"), "{\"name\": \"ovb-1\"}").unwrap();
    ws.run(&[
        "testenv",
        "add",
        "ovb-1",
        "--pool",
        "ovb",
        "--data",
        "ovb-1.json",
    ])
    .ok();
    build(&ws, "tool-1.0-1", &[&rpm(&ws, "tool", "1.0", "")]);
    let id = submit(
        &ws,
        &update_file(
            &ws,
            "tool",
            &[
                ("tool-1.0-1", "juno", "epel-7"),
                ("tool-1.0-1", "juno", "fedora-21"),
            ],
        ),
    );
    let r = ws.run(&["run"]);
    r.ok();
    assert_eq!(state(&ws, id), "ready", "{}", r.stderr);
    let s = show(&ws, id);
    let phase1: Vec<&serde_json::Value> = s["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["phase"] == "phase1")
        .collect();
    assert_eq!(phase1.len(), 2);
    for j in phase1 {
        let log = std::fs::read_to_string(j["log"].as_str().unwrap()).unwrap();
        assert!(log.contains("environment: {\"name\": \"ovb-1\"}"), "{log}");
    }
    let r = ws.run(&["--json", "testenv", "list"]);
    r.ok();
    assert_eq!(
        r.json()[0]["lease"],
        serde_json::Value::Null,
        "{}",
        r.stdout
    );
}

#[test]
fn a_phase_job_with_retries_runs_again_before_its_failure_counts() {
    if !tools() {
        return;
    }
    let config = TWO_PHASES.replace(
        "  installable: {command: jobs/installable.sh, timeout: 10m}",
        "  installable: {command: jobs/flaky.sh, retries: 1}",
    );
    let ws = sample(Some(&config));
    let once = ws.path().join("failed-once");
    ws.script(
        "jobs/flaky.sh",
        &format!(
            "[ -e {once} ] || {{ touch {once}; echo 'a flake'; exit 1; }}",
            once = once.display()
        ),
    );
    build(&ws, "tool-1.0-1", &[&rpm(&ws, "tool", "1.0", "")]);
    let id = submit(
        &ws,
        &update_file(&ws, "tool", &[("tool-1.0-1", "juno", "epel-7")]),
    );
    let r = ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr
            .contains("installable-juno-epel-7: failed (exit status 1): run again (1 of 1)"),
        "{}",
        r.stderr
    );
    let phase1: Vec<String> = jobs(&ws, id)
        .into_iter()
        .filter(|(p, ..)| p == "phase1")
        .map(|(_, _, outcome)| outcome)
        .collect();
    assert_eq!(phase1, ["failed", "passed"]);
    assert_eq!(state(&ws, id), "ready");
}

#[test]
fn when_phase2_fails_on_production_alone_no_update_is_blamed() {
    if !tools() {
        return;
    }
    let config = TWO_PHASES.replace(
        "  phase2: {jobs: [installable], every: 1d}",
        "  phase2: {jobs: [red], every: 1d}",
    ) + "";
    let config = config.replace(
        "  installable: {command: jobs/installable.sh, timeout: 10m}",
        "  installable: {command: jobs/installable.sh, timeout: 10m}\n  red: {command: jobs/red.sh}",
    );
    let ws = sample(Some(&config));
    ws.script("jobs/red.sh", "echo 'production is broken'; exit 1");
    build(&ws, "tool-1.0-1", &[&rpm(&ws, "tool", "1.0", "")]);
    let id = submit(
        &ws,
        &update_file(&ws, "tool", &[("tool-1.0-1", "juno", "epel-7")]),
    );
    let r = ws.run(&["run"]);
    r.code(1);
    assert!(
        r.stderr.contains("updates: phase 2 could not proceed: phase 2 fails on production alone (red-juno-epel-7 failed ("),
        "{}",
        r.stderr
    );
    assert_eq!(state(&ws, id), "pooled");
    assert_eq!(show(&ws, id)["reason"], serde_json::Value::Null);
}

#[test]
fn the_sample_goes_from_submit_to_production_as_the_readme_walks_through_it() {
    if !tools() {
        return;
    }
    let ws = sample(None);
    let made = Command::new(ws.path().join("make-builds.sh"))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let production = ws.path().join("production/openstack-juno/epel-7");
    assert_eq!(dnf_packages(&ws, &production), ["libfoo-1.0-1"]);
    ws.run(&["config", "check"]).ok();
    let r = ws.run(&["update", "submit", "incoming/libfoo-2.0.yml"]);
    r.ok();
    assert_eq!(
        r.stdout.trim(),
        "update 1: libfoo-2.0 submitted: 2 RPMs for juno/epel-7, juno/fedora-21; the next run runs its phase 1"
    );
    ws.run(&["run"]).ok();
    assert_eq!(state(&ws, 1), "released");
    assert_eq!(dnf_packages(&ws, &production), ["libfoo-2.0-1"]);
    ws.run(&["verify", production.to_str().unwrap()]).ok();
    let r = ws.run(&["status"]);
    assert!(r.stdout.contains("updates: 1 released\n"), "{}", r.stdout);
    for target in ["production", "stage"] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with("published repo-")
                && l.contains(&format!(" of juno/epel-7 to {target} at "))
                && l.ends_with(" UTC (updates 1)")),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn a_phase_job_that_cannot_start_leaves_the_update_unjudged_for_the_next_run() {
    if !tools() {
        return;
    }
    let ws = sample(Some(
        &TWO_PHASES.replace("jobs/installable.sh", "jobs/not-there.sh"),
    ));
    build(&ws, "tool-1.0-1", &[&rpm(&ws, "tool", "1.0", "")]);
    let id = submit(
        &ws,
        &update_file(&ws, "tool", &[("tool-1.0-1", "juno", "epel-7")]),
    );
    let r = ws.run(&["run"]);
    r.code(1);
    assert!(
        r.stderr.contains(&format!("updates: phase 1 could not proceed: phase 1 of update {id} is not judged: installable-juno-epel-7 could not run (see above); the next run tries again")),
        "{}",
        r.stderr
    );
    assert_eq!(state(&ws, id), "testing");
    ws.write_config(TWO_PHASES);
    ws.run(&["run"]).ok();
    assert_eq!(state(&ws, id), "ready");
}
