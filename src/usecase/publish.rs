//! Publishing: a build copied to a publish target (local or over rsync),
//! recorded, old versions removed; and `run`'s last step, every target
//! brought to the build of its newest promotion.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::{Level, Sink};
use crate::config::{Config, PublishTarget, Source};
use crate::error::{Error, Result};
use crate::publish::apply::{self, Options, Progress};
use crate::publish::{plan, remote};
use crate::store::builds::Build;
use crate::store::publications::NewPublication;
use crate::store::Store;

/// What one publish did.
#[derive(Debug, Serialize)]
pub struct Published {
    pub target: String,
    pub full_hash: crate::ident::FullHash,
    pub dest: String,
    pub files: u64,
    pub bytes: u64,
    pub copied_files: u64,
    pub copied_bytes: u64,
    /// Files hard-linked from the previous version.
    pub reused_files: u64,
    pub removed: Vec<String>,
    pub seconds: f64,
}

pub fn describe(p: &Published) -> String {
    format!(
        "published {} to {} ({}): {} files, {} ({} files, {} copied{}){} in {:.1}s",
        p.full_hash,
        p.target,
        p.dest,
        p.files,
        human_bytes(p.bytes),
        p.copied_files,
        human_bytes(p.copied_bytes),
        if p.reused_files > 0 {
            format!("; {} unchanged files reused", p.reused_files)
        } else {
            String::new()
        },
        if p.removed.is_empty() {
            String::new()
        } else {
            format!("; removed {} old versions", p.removed.len())
        },
        p.seconds
    )
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The build a target should show: that of the newest promotion among the
/// promotions that publish it.
pub fn desired_build(cfg: &Config, store: &Store, target: &PublishTarget) -> Result<Option<Build>> {
    let labels: Vec<&str> = cfg
        .promotions
        .iter()
        .filter(|p| p.publish.contains(&target.name))
        .map(|p| p.name.as_str())
        .collect();
    match store.newest_promotion_of(&labels)? {
        Some((id, _)) => store.build_by_id(id),
        None => Ok(None),
    }
}

/// Publishes `build` to `target`, records it, applies retention.
pub fn publish_target(
    cfg: &Config,
    store: &mut Store,
    target: &PublishTarget,
    build: &Build,
    user: &str,
    out: &dyn Sink,
) -> Result<Published> {
    let started = Instant::now();
    let started_at = crate::clock::now();
    let mut entries = entries(cfg, target, build)?;
    // The repo file points at this tree, not at the trunk it came from.
    let scratch = tempfile::tempdir()
        .map_err(|e| Error::io("failed to make a scratch directory for the repo file", e))?;
    if let (Some(url), Source::Trunk) = (&target.url, target.source) {
        crate::publish::repo_file::point_at(&mut entries, url, scratch.path()).map_err(|e| {
            Error::Failed(format!(
                "cannot point the repo file of {} at {url}: {e}; {} was left as it was",
                build.full_hash, target.dest
            ))
        })?;
    }
    let is_remote = remote::is_remote(&target.dest);
    let local_dest = local_dest(cfg, store, target)?;
    // The version the remote shows before this publish, by name (a rebuilt
    // build's is `<full_hash>.N`), for `--link-dest`: the staging mirrors it.
    let previous_version = apply::current_version(&local_dest)
        .and_then(|v| v.file_name().map(|n| n.to_string_lossy().into_owned()));
    let written = copy(&entries, &local_dest, target, build, out)?;
    if is_remote {
        push(
            &written,
            target,
            build,
            previous_version.as_deref(),
            limits(cfg),
        )?;
    }
    let pushed = is_remote.then(|| limits(cfg));
    let removed = retain(store, &local_dest, target, build, pushed)?;
    let dest_shown = if is_remote {
        target.dest.clone()
    } else {
        local_dest.display().to_string()
    };
    store.add_publication(&NewPublication {
        target: &target.name,
        build_id: build.id,
        full_hash: &build.full_hash,
        dest: &dest_shown,
        files: written.files,
        bytes: written.bytes,
        copied_files: written.copied_files,
        copied_bytes: written.copied_bytes,
        manifest_sha256: &written.manifest_sha256,
        removed: &removed.join(","),
        user,
        started_at,
        finished_at: crate::clock::now(),
    })?;
    Ok(Published {
        target: target.name.clone(),
        full_hash: build.full_hash.clone(),
        dest: dest_shown,
        files: written.files,
        bytes: written.bytes,
        copied_files: written.copied_files,
        copied_bytes: written.copied_bytes,
        reused_files: written.reused_files,
        removed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The files of `build` that `target` publishes.
fn entries(
    cfg: &Config,
    target: &PublishTarget,
    build: &Build,
) -> Result<Vec<crate::publish::Entry>> {
    let (source, root) = match target.source {
        Source::Trunk => (cfg.trunk.join(&build.repo_dir), cfg.trunk.clone()),
        Source::Images => (cfg.images.join(&build.full_hash), cfg.images.clone()),
        Source::Updates => {
            return Err(Error::Refused(format!(
                "cannot publish {} to {}: that target publishes the repos of updates, not builds",
                build.full_hash, target.name
            )))
        }
    };
    if !source.is_dir() {
        return Err(Error::NotFound(format!(
            "cannot publish {} to {}: {} is not there",
            build.full_hash,
            target.name,
            source.display()
        )));
    }
    plan(&source, &root).map_err(|e| {
        Error::Refused(format!(
            "cannot publish {} to {}: {e}; {} was left as it was",
            build.full_hash, target.name, target.dest
        ))
    })
}

/// Where the versions are written on this host: `dest` itself, or, for a
/// remote target, a staging tree beside the database in the same layout.
fn local_dest(cfg: &Config, store: &Store, target: &PublishTarget) -> Result<PathBuf> {
    if !remote::is_remote(&target.dest) {
        return Ok(cfg.dir.join(&target.dest));
    }
    let (_, name) = remote::split(&target.dest).ok_or_else(|| {
        Error::Invalid(format!(
            "publish target {}: dest {:?} has no directory name",
            target.name, target.dest
        ))
    })?;
    Ok(store
        .path()
        .parent()
        .unwrap_or(Path::new("."))
        .join("publish")
        .join(&target.name)
        .join(name))
}

/// Writes the new version beside the old ones, with its checksums.
fn copy(
    entries: &[crate::publish::Entry],
    local_dest: &Path,
    target: &PublishTarget,
    build: &Build,
    out: &dyn Sink,
) -> Result<apply::Written> {
    let threads = crate::pool::threads().max(2);
    let bar = ProgressBar::new(out, &target.name);
    let options = Options {
        sidecars: target.sidecars.clone(),
        threads,
    };
    let written = apply::publish_local(entries, local_dest, &build.full_hash, &options, &|p| {
        bar.show(p)
    })
    .map_err(|e| {
        Error::io(
            format!("failed to publish {} to {}", build.full_hash, target.name),
            e,
        )
    })?;
    bar.finish();
    Ok(written)
}

/// Pushes the staged version to the remote, named as the local one
/// (`<full_hash>`, or `<full_hash>.N` for a rebuilt build).
fn push(
    written: &apply::Written,
    target: &PublishTarget,
    build: &Build,
    previous_version: Option<&str>,
    limits: remote::Limits,
) -> Result<()> {
    let vname = written
        .version
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| build.full_hash.to_string());
    remote::push(
        &written.version,
        &target.dest,
        &vname,
        previous_version,
        limits,
    )
    .map_err(|e| {
        Error::Failed(format!(
            "failed to publish {} to {}: {e}",
            build.full_hash, target.name
        ))
    })
}

/// How long a push may take, and its grace when stopped.
fn limits(cfg: &Config) -> remote::Limits {
    remote::Limits {
        timeout: cfg.push_timeout,
        grace: cfg.kill_grace,
    }
}

/// Removes the versions retention no longer keeps (never one a label
/// shows), here and on the remote; their names.
fn retain(
    store: &Store,
    local_dest: &Path,
    target: &PublishTarget,
    build: &Build,
    pushed: Option<remote::Limits>,
) -> Result<Vec<String>> {
    let history: Vec<String> = store
        .publications(&target.name, 1000)?
        .into_iter()
        .map(|p| p.full_hash.to_string())
        .collect();
    let protected = store.labelled_full_hashes()?;
    let removed = apply::retain(local_dest, target.keep, &history, &protected).map_err(|e| {
        Error::io(
            format!("failed to remove old versions of {}", target.name),
            e,
        )
    })?;
    if let (Some(limits), false) = (pushed, removed.is_empty()) {
        remote::prune(
            &crate::publish::versions_dir(local_dest),
            &target.dest,
            limits,
        )
        .map_err(|e| {
            Error::Failed(format!(
                "published {} to {}, but {e}",
                build.full_hash, target.name
            ))
        })?;
    }
    Ok(removed)
}

/// `run`'s last step: every target shows the build of the newest promotion
/// that publishes it (a publish that failed or was killed is done again).
/// Returns how many publishes failed.
pub fn publish_pending(
    cfg: &Config,
    store: &mut Store,
    database: &std::path::Path,
    user: &str,
    out: &dyn Sink,
    dry_run: bool,
) -> Result<usize> {
    let plan = pending(cfg, store)?;
    if dry_run {
        for (target, build) in &plan {
            out.print(&format!(
                "would publish {} to {}",
                build.full_hash, target.name
            ))?;
        }
        return Ok(0);
    }
    publish_plan(cfg, store, database, user, out, plan, None)
}

/// Publishes what is pending for the targets named `targets` only: what a
/// rollback does for the targets of the promotion it took back, so that
/// none serves the build it took back. It waits its turn at a target
/// another publish holds.
pub fn republish(
    cfg: &Config,
    store: &mut Store,
    database: &std::path::Path,
    user: &str,
    out: &dyn Sink,
    targets: &[String],
) -> Result<usize> {
    let mut plan = pending(cfg, store)?;
    plan.retain(|(t, _)| targets.contains(&t.name));
    publish_plan(cfg, store, database, user, out, plan, Some(REPUBLISH_WAIT))
}

/// How long a rollback waits for a target another publish holds.
const REPUBLISH_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Publishes each of `plan` under its target's own lock, a long copy
/// holding its target, not the release; how many could not finish. A
/// target another process publishes to now is left to it, or, with
/// `wait`, waited for (and one still held then is a failure).
fn publish_plan(
    cfg: &Config,
    store: &mut Store,
    database: &std::path::Path,
    user: &str,
    out: &dyn Sink,
    plan: Vec<(&PublishTarget, Build)>,
    wait: Option<std::time::Duration>,
) -> Result<usize> {
    use crate::store::lock::RunLock;
    let mut failed = 0;
    for (target, build) in plan {
        let lock = match wait {
            Some(w) => RunLock::publish_waiting(database, &target.name, w),
            None => RunLock::publish(database, &target.name),
        };
        let _lock = match lock {
            Ok(l) => l,
            Err(Error::Busy(why)) if wait.is_none() => {
                let msg = format!(
                    "not publishing {} to {}: {why}",
                    build.full_hash, target.name
                );
                out.log(Level::Info, &msg);
                continue;
            }
            Err(e @ Error::Busy(_)) => {
                failed += 1;
                out.log(
                    Level::Error,
                    &format!("{} stays as it was: {e}", target.name),
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        // What the target should show, read again under its lock: a
        // rollback may have changed it since the plan was made.
        if desired_build(cfg, store, target)?.is_none_or(|b| b.id != build.id) {
            continue;
        }
        match publish_target(cfg, store, target, &build, user, out) {
            Ok(p) => out.log(Level::Info, &describe(&p)),
            Err(e) => {
                failed += 1;
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(&format!(": {s}"));
                    source = s.source();
                }
                out.log(Level::Error, &msg);
            }
        }
    }
    Ok(failed)
}

/// The publishes `run` would do now: each target whose newest publication
/// is not the build of the newest promotion that publishes it.
pub fn pending<'c>(cfg: &'c Config, store: &Store) -> Result<Vec<(&'c PublishTarget, Build)>> {
    let mut out = Vec::new();
    for target in &cfg.publish {
        let Some(build) = desired_build(cfg, store, target)? else {
            continue;
        };
        let shown = store.publications(&target.name, 1)?.into_iter().next();
        if shown.is_none_or(|p| p.build_id != build.id) {
            out.push((target, build));
        }
    }
    Ok(out)
}

/// A one-line progress bar on stderr, only on a terminal and without -q.
struct ProgressBar {
    on: bool,
    name: String,
    started: Instant,
    last: Mutex<Option<Instant>>,
}

impl ProgressBar {
    fn new(out: &dyn Sink, name: &str) -> ProgressBar {
        ProgressBar {
            on: out.progress(),
            name: name.to_string(),
            started: Instant::now(),
            last: Mutex::new(None),
        }
    }

    fn show(&self, p: Progress) {
        if !self.on {
            return;
        }
        let mut last = self.last.lock().expect("lock");
        if last.is_some_and(|t| t.elapsed().as_millis() < 100) && p.files_done < p.files_total {
            return;
        }
        *last = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        eprint!(
            "\r{}: {}/{} files, {} / {}, {}/s   ",
            self.name,
            p.files_done,
            p.files_total,
            human_bytes(p.bytes_done),
            human_bytes(p.bytes_total),
            human_bytes((p.bytes_done as f64 / secs) as u64)
        );
    }

    fn finish(&self) {
        if self.on && self.last.lock().expect("lock").is_some() {
            eprintln!();
        }
    }
}
