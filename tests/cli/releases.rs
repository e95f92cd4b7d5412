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

/// Six releases of six labels each, as RDO's view of every release has:
/// wallaby's packstack fails (a local job, its log packed on this host),
/// zed's current-tripleo is failed by a CI job elsewhere (its log on a log
/// server), the others pass.
fn six_releases() -> Releases {
    const NAMES: [&str; 6] = [
        "centos9-master",
        "centos9-caracal",
        "centos9-bobcat",
        "centos9-antelope",
        "centos8-zed",
        "centos8-wallaby",
    ];
    let more = "  current-tripleo-rdo:
    candidate_label: current-tripleo
    jobs: [packstack]
    criteria: [packstack]
  current-tripleo-rdo-internal:
    candidate_label: current-tripleo-rdo
    criteria: [rdo-internal-check]
";
    let rs = Releases::new(&NAMES, more);
    for r in NAMES {
        let script = rs.dir.path().join(r).join("jobs/packstack.sh");
        let body = match r {
            "centos8-wallaby" => {
                "echo 'packstack: installing openstack-nova'\n\
                 echo 'Error: nothing provides python3-oslo-db >= 16.0 needed by openstack-nova'\n\
                 exit 1\n"
            }
            _ => "echo 'packstack: all in one passed'\n",
        };
        executable(&script, &format!("#!/bin/sh\n{body}"));
        let cfg = rs.etc().join(format!("{r}.yaml"));
        let text = std::fs::read_to_string(&cfg).unwrap().replacen(
            "jobs:\n",
            &format!(
                "jobs:\n  packstack:\n    command: [../{r}/jobs/packstack.sh]\n    timeout: 5m\n"
            ),
            1,
        );
        std::fs::write(&cfg, text).unwrap();
    }
    rs.run(&["run", "--wait"]).ok();
    for r in NAMES {
        let cfg = rs.etc().join(format!("{r}.yaml"));
        let (commit, distro): (String, String) = rusqlite::Connection::open(rs.db(r))
            .unwrap()
            .query_row(
                "SELECT b.commit_hash, b.distro_hash FROM labels l JOIN builds b ON b.id = l.build_id \
                 WHERE l.name = 'tripleo-ci-testing'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        for job in [
            "periodic-tripleo-ci-centos-7-ovb-3ctlr_1comp-featureset001-master",
            "periodic-tripleo-ci-centos-7-multinode-1ctlr-featureset005-master",
        ] {
            let success = !(r == "centos8-zed" && job.contains("multinode"));
            rs.run_with(
                &cfg,
                &[
                    "report-result",
                    "--job-id",
                    job,
                    "--commit-hash",
                    &commit,
                    "--distro-hash",
                    &distro,
                    "--info-url",
                    &format!("https://logs.rdoproject.org/{r}/{job}/"),
                    "--timestamp",
                    "1700000000",
                    "--success",
                    if success { "true" } else { "false" },
                ],
            )
            .ok();
        }
    }
    rs.run(&["run", "--wait"]).ok();
    rs
}

/// What the page measures of itself once Chromium has laid it out at
/// 1400 pixels: added to a copy of the page, which has no script of its
/// own, and read back from the dumped DOM.
const MEASURE: &str = r#"<script>
window.addEventListener('load', () => {
  const doc = document.documentElement;
  const table = document.querySelector('table.summary');
  const wrap = table.parentElement;
  const heads = [...table.rows[0].cells].map(c => c.textContent);
  const blocked = [...table.querySelectorAll('a.verdict.blocked')].map(a => {
    const box = a.getBoundingClientRect();
    const cell = a.closest('td');
    return {
      release: cell.parentElement.cells[0].textContent,
      label: heads[cell.cellIndex],
      href: a.href,
      left: box.left, right: box.right, width: box.width, height: box.height,
      hit: document.elementFromPoint(box.left + 3, box.top + box.height / 2) === a,
    };
  });
  const out = {
    viewport: window.innerWidth,
    page: doc.scrollWidth,
    grid: wrap.scrollWidth,
    grid_visible: wrap.clientWidth,
    grid_right: table.getBoundingClientRect().right,
    rows: table.rows.length - 1,
    labels: heads.length - 1,
    blocked,
  };
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"#;

#[test]
fn the_all_releases_grid_fits_1400_pixels_and_a_blocked_build_is_one_click_from_its_log() {
    let Some(chromium) = crate::browser::chromium() else {
        return;
    };
    let rs = six_releases();
    let page = rs.dir.path().join("www/index.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    rs.run(&["status", "--html", page.to_str().unwrap()]).ok();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "the page itself has no script");
    let measured = page.with_file_name("measured.html");
    std::fs::write(
        &measured,
        html.replace("</body>", &format!("{MEASURE}</body>")),
    )
    .unwrap();
    let url = format!("file://{}", measured.display());
    let dom = crate::browser::headless(&chromium, &["--window-size=1400,1000", "--dump-dom", &url]);
    let json = &dom[dom.find("<pre id=\"measured\">").expect("the script ran") + 19..];
    let json = &json[..json.find("</pre>").unwrap()];
    let m: serde_json::Value = serde_json::from_str(&json.replace("&amp;", "&")).unwrap();
    assert_eq!(m["viewport"], 1400, "laid out at 1400 pixels: {m}");
    assert_eq!(
        (m["rows"].as_i64(), m["labels"].as_i64()),
        (Some(6), Some(6)),
        "{m}"
    );
    let px = |k: &str| m[k].as_f64().unwrap();
    assert!(px("page") <= 1400.0, "the page scrolls sideways: {m}");
    assert!(
        px("grid") <= px("grid_visible") && px("grid_right") <= 1400.0,
        "the grid scrolls sideways: {m}"
    );

    let blocked = m["blocked"].as_array().unwrap();
    let find = |release: &str, label: &str| {
        blocked
            .iter()
            .find(|b| b["release"] == release && b["label"] == label)
            .unwrap_or_else(|| panic!("{release} {label} blocked in the grid: {m}"))
    };
    for b in blocked {
        assert!(
            b["width"].as_f64().unwrap() > 0.0 && b["right"].as_f64().unwrap() <= 1400.0,
            "a blocked link on screen: {b}"
        );
        assert_eq!(b["hit"], true, "nothing covers the blocked link: {b}");
    }
    // A job that failed elsewhere: one click goes to its log on the log server.
    let zed = find("centos8-zed", "current-tripleo");
    assert_eq!(
        zed["href"],
        "https://logs.rdoproject.org/centos8-zed/\
         periodic-tripleo-ci-centos-7-multinode-1ctlr-featureset005-master/"
    );
    // A job that failed here: one click goes to its packed log, which
    // holds the failure.
    let wallaby = find("centos8-wallaby", "current-tripleo-rdo");
    let href = wallaby["href"].as_str().unwrap();
    let archive = href.strip_prefix("file://").expect("a local log");
    let out = Command::new("tar")
        .args(["-xzOf", archive])
        .output()
        .unwrap();
    assert!(out.status.success(), "{href} is the job's log archive");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing provides python3-oslo-db"),
        "{href} holds the failing log"
    );
    // The releases that passed are not blocked there.
    assert!(
        !blocked
            .iter()
            .any(|b| b["label"] == "current-tripleo-rdo" && b["release"] != "centos8-wallaby"),
        "{m}"
    );

    let shot = crate::browser::artifacts().join("all-releases.png");
    let _ = std::fs::remove_file(&shot);
    crate::browser::headless(
        &chromium,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000",
            &format!("file://{}", page.display()),
        ],
    );
    eprintln!("screenshot: {}", shot.display());
}
