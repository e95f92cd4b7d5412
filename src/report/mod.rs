//! What people and other machines read: the status of every label (as a
//! table, JSON, a static HTML page and Prometheus metrics). Gathering
//! reads the store and the trees; rendering is pure; files are written
//! atomically.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

pub mod html;
pub mod metrics;
pub mod status;

/// Writes `bytes` to `path` so that a reader sees the old file or the new
/// one, never a part: a temporary file in the same directory, flushed to
/// disk, renamed over `path`, and the directory synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // Each step says what it did, on which file: the error of a write into
    // /proc is the temporary file that cannot be made beside the target.
    let step = |what: String| {
        let target = path.display();
        move |e: std::io::Error| Error::io(format!("failed to write {target}: {what}"), e)
    };
    let shown = tmp.display();
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)
            .map_err(step(format!("cannot create the temporary file {shown}")))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(step(format!("cannot write the temporary file {shown}")))?;
        std::fs::rename(&tmp, path).map_err(step(format!("cannot rename {shown} over it")))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(step(format!("cannot sync the directory {}", dir.display())))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// "45s", "12m", "3h 20m", "2d 4h": how long ago, for people.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => match s % 3600 / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h {m}m", s / 3600),
        },
        _ => match s % 86400 / 3600 {
            0 => format!("{}d", s / 86400),
            h => format!("{}d {h}h", s / 86400),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_well() {
        let cases = [
            (-5, "0s"),
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (3600 + 20 * 60, "1h 20m"),
            (86400, "1d"),
            (2 * 86400 + 4 * 3600 + 59, "2d 4h"),
        ];
        for (s, want) in cases {
            assert_eq!(age(s), want, "{s}");
        }
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("page.html");
        std::fs::write(&p, "old").unwrap();
        write_atomically(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["page.html"]);
    }

    #[test]
    fn an_atomic_write_names_the_step_that_failed_and_its_file() {
        let d = tempfile::tempdir().unwrap();
        // A directory in the way: the temporary file is made, the rename fails.
        let p = d.path().join("page.html");
        std::fs::create_dir_all(p.join("inside")).unwrap();
        let e = write_atomically(&p, b"x").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("failed to write {}: cannot rename ", p.display()))
                && e.ends_with(" over it"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        let e = write_atomically(Path::new("/proc/version"), b"x")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("failed to write /proc/version: cannot create the temporary file /proc/.version.tmp-"),
            "{e}"
        );
    }

    #[test]
    fn an_atomic_write_into_a_missing_directory_fails_and_says_where() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nope/page.html");
        let e = write_atomically(&p, b"x").unwrap_err();
        assert!(e.to_string().contains("nope/page.html"), "{e}");
    }
}
