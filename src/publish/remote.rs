//! Remote targets (`host:path`, `rsync://host/module/path`): the version is
//! written locally first (same layout, so unchanged files are reused), then
//! pushed with the system `rsync` in the same order as a local publish:
//! content, then the manifest, then the switch of the `dest` link.

use std::path::Path;
use std::process::Command;

/// Whether `dest` names a remote tree (the config's reading of it).
pub fn is_remote(dest: &str) -> bool {
    crate::config::is_remote_dest(dest)
}

/// `(parent, name)` of a remote dest: `host:a/b/c` → (`host:a/b`, `c`).
pub fn split(dest: &str) -> Option<(String, String)> {
    let trimmed = dest.trim_end_matches('/');
    let (parent, name) = trimmed.rsplit_once('/')?;
    if name.is_empty() || parent.ends_with(':') && parent.starts_with("rsync") {
        return None;
    }
    Some((parent.to_string(), name.to_string()))
}

/// Pushes the local version `version` to the remote `dest` under the same
/// version name (`<full_hash>` or `<full_hash>.N`); `previous` is the
/// version the remote shows now, for `--link-dest`.
pub fn push(
    version: &Path,
    dest: &str,
    version_name: &str,
    previous: Option<&str>,
) -> Result<(), String> {
    let (parent, name) = split(dest)
        .ok_or_else(|| format!("{dest:?} is not a remote path with a directory name"))?;
    let remote_version = format!("{parent}/.{name}.versions/{version_name}/");
    // 1. Content, without the manifest: readers of `dest` see nothing yet.
    let mut content = Command::new("rsync");
    content
        // --checksum: two builds' files can share size and mtime second;
        // only their bytes tell whether --link-dest may reuse one.
        .args([
            "-a",
            "--checksum",
            "--mkpath",
            "--delay-updates",
            "--exclude=/SHA256SUMS",
        ])
        .arg(format!("{}/", version.display()));
    if let Some(prev) = previous.filter(|p| *p != version_name) {
        content.arg(format!("--link-dest=../{prev}"));
    }
    content.arg(&remote_version);
    run(content, "push the content")?;
    // 2. The manifest: the version is complete.
    let mut manifest = Command::new("rsync");
    manifest
        .arg("-a")
        .arg(version.join(super::MANIFEST))
        .arg(&remote_version);
    run(manifest, "push the manifest")?;
    // 3. The switch: a new link, renamed over the old one by rsync.
    let tmp = tempfile_dir()?;
    let link = tmp.join(&name);
    std::os::unix::fs::symlink(format!(".{name}.versions/{version_name}"), &link)
        .map_err(|e| format!("cannot make the link to push: {e}"))?;
    let mut switch = Command::new("rsync");
    switch.arg("-l").arg(&link).arg(format!("{parent}/"));
    let r = run(switch, "switch the link");
    let _ = std::fs::remove_dir_all(&tmp);
    r
}

/// Removes from the remote the versions the local staging no longer has
/// (retention ran there): one `rsync --dirs --delete` of the versions
/// directory, which leaves the versions that stay untouched.
pub fn prune(local_versions: &Path, dest: &str) -> Result<(), String> {
    let (parent, name) = split(dest)
        .ok_or_else(|| format!("{dest:?} is not a remote path with a directory name"))?;
    let mut c = Command::new("rsync");
    c.args([
        "--dirs",
        "--delete",
        "--exclude=/.index-*",
        "--exclude=*.partial-*",
    ])
    .arg(format!("{}/", local_versions.display()))
    .arg(format!("{parent}/.{name}.versions/"));
    run(c, "remove old versions")
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("promoter-push-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot {what}: rsync could not start: {e} (is rsync installed?)"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "cannot {what}: rsync {}: {}",
        crate::jobs::process::describe_status(out.status),
        err.lines().last().unwrap_or("").trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_remote_from_local() {
        assert!(is_remote("buildlogs.example.org:/srv/rdo/tested"));
        assert!(is_remote("rsync://127.0.0.1:8730/mod/tested"));
        assert!(!is_remote("/srv/buildlogs/tested"));
        assert!(!is_remote("buildlogs/centos/7/x86_64:odd"));
        assert_eq!(
            split("host:/srv/rdo/tested"),
            Some(("host:/srv/rdo".into(), "tested".into()))
        );
        assert_eq!(
            split("rsync://h/mod/a/tested/"),
            Some(("rsync://h/mod/a".into(), "tested".into()))
        );
    }
}
