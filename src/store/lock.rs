//! The run lock: an exclusive `flock` on `<database>.lock`, taken without
//! waiting. The holder's pid is written into the file, so a second `run`
//! can say who holds it. The kernel drops the lock when the holder dies.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Held while the value lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    pub path: PathBuf,
}

impl RunLock {
    /// Takes the lock beside `database`, waiting up to `wait` for its
    /// holder to let it go: what a command that moves a label by hand does,
    /// so that it takes its turn instead of failing. Then fails with
    /// [`Error::Busy`] as [`RunLock::acquire`] does.
    pub fn acquire_waiting(database: &Path, wait: std::time::Duration) -> Result<RunLock> {
        waiting(wait, || RunLock::acquire(database))
    }

    /// Takes the lock beside `database`, or fails at once with
    /// [`Error::Busy`] naming the holder.
    pub fn acquire(database: &Path) -> Result<RunLock> {
        let path = beside(database, ".lock");
        match try_lock(&path)? {
            Held::Now(l) => Ok(l),
            Held::By(who) => Err(Error::Busy(format!(
                "another run holds the lock {} ({who}); this run did nothing",
                path.display()
            ))),
        }
    }

    /// Takes the lock of publish target `target`, waiting up to `wait` for
    /// the publish that holds it.
    pub fn publish_waiting(
        database: &Path,
        target: &str,
        wait: std::time::Duration,
    ) -> Result<RunLock> {
        waiting(wait, || RunLock::publish(database, target))
    }

    /// Takes the lock of publish target `target` of `database`: a publish
    /// holds its target, not the release, while it copies.
    pub fn publish(database: &Path, target: &str) -> Result<RunLock> {
        let path = beside(database, &format!(".publish-{target}.lock"));
        match try_lock(&path)? {
            Held::Now(l) => Ok(l),
            Held::By(who) => Err(Error::Busy(format!(
                "another publish to {target} holds its lock {} ({who})",
                path.display()
            ))),
        }
    }
}

/// Tries `take` until it is not busy or `wait` has passed, backing off;
/// a lock still busy then says how long it waited.
fn waiting(wait: std::time::Duration, take: impl Fn() -> Result<RunLock>) -> Result<RunLock> {
    let deadline = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match take() {
            Err(Error::Busy(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(100));
            }
            Err(Error::Busy(m)) => {
                return Err(Error::Busy(format!(
                    "{m} (waited {}s for it)",
                    wait.as_secs()
                )))
            }
            other => return other,
        }
    }
}

/// `<database><suffix>`.
fn beside(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether a lock was taken, or who holds it.
pub enum Held {
    Now(RunLock),
    /// `pid N`, or "another process" when it wrote none.
    By(String),
}

/// Takes the lock file `path` (created with its directory) without
/// waiting, and writes this process's id into it.
pub fn try_lock(path: &Path) -> Result<Held> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).at("create the state directory", dir)?;
        }
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at("open the lock file", path)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Ok(Held::By(if holder.is_empty() {
                "another process".to_string()
            } else {
                format!("pid {holder}")
            }));
        }
        Err(e) => {
            return Err(Error::io(
                format!("failed to lock {}", path.display()),
                e.into(),
            ))
        }
    }
    file.set_len(0).at("write the lock file", path)?;
    file.seek(SeekFrom::Start(0))
        .at("write the lock file", path)?;
    writeln!(file, "{}", std::process::id()).at("write the lock file", path)?;
    Ok(Held::Now(RunLock {
        _file: file,
        path: path.to_path_buf(),
    }))
}

// Whether a lock's or a lease's holder is alive, and the processes that
// carry a job's marker: the processes' room answers both.
pub use crate::exec::{alive, marked};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder_pid_and_freed_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("db.sqlite");
        let first = RunLock::acquire(&db).unwrap();
        let err = RunLock::acquire(&db).unwrap_err();
        assert!(matches!(err, Error::Busy(_)));
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        RunLock::acquire(&db).unwrap();
    }
}
