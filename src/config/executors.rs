//! The `executors` section: where jobs run. `local` (a supervised process
//! of this host) is the default and needs no entry; `kind: slurm` submits
//! a job to a Slurm cluster, with its partition and optional account, QoS
//! and extra `sbatch` arguments.

use serde_yaml::{Mapping, Value};

use super::validate::Reader;
use super::{ConfigError, ExecutorDef, ExecutorKind, SlurmDef};

const KINDS: &[&str] = &["local", "slurm"];
const LOCAL_KEYS: &[&str] = &["kind"];
const SLURM_KEYS: &[&str] = &["kind", "partition", "account", "qos", "sbatch_args"];

impl Reader<'_> {
    pub(super) fn executors(&mut self, v: &Value) -> Vec<ExecutorDef> {
        let Some(m) = self.mapping(v, &["executors"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, body) in m {
            let Some(name) = self.string(k, &["executors"]) else {
                continue;
            };
            if !self.name(&name, &["executors", name.as_str()], "executor name") {
                continue;
            }
            if name == "local" {
                self.err(
                    &["executors", "local"],
                    "local is the name of this host's executor; give this one another name",
                );
                continue;
            }
            if let Some(def) = self.executor(name, body) {
                out.push(def);
            }
        }
        out
    }

    fn executor(&mut self, name: String, body: &Value) -> Option<ExecutorDef> {
        let p = ["executors", name.as_str()];
        let Some(body) = self.mapping(body, &p) else {
            self.err(&p, "an executor needs at least its kind (local or slurm)");
            return None;
        };
        let kind_path = ["executors", name.as_str(), "kind"];
        let kind = match body.get("kind") {
            Some(v) => self.string(v, &kind_path)?,
            None => {
                self.err(&kind_path, "missing: local or slurm");
                return None;
            }
        };
        let kind = match kind.as_str() {
            "local" => {
                self.check_keys(body, LOCAL_KEYS, &p);
                ExecutorKind::Local
            }
            "slurm" => {
                self.check_keys(body, SLURM_KEYS, &p);
                ExecutorKind::Slurm(self.slurm(&name, body)?)
            }
            other => {
                self.err(
                    &kind_path,
                    format!(
                        "unknown kind {other:?} (expected one of: {})",
                        KINDS.join(", ")
                    ),
                );
                return None;
            }
        };
        Some(ExecutorDef { name, kind })
    }

    fn slurm(&mut self, name: &str, body: &Mapping) -> Option<SlurmDef> {
        let key = |k: &'static str| ["executors", name, k];
        let partition = match body.get("partition") {
            Some(v) => self.string(v, &key("partition")),
            None => {
                self.err(
                    &key("partition"),
                    "missing: the Slurm partition its jobs go to",
                );
                None
            }
        };
        let account = body
            .get("account")
            .and_then(|v| self.string(v, &key("account")));
        let qos = body.get("qos").and_then(|v| self.string(v, &key("qos")));
        let sbatch_args = match body.get("sbatch_args") {
            Some(v) => self.argv(v, &key("sbatch_args")),
            None => Vec::new(),
        };
        Some(SlurmDef {
            partition: partition?,
            account,
            qos,
            sbatch_args,
        })
    }

    /// What the host lacks for the executors: `sbatch` (and the rest of
    /// Slurm's commands) on the PATH for a Slurm executor. Not an error of
    /// the file, so other commands still read it; `config check` reports
    /// them, and a job submitted without them is an error run.
    pub(super) fn missing_tools(&self, executors: &[ExecutorDef]) -> Vec<ConfigError> {
        let mut out = Vec::new();
        for e in executors {
            if !matches!(e.kind, ExecutorKind::Slurm(_)) {
                continue;
            }
            for tool in ["sbatch", "squeue", "scontrol", "scancel"] {
                if crate::build_env::on_path(tool).is_none() {
                    out.push(self.error_at(
                        &["executors", e.name.as_str(), "kind"],
                        format!(
                            "kind slurm needs {tool} on the PATH, and it is not there (install Slurm's client commands, slurm-client on Debian)"
                        ),
                    ));
                    break;
                }
            }
        }
        out
    }
}
