use crate::util::*;

#[test]
fn a_database_file_that_is_not_sqlite_is_refused_and_untouched() {
    let ws = Workspace::sample();
    std::fs::create_dir_all(ws.db().parent().unwrap()).unwrap();
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(ws.db(), &junk).unwrap();
    ws.run(&["import"])
        .code(2)
        .error_says("not an SQLite database");
    ws.run_db(&["repo-get"]).code(2);
    assert_eq!(std::fs::read(ws.db()).unwrap(), junk);
}

#[test]
fn a_database_from_a_newer_promoter_is_refused_and_untouched() {
    let ws = Workspace::sample();
    ws.run(&["init"]).ok();
    {
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE; PRAGMA user_version = 9999;").unwrap();
    }
    let before = std::fs::read(ws.db()).unwrap();
    ws.run(&["import"]).code(2).error_says("newer than");
    assert_eq!(std::fs::read(ws.db()).unwrap(), before);
}

#[test]
fn init_creates_the_database_in_wal_mode_and_is_safe_to_repeat() {
    let ws = Workspace::sample();
    ws.run(&["init"]).ok();
    ws.run(&["init"]).ok();
    assert!(ws.path().join("logs").is_dir());
    let mode: String = ws.sql("PRAGMA journal_mode");
    assert_eq!(mode, "wal");
    assert!(ws.sql::<i64>("PRAGMA user_version") >= 1);
    for view in [
        "builds_view",
        "votes_view",
        "promotions_view",
        "labels_view",
    ] {
        ws.sql::<i64>(&format!("SELECT count(*) FROM {view}"));
    }
}

/// Every process's first connection reads the whole WAL to rebuild its
/// index: the WAL is kept short, not left to grow to SQLite's 1000 pages.
#[test]
fn the_wal_stays_short_however_many_votes_are_written() {
    let ws = Workspace::sample();
    ws.run(&["import"]).ok();
    let dir: String = ws.sql("SELECT repo_dir FROM builds WHERE consistent LIMIT 1");
    let (c, d) = hashes_of(&dir);
    let wal = ws.db().with_extension("sqlite-wal");
    let mut longest = 0;
    for i in 0..150 {
        ws.vote(&format!("job-{i}"), &c, &d, i % 2 == 0);
        longest = longest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM votes WHERE job_id LIKE 'job-%'"),
        150
    );
    // 32 pages of 4 KiB and their frame headers, and one vote's own frames.
    let frame = 4096 + 24;
    assert!(
        longest <= 40 * frame,
        "the WAL grew to {longest} bytes ({} frames)",
        longest / frame
    );
}
