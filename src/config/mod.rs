//! The per-release YAML config: parsed into a validated [`Config`], with
//! every error reported at once, each naming the file, the line and the key.
//!
//! The text goes through three rooms, one way: `raw` parses it and notes
//! where each key is written; the section readers (`validate` and the
//! `jobs`, `publish` and `promotions` beside it) check it key by key, so
//! that unknown keys and semantic errors are all collected, not just the
//! first one; `derive` computes what follows from the checked config
//! (matrix job instances, the required jobs of a promotion).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ident::{JobId, Label};

mod containers;
pub mod convert;
mod derive;
mod executors;
mod jobs;
mod promotions;
mod publish;
mod raw;
mod updates;
mod validate;

#[cfg(test)]
mod tests;

/// Where the config is looked for when `-c` is not given.
pub const ENV_VAR: &str = "PROMOTER_CONFIG";
pub const DEFAULT_PATH: &str = "promoter.yaml";
/// Largest config read: a release's config is kilobytes.
const MAX_CONFIG: u64 = 16 << 20;

/// One config error: file, line, key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

/// All the errors of one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A validated release config. Paths are absolute (resolved against the
/// config file's directory).
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// The config file's directory, absolute: relative paths and commands
    /// are found from here.
    pub dir: PathBuf,
    pub release: String,
    pub distro: Option<String>,
    pub database: PathBuf,
    pub trunk: PathBuf,
    /// Base URL of the trunk, for `repo_url` in promotion JSON.
    pub trunk_url: Option<String>,
    pub images: PathBuf,
    pub logs: PathBuf,
    pub logs_url: Option<String>,
    pub latest_hashes_count: usize,
    pub max_parallel_jobs: usize,
    /// How long a timed-out job gets between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// How long a job waits for a free test environment before it fails.
    pub testenv_wait: Duration,
    /// How long a promotion's hook may take before it is stopped and fails
    /// its step.
    pub hook_timeout: Duration,
    /// How long one rsync of a publish may take before it is stopped and
    /// the publish fails (the next run tries again).
    pub push_timeout: Duration,
    pub executors: Vec<ExecutorDef>,
    /// Image files every build's image directory must hold.
    pub images_required: Vec<String>,
    /// Labels moved by CI elsewhere (`repo-promote`), never by a
    /// promotion here; promotions may take their candidates from them.
    pub external_labels: Vec<Label>,
    /// The database every release of this host shares for test
    /// environments and their leases; `None`: this release's own.
    pub testenv_db: Option<PathBuf>,
    pub jobs: Vec<JobDef>,
    pub promotions: Vec<PromotionDef>,
    pub publish: Vec<PublishTarget>,
    /// What this host lacks for the config (Slurm's commands for a Slurm
    /// executor): errors `config check` reports, not errors of the file.
    pub missing_tools: Vec<ConfigError>,
    /// What is allowed but likely wrong: `config check` warns.
    pub warnings: Vec<ConfigError>,
    /// The image tree when it is on another host: (user@host, port, path);
    /// `images` is then that path, on that host.
    pub remote_images: Option<(String, Option<u16>, String)>,
    /// The ssh command (and options) that reaches it.
    pub ssh: Vec<String>,
    /// The build's container images and where they go (`containers:`).
    pub containers: Option<ContainersDef>,
    /// How updates are gated (`updates:`), when they are.
    pub updates: Option<UpdatesDef>,
    /// A hash of the text this config was parsed from: what a run's memo
    /// remembers of it (`usecase::memo`).
    pub text_hash: u64,
}

/// One Release/Dist pair, as `juno/epel-7`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Combination {
    pub release: String,
    pub dist: String,
}

impl fmt::Display for Combination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.release, self.dist)
    }
}

/// A combination taken out of the updates' flow, with why and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledCombination {
    pub combination: Combination,
    pub reason: String,
    /// Seconds since the epoch; `None`: until the config changes.
    pub until: Option<i64>,
}

/// The `updates:` section: rdopkg's phase 1, phase 2, stage and production.
#[derive(Debug, Clone)]
pub struct UpdatesDef {
    /// Holds `updates/`, `ready/` and `failed/`, as the rdo-update
    /// repository does.
    pub dir: PathBuf,
    pub combinations: Vec<Combination>,
    pub phase1_jobs: Vec<String>,
    pub phase2_jobs: Vec<String>,
    /// How long after one phase 2 the next is due.
    pub phase2_every: Duration,
    pub stage_jobs: Vec<String>,
    /// The publish target (`source: updates`) of the stage repos.
    pub stage_publish: Option<String>,
    /// The production repo of each combination: a path or a URL.
    pub production_repos: BTreeMap<Combination, String>,
    /// The publish target stage goes to once its jobs passed.
    pub production_publish: Option<String>,
    pub disabled: Vec<DisabledCombination>,
}

impl UpdatesDef {
    /// Why `c` is disabled by the config at `now`, if it is.
    pub fn disabled_reason(&self, c: &Combination, now: i64) -> Option<&DisabledCombination> {
        self.disabled
            .iter()
            .find(|d| &d.combination == c && d.until.is_none_or(|u| u > now))
    }
}

/// Where a build's container images are and where a promotion copies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainersDef {
    /// Where CI pushed `<namespace>/<image>:<full_hash>`.
    pub source: ContainerRepo,
    pub images: ContainerImages,
    /// Registries that receive copies, tagged `<full_hash>` and `<label>`.
    pub push: Vec<ContainerRepo>,
    /// Credentials, in the containers-auth.json format.
    pub auth_file: Option<PathBuf>,
    /// Registries (`host[:port]`) spoken to over plain HTTP.
    pub insecure: Vec<String>,
}

/// A registry (`host[:port]`) and a namespace in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRepo {
    pub registry: String,
    pub namespace: String,
}

/// Which images a build has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerImages {
    /// Listed in this file of the build's image directory, one a line.
    From(String),
    /// The same for every build.
    Fixed(Vec<String>),
}

/// Where jobs run, as `executors.<name>` configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorDef {
    pub name: String,
    pub kind: ExecutorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorKind {
    /// A supervised process of this host.
    Local,
    Slurm(SlurmDef),
}

/// A Slurm executor: where its jobs are submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmDef {
    pub partition: String,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Passed to `sbatch` as they are.
    pub sbatch_args: Vec<String>,
}

/// A job as configured (before matrix expansion).
#[derive(Debug, Clone)]
pub struct JobDef {
    pub name: String,
    pub command: Vec<String>,
    pub timeout: Duration,
    pub env: BTreeMap<String, String>,
    pub testenv: Option<String>,
    /// Axes in the order written, each with its values.
    pub matrix: Vec<(String, Vec<String>)>,
    pub disabled: Vec<Disabled>,
    /// How many times a failed run is run again before its failure counts.
    pub retries: usize,
    /// The executor that runs it (`executors.<name>`); `None`: local.
    pub executor: Option<String>,
}

/// A matrix combination taken out, with the reason shown in `why`.
#[derive(Debug, Clone)]
pub struct Disabled {
    pub combination: BTreeMap<String, String>,
    pub reason: String,
}

/// One job id a job definition expands to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInstance {
    pub id: JobId,
    pub job: String,
    /// (axis, value) in axis order.
    pub matrix: Vec<(String, String)>,
    /// Why the combination is disabled, when it is.
    pub disabled: Option<String>,
}

/// A promotion: move `name` to a build of `candidate_label` that meets the
/// criteria.
#[derive(Debug, Clone)]
pub struct PromotionDef {
    pub name: Label,
    pub candidate_label: Label,
    pub jobs: Vec<String>,
    /// Required job ids as written (a matrix job's name stands for all its
    /// combinations; see [`Config::required_jobs`]).
    pub criteria: Vec<JobId>,
    pub alternative_criteria: BTreeMap<JobId, Vec<JobId>>,
    pub publish: Vec<String>,
    pub hooks: Vec<Vec<String>>,
    /// Whether a build without an image directory may be promoted
    /// (`images:`); unset, see [`Config::images_rule`].
    pub images: Option<Images>,
    /// Image files a build's image directory must hold, besides the
    /// top-level `images_required`.
    pub images_required: Vec<String>,
    /// Whether its build's container images are tagged and copied before
    /// its links move (`containers: true`).
    pub containers: bool,
}

/// Whether a promotion needs its build's image directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    Required,
    Optional,
}

/// What a promotion asks of its build's images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagesRule {
    /// A build without an image directory is blocked.
    pub dir_required: bool,
    /// Files the image directory must hold.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Trunk,
    Images,
    /// The yum repo of each update combination (`{release}`, `{dist}` in
    /// `dest`).
    Updates,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Trunk => "trunk",
            Source::Images => "images",
            Source::Updates => "updates",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    Md5,
    Sha256,
}

#[derive(Debug, Clone)]
pub struct PublishTarget {
    pub name: String,
    pub source: Source,
    pub dest: String,
    pub sidecars: Vec<Sidecar>,
    pub keep: usize,
    /// The tree's public URL: every `baseurl` of a published
    /// `delorean.repo` is rewritten to it.
    pub url: Option<String>,
}

/// Whether a publish `dest` names a remote tree (`host:path`,
/// `rsync://host/module/path`) rather than a local path.
pub fn is_remote_dest(dest: &str) -> bool {
    if dest.starts_with("rsync://") {
        return true;
    }
    match dest.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/'),
        None => false,
    }
}

/// One required job of a promotion, after matrix expansion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Requirement {
    pub id: JobId,
    pub alternatives: Vec<JobId>,
    /// The reason, when this is a disabled matrix combination.
    pub disabled: Option<String>,
}

impl Config {
    /// The config path from `-c`, else `$PROMOTER_CONFIG`, else `./promoter.yaml`.
    pub fn locate(flag: Option<&Path>) -> PathBuf {
        if let Some(p) = flag {
            return p.to_path_buf();
        }
        match std::env::var_os(ENV_VAR) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => PathBuf::from(DEFAULT_PATH),
        }
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = crate::input::read(path, MAX_CONFIG).map_err(|e| {
            let hint = match e {
                crate::input::InputError::NotFound(e) => format!(
                    "cannot read the config: {e} (give one with -c FILE or ${ENV_VAR}, or use --db for the vote commands)"
                ),
                e => format!("cannot read the config: {e}"),
            };
            one(path, None, hint)
        })?;
        let text = String::from_utf8(text)
            .map_err(|_| one(path, None, "the config is not UTF-8 text".into()))?;
        Config::parse(path, &text)
    }

    /// Parses config text; `path` names the file in errors and anchors
    /// relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let raw = raw::Raw::parse(text)
            .map_err(|e| one(path, e.line, format!("not valid YAML: {}", e.message)))?;
        let mut cfg = validate::config(path, &raw, &base_dir(path))?;
        cfg.text_hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut h);
            h.finish()
        };
        Ok(cfg)
    }

    pub fn promotion(&self, name: &str) -> Option<&PromotionDef> {
        self.promotions.iter().find(|p| p.name.as_str() == name)
    }

    pub fn job(&self, name: &str) -> Option<&JobDef> {
        self.jobs.iter().find(|j| j.name == name)
    }

    pub fn target(&self, name: &str) -> Option<&PublishTarget> {
        self.publish.iter().find(|t| t.name == name)
    }
}

/// The directory of the config file, absolute where it exists.
fn base_dir(path: &Path) -> PathBuf {
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf())
}

/// A config that failed as a whole, with no key to name.
fn one(path: &Path, line: Option<usize>, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: path.to_path_buf(),
        line,
        key: String::new(),
        message,
    }])
}
