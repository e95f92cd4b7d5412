//! Every query of the hot commands uses an index: the commands are run on
//! the sample trunk with `PROMOTER_SQL_LOG` (the `fault` build's statement
//! log), and each statement they ran is explained by SQLite
//! (`EXPLAIN QUERY PLAN`) on the same database. A full scan of a table that
//! grows with the release's history (builds, votes, promotions, job runs,
//! ...) fails the test, naming the command, the statement and the plan: at
//! 10,000,000 votes such a scan is seconds, not a millisecond.

use std::collections::BTreeSet;

use crate::util::*;

/// Tables whose size is bounded by the config (labels, waivers, test
/// environments and their leases, the origin row): a scan of those is fine.
const SMALL_TABLES: &[&str] = &["labels", "waivers", "testenvs", "leases", "origin"];

/// What `EXPLAIN QUERY PLAN` says of `sql`: its detail lines.
fn plan(db: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut s = db
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("cannot explain {sql}: {e}"));
    let rows = s
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<Vec<_>, _>>();
    rows.unwrap()
}

/// The table that `name` (a table or an alias) stands for in `sql`.
fn table_of(sql: &str, name: &str) -> String {
    let words: Vec<&str> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let opens = ["FROM", "JOIN", "UPDATE", "INTO"];
        if !opens.iter().any(|o| w.eq_ignore_ascii_case(o)) {
            continue;
        }
        let Some(table) = words.get(i + 1) else {
            continue;
        };
        let alias = match words.get(i + 2) {
            Some(a) if a.eq_ignore_ascii_case("as") => words.get(i + 3),
            a => a,
        };
        if table.eq_ignore_ascii_case(name) || alias.is_some_and(|a| a.eq_ignore_ascii_case(name)) {
            return table.to_string();
        }
    }
    name.to_string()
}

/// The partial indexes of the database: a scan of one reads only the rows
/// its WHERE keeps (the running runs, the open attempts).
fn partial_indexes(db: &rusqlite::Connection) -> Vec<String> {
    let mut s = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'")
        .unwrap();
    let names = s.query_map([], |r| r.get(0)).unwrap();
    names.collect::<Result<_, _>>().unwrap()
}

/// The full scans of tables that grow, in the plan of `sql`.
fn growing_scans(sql: &str, plan: &[String], partial: &[String]) -> Vec<String> {
    plan.iter()
        .filter_map(|d| {
            let rest = d.strip_prefix("SCAN ")?;
            let name = rest.split_whitespace().next()?;
            let index = rest
                .split("INDEX ")
                .nth(1)
                .and_then(|i| i.split_whitespace().next());
            if index.is_some_and(|i| partial.iter().any(|p| p == i)) {
                return None;
            }
            // A subquery's or a CTE's own rows, not a table.
            if name.starts_with('(') || rest.starts_with("CONSTANT") {
                return None;
            }
            // An index walked in its order until a LIMIT is reached reads
            // the few rows it returns, not the table; not when the rows
            // are sorted or grouped first (a temporary b-tree), which
            // reads them all before the LIMIT.
            let limited = sql.to_ascii_uppercase().contains(" LIMIT ");
            let sorted = plan.iter().any(|d| d.contains("TEMP B-TREE"));
            if limited && !sorted && rest.contains(" USING ") {
                return None;
            }
            let table = table_of(sql, name);
            (!SMALL_TABLES.contains(&table.as_str())).then(|| format!("{d} (table {table})"))
        })
        .collect()
}

/// Runs `args` with the statement log on; the statements it ran.
fn statements(ws: &Workspace, args: &[&str], with_config: bool) -> Vec<String> {
    let log = ws.path().join("sql.log");
    let _ = std::fs::remove_file(&log);
    let env = [("PROMOTER_SQL_LOG", log.to_str().unwrap())];
    let r = if with_config {
        ws.run_env(args, &env)
    } else {
        let db = ws.db();
        let mut full = vec!["--db", db.to_str().unwrap()];
        full.extend_from_slice(args);
        // `--db` after `-c`: the config is there, the database named.
        ws.run_env(&full, &env)
    };
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| {
            let first = l
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            // Transactions, pragmas and the triggers' markers have no plan.
            !l.is_empty()
                && !l.starts_with("--")
                && !matches!(
                    first.as_str(),
                    "PRAGMA" | "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "END"
                )
        })
        .map(String::from)
        .collect()
}

/// Explains every statement of each command; the failures, one per scan.
fn check(ws: &Workspace, commands: &[(&str, Vec<&str>, bool)]) -> (usize, Vec<String>) {
    let db = rusqlite::Connection::open(ws.db()).unwrap();
    let partial = partial_indexes(&db);
    let mut failures = Vec::new();
    let mut explained = 0;
    for (what, args, with_config) in commands {
        let stmts: BTreeSet<String> = statements(ws, args, *with_config).into_iter().collect();
        assert!(!stmts.is_empty(), "{what} ran no statement: is the log on?");
        for sql in &stmts {
            let p = plan(&db, sql);
            explained += 1;
            for scan in growing_scans(sql, &p, &partial) {
                failures.push(format!("{what}: {scan}\n  in: {sql}\n  plan: {p:?}"));
            }
        }
    }
    (explained, failures)
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "the statement log is built only with --features fault, as scripts/test.sh builds it"
)]
fn every_hot_query_uses_an_index() {
    let ws = Workspace::sample();
    ws.run(&["import"]).ok();
    let (c, d) = hashes_of(&ws.builder_link("consistent"));
    ws.vote("periodic-fs001", &c, &d, true);
    ws.repo_promote(&c, &d, "tripleo-ci-testing").ok();
    let commands: Vec<(&str, Vec<&str>, bool)> = vec![
        (
            "report-result",
            vec![
                "report-result",
                "--job-id",
                "periodic-fs002",
                "--commit-hash",
                &c,
                "--distro-hash",
                &d,
                "--info-url",
                "https://logs.example.org/2",
                "--timestamp",
                "1700000100",
                "--success",
                "false",
            ],
            false,
        ),
        (
            "repo-status",
            vec!["repo-status", "--commit-hash", &c, "--distro-hash", &d],
            false,
        ),
        (
            "promotion-get",
            vec!["promotion-get", "--promote-name", "tripleo-ci-testing"],
            false,
        ),
        (
            "promotion-get of a build",
            vec!["promotion-get", "--commit-hash", &c, "--distro-hash", &d],
            false,
        ),
        ("repo-get", vec!["repo-get"], false),
        (
            "repo-get of a job",
            vec![
                "repo-get",
                "--job-id",
                "periodic-fs001",
                "--success",
                "true",
            ],
            false,
        ),
        ("why", vec!["why", "--json"], true),
        ("run (nothing new)", vec!["run", "--json"], true),
        ("run again (nothing new)", vec!["run", "--json"], true),
    ];
    let (explained, failures) = check(&ws, &commands);
    assert!(
        explained >= commands.len(),
        "{explained} statements explained"
    );
    assert!(
        failures.is_empty(),
        "hot queries that scan a growing table:\n{}",
        failures.join("\n")
    );
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "the statement log is built only with --features fault, as scripts/test.sh builds it"
)]
fn agg_status_uses_an_index() {
    let ws = Workspace::components(
        "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [periodic-integration]
",
    );
    ws.run(&["import"]).ok();
    let agg: String = ws.sql("SELECT agg_hash FROM aggregates ORDER BY created_at DESC LIMIT 1");
    let report = vec![
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
    ];
    let commands = vec![
        ("report-result of an aggregate", report, false),
        ("agg-status", vec!["agg-status", "--agg-hash", &agg], false),
    ];
    let (_, failures) = check(&ws, &commands);
    assert!(
        failures.is_empty(),
        "hot queries that scan a growing table:\n{}",
        failures.join("\n")
    );
}

/// The check itself: a query that scans votes is caught, one that searches
/// an index is not.
#[test]
fn a_scan_of_votes_is_caught_and_an_index_search_is_not() {
    let ws = Workspace::sample();
    ws.run(&["init"]).ok();
    let db = rusqlite::Connection::open(ws.db()).unwrap();
    let partial = partial_indexes(&db);
    let caught = |sql: &str| growing_scans(sql, &plan(&db, sql), &partial).len();
    assert_eq!(caught("SELECT * FROM votes v WHERE v.notes = 'x'"), 1);
    assert_eq!(caught("SELECT * FROM builds ORDER BY dt_build"), 1);
    assert_eq!(caught("SELECT * FROM votes v WHERE v.build_id = 3"), 0);
    assert_eq!(caught("SELECT * FROM labels"), 0);
}
