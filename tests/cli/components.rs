use crate::util::*;

const CONFIG: &str = "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [periodic-integration]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    criteria: [periodic-ovb]
";

fn imported() -> Workspace {
    let ws = Workspace::components(CONFIG);
    let r = ws.run(&["import"]);
    r.ok();
    assert!(!r.stderr.contains("WARN"), "{}", r.stderr);
    ws
}

/// The newest consistent aggregate's hash.
fn newest_aggregate(ws: &Workspace) -> String {
    ws.sql("SELECT agg_hash FROM aggregates ORDER BY created_at DESC LIMIT 1")
}

/// (component, repo_dir, commit, distro) of each build of an aggregate.
fn members(ws: &Workspace, agg: &str) -> Vec<(String, String, String, String)> {
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    let mut s = c
        .prepare(
            "SELECT b.component, b.repo_dir, b.commit_hash, b.distro_hash FROM aggregates a
             JOIN aggregate_builds ab ON ab.aggregate_id = a.id JOIN builds b ON b.id = ab.build_id
             WHERE a.agg_hash = ?1 ORDER BY b.component",
        )
        .unwrap();
    s.query_map([agg], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn md5_of(path: &std::path::Path) -> String {
    let out = std::process::Command::new("md5sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_component_trunk_imports_builds_links_and_aggregates() {
    let ws = imported();
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM builds"), 8);
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM builds WHERE component IS NULL"),
        0
    );
    assert_eq!(
        ws.sql::<String>("SELECT group_concat(DISTINCT component) FROM (SELECT component FROM builds ORDER BY component)"),
        "baremetal,tripleo"
    );
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM labels WHERE source = 'builder' AND component <> ''"),
        4
    );
    let aggs: i64 = ws.sql("SELECT count(*) FROM aggregates");
    assert!(aggs >= 4, "{aggs}");
    // The newest aggregate is the one consistent/ shows, and its md5 is
    // the md5 of its delorean.repo, as DLRN computes it.
    let agg = newest_aggregate(&ws);
    let shown = std::fs::read_to_string(ws.trunk().join("consistent/delorean.repo.md5")).unwrap();
    assert_eq!(shown.trim(), agg);
    assert_eq!(md5_of(&ws.trunk().join("consistent/delorean.repo")), agg);
    let m = members(&ws, &agg);
    assert_eq!(
        m.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["baremetal", "tripleo"]
    );
    // Importing again adds nothing.
    let again = ws.run(&["import", "--json"]);
    assert_eq!(again.json()["new_aggregates"], 0);
}

#[test]
fn votes_on_aggregates_and_component_filters() {
    let ws = imported();
    let agg = newest_aggregate(&ws);
    let r = ws.run_db(&[
        "report-result",
        "--job-id",
        "periodic-integration",
        "--agg-hash",
        &agg,
        "--info-url",
        "https://logs/1",
        "--timestamp",
        "1700000000",
        "--success",
        "true",
    ]);
    r.ok();
    assert_eq!(r.json()["aggregate_hash"], agg.as_str());
    assert_eq!(r.json()["commit_hash"], serde_json::Value::Null);
    let s = ws.run_db(&["agg-status", "--agg-hash", &agg]);
    s.ok();
    assert_eq!(s.json()[0]["job_id"], "periodic-integration");
    assert_eq!(s.json()[0]["aggregate_hash"], agg.as_str());
    ws.run_db(&["agg-status", "--agg-hash", &agg, "--success", "false"])
        .ok();
    assert_eq!(
        ws.run_db(&["agg-status", "--agg-hash", &agg, "--success", "false"])
            .json(),
        serde_json::json!([])
    );
    ws.run_db(&[
        "report-result",
        "--job-id",
        "j",
        "--agg-hash",
        "abc",
        "--commit-hash",
        "x",
        "--distro-hash",
        "y",
        "--info-url",
        "u",
        "--timestamp",
        "1",
        "--success",
        "true",
    ])
    .code(2);
    let g = ws.run_db(&["repo-get", "--component", "baremetal"]);
    g.ok();
    assert_eq!(g.json()["component"], "baremetal");
    ws.run_db(&["repo-get", "--component", "nope"]).code(3);
}

#[test]
fn a_batch_promotion_moves_every_component_and_writes_the_aggregate() {
    let ws = imported();
    let agg = newest_aggregate(&ws);
    let m = members(&ws, &agg);
    let pairs: Vec<String> = m.iter().map(|(_, _, c, d)| format!("{c}_{d}")).collect();
    let r = ws.run(&[
        "repo-promote-batch",
        "--promote-name",
        "tripleo-ci-testing",
        "--hash-pairs",
        &pairs.join(","),
    ]);
    r.ok();
    for (comp, dir, _, _) in &m {
        let link = ws
            .link(&format!("trunk/component/{comp}/tripleo-ci-testing"))
            .unwrap();
        assert_eq!(format!("component/{comp}/{link}"), *dir);
    }
    let written =
        std::fs::read_to_string(ws.trunk().join("tripleo-ci-testing/delorean.repo.md5")).unwrap();
    assert_eq!(
        written, agg,
        "the same builds make the same aggregate as DLRN's"
    );
    assert_eq!(
        md5_of(&ws.trunk().join("tripleo-ci-testing/delorean.repo")),
        agg
    );
    assert_eq!(r.json()["aggregate_hash"], agg.as_str());
    let rows = ws.run_db(&["promotion-get", "--agg-hash", &agg]).json();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    let h = ws.run(&["history"]);
    assert!(
        h.stdout.contains(&format!("of {}]", &agg[..8])),
        "{}",
        h.stdout
    );
    // Refusals, all before anything moves.
    ws.run(&[
        "repo-promote-batch",
        "--promote-name",
        "current",
        "--hash-pairs",
        &pairs[0],
    ])
    .code(4);
    ws.run(&[
        "repo-promote-batch",
        "--promote-name",
        "x",
        "--hash-pairs",
        "nounderscore",
    ])
    .code(2);
    ws.run(&[
        "repo-promote-batch",
        "--promote-name",
        "x",
        "--hash-pairs",
        &format!("{},ffff_eeee", pairs[0]),
    ])
    .code(3);
    assert_eq!(ws.link("trunk/component/tripleo/x"), None);
}

#[test]
fn a_batch_that_fails_half_way_leaves_every_label_as_it_was() {
    let ws = imported();
    let agg = newest_aggregate(&ws);
    let m = members(&ws, &agg);
    // An older tripleo build holds the label; baremetal's label cannot be
    // written (a directory where the link goes).
    let old: (String, String) = {
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        c.query_row(
            "SELECT commit_hash, distro_hash FROM builds WHERE component = 'tripleo' ORDER BY dt_build LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    ws.repo_promote(&old.0, &old.1, "staging").ok();
    let tripleo_before = ws.link("trunk/component/tripleo/staging").unwrap();
    std::fs::create_dir_all(ws.trunk().join("component/baremetal/staging")).unwrap();
    let pairs: Vec<String> = m
        .iter()
        .rev()
        .map(|(_, _, c, d)| format!("{c}_{d}"))
        .collect();
    let before: i64 = ws.sql("SELECT count(*) FROM promotions");
    let r = ws.run(&[
        "repo-promote-batch",
        "--promote-name",
        "staging",
        "--hash-pairs",
        &pairs.join(","),
    ]);
    r.code(1).error_says("put back");
    assert_eq!(
        ws.link("trunk/component/tripleo/staging").unwrap(),
        tripleo_before
    );
    assert_eq!(ws.link("trunk/component/tripleo/previous-staging"), None);
    assert!(ws.trunk().join("component/baremetal/staging").is_dir());
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM promotions"), before);
    assert!(!ws.trunk().join("staging").exists(), "no aggregate written");
}

#[test]
fn a_pipeline_run_promotes_an_aggregate_and_cascades() {
    let ws = imported();
    let agg = newest_aggregate(&ws);
    let why = ws.run(&["why", "--promotion", "tripleo-ci-testing"]);
    why.ok();
    assert!(
        why.stdout.starts_with(&format!(
            "tripleo-ci-testing: aggregate {agg} is blocked: 0 of 1 required job passed"
        )),
        "{}",
        why.stdout
    );
    assert!(
        why.stdout.contains("baremetal"),
        "components are listed: {}",
        why.stdout
    );
    // Asked for by its hash, the aggregate is explained the same way.
    let by_hash = ws.run(&["why", "--promotion", "tripleo-ci-testing", "--hash", &agg]);
    by_hash.ok();
    assert_eq!(by_hash.stdout, why.stdout);
    let j = ws
        .run(&[
            "why",
            "--json",
            "--promotion",
            "tripleo-ci-testing",
            "--hash",
            &agg,
        ])
        .json();
    assert_eq!(j["aggregate"]["agg_hash"], agg.as_str());
    ws.run(&["why", "--hash", "0123456789abcdef0123456789abcdef"])
        .code(3);
    ws.run(&["why", "--hash", "not a hash"]).code(2);
    for job in ["periodic-integration", "periodic-ovb"] {
        ws.run_db(&[
            "report-result",
            "--job-id",
            job,
            "--agg-hash",
            &agg,
            "--info-url",
            "u",
            "--timestamp",
            "1700000000",
            "--success",
            "true",
        ])
        .ok();
    }
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(
        r.stderr.contains(&format!(
            "promoted aggregate {agg} (2 component builds) to tripleo-ci-testing"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "promoted aggregate {agg} (2 component builds) to current-tripleo"
        )),
        "{}",
        r.stderr
    );
    for label in ["tripleo-ci-testing", "current-tripleo"] {
        let md5 =
            std::fs::read_to_string(ws.trunk().join(label).join("delorean.repo.md5")).unwrap();
        assert_eq!(md5, agg, "{label}");
        assert!(ws
            .link(&format!("trunk/component/tripleo/{label}"))
            .is_some());
    }
    let j = ws
        .run(&["why", "--json", "--promotion", "current-tripleo"])
        .json();
    // The aggregate the label holds is explained, as a build would be.
    assert_eq!(j["verdict"], "promoted");
    assert_eq!(j["label_now"], agg.as_str());
    assert_eq!(j["aggregate"]["agg_hash"], agg.as_str());
    // status shows the aggregate each label holds, without warnings.
    let st = ws.run(&["status"]);
    st.ok();
    assert!(!st.stderr.contains("WARN"), "{}", st.stderr);
    let line = st
        .stdout
        .lines()
        .find(|l| l.starts_with("current-tripleo "))
        .unwrap();
    assert!(line.contains(&format!("aggregate {agg}")), "{}", st.stdout);
    let j = ws.run(&["status", "--json"]).json();
    let l = j["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "tripleo-ci-testing")
        .unwrap();
    assert_eq!(l["aggregate"], agg.as_str());
    let page = ws.path().join("status.html");
    ws.run(&["status", "--html", page.to_str().unwrap()]).ok();
    let html = std::fs::read_to_string(&page).unwrap();
    // The grid has the aggregate the label holds as its column.
    assert!(
        html.contains(&format!("data-hash=\"{agg}\"")),
        "no column for the aggregate"
    );
    // The metrics name the aggregate each label holds.
    let metrics = ws.path().join("promoter.prom");
    ws.run(&["status", "--metrics", metrics.to_str().unwrap()])
        .ok();
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("promoter_label_info{")
            && l.contains("label=\"current-tripleo\"")
            && l.contains(&format!("aggregate=\"{agg}\""))),
        "{text}"
    );
    // Nothing new: the next run changes nothing.
    let before: i64 = ws.sql("SELECT count(*) FROM promotions");
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM promotions"), before);
}

#[test]
fn a_batch_onto_a_label_that_is_a_link_is_refused_before_anything_moves() {
    let ws = imported();
    let agg = newest_aggregate(&ws);
    let m = members(&ws, &agg);
    std::os::unix::fs::symlink(&m[0].1, ws.trunk().join("staging")).unwrap();
    let pairs: Vec<String> = m.iter().map(|(_, _, c, d)| format!("{c}_{d}")).collect();
    ws.run(&[
        "repo-promote-batch",
        "--promote-name",
        "staging",
        "--hash-pairs",
        &pairs.join(","),
    ])
    .code(4)
    .error_says("a label of aggregates is a directory");
    for (comp, _, _, _) in &m {
        assert_eq!(ws.link(&format!("trunk/component/{comp}/staging")), None);
    }
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM promotions"), 0);
}

#[test]
fn a_batch_completed_after_a_kill_records_the_real_previous_builds() {
    let ws = imported();
    // An older aggregate first, so each component label has a history.
    let older: String =
        ws.sql("SELECT agg_hash FROM aggregates ORDER BY created_at DESC LIMIT 1 OFFSET 2");
    let newest = newest_aggregate(&ws);
    let pairs = |agg: &str| -> String {
        members(&ws, agg)
            .iter()
            .map(|(_, _, c, d)| format!("{c}_{d}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    ws.run(&[
        "repo-promote-batch",
        "--promote-name",
        "staging",
        "--hash-pairs",
        &pairs(&older),
    ])
    .ok();
    // A batch to the newest killed after moving one component's links.
    let m = members(&ws, &newest);
    let (comp, dir, _, _) = &m[0];
    let inner = dir.strip_prefix(&format!("component/{comp}/")).unwrap();
    let cdir = ws.trunk().join("component").join(comp);
    let before = std::fs::read_link(cdir.join("staging")).unwrap();
    std::fs::remove_file(cdir.join("staging")).unwrap();
    std::os::unix::fs::symlink(inner, cdir.join("staging")).unwrap();
    std::fs::remove_file(cdir.join("previous-staging")).ok();
    std::os::unix::fs::symlink(&before, cdir.join("previous-staging")).unwrap();
    ws.run(&[
        "repo-promote-batch",
        "--promote-name",
        "staging",
        "--hash-pairs",
        &pairs(&newest),
    ])
    .ok();
    let self_previous: i64 =
        ws.sql("SELECT count(*) FROM promotions WHERE previous_build_id = build_id");
    assert_eq!(self_previous, 0, "no build is recorded as its own previous");
    assert_eq!(
        std::fs::read_link(cdir.join("previous-staging")).unwrap(),
        before
    );
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "the crash hook is built only with --features fault, as scripts/test.sh builds it"
)]
fn a_batch_killed_at_any_step_is_completed_by_the_next_command() {
    // A batch is one recorded attempt: killed after its hooks, after some
    // or all of its links moved, or after its rows, the next command that
    // moves a label finishes it: every component link, the aggregate, and
    // one history row per build, never twice.
    for fault in ["after-hooks", "after-images", "after-trunk"] {
        let ws = imported();
        let agg = newest_aggregate(&ws);
        let m = members(&ws, &agg);
        let pairs: Vec<String> = m.iter().map(|(_, _, c, d)| format!("{c}_{d}")).collect();
        let args = [
            "repo-promote-batch",
            "--promote-name",
            "staging",
            "--hash-pairs",
            &pairs.join(","),
        ];
        let killed = ws.run_env(&args, &[("PROMOTER_FAULT", fault)]);
        assert_eq!(killed.code, -1, "{fault}: killed by its signal");
        let open: i64 =
            ws.sql("SELECT count(*) FROM attempts WHERE step NOT IN ('done', 'stopped')");
        assert_eq!(open, 1, "{fault}: the batch is left open");
        assert_eq!(
            ws.sql::<i64>("SELECT count(*) FROM promotions"),
            0,
            "{fault}"
        );
        // Any command that moves a label completes it first.
        ws.run(&args).ok();
        for (comp, dir, _, _) in &m {
            let link = ws.link(&format!("trunk/component/{comp}/staging")).unwrap();
            assert_eq!(format!("component/{comp}/{link}"), *dir, "{fault}");
        }
        assert_eq!(
            std::fs::read_to_string(ws.trunk().join("staging/delorean.repo.md5")).unwrap(),
            agg,
            "{fault}"
        );
        let rows: i64 = ws.sql(&format!(
            "SELECT count(*) FROM promotions WHERE name = 'staging' AND aggregate_hash = '{agg}'"
        ));
        assert_eq!(rows, m.len() as i64, "{fault}: one row per build, once");
        let open: i64 =
            ws.sql("SELECT count(*) FROM attempts WHERE step NOT IN ('done', 'stopped')");
        assert_eq!(open, 0, "{fault}");
    }
}

#[cfg_attr(
    not(feature = "fault"),
    ignore = "the crash hook is built only with --features fault, as scripts/test.sh builds it"
)]
#[test]
fn a_batch_killed_among_its_link_moves_is_finished_even_if_a_member_was_purged_meanwhile() {
    // Once one component link has moved, the batch is finished by the next
    // command, never stopped half-moved: checks that would stop a batch
    // before it moves anything no longer apply.
    let ws = imported();
    let agg = newest_aggregate(&ws);
    let m = members(&ws, &agg);
    let pairs: Vec<String> = m.iter().map(|(_, _, c, d)| format!("{c}_{d}")).collect();
    let args = [
        "repo-promote-batch",
        "--promote-name",
        "staging",
        "--hash-pairs",
        &pairs.join(","),
    ];
    let killed = ws.run_env(&args, &[("PROMOTER_FAULT", "after-images")]);
    assert_eq!(killed.code, -1, "killed by its signal");
    // As if killed after the first component's link moved.
    let (comp, dir, _, _) = &m[0];
    let cdir = ws.trunk().join("component").join(comp);
    let inner = dir.strip_prefix(&format!("component/{comp}/")).unwrap();
    std::fs::remove_file(cdir.join("staging")).ok();
    std::os::unix::fs::symlink(inner, cdir.join("staging")).unwrap();
    // The last member is purged meanwhile.
    let (_, last, _, _) = m.last().unwrap();
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    c.execute(
        "UPDATE builds SET flags = flags | 2 WHERE repo_dir = ?1",
        [last],
    )
    .unwrap();
    drop(c);
    ws.run(&[
        "repo-promote",
        "--commit-hash",
        &m[0].2,
        "--distro-hash",
        &m[0].3,
        "--promote-name",
        "other",
    ])
    .ok();
    for (comp, dir, _, _) in &m {
        let link = ws.link(&format!("trunk/component/{comp}/staging")).unwrap();
        assert_eq!(format!("component/{comp}/{link}"), *dir);
    }
    let rows: i64 = ws.sql("SELECT count(*) FROM promotions WHERE name = 'staging'");
    assert_eq!(rows, m.len() as i64, "every moved link has its row");
    let open: i64 = ws.sql("SELECT count(*) FROM attempts WHERE step NOT IN ('done')");
    assert_eq!(open, 0, "finished, not stopped");
}
