//! `store::lock`: the run lock and the liveness checks of holders. (The
//! module's own test covers a second lock refused at once.)

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::store::lock::{alive, RunLock};

#[test]
fn the_lock_file_sits_beside_the_database_and_names_its_holder() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("state/master.sqlite");
    let l = RunLock::acquire(&db).unwrap();
    assert_eq!(l.path, d.path().join("state/master.sqlite.lock"));
    assert_eq!(
        std::fs::read_to_string(&l.path).unwrap(),
        format!("{}\n", std::process::id())
    );
}

#[test]
fn waiting_for_a_held_lock_gives_up_after_the_wait_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db.sqlite");
    let _held = RunLock::acquire(&db).unwrap();
    let start = Instant::now();
    let err = RunLock::acquire_waiting(&db, Duration::from_millis(200)).unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(matches!(err, Error::Busy(_)), "{err}");
    assert!(err.to_string().ends_with("(waited 0s for it)"), "{err}");
}

#[test]
fn waiting_for_a_free_lock_takes_it_at_once() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db.sqlite");
    let l = RunLock::acquire_waiting(&db, Duration::from_secs(60)).unwrap();
    drop(l);
    RunLock::acquire(&db).unwrap();
}

#[test]
fn only_a_process_that_exists_is_alive() {
    assert!(alive(i64::from(std::process::id())));
    for pid in [0, -1, i64::from(i32::MAX) + 1, i64::MAX] {
        assert!(!alive(pid), "{pid}");
    }
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = i64::from(child.id());
    child.wait().unwrap();
    assert!(!alive(pid), "a reaped child is gone");
}
