//! Several releases on one host: a directory of release configs, a
//! database that belongs to its release, and one broker of test
//! environments for all of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::*;

/// Three releases, each with its own copy of the sample trunk, images and
/// jobs, and its config in `etc/`.
struct Releases {
    dir: tempfile::TempDir,
    names: Vec<&'static str>,
}

impl Releases {
    fn new(names: &[&'static str], extra: &str) -> Releases {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("etc")).unwrap();
        let sample = std::fs::read_to_string(fixtures().join("promoter.yaml")).unwrap();
        for r in names {
            for tree in ["trunk", "images", "jobs"] {
                copy_tree(&fixtures().join(tree), &d.join(r).join(tree));
            }
            let cfg = sample
                .replace("release: master", &format!("release: {r}"))
                .replace(
                    "database: state/master.sqlite",
                    &format!("database: ../state/{r}.sqlite"),
                )
                .replace("trunk: trunk", &format!("trunk: ../{r}/trunk"))
                .replace("images: images", &format!("images: ../{r}/images"))
                .replace("logs: logs", &format!("logs: ../{r}/logs"))
                .replace("[jobs/", &format!("[../{r}/jobs/"));
            std::fs::write(
                d.join("etc").join(format!("{r}.yaml")),
                format!("{cfg}{extra}"),
            )
            .unwrap();
        }
        Releases {
            dir,
            names: names.to_vec(),
        }
    }

    fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    fn db(&self, r: &str) -> PathBuf {
        self.dir.path().join("state").join(format!("{r}.sqlite"))
    }

    /// `promoter -c <etc> ARGS`.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(&self.etc(), args)
    }

    fn run_with(&self, config: &Path, args: &[&str]) -> Run {
        let o = Command::new(BIN)
            .current_dir(self.dir.path())
            .arg("-c")
            .arg(config)
            .args(args)
            .env_remove("PROMOTER_CONFIG")
            .env("USER", "tester")
            .output()
            .unwrap();
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn sql<T: rusqlite::types::FromSql>(&self, db: &Path, q: &str) -> T {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(q, [], |r| r.get(0))
            .unwrap()
    }
}

/// Every row of every table, as text: what a database holds, whatever its
/// WAL and checkpoints do to the file.
fn contents(db: &Path) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut out = String::new();
    for t in tables {
        let mut s = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = s.column_count();
        let mut rows = s.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            out.push_str(&t);
            for i in 0..n {
                out.push_str(&format!(" {:?}", r.get_ref(i).unwrap()));
            }
            out.push('\n');
        }
    }
    out
}

#[test]
fn a_directory_of_releases_gives_one_table_one_page_and_one_metrics_file() {
    let rs = Releases::new(&["master", "wallaby", "zed"], "");
    rs.run(&["config", "check"]).ok();
    rs.run(&["run", "--wait"]).ok();
    let table = rs.run(&["status"]);
    table.ok();
    for r in &rs.names {
        let line = table
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{r} ")) && l.contains("tripleo-ci-testing"))
            .unwrap_or_else(|| panic!("{r} in the table:\n{}", table.stdout));
        assert!(
            line.contains("df33351c756647861fb4a5a1b4e46179ee318f2e_0977dbe5"),
            "{line}"
        );
        assert!(
            table.stdout.contains(&format!("{r}: last run 1")),
            "{}",
            table.stdout
        );
    }
    let json = rs.run(&["--json", "status"]).json();
    let releases: Vec<&str> = json["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["release"].as_str().unwrap())
        .collect();
    assert_eq!(releases, rs.names);

    let page = rs.dir.path().join("all.html");
    let prom = rs.dir.path().join("all.prom");
    rs.run(&[
        "status",
        "--html",
        page.to_str().unwrap(),
        "--metrics",
        prom.to_str().unwrap(),
    ])
    .ok();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<section id=\"summary\">"),
        "the summary grid first"
    );
    let summary_at = html.find("id=\"summary\"").unwrap();
    for r in &rs.names {
        let at = html
            .find(&format!("<section class=\"release\" id=\"release-{r}\">"))
            .unwrap_or_else(|| panic!("a section for {r}"));
        assert!(at > summary_at, "each release after the summary");
        assert!(
            html.contains(&format!("href=\"#release-{r}\"")),
            "the summary links to {r}"
        );
        assert!(html.contains(&format!("id=\"release-{r}-promotion-current-tripleo\"")));
    }
    // Ids stay unique on a page of several releases.
    let ids = regex::Regex::new(r#" id="([^"]+)""#).unwrap();
    let mut seen = std::collections::HashSet::new();
    for c in ids.captures_iter(&html) {
        assert!(seen.insert(c[1].to_string()), "id {} twice", &c[1]);
    }
    let metrics = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(
        metrics.matches("# HELP promoter_label_info ").count(),
        1,
        "each family once"
    );
    for r in &rs.names {
        assert!(
            metrics.contains(&format!(
                "promoter_label_info{{release=\"{r}\",label=\"tripleo-ci-testing\""
            )),
            "{r}'s series:\n{metrics}"
        );
    }
    // A command about one release names one file.
    rs.run(&["why"]).code(2).error_says("works on one release");
    rs.run_with(&rs.etc().join("zed.yaml"), &["why"]).ok();
}

#[test]
fn run_over_the_directory_promotes_where_it_can_while_one_release_is_busy() {
    let rs = Releases::new(&["master", "wallaby", "zed"], "");
    // Another process holds wallaby's lock (as a run of it would).
    std::fs::create_dir_all(rs.dir.path().join("state")).unwrap();
    let lock = rs.dir.path().join("state/wallaby.sqlite.lock");
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["-c", "echo held; exec cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock from util-linux");
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held");
    }
    let r = rs.run(&["run", "--wait"]);
    drop(holder.stdin.take());
    let _ = holder.kill();
    let _ = holder.wait();
    r.code(75);
    assert!(r.stderr.contains("wallaby: skipped"), "{}", r.stderr);
    assert!(r.stderr.contains("busy: wallaby"), "{}", r.stderr);
    for (name, promoted) in [("master", 1), ("wallaby", 0), ("zed", 1)] {
        let n: i64 = match rs.db(name).exists() {
            true => rs.sql(
                &rs.db(name),
                "SELECT count(*) FROM promotions WHERE name = 'tripleo-ci-testing'",
            ),
            false => 0,
        };
        assert_eq!(n, promoted, "{name}");
    }
    // Released, the next run promotes the busy one too.
    rs.run(&["run", "--wait"]).ok();
    let n: i64 = rs.sql(
        &rs.db("wallaby"),
        "SELECT count(*) FROM promotions WHERE name = 'tripleo-ci-testing'",
    );
    assert_eq!(n, 1);
}

#[test]
fn a_config_naming_another_releases_database_is_refused_and_nothing_is_written() {
    let rs = Releases::new(&["master", "wallaby"], "");
    rs.run(&["run", "--wait"]).ok();
    let master = rs.db("master");
    let before = contents(&master);
    let rows: i64 = rs.sql(&master, "SELECT count(*) FROM promotions");
    // wallaby's config, pointed at master's database.
    let text = std::fs::read_to_string(rs.etc().join("wallaby.yaml"))
        .unwrap()
        .replace(
            "database: ../state/wallaby.sqlite",
            "database: ../state/master.sqlite",
        );
    std::fs::create_dir_all(rs.dir.path().join("other")).unwrap();
    let wrong = rs.dir.path().join("other/wrong.yaml");
    std::fs::write(&wrong, text).unwrap();
    for args in [&["run"][..], &["init"], &["status"], &["import"], &["why"]] {
        rs.run_with(&wrong, args)
            .code(2)
            .error_says("belongs to release master, not to wallaby");
    }
    assert!(
        contents(&master) == before,
        "nothing in the database changed"
    );
    assert_eq!(
        rs.sql::<i64>(&master, "SELECT count(*) FROM promotions"),
        rows
    );
    assert_eq!(
        rs.sql::<String>(&master, "SELECT name FROM release"),
        "master"
    );
    // config check over a directory says so before anything runs.
    std::fs::copy(&wrong, rs.etc().join("wrong.yaml")).unwrap();
    let r = rs.run(&["config", "check"]);
    r.code(2);
    assert!(
        r.stderr.contains("both release wallaby") || r.stderr.contains("same database"),
        "{}",
        r.stderr
    );
}

#[test]
fn two_releases_sharing_testenv_db_never_lease_one_environment_twice() {
    let rs = Releases::new(
        &["master", "wallaby"],
        "testenv_db: ../state/testenvs.sqlite\n",
    );
    let broker = rs.dir.path().join("state/testenvs.sqlite");
    std::fs::write(rs.dir.path().join("te.json"), "{\"host\": \"ovb-1\"}").unwrap();
    for env in ["ovb-1", "ovb-2"] {
        rs.run_with(
            &rs.etc().join("master.yaml"),
            &["testenv", "add", env, "--pool", "ovb", "--data", "te.json"],
        )
        .ok();
    }
    // wallaby sees master's environments: one broker.
    let list = rs.run_with(
        &rs.etc().join("wallaby.yaml"),
        &["--json", "testenv", "list"],
    );
    list.ok();
    assert_eq!(list.json().as_array().unwrap().len(), 2, "{}", list.stdout);
    // Eight holders, four per release, each leasing five times and
    // writing the times it held its environment, in nanoseconds.
    let times = rs.dir.path().join("times");
    std::fs::create_dir_all(&times).unwrap();
    let script = rs.dir.path().join("holder.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\nfor i in 1 2 3 4 5; do\n  out=$({bin} -c \"$1\" testenv acquire --pool ovb --holder \"$2-$i\" --wait 2m)\n  \
             id=${{out%% *}}; env=$(basename \"${{out#* }}\" .json)\n  start=$(date +%s%N)\n  \
             sleep 0.05  # the work done on the environment\n  \
             echo \"$env $start $(date +%s%N)\" >> \"{times}/$2\"\n  {bin} -c \"$1\" testenv release \"$id\" >/dev/null\ndone\n",
            bin = BIN,
            times = times.display()
        ),
    )
    .unwrap();
    let mut children = Vec::new();
    for i in 0..8 {
        let r = if i % 2 == 0 { "master" } else { "wallaby" };
        children.push(
            Command::new("sh")
                .arg(&script)
                .arg(rs.etc().join(format!("{r}.yaml")))
                .arg(format!("{r}-{i}"))
                .current_dir(rs.dir.path())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut held: Vec<(String, u128, u128)> = Vec::new();
    for e in std::fs::read_dir(&times).unwrap() {
        for line in std::fs::read_to_string(e.unwrap().path()).unwrap().lines() {
            let f: Vec<&str> = line.split(' ').collect();
            held.push((
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            ));
        }
    }
    assert_eq!(held.len(), 40);
    for (i, a) in held.iter().enumerate() {
        for b in &held[i + 1..] {
            if a.0 == b.0 {
                assert!(
                    a.2 < b.1 || b.2 < a.1,
                    "{} held twice at once: {a:?} {b:?}",
                    a.0
                );
            }
        }
    }
    let in_broker: i64 = rs.sql(&broker, "SELECT count(*) FROM leases");
    assert_eq!(in_broker, 40, "every lease in the broker");
    // A job's lease is the broker's too.
    let cfg = rs.etc().join("master.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replacen("timeout: 5m", "timeout: 5m\n    testenv: ovb", 1),
    )
    .unwrap();
    rs.run_with(&cfg, &["run", "--wait"]).ok();
    let job: String = rs.sql(
        &broker,
        "SELECT holder FROM leases WHERE holder LIKE '%repo-check%' AND released_at IS NOT NULL",
    );
    assert!(job.contains("repo-check"), "{job}");
    let recorded: i64 = rs.sql(
        &rs.db("master"),
        "SELECT count(*) FROM job_runs WHERE job_id = 'repo-check' AND broker_lease_id IS NOT NULL AND outcome = 'passed'",
    );
    assert_eq!(recorded, 1);
    for r in ["master", "wallaby"] {
        let own: i64 = rs.sql(&rs.db(r), "SELECT count(*) FROM leases");
        assert_eq!(own, 0, "{r} keeps none of its own");
    }
}
