//! The config read from text: what parses, and every error with its line
//! and key.

use super::*;

const SAMPLE: &str = r#"
release: master
distro: centos7
database: state/master.sqlite
trunk: trunk/centos7-master
images: images/master/rdo_trunk
logs: logs/master
latest_hashes_count: 10

jobs:
  build-images:
    command: [scripts/jobs/build-images.sh]
    timeout: 1h
  packstack:
    command: [scripts/jobs/packstack.sh]
    matrix:
      dist: [epel-7, fedora-21]
    disabled:
      - {dist: fedora-21, reason: "fedora-21 images broken"}

promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    jobs: [build-images]
    criteria: [build-images]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    criteria:
      - ovb-featureset001
      - periodic-featureset005
    alternative_criteria:
      ovb-featureset001: [ovb-featureset001-internal]
    publish: [images]
  current-tripleo-rdo:
    candidate_label: current-tripleo
    jobs: [packstack]
    criteria: [packstack]

publish:
  images:
    source: images
    dest: buildlogs/images
    sidecars: [md5]
    keep: 3
"#;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("/etc/promoter/master.yaml"), text)
}

#[test]
fn sample_config_parses_in_file_order() {
    let c = parse(SAMPLE).unwrap();
    let names: Vec<_> = c.promotions.iter().map(|p| p.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "tripleo-ci-testing",
            "current-tripleo",
            "current-tripleo-rdo"
        ]
    );
    assert_eq!(c.latest_hashes_count, 10);
    assert!(c.database.ends_with("state/master.sqlite"));
    assert_eq!(c.job("build-images").unwrap().timeout.as_secs(), 3600);
}

#[test]
fn matrix_expands_and_marks_disabled_combinations() {
    let c = parse(SAMPLE).unwrap();
    let req = c.required_jobs(c.promotion("current-tripleo-rdo").unwrap());
    let ids: Vec<_> = req.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, ["packstack-epel-7", "packstack-fedora-21"]);
    assert_eq!(req[0].disabled, None);
    assert_eq!(req[1].disabled.as_deref(), Some("fedora-21 images broken"));
    let alt = c.required_jobs(c.promotion("current-tripleo").unwrap());
    assert_eq!(
        alt[0].alternatives[0].as_str(),
        "ovb-featureset001-internal"
    );
}

#[test]
fn every_error_is_reported_at_once_with_line_and_key() {
    let text = "release: master\ntrunk: t\nbogus: 1\npromotions:\n  current:\n    candidate_label: consistent\n    criteria: [a]\n  a:\n    candidate_label: consistent\n    criteria: []\n  b:\n    candidate_label: nowhere\n    criteria: [x]\n    jobs: [undefined-job]\n";
    let errs = parse(text).unwrap_err().0;
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let all = shown.join("\n");
    assert!(all.contains("master.yaml:3: bogus: unknown key"), "{all}");
    assert!(all.contains(":5: promotions.current:"), "{all}");
    assert!(
        all.contains(":10: promotions.a.criteria: the criteria are empty"),
        "{all}"
    );
    assert!(
        all.contains(":12: promotions.b.candidate_label: no earlier promotion"),
        "{all}"
    );
    assert!(
        all.contains(":14: promotions.b.jobs: job \"undefined-job\" is not defined"),
        "{all}"
    );
    assert_eq!(errs.len(), 5, "{all}");
}

#[test]
fn a_typo_in_one_promotion_does_not_blame_the_next_and_errors_come_in_file_order() {
    let text = "release: r\ntrunk: t\npromotions:\n  a:\n    candidat_label: consistent\n    criteria: [j]\n  b:\n    candidate_label: a\n    criteria: [j]\n";
    let errs = parse(text).unwrap_err().0;
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 2, "{all:#?}");
    assert!(
        all[0].contains(":4: promotions.a.candidate_label: missing"),
        "{all:#?}"
    );
    assert!(
        all[1].contains(":5: promotions.a.candidat_label: unknown key"),
        "{all:#?}"
    );
}

#[test]
fn cycles_and_bad_names_are_errors() {
    let text = "release: r\ntrunk: t\npromotions:\n  x:\n    candidate_label: y\n    criteria: [j]\n  y:\n    candidate_label: x\n    criteria: [j]\n  ../up:\n    candidate_label: consistent\n    criteria: [j]\n  .hidden:\n    candidate_label: consistent\n    criteria: [j]\n";
    let all = parse(text).unwrap_err().to_string();
    assert!(
        all.contains("promotions.x.candidate_label: \"y\" takes its candidates"),
        "{all}"
    );
    assert!(all.contains("promotions.../up"), "{all}");
    assert!(all.contains("promotions..hidden"), "{all}");
}

#[test]
fn bad_values_name_their_key() {
    let text = "release: r\ntrunk: t\nlatest_hashes_count: 0\njobs:\n  j:\n    command: [x]\n    timeout: 3 fortnights\n";
    let all = parse(text).unwrap_err().to_string();
    assert!(
        all.contains(":3: latest_hashes_count: expected a whole number from 1 to 100"),
        "{all}"
    );
    assert!(all.contains(":7: jobs.j.timeout:"), "{all}");
}

#[test]
fn a_matrix_whose_job_ids_are_too_long_is_a_config_error_not_a_panic() {
    let text = format!(
        "release: r\ntrunk: t\njobs:\n  j:\n    command: [x]\n    matrix:\n      a: [{}]\n      b: [{}]\n",
        "x".repeat(200),
        "y".repeat(100)
    );
    let all = parse(&text).unwrap_err().to_string();
    assert!(all.contains(":4: jobs.j: job id"), "{all}");
    assert!(all.contains("longer than 255"), "{all}");
}

#[test]
fn a_matrix_of_too_many_combinations_is_a_config_error() {
    let mut text =
        String::from("release: r\ntrunk: t\njobs:\n  j:\n    command: [x]\n    matrix:\n");
    for axis in 0..12 {
        text.push_str(&format!(
            "      a{axis}: [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9]\n"
        ));
    }
    let all = parse(&text).unwrap_err().to_string();
    assert!(
        all.contains("jobs.j.matrix: it expands to 1000000000000 job ids; at most 1000"),
        "{all}"
    );
}

#[test]
fn a_duplicate_key_error_names_the_line_of_the_duplicate() {
    let cases = [
        ("release: r\ntrunk: t\nrelease: s\n", 3),
        (
            "release: r\njobs:\n  a:\n    command: [x]\n  b:\n    command: [y]\n\n  # again\n  a:\n    command: [z]\n",
            9,
        ),
        (
            "release: r\njobs:\n  a:\n    command: [x]\n    timeout: 1h\n    command: [y]\n",
            6,
        ),
        (
            "release: r\njobs:\n  a:\n    command: [x]\n    disabled:\n      - {reason: x}\n      - reason: y\n        reason: z\n",
            8,
        ),
    ];
    for (text, line) in cases {
        let all = parse(text).unwrap_err().to_string();
        assert!(
            all.starts_with(&format!(
                "/etc/promoter/master.yaml:{line}: not valid YAML: "
            )),
            "{text:?}: {all}"
        );
        assert!(all.contains("duplicate entry"), "{all}");
    }
}

#[test]
fn publish_dests_that_collide_are_errors_with_line_and_key() {
    let text = "release: r
trunk: /srv/trunk
images: /srv/images
promotions:
  current-tripleo:
    candidate_label: consistent
    criteria: [j]
publish:
  a:
    source: trunk
    dest: /srv/buildlogs/tested
  b:
    source: images
    dest: ../../srv/./buildlogs/x/../tested/
  c:
    source: trunk
    dest: /srv/trunk/current-tripleo
  d:
    source: trunk
    dest: /srv/trunk/previous-current-tripleo
  e:
    source: images
    dest: /srv/images/published
  f:
    source: trunk
    dest: /srv/trunk/17/23/17234e9ab9_024e24f0/out
  g:
    source: images
    dest: /srv/images/abc_def/out
  h:
    source: trunk
    dest: /srv/buildlogs/tested/images
  r1:
    source: trunk
    dest: host:/srv/x
  r2:
    source: trunk
    dest: host:/srv/x
  r3:
    source: trunk
    dest: host:/srv/x/
  r4:
    source: trunk
    dest: /srv/x
";
    let errs = parse(text).unwrap_err().0;
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let want = [
        ":14: publish.b.dest: /srv/buildlogs/tested is also the dest of publish target \"a\"",
        ":17: publish.c.dest: /srv/trunk/current-tripleo is the label current-tripleo of the trunk",
        ":20: publish.d.dest: /srv/trunk/previous-current-tripleo is the label previous-current-tripleo",
        ":23: publish.e.dest: /srv/images/published is inside the image tree /srv/images",
        ":26: publish.f.dest: /srv/trunk/17/23/17234e9ab9_024e24f0/out is inside the hash directory /srv/trunk/17/23/17234e9ab9_024e24f0",
        ":29: publish.g.dest: /srv/images/abc_def/out is inside the hash directory /srv/images/abc_def",
        ":32: publish.h.dest: /srv/buildlogs/tested/images is inside the dest of publish target \"a\"",
        ":38: publish.r2.dest: \"host:/srv/x\" is also the dest of publish target \"r1\"",
    ];
    for w in want {
        assert!(all.iter().any(|e| e.contains(w)), "{w}\nnot in {all:#?}");
    }
    // h is inside both a's and b's dest (one place).
    assert_eq!(errs.len(), want.len() + 1, "{all:#?}");
}

#[test]
fn malformed_yaml_gives_the_line() {
    let all = parse("release: r\ntrunk: [unclosed\n")
        .unwrap_err()
        .to_string();
    assert!(all.starts_with("/etc/promoter/master.yaml:"), "{all}");
    assert!(all.contains("not valid YAML"), "{all}");
}

#[test]
fn a_key_inside_a_flow_mapping_is_reported_at_its_own_line() {
    let text = "release: r
trunk: t
jobs:
  j: {command: [x],
      timeout: 3 fortnights}
  k:
    {command: [y], timeout: 0}
publish:
  a: {source: trunk,
      dest: /srv/a, keep: 0}
  b: {source: images, dest: /srv/b, bogus: 1,
      sidecars: [crc]}
";
    let errs = parse(text).unwrap_err().0;
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let want = [
        ":5: jobs.j.timeout: \"3 fortnights\" is not a duration",
        ":7: jobs.k.timeout: \"0\" is not a duration",
        ":10: publish.a.keep: expected a whole number from 1 to 1000",
        ":11: publish.b.bogus: unknown key",
        ":12: publish.b.sidecars: unknown sidecar \"crc\"",
    ];
    assert_eq!(errs.len(), want.len(), "{all:#?}");
    for (got, want) in all.iter().zip(want) {
        assert!(got.contains(want), "{want}\nnot in {all:#?}");
    }
}

#[test]
fn keys_after_sequences_of_mappings_are_placed() {
    let text = "release: r\ntrunk: t\njobs:\n  j:\n    command: [x]\n    matrix: {dist: [a]}\n    disabled: [{dist: b,\n      reason: r}]\n    timeout: 0\n  k:\n    command: [x]\n    matrix:\n      dist: [a]\n    disabled:\n      - dist: a\n        reason: r\n    testenv: ../up\n";
    let errs = parse(text).unwrap_err().0;
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let want = [
        // The entries of `disabled` are named by that key.
        ":7: jobs.j.disabled: dist: \"b\" is not a value of that axis",
        ":9: jobs.j.timeout: \"0\" is not a duration",
        ":17: jobs.k.testenv: pool \"../up\" is not valid",
    ];
    assert_eq!(errs.len(), want.len(), "{all:#?}");
    for (got, want) in all.iter().zip(want) {
        assert!(got.contains(want), "{want}\nnot in {all:#?}");
    }
}

#[test]
fn a_duplicate_key_in_a_flow_mapping_names_the_line_of_the_duplicate() {
    let text = "release: r\njobs: {a: {command: [x],\n  timeout: 1h, command: [y]}}\n";
    let all = parse(text).unwrap_err().to_string();
    assert!(
        all.starts_with("/etc/promoter/master.yaml:3: not valid YAML: jobs.a: duplicate entry with key \"command\""),
        "{all}"
    );
}

#[test]
fn a_quoted_key_and_a_key_after_an_alias_are_placed() {
    let text = "release: r\ntrunk: t\njobs:\n  base: &base\n    command: [x]\n  \"quoted\":\n    command: [y]\n    timeout: 0\n  copy: *base\n  other:\n    command: [z]\n    timeout: forever\n";
    let errs = parse(text).unwrap_err().0;
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 2, "{all:#?}");
    assert!(all[0].contains(":8: jobs.quoted.timeout:"), "{all:#?}");
    assert!(all[1].contains(":12: jobs.other.timeout:"), "{all:#?}");
}

#[test]
fn push_and_hook_timeouts_default_and_are_read() {
    let c = parse(SAMPLE).unwrap();
    assert_eq!(c.push_timeout, std::time::Duration::from_secs(7200));
    let text = format!("push_timeout: 15m\nhook_timeout: 1m\n{SAMPLE}");
    let c = parse(&text).unwrap();
    assert_eq!(c.push_timeout, std::time::Duration::from_secs(900));
    assert_eq!(c.hook_timeout, std::time::Duration::from_secs(60));
    let e = parse(&format!("push_timeout: soon\n{SAMPLE}"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("push_timeout"), "{e}");
}

const CONTAINERS: &str = "release: master
trunk: trunk
containers:
  registry: trunk.registry.rdoproject.org
  namespace: tripleomaster
  images_from: containers-list
  push:
    - {registry: quay.io, namespace: tripleomastercentos9}
  auth_file: auth.json
  insecure: [registry.ci.example.org:5000]
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
    containers: true
";

#[test]
fn the_containers_section_is_read_with_its_push_registries_and_credentials() {
    let c = parse(CONTAINERS).unwrap();
    let d = c.containers.as_ref().unwrap();
    assert_eq!(d.source.registry, "trunk.registry.rdoproject.org");
    assert_eq!(d.source.namespace, "tripleomaster");
    assert_eq!(d.images, ContainerImages::From("containers-list".into()));
    assert_eq!(
        d.push,
        vec![ContainerRepo {
            registry: "quay.io".into(),
            namespace: "tripleomastercentos9".into()
        }]
    );
    assert_eq!(
        d.auth_file.as_deref(),
        Some(Path::new("/etc/promoter/auth.json"))
    );
    assert_eq!(d.insecure, ["registry.ci.example.org:5000"]);
    assert!(c.promotions[0].containers);
}

#[test]
fn bad_containers_keys_and_values_are_errors_with_their_key() {
    let text = CONTAINERS
        .replace(
            "  auth_file: auth.json\n",
            "  auth_file: auth.json\n  mirror: x\n",
        )
        .replace("namespace: tripleomaster\n", "namespace: Tripleo/\n")
        .replace("registry: quay.io,", "registry: https://quay.io,")
        .replace("containers: true", "containers: yes please");
    let e = parse(&text).unwrap_err().to_string();
    for needle in [
        "containers.mirror: unknown key",
        "containers.namespace: \"Tripleo/\": not a repository name",
        "containers.push.registry: \"https://quay.io\": not a registry host",
        "promotions.tripleo-ci-testing.containers: expected true or false",
    ] {
        assert!(e.contains(needle), "{needle}\n{e}");
    }
    let both = CONTAINERS.replace(
        "  images_from: containers-list\n",
        "  images_from: l\n  images: [a]\n",
    );
    assert!(parse(&both).unwrap_err().to_string().contains("not both"));
    let none = CONTAINERS.replace("  images_from: containers-list\n", "");
    assert!(parse(&none)
        .unwrap_err()
        .to_string()
        .contains("missing: images_from"));
}

#[test]
fn containers_true_without_a_containers_section_is_an_error() {
    let text = CONTAINERS
        .split("promotions:")
        .nth(1)
        .map(|p| format!("release: master\ntrunk: trunk\npromotions:{p}"))
        .unwrap();
    let e = parse(&text).unwrap_err().to_string();
    assert!(
        e.contains("promotions.tripleo-ci-testing.containers: there is no containers section"),
        "{e}"
    );
}

const UPDATES: &str = r#"
release: juno
trunk: trunk
jobs:
  smoke: {command: smoke.sh}
updates:
  dir: rdo-update
  combinations:
    juno: [epel-7, fedora-21]
  phase1: {jobs: [smoke]}
  phase2: {jobs: [smoke], every: 12h}
  stage: {publish: stage, jobs: [smoke]}
  production:
    repos:
      juno/epel-7: /srv/rdo/openstack-juno/epel-7
      juno/fedora-21: /srv/rdo/openstack-juno/fedora-21
    publish: production
  disabled:
    - {release: juno, dist: fedora-21, reason: "f21 images broken", until: 2015-02-03}
publish:
  stage: {source: updates, dest: "stage/openstack-{release}/{dist}"}
  production: {source: updates, dest: "rdo@repos.example.org:/srv/rdo/openstack-{release}/{dist}"}
"#;

#[test]
fn the_updates_section_names_combinations_phases_targets_and_disabled_combinations() {
    let c = parse(UPDATES).unwrap();
    let u = c.updates.unwrap();
    assert_eq!(u.dir, Path::new("/etc/promoter/rdo-update"));
    let combos: Vec<String> = u.combinations.iter().map(|c| c.to_string()).collect();
    assert_eq!(combos, ["juno/epel-7", "juno/fedora-21"]);
    assert_eq!(u.phase2_every, Duration::from_secs(12 * 3600));
    assert_eq!(u.stage_publish.as_deref(), Some("stage"));
    assert_eq!(u.production_publish.as_deref(), Some("production"));
    assert_eq!(u.production_repos.len(), 2);
    let f21 = &u.combinations[1];
    let until = u.disabled[0].until.unwrap();
    assert_eq!(
        u.disabled_reason(f21, until - 1).map(|d| d.reason.as_str()),
        Some("f21 images broken")
    );
    assert!(u.disabled_reason(f21, until).is_none());
    assert_eq!(c.publish[0].source, Source::Updates);
}

#[test]
fn stage_needs_a_local_production_repo_for_every_combination() {
    let text = UPDATES
        .replace(
            "juno/fedora-21: /srv/rdo/openstack-juno/fedora-21",
            "juno/fedora-21: https://repos.example.org/juno/fedora-21",
        )
        .replace("      juno/epel-7: /srv/rdo/openstack-juno/epel-7\n", "");
    let errors = parse(&text).unwrap_err().0;
    let said: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.key, e.message))
        .collect();
    assert!(
        said.iter()
            .any(|s| s.starts_with("updates.production.repos: juno/epel-7 has no production repo")),
        "{said:#?}"
    );
    assert!(
        said.iter().any(|s| s.starts_with(
            "updates.production.repos.juno/fedora-21: https://repos.example.org/juno/fedora-21 is a URL"
        )),
        "{said:#?}"
    );
}

#[test]
fn an_updates_section_naming_what_is_not_there_says_each_at_its_line() {
    let text = UPDATES
        .replace("phase1: {jobs: [smoke]}", "phase1: {jobs: [smoke, lost]}")
        .replace("juno/epel-7: /srv", "icehouse/epel-6: /srv")
        .replace(
            "{publish: stage, jobs: [smoke]}",
            "{publish: nowhere, jobs: [smoke]}",
        )
        .replace("dist: fedora-21, reason", "dist: fedora-20, reason")
        .replace("until: 2015-02-03", "until: soon")
        .replace("stage: {source: updates", "stage: {source: trunk");
    let errors = parse(&text).unwrap_err().0;
    let said: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.key, e.message))
        .collect();
    for want in [
        "updates.phase1.jobs: no job \"lost\" under jobs",
        "updates.production.repos.icehouse/epel-6: \"icehouse/epel-6\" is not one of the combinations (release/dist)",
        "updates.stage.publish: no publish target \"nowhere\" under publish",
        "updates.disabled: until: \"soon\" is not a day (YYYY-MM-DD)",
    ] {
        assert!(said.iter().any(|s| s == want), "{want:?} not in {said:#?}");
    }
    assert!(errors.iter().all(|e| e.line.is_some()), "{errors:?}");
    let text = UPDATES.replace(
        "publish:\n  stage:",
        "promotions:\n  tested:\n    candidate_label: consistent\n    criteria: [smoke]\n    publish: [stage]\npublish:\n  stage:",
    );
    let said = parse(&text).unwrap_err().to_string();
    assert!(
        said.contains(
            "promotions.tested.publish: publish target \"stage\" publishes the repos of updates"
        ),
        "{said}"
    );
    let text = UPDATES.replace("stage: {source: updates", "stage: {source: trunk");
    let said = parse(&text).unwrap_err().to_string();
    assert!(
        said.contains(
            "updates.stage.publish: publish target \"stage\" has source trunk, not updates"
        ),
        "{said}"
    );
}
