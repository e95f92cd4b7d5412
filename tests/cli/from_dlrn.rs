//! Coming from the old promoter: its config converted (`config import`),
//! and a candidate label CI moves elsewhere (`external_labels`).

use std::path::{Path, PathBuf};

use crate::util::*;

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/dlrn")
        .join(name)
}

/// `config import` of a shared sample into the workspace's config, with
/// the workspace's trees.
fn converted(ws: &Workspace, sample: &str) -> String {
    let r = ws.run(&[
        "config",
        "import",
        shared(sample).to_str().unwrap(),
        "--trunk",
        "trunk",
        "--images",
        "images",
    ]);
    r.ok();
    assert!(!r.stderr.contains("needs an edit"), "{}", r.stderr);
    ws.write_config(&r.stdout);
    r.stdout
}

#[test]
fn the_old_promoters_yaml_converts_to_a_config_that_config_check_accepts() {
    let ws = Workspace::sample();
    let text = converted(&ws, "promoter-config_CentOS-9_master.yaml");
    ws.run(&["config", "check"]).ok();
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(cfg["release"], "master");
    assert_eq!(cfg["distro"], "centos9");
    assert_eq!(cfg["latest_hashes_count"], 100);
    assert_eq!(
        cfg["trunk_url"],
        "https://trunk.rdoproject.org/centos9-master"
    );
    assert_eq!(cfg["external_labels"][0], "tripleo-ci-testing");
    let p = &cfg["promotions"];
    let names: Vec<&str> = p
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["current-tripleo", "current-tripleo-rdo"],
        "dependency order"
    );
    assert_eq!(
        p["current-tripleo"]["criteria"]
            .as_sequence()
            .unwrap()
            .len(),
        28
    );
    assert_eq!(
        p["current-tripleo"]["alternative_criteria"]
            .as_mapping()
            .unwrap()
            .len(),
        5
    );
    // What has no meaning here is kept as a comment saying why.
    for key in [
        "api_url",
        "dlrn_api_host",
        "dlrn_api_scheme",
        "dlrn_api_port",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("#   {key}")) && l.contains("--")),
            "{key} listed with why:\n{text}"
        );
    }
    // The namespaces, carried into a containers section to finish.
    assert!(text.contains("# containers:\n"), "{text}");
    assert!(
        text.contains("#   namespace: tripleomastercentos9\n"),
        "{text}"
    );
    assert!(
        text.contains("#     - {registry: quay.io, namespace: tripleomastercentos9}\n"),
        "{text}"
    );
    // Uncommented, it is a section config check takes.
    let section: String = text
        .lines()
        .skip_while(|l| *l != "# containers:")
        .take_while(|l| l.starts_with("# ") && !l.starts_with("#   (old"))
        .map(|l| format!("{}\n", &l[2..]))
        .collect();
    ws.write_config(&format!("{text}\n{section}"));
    ws.run(&["config", "check"]).ok();
}

#[test]
fn the_older_ini_converts_with_its_promote_from_chain_in_order() {
    let ws = Workspace::sample();
    let text = converted(&ws, "promoter-config_2017-10_master.ini");
    ws.run(&["config", "check"]).ok();
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let p = cfg["promotions"].as_mapping().unwrap();
    let names: Vec<&str> = p.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "current-tripleo",
            "current-tripleo-rdo",
            "current-tripleo-rdo-internal"
        ]
    );
    assert_eq!(
        cfg["promotions"]["current-tripleo"]["criteria"]
            .as_sequence()
            .unwrap()
            .len(),
        12
    );
    // Commented-out jobs stay out.
    for commented in [
        "tripleo-quickstart-master-rdo_trunk-baremetal-dell_pe_r630-bond_with_vlans",
        "promote-rhel-master-rdo_trunk-virtha-3ctlr_1comp_192gb",
    ] {
        assert!(!text.contains(commented), "{commented}:\n{text}");
    }
    assert_eq!(
        cfg["promotions"]["current-tripleo-rdo-internal"]["criteria"]
            .as_sequence()
            .unwrap()
            .len(),
        5
    );
    assert!(text.contains("#   username: ciuser  --"), "{text}");
}

#[test]
fn what_is_not_an_old_config_is_refused_with_why_and_prints_nothing() {
    let ws = Workspace::sample();
    std::fs::write(ws.path().join("bad.yaml"), "release: master\n").unwrap();
    let r = ws.run(&["config", "import", "bad.yaml"]);
    r.code(2).error_says("no promotions");
    assert!(r.stdout.is_empty());
    std::fs::write(ws.path().join("bad.ini"), "[main]\nrelease: m\n").unwrap();
    ws.run(&["config", "import", "bad.ini"])
        .code(2)
        .error_says("no [promote_from] section");
    ws.run(&["config", "import", "missing.yaml"]).code(1);
}

/// Votes `jobs` on the build `(c, d)`, each passing unless named in `fail`.
fn vote_all(ws: &Workspace, jobs: &[String], c: &str, d: &str, fail: &[&str]) {
    for j in jobs {
        ws.vote(j, c, d, !fail.contains(&j.as_str()));
    }
}

fn strings(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_converted_config_decides_as_the_old_promoter_on_the_same_votes() {
    let ws = Workspace::sample();
    let text = converted(&ws, "promoter-config_CentOS-9_master.yaml");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let ct = strings(&cfg["promotions"]["current-tripleo"]["criteria"]);
    let rdo = strings(&cfg["promotions"]["current-tripleo-rdo"]["criteria"]);
    ws.run(&["import"]).ok();
    let (c, d) = hashes_of(&ws.builder_link("consistent"));
    // A Zuul job moves tripleo-ci-testing, as in RDO.
    ws.run_db(&[
        "repo-promote",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--promote-name",
        "tripleo-ci-testing",
    ])
    .ok();
    // Every job of current-tripleo passes but featureset001, whose
    // internal alternative passes: the old promoter promotes (an
    // alternative counts for its job), and so does this one.
    let fs001 = "periodic-tripleo-ci-centos-9-ovb-3ctlr_1comp-featureset001-master";
    vote_all(&ws, &ct, &c, &d, &[fs001]);
    ws.vote(
        "periodic-tripleo-ci-centos-9-ovb-3ctlr_1comp-featureset001-internal-master",
        &c,
        &d,
        true,
    );
    // current-tripleo-rdo: one of its three fails: not promoted.
    vote_all(&ws, &rdo, &c, &d, &[rdo[1].as_str()]);
    let run = ws.run(&["run"]);
    run.ok();
    let moved = ws.link("trunk/current-tripleo");
    let (lc, _) = hashes_of(
        moved
            .as_deref()
            .unwrap_or_else(|| panic!("current-tripleo moved:\n{}", run.stderr)),
    );
    assert_eq!(lc, c);
    assert!(
        ws.link("trunk/current-tripleo-rdo").is_none(),
        "one of its jobs failed"
    );
    let why = ws.run(&["why", "--promotion", "current-tripleo-rdo"]);
    why.ok();
    assert!(
        why.stdout.contains(&rdo[1]),
        "why names the failed job:\n{}",
        why.stdout
    );
    // The external label: in status, with who moved it.
    let st = ws.run(&["--json", "status"]);
    let j = st.json();
    let ext = j["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "tripleo-ci-testing")
        .unwrap();
    assert_eq!(ext["role"], "external");
    assert_eq!(ext["moved_by"], "ci");
    let table = ws.run(&["status"]);
    let line = table
        .stdout
        .lines()
        .find(|l| l.starts_with("tripleo-ci-testing"))
        .unwrap();
    assert!(line.contains("external: moved by ci"), "{line}");
}

#[test]
fn an_undeclared_candidate_label_is_refused_with_a_hint_and_a_declared_one_may_not_be_promoted_here(
) {
    let ws = Workspace::sample();
    ws.write_config(
        "release: master\ntrunk: trunk\nimages: images\npromotions:\n  current-tripleo:\n    candidate_label: tripleo-ci-testing\n    criteria: [a]\n",
    );
    ws.run(&["config", "check"])
        .code(2)
        .error_says("external_labels: [tripleo-ci-testing]");
    ws.write_config(
        "release: master\ntrunk: trunk\nimages: images\nexternal_labels: [tripleo-ci-testing, consistent]\npromotions:\n  tripleo-ci-testing:\n    candidate_label: consistent\n    criteria: [a]\n",
    );
    let r = ws.run(&["config", "check"]);
    r.code(2);
    assert!(r.stderr.contains("is promoted here"), "{}", r.stderr);
    assert!(
        r.stderr.contains("\"consistent\" is reserved"),
        "{}",
        r.stderr
    );
}
