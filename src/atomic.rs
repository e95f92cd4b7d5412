//! Writing a file so that a reader sees the old one or the new one, never
//! a part: every file the promoter writes for others to read.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` so that a reader sees the old file or the new
/// one, never a part: a temporary file in the same directory, flushed to
/// disk, renamed over `path`, and the directory synced.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("page.html");
        std::fs::write(&p, "old").unwrap();
        write(&p, b"new").unwrap();
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
        let e = write(&p, b"x").unwrap_err().to_string();
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
        let e = write(Path::new("/proc/version"), b"x")
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
        let e = write(&p, b"x").unwrap_err();
        assert!(e.to_string().contains("nope/page.html"), "{e}");
    }
}
