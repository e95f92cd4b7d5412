//! Reading the document tree into a [`Config`], key by key: the top-level
//! settings here, the sections in `jobs`, `publish` and `promotions`, and
//! the readers of single values they share. Every error is collected with
//! its key and line; none stops the reading.

use crate::ident::Label;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::raw::{Positions, Raw};
use super::{derive, Config, ConfigError, ConfigErrors};
use crate::duration::parse_duration;
use crate::ident::JobId;

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
    "push_timeout",
    "executors",
    "images_required",
    "external_labels",
    "testenv_db",
    "ssh",
    "jobs",
    "promotions",
    "publish",
    "containers",
    "updates",
];

/// Reads and checks a parsed config; `path` names the file in errors and
/// `base` anchors relative paths. The errors come in the order of the file.
pub(super) fn config(path: &Path, raw: &Raw, base: &Path) -> Result<Config, ConfigErrors> {
    let mut r = Reader {
        file: path,
        positions: &raw.positions,
        errors: Vec::new(),
        warnings: Vec::new(),
        remote_images: None,
    };
    let cfg = r.config(&raw.doc, base);
    if r.errors.is_empty() {
        Ok(cfg.expect("a config without errors"))
    } else {
        r.errors.sort_by_key(|e| e.line.unwrap_or(0));
        Err(ConfigErrors(r.errors))
    }
}

/// Reads the document tree, collecting errors.
pub(super) struct Reader<'a> {
    file: &'a Path,
    positions: &'a Positions,
    errors: Vec<ConfigError>,
    /// What is allowed but likely wrong.
    pub(super) warnings: Vec<ConfigError>,
    /// A remote image tree: (host, port, path).
    remote_images: Option<(String, Option<u16>, String)>,
}

/// The top-level paths, from `base` and the defaults.
struct Trees {
    database: Option<PathBuf>,
    trunk: Option<PathBuf>,
    images: Option<PathBuf>,
    logs: Option<PathBuf>,
}

impl Reader<'_> {
    fn config(&mut self, doc: &Value, base: &Path) -> Option<Config> {
        let Some(top) = self.mapping(doc, &[]) else {
            self.err(
                &[],
                "the config is empty: it needs at least release and trunk",
            );
            return None;
        };
        self.check_keys(top, TOP_KEYS, &[]);
        let release = self.release(top);
        let distro = self.optional_string(top, "distro");
        let trees = self.trees(top, base, release.as_deref());
        let trunk_url = self.optional_string(top, "trunk_url");
        let logs_url = self.optional_string(top, "logs_url");
        let latest_hashes_count = self.count_key(top, "latest_hashes_count", 100, 10);
        let max_parallel_jobs = self.count_key(top, "max_parallel_jobs", 1024, default_parallel());
        let mut duration = |key: &str, default: u64| {
            let default = Duration::from_secs(default);
            top.get(key)
                .map_or(default, |v| self.duration(v, &[key], default))
        };
        let kill_grace = duration("kill_grace", 10);
        let testenv_wait = duration("testenv_wait", 3600);
        let hook_timeout = duration("hook_timeout", 1800);
        let push_timeout = duration("push_timeout", 7200);
        let executors = top
            .get("executors")
            .map(|v| self.executors(v))
            .unwrap_or_default();
        let ssh = match top.get("ssh") {
            Some(v) => self.argv(v, &["ssh"]),
            None => Vec::new(),
        };
        let ssh = if ssh.is_empty() {
            ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"]
                .map(String::from)
                .to_vec()
        } else {
            ssh
        };
        let images_required = match top.get("images_required") {
            Some(v) => self.file_names(v, &["images_required"]),
            None => Vec::new(),
        };
        let testenv_db = match top.contains_key("testenv_db") {
            true => self.path_key(top, base, "testenv_db", None),
            false => None,
        };
        if let (Some(t), Some(d)) = (&testenv_db, &trees.database) {
            if t == d {
                self.err(
                    &["testenv_db"],
                    "the broker's database is shared by every release: it cannot be this release's own database",
                );
            }
        }
        let external_labels = match top.get("external_labels") {
            Some(v) => self.external_labels(v),
            None => Vec::new(),
        };
        let jobs = top.get("jobs").map(|v| self.jobs(v)).unwrap_or_default();
        self.check_job_executors(&jobs, &executors);
        let missing_tools = self.missing_tools(&executors);
        let publish = top.get("publish").map(|v| self.publish_targets(v));
        let publish = publish.unwrap_or_default();
        let containers = top.get("containers").and_then(|v| self.containers(v, base));
        let promotions = match top.get("promotions") {
            Some(v) => self.promotions(v, &jobs, &publish, &external_labels),
            None => Vec::new(),
        };
        for p in &promotions {
            for t in &p.publish {
                if publish
                    .iter()
                    .any(|x| &x.name == t && x.source == super::Source::Updates)
                {
                    self.err(
                        &["promotions", p.name.as_str(), "publish"],
                        format!("publish target {t:?} publishes the repos of updates (source: updates), not a promotion's build"),
                    );
                }
            }
            if external_labels.contains(&p.name) {
                self.err(
                    &["external_labels"],
                    format!("{:?} is promoted here (promotions.{}), so it is not external: an external label is moved only by CI elsewhere", p.name.as_str(), p.name),
                );
            }
        }
        if !top.contains_key("containers") {
            for p in promotions.iter().filter(|p| p.containers) {
                self.err(
                    &["promotions", p.name.as_str(), "containers"],
                    "there is no containers section to say which images and registries",
                );
            }
        }
        if self.remote_images.is_some() {
            for t in publish.iter().filter(|t| t.source == super::Source::Images) {
                self.err(
                    &["publish", t.name.as_str(), "source"],
                    "the image tree is on another host (images:), so there are no image files here to publish",
                );
            }
        }
        let updates = top
            .get("updates")
            .and_then(|v| self.updates(v, base, &jobs, &publish));
        let (trunk, images) = (trees.trunk.as_deref(), trees.images.as_deref());
        let labels = derive::labels_in_use(&promotions);
        self.check_dests(&publish, base, trunk, images, &labels);
        Some(Config {
            path: self.file.to_path_buf(),
            dir: base.to_path_buf(),
            release: release?,
            distro,
            database: trees.database?,
            trunk: trees.trunk?,
            trunk_url,
            images: trees.images?,
            logs: trees.logs?,
            logs_url,
            latest_hashes_count: latest_hashes_count?,
            max_parallel_jobs: max_parallel_jobs?,
            kill_grace,
            testenv_wait,
            hook_timeout,
            push_timeout,
            executors,
            images_required,
            external_labels,
            testenv_db,
            jobs,
            promotions,
            publish,
            missing_tools,
            warnings: std::mem::take(&mut self.warnings),
            remote_images: self.remote_images.take(),
            ssh,
            containers,
            text_hash: 0,
            updates,
        })
    }

    /// `external_labels`: labels CI elsewhere moves (with `repo-promote`),
    /// which promotions here may take candidates from.
    fn external_labels(&mut self, v: &Value) -> Vec<Label> {
        let path = ["external_labels"];
        let mut out: Vec<Label> = Vec::new();
        for name in self.string_list(v, &path) {
            match Label::promotable(&name) {
                Ok(l) if out.contains(&l) => self.err(&path, format!("{name:?} is listed twice")),
                Ok(l) => out.push(l),
                Err(e) => self.err(&path, e.to_string()),
            }
        }
        out
    }

    fn release(&mut self, top: &Mapping) -> Option<String> {
        let Some(v) = top.get("release") else {
            self.err(&["release"], "missing: every config names its release");
            return None;
        };
        let release = self.string(v, &["release"])?;
        self.name(&release, &["release"], "release");
        Some(release)
    }

    fn trees(&mut self, top: &Mapping, base: &Path, release: Option<&str>) -> Trees {
        let release = release.unwrap_or("release");
        Trees {
            database: self.path_key(
                top,
                base,
                "database",
                Some(format!("state/{release}.sqlite")),
            ),
            trunk: self.path_key(top, base, "trunk", None),
            images: self.images_key(top, base),
            logs: self.path_key(top, base, "logs", Some("logs".into())),
        }
    }

    /// The image tree: a path under `base`, or a remote tree (`user@host:/path`,
    /// `ssh://user@host[:port]/path`), kept as written in its own field.
    fn images_key(&mut self, top: &Mapping, base: &Path) -> Option<PathBuf> {
        if let Some(s) = top.get("images").and_then(Value::as_str) {
            match crate::promote::remote_images::parse(s) {
                Some(Ok((host, port, path))) => {
                    self.remote_images = Some((host, port, path.clone()));
                    return Some(PathBuf::from(path));
                }
                Some(Err(e)) => {
                    self.err(&["images"], e);
                    return None;
                }
                None => {}
            }
        }
        self.path_key(top, base, "images", Some("images".into()))
    }

    /// A path under `base`; `default` when the key is not written, which is
    /// an error when there is no default.
    fn path_key(
        &mut self,
        top: &Mapping,
        base: &Path,
        key: &str,
        default: Option<String>,
    ) -> Option<PathBuf> {
        let s = match (top.get(key), default) {
            (Some(v), _) => self.string(v, &[key])?,
            (None, Some(d)) => d,
            (None, None) => {
                self.err(&[key], "missing: the path of the trunk tree is required");
                return None;
            }
        };
        if s.is_empty() {
            self.err(&[key], "the path is empty");
            return None;
        }
        Some(base.join(s))
    }

    fn optional_string(&mut self, top: &Mapping, key: &str) -> Option<String> {
        top.get(key).and_then(|v| self.string(v, &[key]))
    }

    fn count_key(&mut self, top: &Mapping, key: &str, max: u64, default: usize) -> Option<usize> {
        match top.get(key) {
            Some(v) => self.count(v, &[key], 1, max),
            None => Some(default),
        }
    }
}

/// As many jobs at once as there are cores, and at least two.
fn default_parallel() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// The readers of single values, shared by the sections.
impl Reader<'_> {
    /// An error on the key `path`, placed at its line.
    pub(super) fn err(&mut self, path: &[&str], message: impl Into<String>) {
        let e = self.error_at(path, message);
        self.errors.push(e);
    }

    /// An error on the key `path`, placed at its line, not yet reported.
    pub(super) fn error_at(&self, path: &[&str], message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: self.positions.line_of(path),
            key: path.join("."),
            message: message.into(),
        }
    }

    /// Every job's `executor:` names an executor of the config.
    fn check_job_executors(&mut self, jobs: &[super::JobDef], executors: &[super::ExecutorDef]) {
        for j in jobs {
            let Some(e) = &j.executor else { continue };
            if e != "local" && !executors.iter().any(|x| &x.name == e) {
                let known: Vec<&str> = executors.iter().map(|x| x.name.as_str()).collect();
                let known = if known.is_empty() {
                    "none is defined under executors".to_string()
                } else {
                    format!("defined: {}", known.join(", "))
                };
                self.err(
                    &["jobs", j.name.as_str(), "executor"],
                    format!("no executor {e:?} ({known})"),
                );
            }
        }
    }

    /// A mapping; nothing (and no error) for an empty value.
    pub(super) fn mapping<'v>(&mut self, v: &'v Value, path: &[&str]) -> Option<&'v Mapping> {
        match v {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            _ => {
                self.err(path, "expected a mapping of keys to values");
                None
            }
        }
    }

    /// Reports every key of `m` not in `allowed`.
    pub(super) fn check_keys(&mut self, m: &Mapping, allowed: &[&str], path: &[&str]) {
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

    /// A scalar as text: numbers and booleans as written by serde_yaml.
    pub(super) fn string(&mut self, v: &Value, path: &[&str]) -> Option<String> {
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

    pub(super) fn string_list(&mut self, v: &Value, path: &[&str]) -> Vec<String> {
        match v {
            Value::Sequence(items) => items.iter().filter_map(|i| self.string(i, path)).collect(),
            Value::Null => Vec::new(),
            _ => {
                self.err(path, "expected a list of strings");
                Vec::new()
            }
        }
    }

    /// An argv: a list, or one string split at whitespace.
    pub(super) fn argv(&mut self, v: &Value, path: &[&str]) -> Vec<String> {
        match v {
            Value::String(s) => s.split_whitespace().map(String::from).collect(),
            v => self.string_list(v, path),
        }
    }

    pub(super) fn count(&mut self, v: &Value, path: &[&str], min: u64, max: u64) -> Option<usize> {
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n as usize),
            _ => {
                self.err(path, format!("expected a whole number from {min} to {max}"));
                None
            }
        }
    }

    /// A human duration; `default` (and an error) when it is not one.
    pub(super) fn duration(&mut self, v: &Value, path: &[&str], default: Duration) -> Duration {
        let Some(s) = self.string(v, path) else {
            return default;
        };
        parse_duration(&s).unwrap_or_else(|e| {
            self.err(path, e);
            default
        })
    }

    /// Whether `s` can name a file: reports it when it cannot.
    pub(super) fn name(&mut self, s: &str, path: &[&str], what: &str) -> bool {
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

    pub(super) fn job_ids(&mut self, v: &Value, path: &[&str]) -> Vec<JobId> {
        let mut out = Vec::new();
        for s in self.string_list(v, path) {
            match s.parse::<JobId>() {
                Ok(id) => out.push(id),
                Err(e) => self.err(path, e.to_string()),
            }
        }
        out
    }
}
