//! Differential tests: the same builds and the same `dlrnapi` calls through
//! the real DLRN 0.26.1 API (with the real `dlrnapi` client) and through
//! `promoter`, every answer compared, refusals included.
//!
//! The peer is `tests/dlrn/peer.py`, run by the python of the venv that
//! `scripts/bench/setup-dlrn.sh` makes (`$DLRN_VENV`, else /tmp/dlrn-venv;
//! `scripts/test.sh` makes it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::*;

/// The real DLRN API and client.
pub struct Peer {
    python: PathBuf,
    script: PathBuf,
}

/// What the `dlrnapi` client gave for one call.
#[derive(Debug, serde::Deserialize)]
pub struct Answer {
    pub exit: i32,
    pub stdout: String,
    pub status: Option<u16>,
    pub message: Option<String>,
}

impl Peer {
    /// The peer, or `None` (with the reason on stderr) when
    /// `PROMOTER_SKIP_DLRN` is set and DLRN is not installed.
    pub fn find() -> Option<Peer> {
        let venv = std::env::var_os("DLRN_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/dlrn-venv"));
        let python = venv.join("bin/python");
        let ok = Command::new(&python)
            .args(["-W", "ignore", "-c", "import dlrn.api, dlrnapi_client"])
            .env("CONFIG_FILE", "/nonexistent")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            if std::env::var_os("PROMOTER_SKIP_DLRN").is_some() {
                eprintln!(
                    "SKIPPED: DLRN is not installed in {} (PROMOTER_SKIP_DLRN is set)",
                    venv.display()
                );
                return None;
            }
            panic!(
                "DLRN is not installed in {}: scripts/test.sh makes it with scripts/bench/setup-dlrn.sh",
                venv.display()
            );
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dlrn/peer.py");
        Some(Peer { python, script })
    }

    fn python(&self) -> Command {
        let mut c = Command::new(&self.python);
        c.arg("-W").arg("ignore").arg(&self.script);
        c
    }

    /// A DLRN database made by DLRN's models from DLRN-format YAML files,
    /// with the builder's `consistent` vote for each hash directory named.
    pub fn load(&self, db: &Path, yamls: &[PathBuf], consistent: &[String]) {
        let out = self
            .python()
            .arg("load")
            .arg(db)
            .arg("--yaml")
            .args(yamls)
            .arg("--consistent")
            .args(consistent)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "peer load: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `ops` through the client against DLRN serving `db`, links in
    /// `repos`.
    pub fn run(&self, db: &Path, repos: &Path, baseurl: &str, ops: &[Vec<String>]) -> Vec<Answer> {
        let mut child = self
            .python()
            .arg("run")
            .arg(db)
            .arg("--repos")
            .arg(repos)
            .arg("--baseurl")
            .arg(baseurl)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(serde_json::to_string(ops).unwrap().as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "peer run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answers: Vec<Answer> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(answers.len(), ops.len(), "one answer per op");
        answers
    }
}

/// The same `dlrnapi` global flags on both sides: a job script changes
/// only its first word.
fn global(op: &[String]) -> Vec<String> {
    let mut a: Vec<String> = ["--url", "http://unused.example.org"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if matches!(
        op[0].as_str(),
        "report-result" | "repo-promote" | "repo-promote-batch" | "repo-use"
    ) {
        a.extend(["--username", "ciuser", "--password", "peer-password"].map(String::from));
    }
    a.extend(op.iter().cloned());
    a
}

/// A JSON answer with what may differ on purpose made equal: the time a
/// promotion or an in-progress vote was made (each side's own clock; the
/// tests make every promotion they list).
fn normalised(op: &[String], v: Value) -> Value {
    fn strip(v: &mut Value) {
        if let Some(o) = v.as_object_mut() {
            if let Some(t) = o.get_mut("timestamp") {
                *t = Value::String("<now>".into());
            }
        }
    }
    let mut v = v;
    if op[0].starts_with("repo-promote") || op[0] == "repo-use" || op[0] == "promotion-get" {
        strip(&mut v);
        if let Some(a) = v.as_array_mut() {
            a.iter_mut().for_each(strip);
        }
    }
    v
}

/// Runs each op through `promoter` in `ws`, in order, and compares it with
/// DLRN's answer. Returns what differs, one line per op.
/// A refusal kept on purpose in other words than DLRN's: a build given by
/// its commit hash alone. The client sends it and DLRN refuses it (400);
/// promoter's parser refuses it before anything is read (exit 2, usage).
fn refused_otherwise(op: &[String], got: &Run) -> bool {
    op.len() == 3
        && op[0] == "promotion-get"
        && op[1] == "--commit-hash"
        && got.code == 2
        && got.stderr.contains("--distro-hash")
}

pub fn differences(ws: &Workspace, ops: &[Vec<String>], answers: &[Answer]) -> Vec<String> {
    let mut diffs = Vec::new();
    for (op, want) in ops.iter().zip(answers) {
        let args = global(op);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let got = ws.run(&args);
        let what = op.join(" ");
        match (want.exit, got.code) {
            (0, 0) => {
                let w: Value = serde_json::from_str(&want.stdout).unwrap();
                let g: Value = match serde_json::from_str(&got.stdout) {
                    Ok(g) => g,
                    Err(e) => {
                        diffs.push(format!(
                            "{what}: our output is not JSON ({e}): {}",
                            got.stdout
                        ));
                        continue;
                    }
                };
                let (w, g) = (normalised(op, w), normalised(op, g));
                if w != g {
                    diffs.push(format!("{what}:\n  dlrn:     {}\n  promoter: {}", w, g));
                }
            }
            (0, code) => diffs.push(format!(
                "{what}: DLRN answered, promoter refused (exit {code}): {}",
                got.stderr.trim()
            )),
            (_, 0) => diffs.push(format!(
                "{what}: DLRN refused ({:?} {:?}), promoter answered: {}",
                want.status, want.message, got.stdout
            )),
            (_, _) => {
                // Both refuse: ours must say what DLRN says.
                if let (Some(m), false) = (&want.message, refused_otherwise(op, &got)) {
                    if !got.stderr.to_lowercase().contains(&m.to_lowercase()) {
                        diffs.push(format!(
                            "{what}: both refuse, but promoter does not say {m:?}: {}",
                            got.stderr.trim()
                        ));
                    }
                }
            }
        }
    }
    diffs
}

fn op(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `repo-promote` of the build `(c, d)` to `name`.
fn promote(c: &str, d: &str, name: &str) -> Vec<String> {
    op(&[
        "repo-promote",
        "--commit-hash",
        c,
        "--distro-hash",
        d,
        "--promote-name",
        name,
    ])
}

fn ops(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter()
        .map(|op| op.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Hash directory, commit hash and distro hash of builds chosen by SQL.
fn build(ws: &Workspace, filter: &str) -> (String, String, String) {
    let dir: String = ws.sql(&format!(
        "SELECT repo_dir FROM builds WHERE {filter} ORDER BY id LIMIT 1"
    ));
    let c: String = ws.sql(&format!(
        "SELECT commit_hash FROM builds WHERE repo_dir = '{dir}'"
    ));
    let d: String = ws.sql(&format!(
        "SELECT distro_hash FROM builds WHERE repo_dir = '{dir}'"
    ));
    (dir, c, d)
}

/// The sample trunk, imported by `promoter`, and the same builds in a DLRN
/// database made by DLRN's models from the same `commit.yaml` files.
fn both_sides(peer: &Peer) -> (Workspace, PathBuf, PathBuf) {
    let ws = Workspace::sample();
    ws.run(&["import"]).ok();
    let (db, repos) = dlrn_side(peer, &ws);
    (ws, db, repos)
}

/// DLRN's side of an imported workspace: its builds in a DLRN database
/// (with the builder's `consistent` votes), its trunk copied for DLRN's
/// links.
fn dlrn_side(peer: &Peer, ws: &Workspace) -> (PathBuf, PathBuf) {
    let mut yamls = Vec::new();
    collect(&ws.trunk(), "commit.yaml", &mut yamls);
    yamls.sort();
    let consistent: Vec<String> = {
        let conn = rusqlite::Connection::open(ws.db()).unwrap();
        let mut s = conn
            .prepare("SELECT repo_dir FROM builds WHERE consistent = 1 ORDER BY id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let db = ws.path().join("dlrn.sqlite");
    peer.load(&db, &yamls, &consistent);
    let repos = ws.path().join("dlrn-trunk");
    copy_tree(&ws.trunk(), &repos);
    (db, repos)
}

fn collect(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            collect(&e.path(), name, out);
        } else if t.is_file() && e.file_name() == name {
            out.push(e.path());
        }
    }
}

const BASEURL: &str = "https://trunk.rdoproject.org/centos7-master";

#[test]
fn votes_and_their_refusals_answer_as_dlrn_does() {
    let Some(peer) = Peer::find() else { return };
    let (ws, db, repos) = both_sides(&peer);
    let (_, sc, sd) = build(&ws, "consistent = 1");
    let (_, fc, fd) = build(&ws, "status = 'FAILED'");
    let (_, rc, rd) = build(&ws, "status = 'RETRY'");
    let (_, pc, pd) = build(&ws, "status = 'SUCCESS' AND flags = 2");
    let report = |job: &str, c: &str, d: &str, ts: &str, ok: &str| -> Vec<String> {
        [
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
            ok,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut list = vec![
        report("periodic-fs001", &sc, &sd, "1700000000", "true"),
        report("periodic-fs002", &sc, &sd, "1700000100", "false"),
        report("periodic-fs001", &fc, &fd, "1700000200", "true"),
        report("periodic-fs001", &rc, &rd, "1700000300", "true"),
        report("periodic-fs001", &pc, &pd, "1700000400", "true"),
        report(
            "periodic-fs001",
            &sc,
            "0000000000000000000000000000000000000000",
            "1700000500",
            "true",
        ),
    ];
    list.extend(ops(&[
        &[
            "report-result",
            "--job-id",
            "j",
            "--agg-hash",
            "0123456789abcdef0123456789abcdef",
            "--info-url",
            "u",
            "--timestamp",
            "1700000600",
            "--success",
            "true",
        ],
        &["repo-status", "--commit-hash", &sc, "--distro-hash", &sd],
        &[
            "repo-status",
            "--commit-hash",
            &sc,
            "--distro-hash",
            &sd,
            "--success",
            "true",
        ],
        &[
            "repo-status",
            "--commit-hash",
            &sc,
            "--distro-hash",
            &sd,
            "--success",
            "false",
        ],
        &["repo-status", "--commit-hash", &fc, "--distro-hash", &fd],
        &["repo-status", "--commit-hash", &pc, "--distro-hash", &pd],
        &[
            "agg-status",
            "--agg-hash",
            "0123456789abcdef0123456789abcdef",
        ],
        &[
            "agg-status",
            "--agg-hash",
            "0123456789abcdef0123456789abcdef",
            "--success",
            "true",
        ],
        &["repo-get", "--max-age", "0"],
        &["repo-get", "--max-age", "0", "--job-id", "periodic-fs002"],
        &["repo-get", "--max-age", "0", "--job-id", "nobody-ran-this"],
        &["repo-get", "--max-age", "0", "--success", "true"],
        &[
            "repo-get",
            "--max-age",
            "0",
            "--sequential-mode",
            "--previous-job-id",
            "periodic-fs001",
        ],
        &[
            "repo-get",
            "--max-age",
            "0",
            "--sequential-mode",
            "--previous-job-id",
            "nobody-ran-this",
        ],
        &[
            "repo-use",
            "--max-age",
            "0",
            "--reporting-job-id",
            "periodic-fs003",
        ],
        &["repo-status", "--commit-hash", &sc, "--distro-hash", &sd],
    ]));
    let answers = peer.run(&db, &repos, BASEURL, &list);
    let diffs = differences(&ws, &list, &answers);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The link `name` in a trunk, as written.
fn link(trunk: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_link(trunk.join(name)).ok()
}

#[test]
fn promotions_and_their_refusals_answer_as_dlrn_does_and_move_the_same_links() {
    let Some(peer) = Peer::find() else { return };
    let (ws, db, repos) = both_sides(&peer);
    let (_, sc, sd) = build(&ws, "consistent = 1");
    let (_, s2c, s2d) = build(
        &ws,
        "consistent = 1 AND id > (SELECT min(id) FROM builds WHERE consistent = 1)",
    );
    let (_, fc, fd) = build(&ws, "status = 'FAILED'");
    let (_, pc, pd) = build(&ws, "status = 'SUCCESS' AND flags = 2");
    let list = vec![
        op(&["promotion-get"]),
        promote(&sc, &sd, "tripleo-ci-testing"),
        promote(&s2c, &s2d, "tripleo-ci-testing"),
        promote(&s2c, &s2d, "current-tripleo"),
        promote(&fc, &fd, "tripleo-ci-testing"),
        promote(&pc, &pd, "tripleo-ci-testing"),
        promote(&sc, &sd, "consistent"),
        promote(&sc, &sd, "current"),
        promote(&sc, "0000000000000000000000000000000000000000", "x"),
        op(&["promotion-get"]),
        op(&["promotion-get", "--promote-name", "tripleo-ci-testing"]),
        op(&["promotion-get", "--promote-name", "nobody-promoted-this"]),
        op(&["promotion-get", "--commit-hash", &sc, "--distro-hash", &sd]),
        op(&["promotion-get", "--commit-hash", &fc, "--distro-hash", &fd]),
        op(&["promotion-get", "--limit", "1"]),
        op(&["promotion-get", "--offset", "1"]),
        op(&["promotion-get", "--offset", "1", "--limit", "1"]),
        op(&["promotion-get", "--commit-hash", &sc]),
        op(&["repo-get", "--max-age", "0"]),
    ];
    let answers = peer.run(&db, &repos, BASEURL, &list);
    let diffs = differences(&ws, &list, &answers);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    for name in [
        "tripleo-ci-testing",
        "current-tripleo",
        "previous-tripleo-ci-testing",
    ] {
        let ours = link(&ws.trunk(), name);
        let dlrn = link(&repos, name);
        if name.starts_with("previous-") {
            // DLRN keeps no previous link; ours is an addition.
            assert!(
                dlrn.is_none() && ours.is_some(),
                "{name}: {dlrn:?} {ours:?}"
            );
        } else {
            assert_eq!(ours, dlrn, "{name}");
        }
    }
}

/// The component sample trunk as DLRN without `use_components` keeps it:
/// hash directories under `component/<c>/`, and every builder link at the
/// top of the trunk.
fn flat_component_trunk(peer: &Peer) -> (Workspace, PathBuf, PathBuf) {
    let ws = Workspace::components(
        "release: master\ndistro: centos9\ndatabase: state/master.sqlite\ntrunk: trunk\nimages: images\n\
         trunk_url: https://trunk.rdoproject.org/centos7-master\n\
         promotions:\n  tripleo-ci-testing:\n    candidate_label: consistent\n    criteria: [job-a]\n",
    );
    let t = ws.trunk();
    for l in ["current", "consistent"] {
        std::fs::remove_dir_all(t.join(l)).unwrap();
        for c in ["tripleo", "baremetal"] {
            std::fs::remove_file(t.join("component").join(c).join(l)).unwrap();
        }
    }
    let newest = "component/baremetal/cb/5e/cb5efad2011da3cfed604fd7fd831ee32ff08e0f_0d1fae34";
    std::os::unix::fs::symlink(newest, t.join("current")).unwrap();
    std::os::unix::fs::symlink(newest, t.join("consistent")).unwrap();
    std::fs::create_dir_all(ws.images()).unwrap();
    ws.run(&["import"]).ok();
    let (db, repos) = dlrn_side(peer, &ws);
    (ws, db, repos)
}

#[test]
fn a_component_build_in_a_trunk_without_component_links_is_promoted_at_the_top_as_dlrn_does() {
    let Some(peer) = Peer::find() else { return };
    let (ws, db, repos) = flat_component_trunk(&peer);
    let check = ws.run(&["config", "check"]);
    check.ok();
    assert!(
        check.stdout.contains("labels at the top of the trunk"),
        "config check names the layout: {}",
        check.stdout
    );
    let (dir, c, d) = build(
        &ws,
        "component = 'tripleo' AND status = 'SUCCESS' AND flags = 0",
    );
    let (_, c2, d2) = build(
        &ws,
        "component = 'baremetal' AND status = 'SUCCESS' AND flags = 0",
    );
    let mut list = vec![promote(&c, &d, "tripleo-ci-testing")];
    list.extend(ops(&[
        &["promotion-get", "--component", "tripleo"],
        &["promotion-get", "--component", "baremetal"],
        &[
            "report-result",
            "--job-id",
            "job-a",
            "--commit-hash",
            &c2,
            "--distro-hash",
            &d2,
            "--info-url",
            "u",
            "--timestamp",
            "1700000000",
            "--success",
            "true",
        ],
        &["repo-get", "--max-age", "0", "--component", "baremetal"],
        &["repo-status", "--commit-hash", &c2, "--distro-hash", &d2],
    ]));
    let answers = peer.run(&db, &repos, BASEURL, &list);
    let diffs = differences(&ws, &list, &answers);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    let ours = link(&ws.trunk(), "tripleo-ci-testing");
    assert_eq!(
        ours,
        Some(PathBuf::from(&dir)),
        "at the top, to the whole path"
    );
    assert_eq!(
        ours,
        link(&repos, "tripleo-ci-testing"),
        "where DLRN puts it"
    );
    assert!(
        link(&ws.trunk().join("component/tripleo"), "tripleo-ci-testing").is_none(),
        "no link in the component's directory"
    );
    // A batch of several builds cannot be one label here: refused, nothing moved.
    let pairs = format!("{c}_{d},{c2}_{d2}");
    ws.run(&[
        "repo-promote-batch",
        "--hash-pairs",
        &pairs,
        "--promote-name",
        "current-tripleo",
    ])
    .code(4)
    .error_says("can hold one build");
    assert!(link(&ws.trunk(), "current-tripleo").is_none());
    // The run promotes there too: the newest consistent build, a
    // baremetal one, passed its job.
    let (newest, nc, nd) = build(
        &ws,
        "repo_dir = 'component/baremetal/cb/5e/cb5efad2011da3cfed604fd7fd831ee32ff08e0f_0d1fae34'",
    );
    ws.vote("job-a", &nc, &nd, true);
    ws.run(&["run"]).ok();
    assert_eq!(
        link(&ws.trunk(), "tripleo-ci-testing"),
        Some(PathBuf::from(newest))
    );
    assert!(link(
        &ws.trunk().join("component/baremetal"),
        "tripleo-ci-testing"
    )
    .is_none());
}

/// Counts of what a database holds, to see that a second import adds nothing.
fn counts(ws: &Workspace) -> (i64, i64, i64, i64) {
    (
        ws.sql("SELECT count(*) FROM builds"),
        ws.sql("SELECT count(*) FROM votes"),
        ws.sql("SELECT count(*) FROM promotions"),
        ws.sql("SELECT count(*) FROM aggregates"),
    )
}

#[test]
fn a_dlrn_database_filled_by_dlrn_is_taken_over_and_answers_as_the_dlrn_api_did() {
    let Some(peer) = Peer::find() else { return };
    // DLRN's side: DLRN's own sample commits, loaded by DLRN's models, with
    // the builder's consistent votes, then votes and promotions made
    // through DLRN's API by the dlrnapi client.
    let ws = Workspace::sample();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/dlrn/commits_1.yaml");
    let mut consistent = Vec::new();
    {
        // What the builder would have marked consistent: the sample
        // trunk's consistent hash directories, imported in a scratch copy.
        let scratch = Workspace::sample();
        scratch.run(&["import"]).ok();
        let conn = rusqlite::Connection::open(scratch.db()).unwrap();
        let mut s = conn
            .prepare("SELECT repo_dir FROM builds WHERE consistent = 1")
            .unwrap();
        for r in s.query_map([], |r| r.get::<_, String>(0)).unwrap() {
            consistent.push(r.unwrap());
        }
    }
    let db = ws.path().join("dlrn.sqlite");
    peer.load(&db, &[samples], &consistent);
    let repos = ws.path().join("dlrn-repos");
    std::fs::create_dir_all(&repos).unwrap();
    let success: Vec<(String, String)> = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut s = conn
            .prepare(
                "SELECT commit_hash, distro_hash FROM commits WHERE status = 'SUCCESS' ORDER BY id",
            )
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert!(success.len() >= 4, "the sample has successful commits");
    let mut fill: Vec<Vec<String>> = Vec::new();
    for (i, (c, d)) in success.iter().enumerate() {
        // Distinct times: on equal ones DLRN's pick depends on SQLite's plan.
        for (job, ok, at) in [
            ("periodic-fs001", i % 2 == 0, 0),
            ("periodic-fs002", i % 3 != 0, 50),
        ] {
            fill.push(
                [
                    "report-result",
                    "--job-id",
                    job,
                    "--commit-hash",
                    c,
                    "--distro-hash",
                    d,
                    "--info-url",
                    &format!("https://logs.example.org/{job}/{i}"),
                    "--timestamp",
                    &(1_600_000_000 + i as i64 * 100 + at).to_string(),
                    "--success",
                    if ok { "true" } else { "false" },
                    "--notes",
                    "from DLRN",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            );
        }
    }
    let (c0, d0) = &success[0];
    let (c1, d1) = &success[1];
    fill.extend([
        promote(c0, d0, "tripleo-ci-testing"),
        promote(c1, d1, "tripleo-ci-testing"),
        promote(c1, d1, "current-tripleo"),
    ]);
    for a in peer.run(&db, &repos, BASEURL, &fill) {
        assert_eq!(a.exit, 0, "DLRN took the fill: {a:?}");
    }

    // Ours: the takeover, twice.
    let first = ws.run(&["--json", "import-dlrn-db", db.to_str().unwrap()]);
    first.ok();
    let taken = first.json();
    assert_eq!(taken["promotions"], 3, "{taken}");
    assert_eq!(taken["votes"], success.len() * 2, "{taken}");
    let dlrn_consistent: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM civotes WHERE ci_name = 'consistent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(dlrn_consistent > 0);
    assert_eq!(
        taken["votes_present"], dlrn_consistent,
        "the import's own consistent votes: {taken}"
    );
    assert!(taken["builds_matched"].as_u64().unwrap() > 0, "{taken}");
    assert!(taken["builds_purged"].as_u64().unwrap() > 0, "{taken}");
    let before = counts(&ws);
    let second = ws.run(&["--json", "import-dlrn-db", db.to_str().unwrap()]);
    second.ok();
    let again = second.json();
    for k in [
        "builds_purged",
        "votes",
        "aggregates",
        "aggregate_votes",
        "promotions",
        "skipped",
    ] {
        assert_eq!(again[k], 0, "a second import adds nothing: {again}");
    }
    assert_eq!(counts(&ws), before, "a second import adds nothing");
    crate::harness::assert_database_sound(&ws.db());

    // The four read commands answer as the DLRN API does on that database.
    let mut read: Vec<Vec<String>> = Vec::new();
    for (c, d) in &success {
        read.push(ops(&[&["repo-status", "--commit-hash", c, "--distro-hash", d]]).remove(0));
        read.push(
            ops(&[&[
                "repo-status",
                "--commit-hash",
                c,
                "--distro-hash",
                d,
                "--success",
                "false",
            ]])
            .remove(0),
        );
    }
    read.extend(ops(&[
        &["promotion-get"],
        &["promotion-get", "--promote-name", "tripleo-ci-testing"],
        &["promotion-get", "--commit-hash", c1, "--distro-hash", d1],
        &["promotion-get", "--limit", "2"],
        &["repo-get", "--max-age", "0"],
        &["repo-get", "--max-age", "0", "--job-id", "periodic-fs002"],
        &[
            "repo-get",
            "--max-age",
            "0",
            "--job-id",
            "periodic-fs001",
            "--success",
            "true",
        ],
        &[
            "repo-get",
            "--max-age",
            "0",
            "--sequential-mode",
            "--previous-job-id",
            "periodic-fs001",
        ],
        &[
            "agg-status",
            "--agg-hash",
            "0123456789abcdef0123456789abcdef",
        ],
    ]));
    let answers = peer.run(&db, &repos, BASEURL, &read);
    let diffs = differences(&ws, &read, &answers);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );

    // Not DLRN's database: refused, exit 2, and left as it was.
    let ours = ws.db();
    let size = std::fs::metadata(&ours).unwrap().len();
    ws.run(&["import-dlrn-db", ours.to_str().unwrap()])
        .code(2)
        .error_says("is not DLRN's database");
    ws.run(&["import-dlrn-db", ws.config().to_str().unwrap()])
        .code(2);
    assert_eq!(std::fs::metadata(&ours).unwrap().len(), size);
}
