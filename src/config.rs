//! The per-release YAML config: parsed into a validated [`Config`], with
//! every error reported at once, each naming the file, the line and the key.
//!
//! serde_yaml gives us the document tree (and the position of syntax
//! errors); the tree is then read key by key here so that unknown keys and
//! semantic errors are all collected, not just the first one.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::duration::parse_duration;
use crate::ident::{JobId, Label, RESERVED_LABELS};

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
    pub jobs: Vec<JobDef>,
    pub promotions: Vec<PromotionDef>,
    pub publish: Vec<PublishTarget>,
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

impl JobDef {
    /// The job ids this job stands for: itself, or one per combination.
    pub fn instances(&self) -> Vec<JobInstance> {
        self.combinations()
            .into_iter()
            .map(|combo| {
                let disabled = self
                    .disabled
                    .iter()
                    .find(|d| {
                        d.combination
                            .iter()
                            .all(|(a, v)| combo.iter().any(|(ca, cv)| ca == a && cv == v))
                    })
                    .map(|d| d.reason.clone());
                JobInstance {
                    id: JobId::from_valid(self.instance_id(&combo)),
                    job: self.name.clone(),
                    matrix: combo,
                    disabled,
                }
            })
            .collect()
    }

    /// `<job>-<value>[-<value>…]`, not yet checked: long values make an
    /// id longer than a job id may be, which the config reader reports.
    fn instance_id(&self, combo: &[(String, String)]) -> String {
        let mut id = self.name.clone();
        for (_, v) in combo {
            id.push('-');
            id.push_str(v);
        }
        id
    }

    /// Every combination of the matrix axes, in axis order.
    fn combinations(&self) -> Vec<Vec<(String, String)>> {
        let mut combos: Vec<Vec<(String, String)>> = vec![vec![]];
        for (axis, values) in &self.matrix {
            let mut next = Vec::new();
            for combo in &combos {
                for v in values {
                    let mut c = combo.clone();
                    c.push((axis.clone(), v.clone()));
                    next.push(c);
                }
            }
            combos = next;
        }
        combos
    }
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Trunk,
    Images,
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
            one(path, None, "", hint)
        })?;
        let text = String::from_utf8(text)
            .map_err(|_| one(path, None, "", "the config is not UTF-8 text".into()))?;
        Config::parse(path, &text)
    }

    /// Parses config text; `path` names the file in errors and anchors
    /// relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            let line = e.location().map(|l| {
                // The parser places a duplicate key at its mapping's start,
                // the first key's line: the duplicate is further down.
                duplicate_key(&msg)
                    .and_then(|key| duplicate_line(text, l.line(), l.column(), key))
                    .unwrap_or(l.line())
            });
            one(path, line, "", format!("not valid YAML: {msg}"))
        })?;
        let base = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
        let mut r = Reader {
            file: path,
            lines: text.lines().collect(),
            errors: Vec::new(),
        };
        let cfg = r.config(&doc, &base).map(|mut c| {
            c.dir = base.clone();
            c
        });
        if r.errors.is_empty() {
            Ok(cfg.expect("a config without errors"))
        } else {
            // In the order of the file.
            r.errors.sort_by_key(|e| e.line.unwrap_or(0));
            Err(ConfigErrors(r.errors))
        }
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

    /// The criteria of a promotion with matrix jobs expanded and disabled
    /// combinations marked, in the order written.
    pub fn required_jobs(&self, promotion: &PromotionDef) -> Vec<Requirement> {
        let mut out: Vec<Requirement> = Vec::new();
        for c in &promotion.criteria {
            let alternatives = promotion
                .alternative_criteria
                .get(c)
                .cloned()
                .unwrap_or_default();
            match self.job(c.as_str()) {
                Some(job) if !job.matrix.is_empty() => {
                    for inst in job.instances() {
                        if out.iter().all(|r| r.id != inst.id) {
                            out.push(Requirement {
                                id: inst.id,
                                alternatives: alternatives.clone(),
                                disabled: inst.disabled,
                            });
                        }
                    }
                }
                _ => {
                    if out.iter().all(|r| &r.id != c) {
                        out.push(Requirement {
                            id: c.clone(),
                            alternatives,
                            disabled: None,
                        });
                    }
                }
            }
        }
        out
    }
}

/// The key of a YAML "duplicate entry with key \"k\"" message.
fn duplicate_key(msg: &str) -> Option<&str> {
    let (_, quoted) = msg.split_once("duplicate entry with key \"")?;
    quoted.strip_suffix('"')
}

/// The line (1-based) where `key` appears a second time among the keys of
/// the block mapping whose first key is at `line` and `column` (1-based).
fn duplicate_line(text: &str, line: usize, column: usize, key: &str) -> Option<usize> {
    let indent_of_keys = column.checked_sub(1)?;
    let mut seen = false;
    for (i, raw) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        if i + 1 > line && indent < indent_of_keys {
            return None; // the mapping ended
        }
        let mut rest = trimmed;
        while let Some(r) = rest.strip_prefix("- ") {
            indent += 2;
            rest = r.trim_start();
        }
        if indent != indent_of_keys {
            continue;
        }
        let Some(colon) = key_end(rest) else { continue };
        if rest[..colon].trim().trim_matches(|c| c == '"' || c == '\'') == key {
            if seen {
                return Some(i + 1);
            }
            seen = true;
        }
    }
    None
}

fn one(path: &Path, line: Option<usize>, key: &str, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: path.to_path_buf(),
        line,
        key: key.to_string(),
        message,
    }])
}

/// Reads the document tree, collecting errors.
struct Reader<'a> {
    file: &'a Path,
    lines: Vec<&'a str>,
    errors: Vec<ConfigError>,
}

const TOP_KEYS: &[&str] = &[
    "release",
    "distro",
    "database",
    "trunk",
    "trunk_url",
    "images",
    "logs",
    "logs_url",
    "latest_hashes_count",
    "max_parallel_jobs",
    "kill_grace",
    "testenv_wait",
    "hook_timeout",
    "jobs",
    "promotions",
    "publish",
];
const JOB_KEYS: &[&str] = &["command", "timeout", "env", "testenv", "matrix", "disabled"];
const PROMOTION_KEYS: &[&str] = &[
    "candidate_label",
    "jobs",
    "criteria",
    "alternative_criteria",
    "publish",
    "hooks",
];
const PUBLISH_KEYS: &[&str] = &["source", "dest", "sidecars", "keep"];
const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
/// More job ids than any release runs; the cap keeps a typo from expanding
/// to billions.
const MAX_MATRIX_COMBINATIONS: usize = 1000;

impl Reader<'_> {
    fn err(&mut self, path: &[&str], message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: self.line_of(path),
            key: path.join("."),
            message: message.into(),
        });
    }

    /// The line of a key path in block-style YAML, found by indentation;
    /// falls back to the nearest ancestor that is found.
    fn line_of(&self, path: &[&str]) -> Option<usize> {
        for n in (1..=path.len()).rev() {
            if let Some(l) = self.find_key(&path[..n]) {
                return Some(l);
            }
        }
        None
    }

    fn find_key(&self, path: &[&str]) -> Option<usize> {
        let mut stack: Vec<(usize, String)> = Vec::new();
        for (i, raw) in self.lines.iter().enumerate() {
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
                continue;
            }
            let mut indent = raw.len() - trimmed.len();
            let mut rest = trimmed;
            while let Some(r) = rest.strip_prefix("- ") {
                indent += 2;
                rest = r.trim_start();
            }
            let Some(colon) = key_end(rest) else { continue };
            let key = rest[..colon].trim().trim_matches(|c| c == '"' || c == '\'');
            while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
                stack.pop();
            }
            stack.push((indent, key.to_string()));
            if stack.len() == path.len() && stack.iter().zip(path).all(|((_, k), p)| k == p) {
                return Some(i + 1);
            }
        }
        None
    }

    fn mapping<'v>(&mut self, v: &'v Value, path: &[&str]) -> Option<&'v Mapping> {
        match v {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            _ => {
                self.err(path, "expected a mapping of keys to values");
                None
            }
        }
    }

    fn check_keys(&mut self, m: &Mapping, allowed: &[&str], path: &[&str]) {
        for k in m.keys() {
            match k.as_str() {
                Some(k) if allowed.contains(&k) => {}
                Some(k) => {
                    let mut p = path.to_vec();
                    p.push(k);
                    self.err(
                        &p,
                        format!("unknown key (expected one of: {})", allowed.join(", ")),
                    );
                }
                None => self.err(path, format!("key {k:?} is not a string")),
            }
        }
    }

    fn string(&mut self, v: &Value, path: &[&str]) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.err(path, "expected a string");
                None
            }
        }
    }

    fn string_list(&mut self, v: &Value, path: &[&str]) -> Vec<String> {
        match v {
            Value::Sequence(items) => items.iter().filter_map(|i| self.string(i, path)).collect(),
            Value::Null => Vec::new(),
            _ => {
                self.err(path, "expected a list of strings");
                Vec::new()
            }
        }
    }

    fn count(&mut self, v: &Value, path: &[&str], min: u64, max: u64) -> Option<usize> {
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n as usize),
            _ => {
                self.err(path, format!("expected a whole number from {min} to {max}"));
                None
            }
        }
    }

    fn name(&mut self, s: &str, path: &[&str], what: &str) -> bool {
        if s.is_empty()
            || s.contains('/')
            || s.contains("..")
            || s.starts_with('.')
            || s.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            self.err(
                path,
                format!("{what} {s:?} is not valid: no '/', '..', spaces or leading '.'"),
            );
            return false;
        }
        true
    }

    fn config(&mut self, doc: &Value, base: &Path) -> Option<Config> {
        let Some(top) = self.mapping(doc, &[]) else {
            self.err(
                &[],
                "the config is empty: it needs at least release and trunk",
            );
            return None;
        };
        self.check_keys(top, TOP_KEYS, &[]);
        let get = |k: &str| top.get(k);

        let release = match get("release") {
            Some(v) => self.string(v, &["release"]),
            None => {
                self.err(&["release"], "missing: every config names its release");
                None
            }
        };
        if let Some(r) = &release {
            self.name(r, &["release"], "release");
        }
        let distro = get("distro").and_then(|v| self.string(v, &["distro"]));
        let path_key = |r: &mut Self, key: &str, default: Option<String>| -> Option<PathBuf> {
            let s = match get(key) {
                Some(v) => r.string(v, &[key])?,
                None => match default {
                    Some(d) => d,
                    None => {
                        r.err(&[key], "missing: the path of the trunk tree is required");
                        return None;
                    }
                },
            };
            if s.is_empty() {
                r.err(&[key], "the path is empty");
                return None;
            }
            Some(base.join(s))
        };
        let rel = release.clone().unwrap_or_else(|| "release".into());
        let database = path_key(self, "database", Some(format!("state/{rel}.sqlite")));
        let trunk = path_key(self, "trunk", None);
        let images = path_key(self, "images", Some("images".into()));
        let logs = path_key(self, "logs", Some("logs".into()));
        let trunk_url = get("trunk_url").and_then(|v| self.string(v, &["trunk_url"]));
        let logs_url = get("logs_url").and_then(|v| self.string(v, &["logs_url"]));
        let latest_hashes_count = match get("latest_hashes_count") {
            Some(v) => self.count(v, &["latest_hashes_count"], 1, 100),
            None => Some(10),
        };
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2);
        let max_parallel_jobs = match get("max_parallel_jobs") {
            Some(v) => self.count(v, &["max_parallel_jobs"], 1, 1024),
            None => Some(cores),
        };

        let duration_key = |r: &mut Self, key: &str, default: Duration| match get(key) {
            Some(v) => match r.string(v, &[key]) {
                Some(s) => parse_duration(&s).unwrap_or_else(|e| {
                    r.err(&[key], e);
                    default
                }),
                None => default,
            },
            None => default,
        };
        let kill_grace = duration_key(self, "kill_grace", Duration::from_secs(10));
        let testenv_wait = duration_key(self, "testenv_wait", Duration::from_secs(3600));
        let hook_timeout = duration_key(self, "hook_timeout", Duration::from_secs(1800));
        let jobs = match get("jobs") {
            Some(v) => self.jobs(v),
            None => Vec::new(),
        };
        let publish = match get("publish") {
            Some(v) => self.publish_targets(v),
            None => Vec::new(),
        };
        let promotions = match get("promotions") {
            Some(v) => self.promotions(v, &jobs, &publish),
            None => Vec::new(),
        };
        let labels: Vec<String> = RESERVED_LABELS
            .iter()
            .map(|l| l.to_string())
            .chain(promotions.iter().flat_map(|p| {
                [
                    p.name.to_string(),
                    p.name.previous(),
                    p.candidate_label.to_string(),
                ]
            }))
            .collect();
        self.check_dests(&publish, base, trunk.as_deref(), images.as_deref(), &labels);

        Some(Config {
            path: self.file.to_path_buf(),
            dir: base.to_path_buf(),
            release: release?,
            distro,
            database: database?,
            trunk: trunk?,
            trunk_url,
            images: images?,
            logs: logs?,
            logs_url,
            latest_hashes_count: latest_hashes_count?,
            max_parallel_jobs: max_parallel_jobs?,
            kill_grace,
            testenv_wait,
            hook_timeout,
            jobs,
            promotions,
            publish,
        })
    }

    fn jobs(&mut self, v: &Value) -> Vec<JobDef> {
        let Some(m) = self.mapping(v, &["jobs"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, body) in m {
            let Some(name) = self.string(k, &["jobs"]) else {
                continue;
            };
            let p = ["jobs", name.as_str()];
            if !self.name(&name, &p, "job name") {
                continue;
            }
            if let Err(e) = name.parse::<JobId>() {
                self.err(&p, e.to_string());
                continue;
            }
            let Some(body) = self.mapping(body, &p) else {
                self.err(&p, "a job needs at least a command");
                continue;
            };
            self.check_keys(body, JOB_KEYS, &p);
            let command = match body.get("command") {
                Some(Value::String(s)) => s.split_whitespace().map(String::from).collect(),
                Some(v) => self.string_list(v, &["jobs", &name, "command"]),
                None => Vec::new(),
            };
            if command.is_empty() {
                self.err(&["jobs", &name, "command"], "missing: the argv to run");
            }
            let timeout = match body.get("timeout") {
                Some(v) => match self.string(v, &["jobs", &name, "timeout"]) {
                    Some(s) => match parse_duration(&s) {
                        Ok(d) => d,
                        Err(e) => {
                            self.err(&["jobs", &name, "timeout"], e);
                            DEFAULT_JOB_TIMEOUT
                        }
                    },
                    None => DEFAULT_JOB_TIMEOUT,
                },
                None => DEFAULT_JOB_TIMEOUT,
            };
            let mut env = BTreeMap::new();
            if let Some(ev) = body.get("env") {
                if let Some(em) = self.mapping(ev, &["jobs", &name, "env"]) {
                    for (ek, evv) in em {
                        let key = self.string(ek, &["jobs", &name, "env"]);
                        let val = self.string(evv, &["jobs", &name, "env"]);
                        if let (Some(key), Some(val)) = (key, val) {
                            if key.is_empty() || key.contains('=') || key.contains('\0') {
                                self.err(&["jobs", &name, "env", &key], "not a variable name");
                            } else {
                                env.insert(key, val);
                            }
                        }
                    }
                }
            }
            let testenv = body
                .get("testenv")
                .and_then(|v| self.string(v, &["jobs", &name, "testenv"]));
            if let Some(pool) = &testenv {
                self.name(pool, &["jobs", &name, "testenv"], "pool");
            }
            let mut matrix = Vec::new();
            if let Some(mv) = body.get("matrix") {
                if let Some(mm) = self.mapping(mv, &["jobs", &name, "matrix"]) {
                    for (ak, av) in mm {
                        let Some(axis) = self.string(ak, &["jobs", &name, "matrix"]) else {
                            continue;
                        };
                        let mp = ["jobs", name.as_str(), "matrix", axis.as_str()];
                        let values = self.string_list(av, &mp);
                        if values.is_empty() {
                            self.err(&mp, "an axis needs at least one value");
                        }
                        let ok_axis = !axis.is_empty()
                            && axis.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                        if !ok_axis {
                            self.err(&mp, "an axis name is letters, digits and '_'");
                        }
                        for v in &values {
                            self.name(v, &mp, "matrix value");
                        }
                        matrix.push((axis, values));
                    }
                }
            }
            let mut disabled = Vec::new();
            if let Some(dv) = body.get("disabled") {
                let dp = ["jobs", name.as_str(), "disabled"];
                match dv {
                    Value::Sequence(items) => {
                        for item in items {
                            let Some(im) = self.mapping(item, &dp) else {
                                continue;
                            };
                            let mut combination = BTreeMap::new();
                            let mut reason = String::new();
                            for (ik, iv) in im {
                                let Some(ik) = self.string(ik, &dp) else {
                                    continue;
                                };
                                let Some(iv) = self.string(iv, &dp) else {
                                    continue;
                                };
                                if ik == "reason" {
                                    reason = iv;
                                } else if let Some((_, vals)) =
                                    matrix.iter().find(|(a, _)| *a == ik)
                                {
                                    if !vals.contains(&iv) {
                                        self.err(
                                            &dp,
                                            format!("{ik}: {iv:?} is not a value of that axis"),
                                        );
                                    }
                                    combination.insert(ik, iv);
                                } else {
                                    self.err(&dp, format!("{ik:?} is not an axis of this matrix"));
                                }
                            }
                            if reason.trim().is_empty() {
                                self.err(&dp, "a disabled combination needs a reason");
                            }
                            if combination.is_empty() {
                                self.err(&dp, "a disabled entry names at least one axis value");
                            }
                            disabled.push(Disabled {
                                combination,
                                reason,
                            });
                        }
                    }
                    _ => self.err(&dp, "expected a list of {axis: value, reason: text}"),
                }
            }
            let def = JobDef {
                name: name.clone(),
                command,
                timeout,
                env,
                testenv,
                matrix,
                disabled,
            };
            let expands_to = def
                .matrix
                .iter()
                .fold(1usize, |n, (_, values)| n.saturating_mul(values.len()));
            if expands_to > MAX_MATRIX_COMBINATIONS {
                self.err(
                    &["jobs", &name, "matrix"],
                    format!(
                        "it expands to {expands_to} job ids; at most {MAX_MATRIX_COMBINATIONS}"
                    ),
                );
                out.push(JobDef {
                    matrix: Vec::new(),
                    ..def
                });
                continue;
            }
            for combo in def.combinations() {
                if let Err(e) = def.instance_id(&combo).parse::<JobId>() {
                    self.err(&["jobs", &name], e.to_string());
                    break;
                }
            }
            out.push(def);
        }
        out
    }

    fn publish_targets(&mut self, v: &Value) -> Vec<PublishTarget> {
        let Some(m) = self.mapping(v, &["publish"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, body) in m {
            let Some(name) = self.string(k, &["publish"]) else {
                continue;
            };
            let p = ["publish", name.as_str()];
            if !self.name(&name, &p, "publish target") {
                continue;
            }
            let Some(body) = self.mapping(body, &p) else {
                self.err(&p, "a publish target needs source and dest");
                continue;
            };
            self.check_keys(body, PUBLISH_KEYS, &p);
            let source = match body.get("source").and_then(Value::as_str) {
                Some("trunk") => Source::Trunk,
                Some("images") => Source::Images,
                _ => {
                    self.err(&["publish", &name, "source"], "expected trunk or images");
                    Source::Trunk
                }
            };
            let dest = match body.get("dest") {
                Some(v) => self
                    .string(v, &["publish", &name, "dest"])
                    .unwrap_or_default(),
                None => String::new(),
            };
            if dest.is_empty() {
                self.err(&["publish", &name, "dest"], "missing: where to publish");
            }
            let mut sidecars = Vec::new();
            if let Some(sv) = body.get("sidecars") {
                for s in self.string_list(sv, &["publish", &name, "sidecars"]) {
                    match s.as_str() {
                        "md5" => sidecars.push(Sidecar::Md5),
                        "sha256" => sidecars.push(Sidecar::Sha256),
                        other => self.err(
                            &["publish", &name, "sidecars"],
                            format!("unknown sidecar {other:?} (expected md5 or sha256)"),
                        ),
                    }
                }
            }
            let keep = match body.get("keep") {
                Some(v) => self
                    .count(v, &["publish", &name, "keep"], 1, 1000)
                    .unwrap_or(3),
                None => 3,
            };
            out.push(PublishTarget {
                name,
                source,
                dest,
                sidecars,
                keep,
            });
        }
        out
    }

    /// Refuses dests that collide: two targets with one dest (or, local,
    /// one inside the other's published tree), and a local dest in the
    /// trunk or the image tree (a label there, a hash directory, anywhere
    /// the promoter only reads). Local paths are compared normalised and
    /// absolute, with the symlinks of their existing part resolved; remote
    /// dests by their whole string. Each error is the later target's.
    fn check_dests(
        &mut self,
        targets: &[PublishTarget],
        base: &Path,
        trunk: Option<&Path>,
        images: Option<&Path>,
        labels: &[String],
    ) {
        enum Dest<'t> {
            Remote(&'t str),
            Local(PathBuf),
        }
        let trees: Vec<(PathBuf, Tree)> = [(trunk, Tree::Trunk), (images, Tree::Images)]
            .into_iter()
            .filter_map(|(p, tree)| p.map(|p| (resolved(&normalised(p)), tree)))
            .collect();
        let mut seen: Vec<(&str, Dest)> = Vec::new();
        for t in targets.iter().filter(|t| !t.dest.is_empty()) {
            let key = ["publish", t.name.as_str(), "dest"];
            let dest = if is_remote_dest(&t.dest) {
                Dest::Remote(&t.dest)
            } else {
                Dest::Local(resolved_dest(&normalised(&base.join(&t.dest))))
            };
            for (other, before) in &seen {
                let message = match (&dest, before) {
                    (Dest::Remote(d), Dest::Remote(o)) if d == o => format!(
                        "{d:?} is also the dest of publish target {other:?}: one would replace the other's tree"
                    ),
                    (Dest::Local(d), Dest::Local(o)) if d == o => format!(
                        "{} is also the dest of publish target {other:?}: one would replace the other's tree",
                        d.display()
                    ),
                    (Dest::Local(d), Dest::Local(o)) if d.starts_with(o) || o.starts_with(d) => {
                        format!(
                            "{} {} the dest of publish target {other:?} ({}): one would write into the other's published tree",
                            d.display(),
                            if d.starts_with(o) { "is inside" } else { "holds" },
                            o.display()
                        )
                    }
                    _ => continue,
                };
                self.err(&key, message);
            }
            if let Dest::Local(d) = &dest {
                for (root, tree) in &trees {
                    if let Ok(rel) = d.strip_prefix(root) {
                        let message = in_tree(d, root, rel, *tree, labels);
                        self.err(&key, message);
                    }
                }
            }
            seen.push((&t.name, dest));
        }
    }

    fn job_ids(&mut self, v: &Value, path: &[&str]) -> Vec<JobId> {
        let mut out = Vec::new();
        for s in self.string_list(v, path) {
            match s.parse::<JobId>() {
                Ok(id) => out.push(id),
                Err(e) => self.err(path, e.to_string()),
            }
        }
        out
    }

    fn promotions(
        &mut self,
        v: &Value,
        jobs: &[JobDef],
        targets: &[PublishTarget],
    ) -> Vec<PromotionDef> {
        let Some(m) = self.mapping(v, &["promotions"]) else {
            return Vec::new();
        };
        let mut out: Vec<PromotionDef> = Vec::new();
        let all_names: Vec<String> = m
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect();
        let mut candidate_of: BTreeMap<String, String> = BTreeMap::new();
        // Promotions written before this one, valid or not: a promotion
        // with an error of its own is still "earlier" for those after it.
        let mut written_before: Vec<String> = Vec::new();
        for (k, body) in m {
            let Some(name) = self.string(k, &["promotions"]) else {
                continue;
            };
            let before = written_before.clone();
            written_before.push(name.clone());
            let p = ["promotions", name.as_str()];
            let label = match Label::promotable(&name) {
                Ok(l) => l,
                Err(e) => {
                    let msg = if RESERVED_LABELS.contains(&name.as_str()) {
                        format!("{name:?} is the builder's own link and cannot be a promotion")
                    } else {
                        e.to_string()
                    };
                    self.err(&p, msg);
                    continue;
                }
            };
            let Some(body) = self.mapping(body, &p) else {
                self.err(&p, "a promotion needs candidate_label and criteria");
                continue;
            };
            self.check_keys(body, PROMOTION_KEYS, &p);
            let cl_path = ["promotions", name.as_str(), "candidate_label"];
            let candidate = match body.get("candidate_label") {
                Some(v) => self.string(v, &cl_path),
                None => {
                    self.err(
                        &cl_path,
                        "missing: the label whose builds this promotion considers",
                    );
                    None
                }
            };
            let candidate = candidate.and_then(|c| match Label::any(&c) {
                Ok(l) => Some(l),
                Err(e) => {
                    self.err(&cl_path, e.to_string());
                    None
                }
            });
            if let Some(c) = &candidate {
                candidate_of.insert(name.clone(), c.to_string());
                let earlier = before.iter().any(|o| o == c.as_str());
                if c.as_str() == name {
                    self.err(
                        &cl_path,
                        "a promotion cannot take candidates from its own label (a cycle)",
                    );
                } else if !c.is_builder_link() && !earlier {
                    if all_names.iter().any(|n| n == c.as_str()) {
                        // Defined later: a cycle if following candidates comes back here.
                        let mut seen = HashSet::new();
                        let mut cur = c.to_string();
                        let mut cycle = false;
                        while let Some(next) = m
                            .get(cur.as_str())
                            .and_then(|b| b.get("candidate_label"))
                            .and_then(Value::as_str)
                        {
                            if next == name {
                                cycle = true;
                                break;
                            }
                            if !seen.insert(next.to_string()) {
                                break;
                            }
                            cur = next.to_string();
                        }
                        if cycle {
                            self.err(&cl_path, format!("\"{c}\" takes its candidates, directly or not, from {name:?}: a cycle"));
                        } else {
                            self.err(&cl_path, format!("\"{c}\" is promoted later in the file; promotions run in file order, so move it before {name:?}"));
                        }
                    } else {
                        self.err(&cl_path, format!("no earlier promotion and no builder link provides \"{c}\" (the builder provides current and consistent)"));
                    }
                }
            }
            let jp = ["promotions", name.as_str(), "jobs"];
            let pjobs = body
                .get("jobs")
                .map(|v| self.string_list(v, &jp))
                .unwrap_or_default();
            for j in &pjobs {
                if !jobs.iter().any(|d| &d.name == j) {
                    self.err(&jp, format!("job {j:?} is not defined under jobs"));
                }
            }
            let cp = ["promotions", name.as_str(), "criteria"];
            let criteria = match body.get("criteria") {
                Some(v) => self.job_ids(v, &cp),
                None => Vec::new(),
            };
            if criteria.is_empty() {
                self.err(
                    &cp,
                    "the criteria are empty: a promotion needs at least one required job, so that an untested build is never promoted",
                );
            }
            let mut alternative_criteria = BTreeMap::new();
            if let Some(av) = body.get("alternative_criteria") {
                let ap = ["promotions", name.as_str(), "alternative_criteria"];
                if let Some(am) = self.mapping(av, &ap) {
                    for (ak, alts) in am {
                        let Some(ak) = self.string(ak, &ap) else {
                            continue;
                        };
                        let akp = [
                            "promotions",
                            name.as_str(),
                            "alternative_criteria",
                            ak.as_str(),
                        ];
                        let Ok(id) = ak.parse::<JobId>() else {
                            self.err(&akp, "not a valid job id");
                            continue;
                        };
                        if !criteria.contains(&id) {
                            self.err(
                                &akp,
                                format!("{ak:?} is not one of this promotion's criteria"),
                            );
                        }
                        let list = self.job_ids(alts, &akp);
                        alternative_criteria.insert(id, list);
                    }
                }
            }
            let pp = ["promotions", name.as_str(), "publish"];
            let publish = body
                .get("publish")
                .map(|v| self.string_list(v, &pp))
                .unwrap_or_default();
            for t in &publish {
                if !targets.iter().any(|d| &d.name == t) {
                    self.err(
                        &pp,
                        format!("publish target {t:?} is not defined under publish"),
                    );
                }
            }
            let hp = ["promotions", name.as_str(), "hooks"];
            let mut hooks = Vec::new();
            match body.get("hooks") {
                None | Some(Value::Null) => {}
                Some(Value::Sequence(items)) => {
                    for item in items {
                        let argv = match item {
                            Value::String(s) => s.split_whitespace().map(String::from).collect(),
                            other => self.string_list(other, &hp),
                        };
                        if argv.is_empty() {
                            self.err(&hp, "a hook is a non-empty argv list");
                        } else {
                            hooks.push(argv);
                        }
                    }
                }
                Some(_) => self.err(&hp, "expected a list of commands (each an argv list)"),
            }
            if let Some(candidate_label) = candidate {
                out.push(PromotionDef {
                    name: label,
                    candidate_label,
                    jobs: pjobs,
                    criteria,
                    alternative_criteria,
                    publish,
                    hooks,
                });
            }
        }
        out
    }
}

/// A tree the promoter reads and a publish never writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    Trunk,
    Images,
}

/// Why `dest`, at `rel` inside `root` (the root of `tree`), cannot be
/// published to.
fn in_tree(dest: &Path, root: &Path, rel: &Path, tree: Tree, labels: &[String]) -> String {
    let shown = dest.display();
    let what = match tree {
        Tree::Trunk => "trunk",
        Tree::Images => "image tree",
    };
    let parts: Vec<_> = rel.components().collect();
    match parts.as_slice() {
        [] => format!("{shown} is the {what} itself, which the promoter only reads"),
        [name] if labels.iter().any(|l| l.as_str() == name.as_os_str()) => format!(
            "{shown} is the label {} of the {what}: publishing there would take the label over",
            name.as_os_str().to_string_lossy()
        ),
        _ => match hash_dir_in(rel, tree) {
            Some(h) if h == rel => format!(
                "{shown} is the hash directory {}, a tree the promoter only reads",
                root.join(h).display()
            ),
            Some(h) => format!(
                "{shown} is inside the hash directory {}, a tree the promoter only reads",
                root.join(h).display()
            ),
            None => format!(
                "{shown} is inside the {what} {}, which the promoter only reads",
                root.display()
            ),
        },
    }
}

/// `path` with `.` and `..` taken out, as written (no symlink followed).
fn normalised(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` with the symlinks of its longest existing ancestor resolved (a
/// trunk given through a link is the same trunk).
fn resolved(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut p = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(p) {
            return rest.iter().rev().fold(real, |acc, c| acc.join(c));
        }
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                p = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// A dest resolved like [`resolved`], except its last component: a
/// published `dest` is itself a link, to its current version.
fn resolved_dest(dest: &Path) -> PathBuf {
    match (dest.parent(), dest.file_name()) {
        (Some(parent), Some(name)) => resolved(parent).join(name),
        _ => dest.to_path_buf(),
    }
}

/// The hash directory `rel` (relative to the trunk or the image tree) is
/// in, or is: `xx/yy/<xxyy…>` or `component/<c>/xx/yy/<xxyy…>` in a DLRN
/// trunk, `<full_hash>` in the image tree.
fn hash_dir_in(rel: &Path, tree: Tree) -> Option<PathBuf> {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if tree == Tree::Images {
        // Only one name at the top of the image tree is not a hash
        // directory: a label, which is checked first.
        return (parts.len() > 1).then(|| PathBuf::from(&parts[0]));
    }
    let skip = if parts.first().map(String::as_str) == Some("component") {
        2
    } else {
        0
    };
    let p = parts.get(skip..skip + 3)?;
    (p[0].len() == 2 && p[1].len() == 2 && p[2].starts_with(&format!("{}{}", p[0], p[1])))
        .then(|| parts[..skip + 3].iter().collect())
}

/// Where the key of a `key: value` line ends (the colon), if it is one.
fn key_end(s: &str) -> Option<usize> {
    if s.starts_with('{') || s.starts_with('[') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"') | (None, b'\'') if i == 0 => quote = Some(b),
            (None, b'#') => return None,
            (None, b':') if i + 1 == bytes.len() || bytes[i + 1] == b' ' => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
release: master
distro: centos7
database: state/master.sqlite
trunk: trunk/centos7-master
images: images/master/rdo_trunk
logs: logs/master
latest_hashes_count: 10

jobs:
  build-images:
    command: [scripts/jobs/build-images.sh]
    timeout: 1h
  packstack:
    command: [scripts/jobs/packstack.sh]
    matrix:
      dist: [epel-7, fedora-21]
    disabled:
      - {dist: fedora-21, reason: "fedora-21 images broken"}

promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    jobs: [build-images]
    criteria: [build-images]
  current-tripleo:
    candidate_label: tripleo-ci-testing
    criteria:
      - ovb-featureset001
      - periodic-featureset005
    alternative_criteria:
      ovb-featureset001: [ovb-featureset001-internal]
    publish: [images]
  current-tripleo-rdo:
    candidate_label: current-tripleo
    jobs: [packstack]
    criteria: [packstack]

publish:
  images:
    source: images
    dest: buildlogs/images
    sidecars: [md5]
    keep: 3
"#;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(Path::new("/etc/promoter/master.yaml"), text)
    }

    #[test]
    fn sample_config_parses_in_file_order() {
        let c = parse(SAMPLE).unwrap();
        let names: Vec<_> = c.promotions.iter().map(|p| p.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "tripleo-ci-testing",
                "current-tripleo",
                "current-tripleo-rdo"
            ]
        );
        assert_eq!(c.latest_hashes_count, 10);
        assert!(c.database.ends_with("state/master.sqlite"));
        assert_eq!(c.job("build-images").unwrap().timeout.as_secs(), 3600);
    }

    #[test]
    fn matrix_expands_and_marks_disabled_combinations() {
        let c = parse(SAMPLE).unwrap();
        let req = c.required_jobs(c.promotion("current-tripleo-rdo").unwrap());
        let ids: Vec<_> = req.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(ids, ["packstack-epel-7", "packstack-fedora-21"]);
        assert_eq!(req[0].disabled, None);
        assert_eq!(req[1].disabled.as_deref(), Some("fedora-21 images broken"));
        let alt = c.required_jobs(c.promotion("current-tripleo").unwrap());
        assert_eq!(
            alt[0].alternatives[0].as_str(),
            "ovb-featureset001-internal"
        );
    }

    #[test]
    fn every_error_is_reported_at_once_with_line_and_key() {
        let text = "release: master\ntrunk: t\nbogus: 1\npromotions:\n  current:\n    candidate_label: consistent\n    criteria: [a]\n  a:\n    candidate_label: consistent\n    criteria: []\n  b:\n    candidate_label: nowhere\n    criteria: [x]\n    jobs: [undefined-job]\n";
        let errs = parse(text).unwrap_err().0;
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let all = shown.join("\n");
        assert!(all.contains("master.yaml:3: bogus: unknown key"), "{all}");
        assert!(all.contains(":5: promotions.current:"), "{all}");
        assert!(
            all.contains(":10: promotions.a.criteria: the criteria are empty"),
            "{all}"
        );
        assert!(
            all.contains(":12: promotions.b.candidate_label: no earlier promotion"),
            "{all}"
        );
        assert!(
            all.contains(":14: promotions.b.jobs: job \"undefined-job\" is not defined"),
            "{all}"
        );
        assert_eq!(errs.len(), 5, "{all}");
    }

    #[test]
    fn a_typo_in_one_promotion_does_not_blame_the_next_and_errors_come_in_file_order() {
        let text = "release: r\ntrunk: t\npromotions:\n  a:\n    candidat_label: consistent\n    criteria: [j]\n  b:\n    candidate_label: a\n    criteria: [j]\n";
        let errs = parse(text).unwrap_err().0;
        let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2, "{all:#?}");
        assert!(
            all[0].contains(":4: promotions.a.candidate_label: missing"),
            "{all:#?}"
        );
        assert!(
            all[1].contains(":5: promotions.a.candidat_label: unknown key"),
            "{all:#?}"
        );
    }

    #[test]
    fn cycles_and_bad_names_are_errors() {
        let text = "release: r\ntrunk: t\npromotions:\n  x:\n    candidate_label: y\n    criteria: [j]\n  y:\n    candidate_label: x\n    criteria: [j]\n  ../up:\n    candidate_label: consistent\n    criteria: [j]\n  .hidden:\n    candidate_label: consistent\n    criteria: [j]\n";
        let all = parse(text).unwrap_err().to_string();
        assert!(
            all.contains("promotions.x.candidate_label: \"y\" takes its candidates"),
            "{all}"
        );
        assert!(all.contains("promotions.../up"), "{all}");
        assert!(all.contains("promotions..hidden"), "{all}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let text = "release: r\ntrunk: t\nlatest_hashes_count: 0\njobs:\n  j:\n    command: [x]\n    timeout: 3 fortnights\n";
        let all = parse(text).unwrap_err().to_string();
        assert!(
            all.contains(":3: latest_hashes_count: expected a whole number from 1 to 100"),
            "{all}"
        );
        assert!(all.contains(":7: jobs.j.timeout:"), "{all}");
    }

    #[test]
    fn a_matrix_whose_job_ids_are_too_long_is_a_config_error_not_a_panic() {
        let text = format!(
            "release: r\ntrunk: t\njobs:\n  j:\n    command: [x]\n    matrix:\n      a: [{}]\n      b: [{}]\n",
            "x".repeat(200),
            "y".repeat(100)
        );
        let all = parse(&text).unwrap_err().to_string();
        assert!(all.contains(":4: jobs.j: job id"), "{all}");
        assert!(all.contains("longer than 255"), "{all}");
    }

    #[test]
    fn a_matrix_of_too_many_combinations_is_a_config_error() {
        let mut text =
            String::from("release: r\ntrunk: t\njobs:\n  j:\n    command: [x]\n    matrix:\n");
        for axis in 0..12 {
            text.push_str(&format!(
                "      a{axis}: [v0, v1, v2, v3, v4, v5, v6, v7, v8, v9]\n"
            ));
        }
        let all = parse(&text).unwrap_err().to_string();
        assert!(
            all.contains("jobs.j.matrix: it expands to 1000000000000 job ids; at most 1000"),
            "{all}"
        );
    }

    #[test]
    fn a_duplicate_key_error_names_the_line_of_the_duplicate() {
        let cases = [
            ("release: r\ntrunk: t\nrelease: s\n", 3),
            (
                "release: r\njobs:\n  a:\n    command: [x]\n  b:\n    command: [y]\n\n  # again\n  a:\n    command: [z]\n",
                9,
            ),
            (
                "release: r\njobs:\n  a:\n    command: [x]\n    timeout: 1h\n    command: [y]\n",
                6,
            ),
            (
                "release: r\njobs:\n  a:\n    command: [x]\n    disabled:\n      - {reason: x}\n      - reason: y\n        reason: z\n",
                8,
            ),
        ];
        for (text, line) in cases {
            let all = parse(text).unwrap_err().to_string();
            assert!(
                all.starts_with(&format!(
                    "/etc/promoter/master.yaml:{line}: not valid YAML: "
                )),
                "{text:?}: {all}"
            );
            assert!(all.contains("duplicate entry"), "{all}");
        }
    }

    #[test]
    fn publish_dests_that_collide_are_errors_with_line_and_key() {
        let text = "release: r
trunk: /srv/trunk
images: /srv/images
promotions:
  current-tripleo:
    candidate_label: consistent
    criteria: [j]
publish:
  a:
    source: trunk
    dest: /srv/buildlogs/tested
  b:
    source: images
    dest: ../../srv/./buildlogs/x/../tested/
  c:
    source: trunk
    dest: /srv/trunk/current-tripleo
  d:
    source: trunk
    dest: /srv/trunk/previous-current-tripleo
  e:
    source: images
    dest: /srv/images/published
  f:
    source: trunk
    dest: /srv/trunk/17/23/17234e9ab9_024e24f0/out
  g:
    source: images
    dest: /srv/images/abc_def/out
  h:
    source: trunk
    dest: /srv/buildlogs/tested/images
  r1:
    source: trunk
    dest: host:/srv/x
  r2:
    source: trunk
    dest: host:/srv/x
  r3:
    source: trunk
    dest: host:/srv/x/
  r4:
    source: trunk
    dest: /srv/x
";
        let errs = parse(text).unwrap_err().0;
        let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let want = [
            ":14: publish.b.dest: /srv/buildlogs/tested is also the dest of publish target \"a\"",
            ":17: publish.c.dest: /srv/trunk/current-tripleo is the label current-tripleo of the trunk",
            ":20: publish.d.dest: /srv/trunk/previous-current-tripleo is the label previous-current-tripleo",
            ":23: publish.e.dest: /srv/images/published is inside the image tree /srv/images",
            ":26: publish.f.dest: /srv/trunk/17/23/17234e9ab9_024e24f0/out is inside the hash directory /srv/trunk/17/23/17234e9ab9_024e24f0",
            ":29: publish.g.dest: /srv/images/abc_def/out is inside the hash directory /srv/images/abc_def",
            ":32: publish.h.dest: /srv/buildlogs/tested/images is inside the dest of publish target \"a\"",
            ":38: publish.r2.dest: \"host:/srv/x\" is also the dest of publish target \"r1\"",
        ];
        for w in want {
            assert!(all.iter().any(|e| e.contains(w)), "{w}\nnot in {all:#?}");
        }
        // h is inside both a's and b's dest (one place).
        assert_eq!(errs.len(), want.len() + 1, "{all:#?}");
    }

    #[test]
    fn malformed_yaml_gives_the_line() {
        let all = parse("release: r\ntrunk: [unclosed\n")
            .unwrap_err()
            .to_string();
        assert!(all.starts_with("/etc/promoter/master.yaml:"), "{all}");
        assert!(all.contains("not valid YAML"), "{all}");
    }
}
