use crate::util::*;

/// A workspace with the sample trunk imported; returns it and the hashes of
/// the newest consistent build.
fn imported() -> (Workspace, String, String) {
    let ws = Workspace::sample();
    ws.run(&["import"]).ok();
    let (c, d) = hashes_of(&ws.builder_link("consistent"));
    (ws, c, d)
}

fn report(ws: &Workspace, job: &str, c: &str, d: &str, ts: &str, success: &str) -> Run {
    ws.run_db(&[
        "report-result",
        "--job-id",
        job,
        "--commit-hash",
        c,
        "--distro-hash",
        d,
        "--info-url",
        "https://logs.example.org/1",
        "--timestamp",
        ts,
        "--success",
        success,
    ])
}

#[test]
fn report_result_records_a_vote_and_prints_the_dlrnapi_shape() {
    let (ws, c, d) = imported();
    let r = ws.run_db(&[
        "report-result",
        "--job-id",
        "periodic-fs001",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--info-url",
        "https://logs.example.org/fs001/7",
        "--timestamp",
        "1700000000",
        "--success",
        "true",
        "--notes",
        "all green",
    ]);
    r.ok();
    let j = r.json();
    let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "aggregate_hash",
            "commit_hash",
            "component",
            "distro_hash",
            "extended_hash",
            "in_progress",
            "job_id",
            "notes",
            "success",
            "timestamp",
            "url"
        ]
    );
    assert_eq!(j["commit_hash"], c.as_str());
    assert_eq!(j["success"], true);
    assert_eq!(j["timestamp"], 1700000000);
    assert_eq!(j["url"], "https://logs.example.org/fs001/7");
    // Two-space indent and sorted keys, as the client prints.
    assert!(
        r.stdout.starts_with("{\n  \"aggregate_hash\": null,\n"),
        "{}",
        r.stdout
    );
    let user: String = ws.sql("SELECT user FROM votes WHERE job_id = 'periodic-fs001'");
    assert_eq!(user, "ci");
}

#[test]
fn report_result_accepts_the_dlrnapi_global_flags() {
    let (ws, c, d) = imported();
    let r = std::process::Command::new(BIN)
        .args([
            "--url",
            "http://127.0.0.1:5000",
            "--username",
            "ciuser",
            "--password",
            "x",
        ])
        .arg("--db")
        .arg(ws.db())
        .args([
            "report-result",
            "--job-id",
            "j",
            "--commit-hash",
            &c,
            "--distro-hash",
            &d,
            "--info-url",
            "u",
            "--timestamp",
            "1",
            "--success",
            "False",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        ws.sql::<String>("SELECT user FROM votes WHERE job_id = 'j'"),
        "ciuser"
    );
    assert_eq!(
        ws.sql::<i64>("SELECT success FROM votes WHERE job_id = 'j'"),
        0
    );
}

#[test]
fn malformed_report_input_is_refused_and_nothing_is_written() {
    let (ws, c, d) = imported();
    let before: i64 = ws.sql("SELECT count(*) FROM votes");
    let cases: &[(&[&str], &str)] = &[
        (&["--job-id", "a/b"], "job id"),
        (&["--job-id", "x..y"], "job id"),
        (&["--job-id", "tab\there"], "control character"),
        (&["--job-id", &"j".repeat(256)], "longer than 255"),
        (&["--timestamp", "-5"], "timestamp"),
        (&["--timestamp", "99999999999999"], "timestamp"),
        (&["--timestamp", "soon"], "timestamp"),
        (&["--success", "maybe"], "boolean"),
        (&["--commit-hash", "abc;DROP TABLE votes"], "commit hash"),
        (&["--distro-hash", "../../etc"], "distro hash"),
        (&["--extended-hash", "a b"], "extended hash"),
    ];
    for (overrides, needle) in cases {
        let mut args = vec![
            ("--job-id", "job".to_string()),
            ("--commit-hash", c.clone()),
            ("--distro-hash", d.clone()),
            ("--info-url", "u".to_string()),
            ("--timestamp", "1700000000".to_string()),
            ("--success", "true".to_string()),
        ];
        for pair in overrides.chunks(2) {
            match args.iter_mut().find(|(k, _)| *k == pair[0]) {
                Some(slot) => slot.1 = pair[1].to_string(),
                None => args.push((pair[0], pair[1].to_string())),
            }
        }
        let mut argv = vec!["report-result".to_string()];
        for (k, v) in args {
            argv.push(k.to_string());
            argv.push(v);
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let r = ws.run_db(&argv);
        r.code(2).error_says(needle);
    }
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM votes"), before);
}

#[test]
fn report_on_an_unknown_build_is_not_found() {
    let (ws, c, _) = imported();
    report(&ws, "job", &c, "0000000000", "1", "true")
        .code(3)
        .error_says("no build");
    ws.run_db(&[
        "report-result",
        "--job-id",
        "j",
        "--agg-hash",
        "deadbeef",
        "--info-url",
        "u",
        "--timestamp",
        "1",
        "--success",
        "true",
    ])
    .code(3)
    .error_says("aggregate_hash not found");
}

#[test]
fn notes_with_sql_in_them_are_stored_verbatim() {
    let (ws, c, d) = imported();
    let evil = "x'); DROP TABLE votes; --";
    ws.run_db(&[
        "report-result",
        "--job-id",
        "j",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--info-url",
        "u",
        "--timestamp",
        "1",
        "--success",
        "true",
        "--notes",
        evil,
    ])
    .ok();
    assert_eq!(
        ws.sql::<String>("SELECT notes FROM votes WHERE job_id = 'j'"),
        evil
    );
}

#[test]
fn repo_status_lists_the_votes_of_a_build_with_a_success_filter() {
    let (ws, c, d) = imported();
    report(&ws, "a", &c, &d, "100", "true").ok();
    report(&ws, "b", &c, &d, "200", "false").ok();
    let all = ws.run_db(&["repo-status", "--commit-hash", &c, "--distro-hash", &d]);
    all.ok();
    let jobs: Vec<String> = all
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["job_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(jobs, ["consistent", "a", "b"]);
    let failed = ws.run_db(&[
        "repo-status",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--success",
        "false",
    ]);
    let j = failed.json();
    assert_eq!(j.as_array().unwrap().len(), 1);
    assert_eq!(j[0]["job_id"], "b");
    assert_eq!(j[0]["success"], false);
    ws.run_db(&["repo-status", "--commit-hash", &c, "--distro-hash", "ffff"])
        .code(3);
}

#[test]
fn repo_get_follows_dlrn_last_tested_repo_rules() {
    let (ws, c, d) = imported();
    // No CI vote yet: the newest consistent build.
    let r = ws.run_db(&["repo-get", "--max-age", "0"]);
    r.ok();
    assert_eq!(r.json()["commit_hash"], c.as_str());
    assert_eq!(r.json()["job_id"], "consistent");
    // An older build voted by a job wins over the consistent vote.
    let old = ws.sql::<String>(
        "SELECT repo_dir FROM builds WHERE status = 'SUCCESS' AND NOT consistent AND flags = 0 ORDER BY dt_build LIMIT 1",
    );
    let (oc, od) = hashes_of(&old);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    report(&ws, "periodic-a", &oc, &od, &now.to_string(), "true").ok();
    report(
        &ws,
        "periodic-b",
        &c,
        &d,
        &(now - 7200).to_string(),
        "false",
    )
    .ok();
    let r = ws.run_db(&["repo-get", "--max-age", "0"]);
    assert_eq!(r.json()["commit_hash"], oc.as_str());
    // Filters: job, success, max age.
    let r = ws.run_db(&["repo-get", "--job-id", "periodic-b"]);
    assert_eq!(r.json()["commit_hash"], c.as_str());
    let r = ws.run_db(&["repo-get", "--job-id", "periodic-b", "--success", "true"]);
    assert_eq!(
        r.json()["job_id"],
        "periodic-a",
        "falls back to any CI vote"
    );
    let r = ws.run_db(&["repo-get", "--max-age", "1", "--job-id", "periodic-b"]);
    assert_eq!(
        r.json()["job_id"],
        "periodic-a",
        "periodic-b's vote is two hours old"
    );
    // Sequential mode: only the previous job's votes, no fallback.
    let r = ws.run_db(&[
        "repo-get",
        "--sequential-mode",
        "--previous-job-id",
        "periodic-b",
    ]);
    assert_eq!(r.json()["commit_hash"], c.as_str());
    ws.run_db(&[
        "repo-get",
        "--sequential-mode",
        "--previous-job-id",
        "nobody",
    ])
    .code(3)
    .error_says("no vote found");
    ws.run_db(&["repo-get", "--sequential-mode"]).code(2);
}

#[test]
fn repo_use_records_an_in_progress_vote_for_the_reporting_job() {
    let (ws, c, _) = imported();
    let r = ws.run_db(&["repo-use", "--reporting-job-id", "periodic-next"]);
    r.ok();
    let j = r.json();
    assert_eq!(j["commit_hash"], c.as_str());
    assert_eq!(j["job_id"], "periodic-next");
    assert_eq!(j["in_progress"], true);
    assert_eq!(j["success"], false);
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM votes WHERE job_id = 'periodic-next' AND in_progress"),
        1
    );
}

#[test]
fn repo_promote_moves_previous_then_name_in_trunk_and_images() {
    let (ws, c, d) = imported();
    // Promote an older consistent build first, then the newest.
    let older: String = ws.sql(
        "SELECT repo_dir FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET 1",
    );
    let (oc, od) = hashes_of(&older);
    let r = ws.repo_promote(&oc, &od, "current-tripleo");
    r.ok();
    assert_eq!(r.json()["promote_name"], "current-tripleo");
    assert_eq!(ws.link("trunk/current-tripleo").unwrap(), older);
    assert_eq!(ws.link("trunk/previous-current-tripleo"), None);
    let r = ws.repo_promote(&c, &d, "current-tripleo");
    r.ok();
    let newest = ws.builder_link("consistent");
    assert_eq!(
        ws.link("trunk/current-tripleo").unwrap(),
        newest,
        "relative link to the hash dir"
    );
    assert_eq!(ws.link("trunk/previous-current-tripleo").unwrap(), older);
    assert!(ws.trunk().join("current-tripleo/versions.csv").exists());
    let full = format!("{c}_{}", &d[..8]);
    assert_eq!(ws.link("images/current-tripleo").unwrap(), full);
    assert_eq!(
        ws.link("images/previous-current-tripleo").unwrap(),
        format!("{oc}_{}", &od[..8])
    );
    let j = r.json();
    assert_eq!(j["repo_hash"], full.as_str());
    assert_eq!(j["user"], "tester");
    assert_eq!(
        j["repo_url"],
        format!("https://trunk.rdoproject.org/centos7-master/{newest}").as_str()
    );
    // History: newest first, by insertion order.
    let h = ws.run_db(&["promotion-get", "--promote-name", "current-tripleo"]);
    let rows = h.json();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["commit_hash"], c.as_str());
    assert_eq!(rows[1]["commit_hash"], oc.as_str());
    let page = ws
        .run_db(&["promotion-get", "--limit", "1", "--offset", "1"])
        .json();
    assert_eq!(page[0]["commit_hash"], oc.as_str());
    // Promoting the build the label already has changes nothing.
    ws.repo_promote(&c, &d, "current-tripleo").ok();
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM promotions"), 2);
    assert_eq!(ws.link("trunk/previous-current-tripleo").unwrap(), older);
}

#[test]
fn repo_promote_refuses_reserved_names_bad_names_and_unpromotable_builds() {
    let (ws, c, d) = imported();
    let promote = |c: &str, d: &str, name: &str| ws.repo_promote(c, d, name);
    promote(&c, &d, "current").code(4).error_says("reserved");
    promote(&c, &d, "consistent").code(4).error_says("reserved");
    promote(&c, &d, "../escape").code(2).error_says("'/'");
    promote(&c, &d, "a/b").code(2);
    promote(&c, &d, ".hidden").code(2);
    promote(&c, "0123456789", "current-tripleo")
        .code(3)
        .error_says("no build");
    let failed: String = ws.sql("SELECT repo_dir FROM builds WHERE status = 'FAILED' LIMIT 1");
    let (fc, fd) = hashes_of(&failed);
    promote(&fc, &fd, "current-tripleo")
        .code(4)
        .error_says("FAILED");
    let purged: String = ws.sql("SELECT repo_dir FROM builds WHERE flags & 2");
    let (pc, pd) = hashes_of(&purged);
    promote(&pc, &pd, "current-tripleo")
        .code(4)
        .error_says("purged");
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM promotions"), 0);
    assert_eq!(ws.link("trunk/current-tripleo"), None);
    assert!(!ws.path().join("escape").exists());
}

#[test]
fn parallel_report_result_calls_all_land() {
    let (ws, c, d) = imported();
    let before: i64 = ws.sql("SELECT count(*) FROM votes");
    let handles: Vec<_> = (0..8)
        .map(|w| {
            let db = ws.db();
            let (c, d) = (c.clone(), d.clone());
            std::thread::spawn(move || {
                for i in 0..15 {
                    let o = std::process::Command::new(BIN)
                        .arg("--db")
                        .arg(&db)
                        .args([
                            "report-result",
                            "--job-id",
                            &format!("w{w}"),
                            "--commit-hash",
                            &c,
                            "--distro-hash",
                            &d,
                            "--info-url",
                            "u",
                            "--timestamp",
                            &i.to_string(),
                            "--success",
                            "true",
                        ])
                        .output()
                        .unwrap();
                    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM votes"), before + 8 * 15);
}

#[test]
fn a_hash_directory_name_picks_the_build_among_those_sharing_a_full_hash() {
    let (ws, _, _) = imported();
    // The sample has a RETRY build and a successful one with an extended
    // hash, both 3a9326f2…_024e24f0.
    let dirs: Vec<String> = {
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        let mut s = c
            .prepare("SELECT repo_dir FROM builds WHERE full_hash = (SELECT full_hash FROM builds GROUP BY full_hash HAVING count(*) > 1) ORDER BY repo_dir")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let full = dirs[0]
        .rsplit('/')
        .next()
        .unwrap()
        .splitn(3, '_')
        .take(2)
        .collect::<Vec<_>>()
        .join("_");
    // By full hash: the successful build, not the newest failed one.
    let j = ws
        .run(&[
            "why",
            "--json",
            "--promotion",
            "current-tripleo",
            "--hash",
            &full,
        ])
        .json();
    assert_eq!(j["build"]["status"], "SUCCESS", "{j}");
    // By hash directory name with the extended hash: exactly that build.
    for d in dirs
        .iter()
        .filter(|d| d.rsplit('/').next().unwrap().matches('_').count() >= 2)
    {
        let name = d.rsplit('/').next().unwrap();
        let j = ws
            .run(&[
                "why",
                "--json",
                "--promotion",
                "current-tripleo",
                "--hash",
                name,
            ])
            .json();
        assert_eq!(j["build"]["repo_dir"], d.as_str(), "{j}");
    }
}

#[test]
fn repo_promote_records_a_promotion_whose_links_moved_without_a_row() {
    let (ws, c, d) = imported();
    // A promotion killed between its links and its row: the links are there.
    let dir = ws.builder_link("consistent");
    std::os::unix::fs::symlink(&dir, ws.trunk().join("current-tripleo")).unwrap();
    let r = ws.repo_promote(&c, &d, "current-tripleo");
    r.ok();
    assert!(r.stderr.contains("recording it now"), "{}", r.stderr);
    assert_eq!(r.json()["promote_name"], "current-tripleo");
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM promotions WHERE name = 'current-tripleo'"),
        1
    );
    // And again: already recorded, nothing added.
    ws.repo_promote(&c, &d, "current-tripleo").ok();
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM promotions WHERE name = 'current-tripleo'"),
        1
    );
}
