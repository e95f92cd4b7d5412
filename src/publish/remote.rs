//! Remote targets (`host:path`, `rsync://host/module/path`): the version is
//! written locally first (same layout, so unchanged files are reused), then
//! pushed with the system `rsync` in the same order as a local publish:
//! content, then the manifest, then the switch of the `dest` link. Each
//! rsync runs through [`crate::exec`]: its own process group (its `ssh`
//! with it) and a timeout, so a hung remote fails its push.

use std::path::Path;
use std::time::Duration;

use crate::exec::{self, Ended};

/// How long one rsync may run (`push_timeout`: a hung `ssh` fails its push
/// instead of wedging every later run), and how long a stopped one has
/// between SIGTERM and SIGKILL (`kill_grace`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub grace: Duration,
}

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
    limits: Limits,
) -> Result<(), String> {
    let (parent, name) = split(dest)
        .ok_or_else(|| format!("{dest:?} is not a remote path with a directory name"))?;
    let remote_version = format!("{parent}/.{name}.versions/{version_name}/");
    let scratch = scratch()?;
    // 1. Content, without the manifest: readers of `dest` see nothing yet.
    // --checksum: two builds' files can share size and mtime second; only
    // their bytes tell whether --link-dest may reuse one.
    let mut content: Vec<String> = [
        "-a",
        "--checksum",
        "--mkpath",
        "--delay-updates",
        "--exclude=/SHA256SUMS",
    ]
    .map(String::from)
    .into();
    content.push(format!("{}/", version.display()));
    if let Some(prev) = previous.filter(|p| *p != version_name) {
        content.push(format!("--link-dest=../{prev}"));
    }
    content.push(remote_version.clone());
    rsync(scratch.path(), content, "push the content", limits)?;
    // 2. The manifest: the version is complete.
    let manifest = vec![
        "-a".to_string(),
        version.join(super::MANIFEST).display().to_string(),
        remote_version,
    ];
    rsync(scratch.path(), manifest, "push the manifest", limits)?;
    // 3. The switch: a new link, renamed over the old one by rsync.
    let link = scratch.path().join(&name);
    std::os::unix::fs::symlink(format!(".{name}.versions/{version_name}"), &link)
        .map_err(|e| format!("cannot make the link to push: {e}"))?;
    let switch = vec![
        "-l".to_string(),
        link.display().to_string(),
        format!("{parent}/"),
    ];
    rsync(scratch.path(), switch, "switch the link", limits)
}

/// Fetches what the remote `dest` serves now (its link followed: the
/// version it shows) into `into`, for `verify --remote` to check against
/// its own `SHA256SUMS`.
pub fn fetch(dest: &str, into: &Path, limits: Limits) -> Result<(), String> {
    let args = vec![
        "-r".to_string(),
        "--copy-links".to_string(),
        "--times".to_string(),
        format!("{}/", dest.trim_end_matches('/')),
        format!("{}/", into.display()),
    ];
    rsync(
        scratch()?.path(),
        args,
        "fetch what the remote serves",
        limits,
    )
}

/// Removes from the remote the versions the local staging no longer has
/// (retention ran there): one `rsync --dirs --delete` of the versions
/// directory, which leaves the versions that stay untouched.
pub fn prune(local_versions: &Path, dest: &str, limits: Limits) -> Result<(), String> {
    let (parent, name) = split(dest)
        .ok_or_else(|| format!("{dest:?} is not a remote path with a directory name"))?;
    let mut args: Vec<String> = [
        "--dirs",
        "--delete",
        "--exclude=/.index-*",
        "--exclude=*.partial-*",
    ]
    .map(String::from)
    .into();
    args.push(format!("{}/", local_versions.display()));
    args.push(format!("{parent}/.{name}.versions/"));
    rsync(scratch()?.path(), args, "remove old versions", limits)
}

/// A private temporary directory for one push: the link it switches to and
/// rsync's output. Removed when dropped.
fn scratch() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("promoter-push-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))
}

/// Runs `rsync args` in its own process group within `limits`, its output
/// in `scratch`; a failure names `what` and rsync's last line.
fn rsync(scratch: &Path, args: Vec<String>, what: &str, limits: Limits) -> Result<(), String> {
    let log = scratch.join("rsync.log");
    let spec = exec::Spec {
        program: "rsync".into(),
        args,
        env: Vec::new(),
        cwd: ".".into(),
        log: log.clone(),
        timeout: limits.timeout,
        grace: limits.grace,
    };
    match exec::run(&spec).map_err(|e| format!("cannot {what}: {e}"))? {
        e if e.passed() => Ok(()),
        Ended::NotStarted { reason, .. } => Err(format!(
            "cannot {what}: rsync could not start: {reason} (is rsync installed?)"
        )),
        e => {
            let out =
                String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
            Err(format!(
                "cannot {what}: rsync {e}: {}",
                out.lines().last().unwrap_or("").trim()
            ))
        }
    }
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
