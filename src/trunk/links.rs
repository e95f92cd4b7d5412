//! Named links (labels), replaced atomically: the new link is made under a
//! temporary name, then `rename(2)`d over the old one, so there is never a
//! moment with no link.

use std::io;
use std::path::{Path, PathBuf};

/// Reads the target of link `name` in `dir`; `None` when there is no link.
pub fn read(dir: &Path, name: &str) -> io::Result<Option<PathBuf>> {
    match std::fs::read_link(dir.join(name)) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} exists and is not a symbolic link",
                dir.join(name).display()
            ),
        )),
        Err(e) => Err(e),
    }
}

/// Points link `name` in `dir` at `target` (relative), atomically, and
/// makes the change durable.
pub fn swap(dir: &Path, name: &str, target: &Path) -> io::Result<()> {
    let final_path = dir.join(name);
    if let Ok(meta) = std::fs::symlink_metadata(&final_path) {
        if !meta.file_type().is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a symbolic link", final_path.display()),
            ));
        }
    }
    remove_stale_temporaries(dir, name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, &final_path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Removes the temporary links of swaps whose process died before renaming
/// them (`.<name>.tmp-<pid>`, pid gone).
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = !crate::exec::alive(i64::from(pid));
        if gone && e.file_type().is_ok_and(|t| t.is_symlink()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Removes link `name` in `dir` if it is a link.
pub fn remove(dir: &Path, name: &str) -> io::Result<()> {
    let p = dir.join(name);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::remove_file(&p)?;
            sync_dir(dir)
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is not a symbolic link", p.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_replaces_an_existing_link() {
        let d = tempfile::tempdir().unwrap();
        swap(d.path(), "l", Path::new("a")).unwrap();
        assert_eq!(read(d.path(), "l").unwrap(), Some(PathBuf::from("a")));
        swap(d.path(), "l", Path::new("b")).unwrap();
        assert_eq!(read(d.path(), "l").unwrap(), Some(PathBuf::from("b")));
        assert_eq!(read(d.path(), "missing").unwrap(), None);
        let leftovers: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary link is left behind");
    }

    #[test]
    fn a_temporary_link_left_by_a_dead_process_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = d.path().join(format!(".l.tmp-{dead}"));
        std::os::unix::fs::symlink("x", &stale).unwrap();
        swap(d.path(), "l", Path::new("a")).unwrap();
        assert!(std::fs::symlink_metadata(&stale).is_err());
        assert_eq!(read(d.path(), "l").unwrap(), Some(PathBuf::from("a")));
    }

    #[test]
    fn swap_refuses_to_replace_a_directory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("l")).unwrap();
        assert!(swap(d.path(), "l", Path::new("a")).is_err());
        assert!(d.path().join("l").is_dir());
    }
}
