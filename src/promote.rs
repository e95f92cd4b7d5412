//! The effects of a promotion: move the image links, then the trunk links
//! (`previous-<name>` first, then `<name>`), then write the history row.
//! Each link is replaced atomically; a build whose hash directory is
//! missing is never linked.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::ident::Label;
use crate::store::builds::Build;
use crate::store::promotions::{record_promotion, Kind, NewPromotion};
use crate::store::runs::{Attempt, NewAttempt, Step};
use crate::store::Store;
use crate::trunk::{label_dir, label_target, links, resolve_within};

/// The trees a promotion writes links into.
#[derive(Debug, Clone)]
pub struct Trees {
    pub trunk: PathBuf,
    pub images: PathBuf,
}

/// Who moves a label, and why.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub user: &'a str,
    pub kind: Kind,
    pub reason: &'a str,
}

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The label moved; the history row has this id.
    Moved {
        history_id: i64,
        previous: Option<String>,
        images: bool,
    },
    /// The label already pointed at the build: nothing changed.
    Unchanged,
    /// Stopped before moving anything more (a hook failed, the label was
    /// moved by someone else, the build is gone); the reason says why.
    Stopped { reason: String },
}

/// Where a label points on disk now, as a hash directory relative to the
/// trunk root; `None` when there is no link.
pub fn current_target(
    trunk: &Path,
    label: &str,
    component: Option<&str>,
) -> Result<Option<String>> {
    let dir = label_dir(trunk, component);
    let Some(target) = links::read(&dir, label).at("read link", &dir.join(label))? else {
        return Ok(None);
    };
    let dir_rel: PathBuf = match component {
        Some(c) => Path::new("component").join(c),
        None => PathBuf::new(),
    };
    let rel = resolve_within(trunk, &dir_rel, &target).ok_or_else(|| {
        Error::Failed(format!(
            "link {} points at {}, outside the trunk",
            dir.join(label).display(),
            target.display()
        ))
    })?;
    Ok(rel.to_str().map(String::from))
}

/// Checks that `build` may be promoted at all: it succeeded, is not
/// purged, and its hash directory is there.
pub fn check_promotable(trees: &Trees, build: &Build) -> Result<()> {
    if !build.succeeded() {
        return Err(Error::Refused(format!(
            "build {} has status {}: only successful builds can be promoted",
            build.full_hash, build.status
        )));
    }
    if build.purged() {
        return Err(Error::Refused(format!(
            "build {} has been purged: its repo is gone, so it cannot be promoted",
            build.full_hash
        )));
    }
    let dir = trees.trunk.join(&build.repo_dir);
    if !dir.is_dir() {
        return Err(Error::Refused(format!(
            "build {}: its hash directory {} is missing",
            build.full_hash,
            dir.display()
        )));
    }
    inside(&trees.trunk, &dir, build, "hash directory", "trunk")?;
    image_dir(trees, build)?;
    Ok(())
}

/// The build's image directory, when it has one inside the image tree;
/// refused when `<images>/<full_hash>` leads outside it (a label there
/// would serve whatever it leads to).
fn image_dir(trees: &Trees, build: &Build) -> Result<Option<PathBuf>> {
    let dir = trees.images.join(&build.full_hash);
    if !dir.is_dir() {
        return Ok(None);
    }
    inside(&trees.images, &dir, build, "image directory", "image tree")?;
    Ok(Some(dir))
}

/// Refuses `dir` (of `build`) when, links followed, it is not inside `root`.
fn inside(root: &Path, dir: &Path, build: &Build, what: &str, tree: &str) -> Result<()> {
    let real = std::fs::canonicalize(dir).at("resolve", dir)?;
    let real_root = std::fs::canonicalize(root).at("resolve", root)?;
    if real.starts_with(&real_root) {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "build {}: its {what} {} leads outside the {tree} {} (to {})",
        build.full_hash,
        dir.display(),
        root.display(),
        real.display()
    )))
}

/// Moves `label` to `build` through the same recorded steps as `run`
/// (hooks, image links, trunk links, history row), as a new attempt of
/// kind `actor.kind` that a later command completes if this one dies.
/// Promoting the build the label already points at changes nothing. The
/// caller holds the release's lock.
pub fn promote(
    store: &mut Store,
    c: &Carry,
    label: &Label,
    build: &Build,
    actor: &Actor,
    aggregate_hash: Option<&str>,
) -> Result<Outcome> {
    check_promotable(c.trees, build)?;
    let component = build.component.as_deref();
    let current = current_target(&c.trees.trunk, label.as_str(), component)?;
    if current.as_deref() == Some(build.repo_dir.as_str()) {
        return Ok(Outcome::Unchanged);
    }
    let image_now = current_image(c.trees, label.as_str())?;
    let mut attempt = store.new_attempt(
        &NewAttempt {
            run_id: None,
            name: label.as_str(),
            build_id: build.id,
            previous_repo_dir: current.as_deref(),
            previous_image: image_now.as_deref(),
            kind: actor.kind,
            user: Some(actor.user),
            reason: actor.reason,
            aggregate_hash,
        },
        crate::clock::now(),
    )?;
    match carry_out(store, c, &mut attempt, label, build)? {
        Carried::Done { history_id, images } => {
            let previous = match &current {
                Some(r) => store.build_by_repo_dir(r)?.map(|b| b.full_hash),
                None => None,
            };
            Ok(Outcome::Moved {
                history_id,
                previous,
                images,
            })
        }
        Carried::Stopped { reason } => Ok(Outcome::Stopped { reason }),
    }
}

/// How completing one unfinished attempt ended.
#[derive(Debug)]
pub struct Completed {
    pub attempt: Attempt,
    pub build: Option<Build>,
    pub result: Result<Carried>,
}

/// Completes the attempts a command left unfinished (killed, or failed
/// half-way), oldest first. One that fails again before any link moved is
/// stopped with the reason, so that it does not fail every later command:
/// the next decision starts afresh from the links as they are. One that
/// fails after a link moved stays open (its promotion waits for it). The
/// caller holds the lock.
pub fn complete_open_attempts(store: &mut Store, c: &Carry) -> Result<Vec<Completed>> {
    let mut out = Vec::new();
    for mut attempt in store.open_attempts()? {
        let build = store.build_by_id(attempt.build_id)?;
        let result = match (&build, Label::promotable(&attempt.name)) {
            (None, _) => Err(Error::Failed(format!(
                "build {} is not recorded",
                attempt.build_id
            ))),
            (_, Err(e)) => Err(e),
            (Some(b), Ok(label)) => carry_out(store, c, &mut attempt, &label, b),
        };
        // Nothing moved yet: stopped, the next decision starts afresh. Once
        // a link has moved, it stays open for the next command to finish,
        // so that the trees and the history never stay apart.
        if let Err(e) = &result {
            if attempt.step <= Step::Hooks {
                store.set_step(attempt.id, Step::Stopped, &format!("stopped: {e}"))?;
                attempt.step = Step::Stopped;
            }
        }
        out.push(Completed {
            attempt,
            build,
            result,
        });
    }
    Ok(out)
}

/// `<images>/previous-<name>` → `previous` then `<images>/<name>` →
/// `<full_hash>`, when the build has an image directory. Returns whether
/// links were written.
fn move_image_links(
    trees: &Trees,
    label: &Label,
    build: &Build,
    previous: Option<&Path>,
) -> Result<bool> {
    let dir = &trees.images;
    // Checked again where it is followed: the link may have changed since
    // the build was checked (hooks take time).
    if image_dir(trees, build)?.is_none() {
        return Ok(false);
    }
    if let Some(old) = previous.filter(|p| *p != Path::new(&build.full_hash)) {
        links::swap(dir, &label.previous(), old).at("write link", &dir.join(label.previous()))?;
    }
    links::swap(dir, label.as_str(), Path::new(&build.full_hash))
        .at("write link", &dir.join(label.as_str()))?;
    Ok(true)
}

/// `previous-<name>` → `previous` (a hash directory relative to the trunk),
/// then `<name>` → the build's hash directory.
fn move_trunk_links(
    trees: &Trees,
    label: &Label,
    build: &Build,
    previous: Option<&str>,
) -> Result<()> {
    let component = build.component.as_deref();
    let dir = label_dir(&trees.trunk, component);
    if let Some(prev) = previous.filter(|p| *p != build.repo_dir) {
        let prev_target = label_target(prev, component);
        links::swap(&dir, &label.previous(), Path::new(&prev_target))
            .at("write link", &dir.join(label.previous()))?;
    }
    let target = label_target(&build.repo_dir, component);
    links::swap(&dir, label.as_str(), Path::new(&target))
        .at("write link", &dir.join(label.as_str()))
}

/// When a label moved in the trunk but its image link could not follow
/// (the build has no image directory), where the image link still points:
/// something to warn about, since the two trees now disagree.
pub fn image_left_behind(trees: &Trees, label: &Label, build: &Build) -> Option<String> {
    if trees.images.join(&build.full_hash).is_dir() {
        return None;
    }
    current_image(trees, label.as_str())
        .ok()
        .flatten()
        .filter(|t| *t != build.full_hash)
}

/// The target of the image link `label`, as written (a full hash).
pub fn current_image(trees: &Trees, label: &str) -> Result<Option<String>> {
    let dir = &trees.images;
    Ok(links::read(dir, label)
        .at("read link", &dir.join(label))?
        .map(|p| p.to_string_lossy().into_owned()))
}

/// What carrying out a promotion needs: the trees, the config (hooks,
/// their timeout, the build's variables), who acts, where hook logs go.
pub struct Carry<'a> {
    pub cfg: &'a Config,
    pub trees: &'a Trees,
    /// Where hook output goes.
    pub log_dir: PathBuf,
    /// Who acts, when the attempt does not name its own user.
    pub user: &'a str,
}

/// How carrying out a promotion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    Done {
        history_id: i64,
        images: bool,
    },
    /// Stopped before moving anything more; the reason says why.
    Stopped {
        reason: String,
    },
}

/// Carries out `attempt` from its recorded step: hooks, image links, trunk
/// links, history row, recording each step. Before each link move, the
/// label is read again: if someone else moved it since the attempt was
/// decided, the promotion stops and leaves the links as it found them.
pub fn carry_out(
    store: &mut Store,
    c: &Carry,
    attempt: &mut Attempt,
    label: &Label,
    build: &Build,
) -> Result<Carried> {
    // What a first attempt checks, a resumed one checks again: the build
    // may have been purged, or its hash directory removed, meanwhile.
    if attempt.step < Step::Trunk {
        if let Err(e) = check_promotable(c.trees, build) {
            return stop(store, attempt, format!("{e}; nothing more was moved"));
        }
    }
    // Both links are checked before any effect (hooks included), and the
    // trunk link again before it moves.
    if attempt.step <= Step::Hooks {
        if let Some(reason) = moved_since(c, attempt, label, build)? {
            return stop(store, attempt, reason);
        }
    }
    if attempt.step == Step::Decided {
        if let Err(reason) = run_hooks(c, label, build) {
            store.set_step(attempt.id, Step::Stopped, &reason)?;
            attempt.step = Step::Stopped;
            return Ok(Carried::Stopped { reason });
        }
        advance(store, attempt, Step::Hooks)?;
    }
    let mut images = false;
    if attempt.step == Step::Hooks {
        // Both links, again: a hook may have taken long, and the image link
        // must not move ahead of a trunk link someone else has moved.
        if let Some(reason) = moved_since(c, attempt, label, build)? {
            return stop(store, attempt, reason);
        }
        images = match move_image_links(
            c.trees,
            label,
            build,
            attempt.previous_image.as_deref().map(Path::new),
        ) {
            Ok(moved) => moved,
            // The image directory was made a link out of the image tree
            // since the build was checked: nothing has moved yet.
            Err(Error::Refused(reason)) => return stop(store, attempt, reason),
            Err(e) => return Err(e),
        };
        advance(store, attempt, Step::Images)?;
    }
    if attempt.step == Step::Images {
        let component = build.component.as_deref();
        let now = current_target(&c.trees.trunk, label.as_str(), component)?;
        if now != attempt.previous_repo_dir && now.as_deref() != Some(build.repo_dir.as_str()) {
            return stop(
                store,
                attempt,
                moved_by_someone(label, "trunk", &attempt.previous_repo_dir, &now),
            );
        }
        move_trunk_links(c.trees, label, build, attempt.previous_repo_dir.as_deref())?;
        advance(store, attempt, Step::Trunk)?;
    }
    let previous = match &attempt.previous_repo_dir {
        Some(r) => store.build_by_repo_dir(r)?.map(|b| b.id),
        None => None,
    };
    let now = crate::clock::now();
    let id = attempt.id;
    let history_id = store.write(|tx| {
        let hid = record_promotion(
            tx,
            &NewPromotion {
                name: label.as_str(),
                build_id: build.id,
                previous_build_id: previous,
                aggregate_hash: attempt.aggregate_hash.as_deref(),
                component: build.component.as_deref(),
                kind: attempt.kind,
                timestamp: now,
                user: attempt.user.as_deref().unwrap_or(c.user),
                reason: &attempt.reason,
            },
        )?;
        crate::store::runs::set_step(tx, id, Step::Done, "", now)?;
        crate::store::runs::link_attempt(tx, id, hid)?;
        Ok(hid)
    })?;
    attempt.step = Step::Done;
    fault_point(Step::Done);
    Ok(Carried::Done { history_id, images })
}

/// Whether someone else moved the label's image or trunk link since the
/// attempt read them; the reason to stop, if so.
fn moved_since(
    c: &Carry,
    attempt: &Attempt,
    label: &Label,
    build: &Build,
) -> Result<Option<String>> {
    let image = current_image(c.trees, label.as_str())?;
    if image != attempt.previous_image && image.as_deref() != Some(build.full_hash.as_str()) {
        return Ok(Some(moved_by_someone(
            label,
            "image",
            &attempt.previous_image,
            &image,
        )));
    }
    let trunk = current_target(&c.trees.trunk, label.as_str(), build.component.as_deref())?;
    if trunk != attempt.previous_repo_dir && trunk.as_deref() != Some(build.repo_dir.as_str()) {
        return Ok(Some(moved_by_someone(
            label,
            "trunk",
            &attempt.previous_repo_dir,
            &trunk,
        )));
    }
    Ok(None)
}

fn advance(store: &mut Store, attempt: &mut Attempt, step: Step) -> Result<()> {
    store.set_step(attempt.id, step, "")?;
    attempt.step = step;
    fault_point(step);
    Ok(())
}

fn stop(store: &mut Store, attempt: &mut Attempt, reason: String) -> Result<Carried> {
    store.set_step(attempt.id, Step::Stopped, &reason)?;
    attempt.step = Step::Stopped;
    Ok(Carried::Stopped { reason })
}

fn moved_by_someone(
    label: &Label,
    tree: &str,
    was: &Option<String>,
    now: &Option<String>,
) -> String {
    format!(
        "the {tree} link {label} was moved by someone else since this run read it (from {} to {}); left as found",
        was.as_deref().unwrap_or("nothing"),
        now.as_deref().unwrap_or("nothing")
    )
}

/// Runs the promotion's hooks in order, each in its own process group with
/// `hook_timeout`; the first failure stops them.
fn run_hooks(c: &Carry, label: &Label, build: &Build) -> Result<(), String> {
    let hooks = c
        .cfg
        .promotion(label.as_str())
        .map(|p| p.hooks.as_slice())
        .unwrap_or_default();
    if hooks.is_empty() {
        return Ok(());
    }
    let mut env = crate::build_env::variables(c.cfg, label.as_str(), build);
    env.push(("PROMOTER_LOG_DIR".into(), c.log_dir.display().to_string()));
    for (i, argv) in hooks.iter().enumerate() {
        let log = c.log_dir.join(format!("hook-{label}-{}.log", i + 1));
        let spec = crate::exec::Spec {
            program: resolve_program(&c.cfg.dir, &argv[0]),
            args: argv[1..].to_vec(),
            env: env.clone(),
            cwd: c.cfg.dir.clone(),
            log: log.clone(),
            timeout: c.cfg.hook_timeout,
            grace: c.cfg.kill_grace,
        };
        let ended = crate::exec::run(&spec)
            .map_err(|e| format!("hook {} could not run: {e}", argv.join(" ")))?;
        if !ended.passed() {
            return Err(format!(
                "hook {} failed ({}); see {}",
                argv.join(" "),
                ended,
                log.display()
            ));
        }
    }
    Ok(())
}

/// A command with a relative path is relative to `base`; a bare name is
/// looked up in `PATH`.
pub fn resolve_program(base: &Path, program: &str) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        base.join(p)
    } else {
        p.to_path_buf()
    }
}

/// "exit status 3" or "killed by signal 9".
pub fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown status".into(),
    }
}

/// Crash-test hook: see [`crate::fault`].
fn fault_point(step: Step) {
    crate::fault::point(step.as_str());
}

/// Where the aggregate a batch promotion writes under `<trunk>/<label>/`
/// comes from.
#[derive(Debug, Clone)]
pub enum AggregateSource {
    /// A recorded aggregate (the candidate the votes were cast on): its
    /// files are copied.
    Existing(crate::store::aggregates::Aggregate),
    /// Joined from every component's `<label>` link after the move, as
    /// DLRN does.
    Compute,
}

/// What a batch promotion did.
#[derive(Debug, Clone)]
pub struct Batch {
    pub history_ids: Vec<i64>,
    pub aggregate_hash: String,
}

/// Promotes component builds as one: every build is checked first, then
/// each component's `previous-<name>` and `<name>` links move; if any move
/// fails, the ones already made are put back and nothing is recorded.
/// Then the aggregate of `<name>` is written (`<trunk>/<name>/<xx>/<yy>/<md5>/`
/// with `delorean.repo`, `.md5`, `versions.csv` and links to them) and one
/// history row per build, all naming the aggregate, in one transaction.
pub fn promote_batch(
    store: &mut Store,
    trees: &Trees,
    label: &Label,
    builds: &[Build],
    source: &AggregateSource,
    actor: &Actor,
) -> Result<Batch> {
    if builds.is_empty() {
        return Err(Error::Invalid(
            "a batch promotion needs at least one build".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for b in builds {
        check_promotable(trees, b)?;
        let c = b.component.as_deref().ok_or_else(|| {
            Error::Refused(format!(
                "build {} has no component: a batch promotes component builds",
                b.full_hash
            ))
        })?;
        if !seen.insert(c.to_string()) {
            return Err(Error::Invalid(format!(
                "two builds of component {c} in one batch: a label points at one build per component"
            )));
        }
    }
    let base = trees.trunk.join(label.as_str());
    if std::fs::symlink_metadata(&base).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Refused(format!(
            "{} is a link to one hash directory; a label of aggregates is a directory",
            base.display()
        )));
    }
    // Move, remembering how to put things back.
    struct Undo {
        dir: PathBuf,
        name: String,
        target: Option<PathBuf>,
    }
    let mut undo: Vec<Undo> = Vec::new();
    let mut previous: Vec<Option<String>> = Vec::new();
    // Where the history says each component's label was: the previous build
    // when a killed batch had already moved this component's link.
    let mut recorded: Vec<Option<String>> = Vec::new();
    for b in builds {
        let row = store.label(label.as_str(), b.component.as_deref())?;
        recorded.push(match row.and_then(|r| r.build_id) {
            Some(id) => store.build_by_id(id)?.map(|b| b.repo_dir),
            None => None,
        });
    }
    let mut moved = || -> Result<()> {
        for (b, recorded) in builds.iter().zip(&recorded) {
            let c = b.component.as_deref();
            let dir = label_dir(&trees.trunk, c);
            let on_disk = current_target(&trees.trunk, label.as_str(), c)?;
            let cur = if on_disk.as_deref() == Some(b.repo_dir.as_str()) {
                recorded.clone().filter(|r| *r != b.repo_dir)
            } else {
                on_disk
            };
            for name in [label.previous(), label.to_string()] {
                let before = links::read(&dir, &name).at("read link", &dir.join(&name))?;
                undo.push(Undo {
                    dir: dir.clone(),
                    name,
                    target: before,
                });
            }
            previous.push(cur.clone());
            move_trunk_links(trees, label, b, cur.as_deref())?;
        }
        Ok(())
    };
    let put_back = |undo: &[Undo]| {
        for u in undo.iter().rev() {
            let _ = match &u.target {
                Some(t) => links::swap(&u.dir, &u.name, t),
                None => links::remove(&u.dir, &u.name),
            };
        }
    };
    if let Err(e) = moved() {
        put_back(&undo);
        return Err(Error::Failed(format!(
            "the batch promotion to {label} stopped and every label was put back as it was: {e}"
        )));
    }
    // After the moves, any failure puts the labels back too: all or nothing.
    let finish = |store: &mut Store| -> Result<(Vec<i64>, String)> {
        let (agg_hash, agg_rel, created_at) = write_aggregate(trees, label, builds, source)?;
        let now = crate::clock::now();
        let mut previous_ids = Vec::new();
        for p in &previous {
            previous_ids.push(match p {
                Some(r) => store.build_by_repo_dir(r)?.map(|b| b.id),
                None => None,
            });
        }
        let ids = store.write(|tx| {
            crate::store::aggregates::insert_aggregate(
                tx,
                &crate::store::aggregates::NewAggregate {
                    agg_hash: agg_hash.clone(),
                    repo_dir: agg_rel.clone(),
                    created_at,
                    build_ids: builds.iter().map(|b| b.id).collect(),
                },
            )?;
            let mut ids = Vec::new();
            for (b, prev) in builds.iter().zip(&previous_ids) {
                ids.push(record_promotion(
                    tx,
                    &NewPromotion {
                        name: label.as_str(),
                        build_id: b.id,
                        previous_build_id: *prev,
                        aggregate_hash: Some(&agg_hash),
                        component: b.component.as_deref(),
                        kind: actor.kind,
                        timestamp: now,
                        user: actor.user,
                        reason: actor.reason,
                    },
                )?);
            }
            Ok(ids)
        })?;
        Ok((ids, agg_hash))
    };
    let (history_ids, agg_hash) = match finish(store) {
        Ok(x) => x,
        Err(e) => {
            put_back(&undo);
            return Err(Error::Failed(format!(
                "the batch promotion to {label} could not be recorded, and every label was put back as it was: {e}"
            )));
        }
    };
    Ok(Batch {
        history_ids,
        aggregate_hash: agg_hash,
    })
}

/// Writes the aggregate of `label` under `<trunk>/<label>/` and points
/// `<trunk>/<label>/delorean.repo` (and its `.md5`, `versions.csv`) at it.
/// Returns (md5, its directory relative to the trunk, newest build time).
fn write_aggregate(
    trees: &Trees,
    label: &Label,
    builds: &[Build],
    source: &AggregateSource,
) -> Result<(String, String, i64)> {
    use md5::{Digest, Md5};
    let created_at = builds.iter().map(|b| b.dt_build).max().unwrap_or(0);
    let (repo, csv): (Vec<u8>, Vec<u8>) = match source {
        AggregateSource::Existing(a) => {
            let dir = trees.trunk.join(a.repo_dir.as_deref().unwrap_or_default());
            let repo =
                std::fs::read(dir.join("delorean.repo")).at("read", &dir.join("delorean.repo"))?;
            let csv = std::fs::read(dir.join("versions.csv")).unwrap_or_default();
            (repo, csv)
        }
        AggregateSource::Compute => {
            // Every component that has the label, sorted, as DLRN joins them.
            let mut components: Vec<String> = std::fs::read_dir(trees.trunk.join("component"))
                .at("read", &trees.trunk.join("component"))?
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            components.sort();
            let mut repo = Vec::new();
            let mut csv = crate::trunk::versions_csv::HEADER.join(",").into_bytes();
            csv.push(b'\n');
            for c in components {
                let dir = trees.trunk.join("component").join(&c).join(label.as_str());
                let Ok(text) = std::fs::read(dir.join("delorean.repo")) else {
                    continue;
                };
                repo.extend_from_slice(&text);
                repo.push(b'\n');
                if let Ok(v) = std::fs::read_to_string(dir.join("versions.csv")) {
                    for line in v.lines().skip(1) {
                        csv.extend_from_slice(line.as_bytes());
                        csv.push(b'\n');
                    }
                }
            }
            (repo, csv)
        }
    };
    let md5 = crate::publish::apply::hex(&Md5::digest(&repo));
    let rel = format!("{label}/{}/{}/{md5}", &md5[..2], &md5[2..4]);
    let base = trees.trunk.join(label.as_str());
    if std::fs::symlink_metadata(&base).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Failed(format!(
            "{} is a link to one hash directory; an aggregate label is a directory",
            base.display()
        )));
    }
    let dir = trees.trunk.join(&rel);
    std::fs::create_dir_all(&dir).at("create", &dir)?;
    for (name, bytes) in [
        ("delorean.repo", &repo[..]),
        ("delorean.repo.md5", md5.as_bytes()),
        ("versions.csv", &csv[..]),
    ] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).at("write", &tmp)?;
        std::fs::rename(&tmp, dir.join(name)).at("write", &dir.join(name))?;
    }
    let inner = format!("{}/{}/{md5}", &md5[..2], &md5[2..4]);
    for name in ["delorean.repo", "delorean.repo.md5", "versions.csv"] {
        links::swap(&base, name, &Path::new(&inner).join(name))
            .at("write link", &base.join(name))?;
    }
    Ok((md5, rel, created_at))
}
