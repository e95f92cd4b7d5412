//! Crash-test hook: `PROMOTER_FAULT=after-<point>[@N]` kills this process
//! with SIGKILL right after it passes the named point for the N-th time
//! (the first when `@N` is left out), as a power cut would. The points are
//! the recorded promotion steps (`hooks`, `containers`, `images`, `trunk`,
//! `done`), `containers-image` (after each image's tags), and the
//! two boundaries of a publish: `publish-version` (the new version is
//! complete beside `dest`, `dest` not yet switched) and `publish-switch`
//! (`dest` switched, the publication not yet recorded); and
//! `remote-previous`, between the two links a remote image tree moves. Built only with
//! the `fault` feature (the test suite's builds), never in a release.

#[cfg(feature = "fault")]
use std::sync::atomic::{AtomicUsize, Ordering};

/// How often the point named in `PROMOTER_FAULT` has been passed.
#[cfg(feature = "fault")]
static PASSED: AtomicUsize = AtomicUsize::new(0);

/// Marks that the process has just passed `point`; nothing at all in a
/// build without the `fault` feature.
#[cfg(not(feature = "fault"))]
#[inline(always)]
pub fn point(_point: &str) {}

/// Marks that the process has just passed `point`.
#[cfg(feature = "fault")]
pub fn point(point: &str) {
    let Some(spec) = std::env::var_os("PROMOTER_FAULT") else {
        return;
    };
    let Some((name, nth)) = spec.to_str().and_then(parse) else {
        return;
    };
    if name != point {
        return;
    }
    if PASSED.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        // SAFETY: sending a signal to ourselves.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// `after-<point>[@N]` → (point, N).
#[cfg_attr(not(feature = "fault"), allow(dead_code))]
fn parse(spec: &str) -> Option<(&str, usize)> {
    let rest = spec.strip_prefix("after-")?;
    match rest.split_once('@') {
        Some((name, n)) => Some((name, n.parse().ok().filter(|n| *n > 0)?)),
        None => Some((rest, 1)),
    }
}

/// `PROMOTER_SQL_LOG=<file>`: every statement the connection runs, its
/// parameters written in, is appended to the file, one per line (newlines
/// inside a statement become spaces), for the test that explains each hot
/// query's plan. Nothing in a build without the `fault` feature.
#[cfg(not(feature = "fault"))]
#[inline(always)]
pub fn log_statements(_conn: &mut rusqlite::Connection) {}

#[cfg(feature = "fault")]
pub fn log_statements(conn: &mut rusqlite::Connection) {
    if std::env::var_os("PROMOTER_SQL_LOG").is_some() {
        conn.trace(Some(log_statement));
    }
}

#[cfg(feature = "fault")]
fn log_statement(sql: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("PROMOTER_SQL_LOG") else {
        return;
    };
    let line = sql.replace(['\n', '\r'], " ");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_point_and_its_occurrence() {
        assert_eq!(parse("after-images"), Some(("images", 1)));
        assert_eq!(parse("after-publish-switch@3"), Some(("publish-switch", 3)));
        assert_eq!(parse("after-trunk@0"), None);
        assert_eq!(parse("after-trunk@x"), None);
        assert_eq!(parse("before-trunk"), None);
    }
}
