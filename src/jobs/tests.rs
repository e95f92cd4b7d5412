use std::path::Path;

use super::*;

const CONFIG: &str = r#"
release: master
distro: centos7
database: state/master.sqlite
trunk: trunk
images: images
logs: logs

jobs:
  images:
    command: [jobs/images.sh]
  packstack:
    command: [jobs/packstack.sh]
    matrix:
      dist: [epel-7, fedora-21, centos-7]
    disabled:
      - {dist: fedora-21, reason: "fedora-21 images broken"}

promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    jobs: [images, packstack]
    criteria: [images, packstack]
"#;

fn config() -> Config {
    Config::parse(Path::new("/srv/promoter/master.yaml"), CONFIG).unwrap()
}

/// Build `id`; a greater id is a newer build.
fn build(id: i64) -> Build {
    let commit = format!("c{id:039}");
    Build {
        id,
        commit_hash: commit.parse().unwrap(),
        distro_hash: "d1234567".parse().unwrap(),
        extended_hash: None,
        component: None,
        project_name: "p".into(),
        status: "SUCCESS".into(),
        flags: 0,
        dt_build: id,
        repo_dir: format!("{}/{}/{commit}_d1234567", &commit[..2], &commit[2..4]),
        full_hash: format!("{commit}_d1234567").parse().unwrap(),
        consistent: true,
        seq: id,
        dt_order: id,
    }
}

/// (job instance, build id) of each planned job.
fn planned(
    voted: &[(&str, i64)],
    candidates: &[Build],
    rerun: &[&str],
) -> Result<Vec<(String, i64)>> {
    let cfg = config();
    let p = cfg.promotion("tripleo-ci-testing").unwrap();
    let rerun: Vec<String> = rerun.iter().map(|r| r.to_string()).collect();
    let tally = |b: &Build, job: &str| {
        Ok(Tally {
            passed: voted.contains(&(job, b.id)),
            failed: 0,
        })
    };
    Ok(plan(&cfg, p, candidates, tally, &rerun)?
        .into_iter()
        .map(|p| (p.instance.id.to_string(), p.build.id))
        .collect())
}

fn owned(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected.iter().map(|(j, b)| (j.to_string(), *b)).collect()
}

#[test]
fn each_enabled_instance_runs_on_the_newest_candidate_it_has_no_final_vote_on() {
    let candidates = [build(3), build(2), build(1)];
    let voted = [
        ("images", 3),
        ("packstack-epel-7", 3),
        ("packstack-epel-7", 2),
    ];
    assert_eq!(
        planned(&voted, &candidates, &[]).unwrap(),
        owned(&[
            ("images", 2),
            ("packstack-epel-7", 1),
            ("packstack-centos-7", 3),
        ])
    );
}

#[test]
fn nothing_runs_without_candidates_or_once_every_candidate_has_its_vote() {
    assert_eq!(planned(&[], &[], &[]).unwrap(), owned(&[]));
    let voted = [
        ("images", 1),
        ("packstack-epel-7", 1),
        ("packstack-centos-7", 1),
    ];
    assert_eq!(planned(&voted, &[build(1)], &[]).unwrap(), owned(&[]));
}

#[test]
fn a_rerun_runs_a_job_or_one_instance_on_the_newest_candidate_anyway() {
    let candidates = [build(2), build(1)];
    let voted = [
        ("images", 2),
        ("images", 1),
        ("packstack-epel-7", 2),
        ("packstack-epel-7", 1),
        ("packstack-centos-7", 2),
        ("packstack-centos-7", 1),
    ];
    assert_eq!(
        planned(&voted, &candidates, &["images"]).unwrap(),
        owned(&[("images", 2)])
    );
    assert_eq!(
        planned(&voted, &candidates, &["packstack"]).unwrap(),
        owned(&[("packstack-epel-7", 2), ("packstack-centos-7", 2)])
    );
    assert_eq!(
        planned(&voted, &candidates, &["packstack-centos-7"]).unwrap(),
        owned(&[("packstack-centos-7", 2)])
    );
    // A disabled combination is not run, even when asked.
    assert_eq!(
        planned(&voted, &candidates, &["packstack-fedora-21"]).unwrap(),
        owned(&[])
    );
}

#[test]
fn a_failure_to_read_the_votes_is_the_plans_failure() {
    let cfg = config();
    let p = cfg.promotion("tripleo-ci-testing").unwrap();
    let failing = |_: &Build, _: &str| Err(crate::error::Error::Refused("no votes".into()));
    assert!(plan(&cfg, p, &[build(1)], failing, &[]).is_err());
}

#[test]
fn a_failed_job_runs_again_until_its_retries_are_used_up() {
    let cfg = Config::parse(
        Path::new("/srv/promoter/master.yaml"),
        &CONFIG.replace(
            "    command: [jobs/images.sh]\n",
            "    command: [jobs/images.sh]\n    retries: 2\n",
        ),
    )
    .unwrap();
    let p = cfg.promotion("tripleo-ci-testing").unwrap();
    let runs = |failed: usize| {
        plan(
            &cfg,
            p,
            &[build(1)],
            |_, job| {
                Ok(Tally {
                    passed: false,
                    failed: if job == "images" { failed } else { 1 },
                })
            },
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|p| p.instance.id.to_string())
        .collect::<Vec<_>>()
    };
    // packstack has no retries: one failure counts. images has two.
    assert_eq!(runs(0), ["images"]);
    assert_eq!(runs(1), ["images"]);
    assert_eq!(runs(2), ["images"]);
    assert!(runs(3).is_empty());
    assert!(Tally {
        passed: true,
        failed: 0
    }
    .settled(0));
    assert!(!Tally {
        passed: false,
        failed: 0
    }
    .settled(0));
    assert!(Tally {
        passed: false,
        failed: 1
    }
    .settled(0));
}
