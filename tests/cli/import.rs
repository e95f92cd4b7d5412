use crate::util::*;

fn hash_dir_count(ws: &Workspace) -> i64 {
    let mut n = 0;
    for a in std::fs::read_dir(ws.trunk()).unwrap().flatten() {
        if !a.file_type().unwrap().is_dir() {
            continue;
        }
        for b in std::fs::read_dir(a.path()).unwrap().flatten() {
            n += std::fs::read_dir(b.path()).unwrap().count() as i64;
        }
    }
    n
}

#[test]
fn import_records_every_hash_directory_and_consistent_votes() {
    let ws = Workspace::sample();
    ws.run(&["import"]).ok();
    let dirs = hash_dir_count(&ws);
    assert!(dirs > 20);
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM builds"), dirs);
    // FAILED builds are recorded; the purged one too, with its flag.
    assert!(ws.sql::<i64>("SELECT count(*) FROM builds WHERE status = 'FAILED'") >= 4);
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM builds WHERE flags & 2"),
        1
    );
    // Consistent builds each have DLRN's consistent vote, timestamped at the build.
    let consistent: i64 = ws.sql("SELECT count(*) FROM builds WHERE consistent");
    assert_eq!(consistent, 4);
    assert_eq!(
        ws.sql::<i64>(
            "SELECT count(*) FROM votes v JOIN builds b ON b.id = v.build_id
             WHERE v.job_id = 'consistent' AND v.success AND v.timestamp = b.dt_build AND b.consistent"
        ),
        consistent
    );
    // Packages of each build, from versions.csv.
    let (dir, count): (String, i64) = {
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        c.query_row(
            "SELECT repo_dir, (SELECT count(*) FROM build_packages p WHERE p.build_id = b.id)
             FROM builds b ORDER BY dt_build DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let csv = std::fs::read_to_string(ws.trunk().join(&dir).join("versions.csv")).unwrap();
    assert_eq!(count, csv.lines().count() as i64 - 1);
    // The builder's links.
    let current: String = ws.sql(
        "SELECT b.repo_dir FROM labels l JOIN builds b ON b.id = l.build_id WHERE l.name = 'current'",
    );
    assert_eq!(current, ws.builder_link("current"));
}

#[test]
fn import_twice_adds_nothing_and_does_not_reread_known_directories() {
    let ws = Workspace::sample();
    ws.run(&["import"]).ok();
    let builds: i64 = ws.sql("SELECT count(*) FROM builds");
    let votes: i64 = ws.sql("SELECT count(*) FROM votes");
    // Spoil a known directory: a re-read would warn about it.
    let dir = ws.builder_link("current");
    std::fs::write(ws.trunk().join(&dir).join("commit.yaml"), "{{{ not yaml").unwrap();
    let r = ws.run(&["import", "--json"]);
    r.ok();
    assert!(!r.stderr.contains("WARN"), "{}", r.stderr);
    assert_eq!(r.json()["new_builds"], 0);
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM builds"), builds);
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM votes"), votes);
}

#[test]
fn a_commit_yaml_that_does_not_parse_is_skipped_with_a_warning_and_the_rest_imported() {
    let ws = Workspace::sample();
    let bad = ws.builder_link("consistent");
    std::fs::write(
        ws.trunk().join(&bad).join("commit.yaml"),
        "commits: [unclosed",
    )
    .unwrap();
    let r = ws.run(&["import"]);
    r.ok();
    assert!(r.stderr.contains("WARN"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&bad),
        "the warning names the directory: {}",
        r.stderr
    );
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM builds"),
        hash_dir_count(&ws) - 1
    );
    // Once fixed, the next import picks it up.
    std::fs::copy(
        fixtures().join("trunk").join(&bad).join("commit.yaml"),
        ws.trunk().join(&bad).join("commit.yaml"),
    )
    .unwrap();
    ws.run(&["import"]).ok();
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM builds"),
        hash_dir_count(&ws)
    );
}

#[test]
fn builder_mistakes_are_skipped_with_warnings() {
    use std::os::unix::ffi::OsStrExt;
    let ws = Workspace::sample();
    let t = ws.trunk();
    // A link that escapes the trunk, a symlink loop, a hash directory whose
    // commit.yaml describes another build, and a non-UTF-8 name.
    std::fs::remove_file(t.join("consistent")).unwrap();
    std::os::unix::fs::symlink("../../etc", t.join("consistent")).unwrap();
    std::fs::create_dir_all(t.join("ff/ff")).unwrap();
    std::os::unix::fs::symlink("loop", t.join("ff/ff/loop")).unwrap();
    std::os::unix::fs::symlink("../../ff", t.join("ff/ff/up")).unwrap();
    let other = ws.builder_link("current");
    let stray = t.join("ab/cd/abcd_12345678");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::copy(
        t.join(&other).join("commit.yaml"),
        stray.join("commit.yaml"),
    )
    .unwrap();
    let raw = std::ffi::OsStr::from_bytes(b"\xff\xfe_bad");
    std::fs::create_dir_all(t.join("ab/cd").join(raw)).unwrap();
    let r = ws.run(&["import"]);
    r.ok();
    assert!(r.stderr.contains("outside the trunk"), "{}", r.stderr);
    assert!(r.stderr.contains("abcd_12345678"), "{}", r.stderr);
    assert!(r.stderr.contains("not UTF-8"), "{}", r.stderr);
    assert!(r.stderr.contains("ff/ff/loop"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert!(ws.sql::<i64>("SELECT count(*) FROM builds") > 20);
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM labels WHERE name = 'consistent'"),
        0,
        "an escaping link is not recorded"
    );
}

#[test]
fn import_without_a_trunk_is_not_found() {
    let ws = Workspace::sample();
    std::fs::rename(ws.trunk(), ws.path().join("elsewhere")).unwrap();
    ws.run(&["import"]).code(3).error_says("trunk");
}

#[test]
fn regression_directories_that_are_not_shards_are_not_walked() {
    // walkdir does not hand entries above min_depth to its filter: a root
    // directory such as report/ or repos/ was walked as if it held shards.
    let ws = Workspace::sample();
    let stray = ws.trunk().join("report/aa/bb/cc");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::create_dir_all(ws.trunk().join("ab/cd/ef")).unwrap();
    let r = ws.run(&["import", "--json"]);
    r.ok();
    let j = r.json();
    // hash_dir_count also counts report/aa/bb, which is not a hash directory.
    assert_eq!(
        j["hash_dirs"].as_i64().unwrap(),
        hash_dir_count(&ws) - 1,
        "{j}"
    );
    assert_eq!(j["new_builds"], 25, "{j}");
    assert_eq!(
        j["incomplete"], 1,
        "only ab/cd/ef, a shard-shaped directory without commit.yaml: {j}"
    );
}
