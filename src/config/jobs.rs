//! The `jobs` section: each job's command, timeout, environment, test
//! environment pool and matrix, with the combinations it takes out.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::validate::Reader;
use super::{Disabled, JobDef};
use crate::ident::JobId;

const JOB_KEYS: &[&str] = &[
    "command", "timeout", "env", "testenv", "matrix", "disabled", "retries", "executor",
];

/// The most reruns of a failed job a config may ask for.
const MAX_RETRIES: u64 = 100;
const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
/// More job ids than any release runs; the cap keeps a typo from expanding
/// to billions.
const MAX_MATRIX_COMBINATIONS: usize = 1000;

/// A matrix as written: axes in order, each with its values.
type Matrix = Vec<(String, Vec<String>)>;

impl Reader<'_> {
    pub(super) fn jobs(&mut self, v: &Value) -> Vec<JobDef> {
        let Some(m) = self.mapping(v, &["jobs"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, body) in m {
            let Some(name) = self.string(k, &["jobs"]) else {
                continue;
            };
            if let Some(def) = self.job(name, body) {
                out.push(self.expandable(def));
            }
        }
        out
    }

    /// One job, unless its name or body is not one.
    fn job(&mut self, name: String, body: &Value) -> Option<JobDef> {
        let p = ["jobs", name.as_str()];
        if !self.name(&name, &p, "job name") {
            return None;
        }
        if let Err(e) = name.parse::<JobId>() {
            self.err(&p, e.to_string());
            return None;
        }
        let Some(body) = self.mapping(body, &p) else {
            self.err(&p, "a job needs at least a command");
            return None;
        };
        self.check_keys(body, JOB_KEYS, &p);
        let key = |k: &'static str| ["jobs", name.as_str(), k];
        let command = match body.get("command") {
            Some(v) => self.argv(v, &key("command")),
            None => Vec::new(),
        };
        if command.is_empty() {
            self.err(&key("command"), "missing: the argv to run");
        }
        let timeout = match body.get("timeout") {
            Some(v) => self.duration(v, &key("timeout"), DEFAULT_JOB_TIMEOUT),
            None => DEFAULT_JOB_TIMEOUT,
        };
        let env = match body.get("env") {
            Some(v) => self.env(v, &name),
            None => BTreeMap::new(),
        };
        let testenv = body
            .get("testenv")
            .and_then(|v| self.string(v, &key("testenv")));
        if let Some(pool) = &testenv {
            self.name(pool, &key("testenv"), "pool");
        }
        let matrix = match body.get("matrix") {
            Some(v) => self.matrix(v, &name),
            None => Vec::new(),
        };
        let disabled = match body.get("disabled") {
            Some(v) => self.disabled(v, &name, &matrix),
            None => Vec::new(),
        };
        let executor = body
            .get("executor")
            .and_then(|v| self.string(v, &key("executor")));
        let retries = match body.get("retries") {
            Some(v) => self.count(v, &key("retries"), 0, MAX_RETRIES).unwrap_or(0),
            None => 0,
        };
        Some(JobDef {
            name,
            command,
            timeout,
            env,
            testenv,
            matrix,
            disabled,
            retries,
            executor,
        })
    }

    fn env(&mut self, v: &Value, job: &str) -> BTreeMap<String, String> {
        let path = ["jobs", job, "env"];
        let mut env = BTreeMap::new();
        let Some(m) = self.mapping(v, &path) else {
            return env;
        };
        for (k, v) in m {
            let key = self.string(k, &path);
            let val = self.string(v, &path);
            let (Some(key), Some(val)) = (key, val) else {
                continue;
            };
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                self.err(&["jobs", job, "env", &key], "not a variable name");
            } else {
                env.insert(key, val);
            }
        }
        env
    }

    fn matrix(&mut self, v: &Value, job: &str) -> Matrix {
        let mut matrix = Vec::new();
        let Some(m) = self.mapping(v, &["jobs", job, "matrix"]) else {
            return matrix;
        };
        for (k, v) in m {
            let Some(axis) = self.string(k, &["jobs", job, "matrix"]) else {
                continue;
            };
            let path = ["jobs", job, "matrix", axis.as_str()];
            let values = self.string_list(v, &path);
            if values.is_empty() {
                self.err(&path, "an axis needs at least one value");
            }
            let ok_axis =
                !axis.is_empty() && axis.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok_axis {
                self.err(&path, "an axis name is letters, digits and '_'");
            }
            for v in &values {
                self.name(v, &path, "matrix value");
            }
            matrix.push((axis, values));
        }
        matrix
    }

    fn disabled(&mut self, v: &Value, job: &str, matrix: &Matrix) -> Vec<Disabled> {
        let path = ["jobs", job, "disabled"];
        let Value::Sequence(items) = v else {
            self.err(&path, "expected a list of {axis: value, reason: text}");
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let m = self.mapping(item, &path)?;
                Some(self.disabled_entry(m, &path, matrix))
            })
            .collect()
    }

    /// One `{axis: value, …, reason: text}` entry.
    fn disabled_entry(&mut self, m: &Mapping, path: &[&str], matrix: &Matrix) -> Disabled {
        let mut combination = BTreeMap::new();
        let mut reason = String::new();
        for (k, v) in m {
            let Some(k) = self.string(k, path) else {
                continue;
            };
            let Some(v) = self.string(v, path) else {
                continue;
            };
            if k == "reason" {
                reason = v;
            } else if let Some((_, values)) = matrix.iter().find(|(a, _)| *a == k) {
                if !values.contains(&v) {
                    self.err(path, format!("{k}: {v:?} is not a value of that axis"));
                }
                combination.insert(k, v);
            } else {
                self.err(path, format!("{k:?} is not an axis of this matrix"));
            }
        }
        if reason.trim().is_empty() {
            self.err(path, "a disabled combination needs a reason");
        }
        if combination.is_empty() {
            self.err(path, "a disabled entry names at least one axis value");
        }
        Disabled {
            combination,
            reason,
        }
    }

    /// The job, if its matrix expands to job ids that can be; else with
    /// its matrix taken out (too many combinations) or as it is, and the
    /// error reported.
    fn expandable(&mut self, def: JobDef) -> JobDef {
        let expands_to = def.combination_count();
        if expands_to > MAX_MATRIX_COMBINATIONS {
            self.err(
                &["jobs", &def.name, "matrix"],
                format!("it expands to {expands_to} job ids; at most {MAX_MATRIX_COMBINATIONS}"),
            );
            return JobDef {
                matrix: Vec::new(),
                ..def
            };
        }
        let invalid = def
            .combinations()
            .iter()
            .find_map(|combo| def.instance_id(combo).parse::<JobId>().err());
        if let Some(e) = invalid {
            self.err(&["jobs", &def.name], e.to_string());
        }
        def
    }
}
