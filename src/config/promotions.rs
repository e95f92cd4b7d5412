//! The `promotions` section: each promotion's candidate label (provided by
//! the builder or by a promotion written before it), its jobs, criteria,
//! publish targets and hooks.

use std::collections::{BTreeMap, HashSet};

use serde_yaml::{Mapping, Value};

use super::validate::Reader;
use super::{JobDef, PromotionDef, PublishTarget};
use crate::ident::{JobId, Label, RESERVED_LABELS};

const PROMOTION_KEYS: &[&str] = &[
    "candidate_label",
    "jobs",
    "criteria",
    "alternative_criteria",
    "publish",
    "hooks",
    "images",
    "images_required",
    "containers",
];

/// What a promotion is checked against: the rest of the config, and the
/// promotions around it in the file.
struct Context<'a> {
    jobs: &'a [JobDef],
    targets: &'a [PublishTarget],
    /// The whole section, to follow candidates written later.
    section: &'a Mapping,
    /// Promotions written before this one, valid or not: a promotion with
    /// an error of its own is still "earlier" for those after it.
    before: &'a [String],
    /// Labels CI elsewhere moves (`external_labels`).
    external: &'a [Label],
}

impl Reader<'_> {
    pub(super) fn promotions(
        &mut self,
        v: &Value,
        jobs: &[JobDef],
        targets: &[PublishTarget],
        external: &[Label],
    ) -> Vec<PromotionDef> {
        let Some(section) = self.mapping(v, &["promotions"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut written_before: Vec<String> = Vec::new();
        for (k, body) in section {
            let Some(name) = self.string(k, &["promotions"]) else {
                continue;
            };
            let cx = Context {
                jobs,
                targets,
                section,
                before: &written_before,
                external,
            };
            let promotion = self.promotion(&name, body, &cx);
            out.extend(promotion);
            written_before.push(name);
        }
        out
    }

    /// One promotion, unless its name or body is not one or it has no
    /// valid candidate label; the rest of it is checked all the same.
    fn promotion(&mut self, name: &str, body: &Value, cx: &Context) -> Option<PromotionDef> {
        let p = ["promotions", name];
        let label = match Label::promotable(name) {
            Ok(l) => l,
            Err(e) => {
                let msg = if RESERVED_LABELS.contains(&name) {
                    format!("{name:?} is the builder's own link and cannot be a promotion")
                } else {
                    e.to_string()
                };
                self.err(&p, msg);
                return None;
            }
        };
        let Some(body) = self.mapping(body, &p) else {
            self.err(&p, "a promotion needs candidate_label and criteria");
            return None;
        };
        self.check_keys(body, PROMOTION_KEYS, &p);
        let candidate = self.candidate(name, body, cx);
        let jobs = self.names_in(body, name, "jobs", "job", |n| {
            cx.jobs.iter().any(|d| d.name == n)
        });
        let criteria = self.criteria(name, body);
        let alternative_criteria = match body.get("alternative_criteria") {
            Some(v) => self.alternative_criteria(name, v, &criteria),
            None => BTreeMap::new(),
        };
        let publish = self.names_in(body, name, "publish", "publish target", |n| {
            cx.targets.iter().any(|t| t.name == n)
        });
        let hooks = self.hooks(name, body.get("hooks"));
        let images = match body.get("images") {
            None => None,
            Some(v) => match self.string(v, &["promotions", name, "images"]).as_deref() {
                Some("required") => Some(super::Images::Required),
                Some("optional") => Some(super::Images::Optional),
                Some(other) => {
                    self.err(
                        &["promotions", name, "images"],
                        format!("{other:?}: expected required or optional"),
                    );
                    None
                }
                None => None,
            },
        };
        let images_required = match body.get("images_required") {
            Some(v) => self.file_names(v, &["promotions", name, "images_required"]),
            None => Vec::new(),
        };
        let containers = match body.get("containers") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(
                    &["promotions", name, "containers"],
                    "expected true or false",
                );
                false
            }
        };
        Some(PromotionDef {
            containers,
            name: label,
            candidate_label: candidate?,
            jobs,
            criteria,
            alternative_criteria,
            publish,
            hooks,
            images,
            images_required,
        })
    }

    /// A list of file names (an image directory's files): no `/`, no `..`.
    pub(super) fn file_names(&mut self, v: &Value, path: &[&str]) -> Vec<String> {
        let names = self.string_list(v, path);
        for n in &names {
            if n.is_empty()
                || n.contains('/')
                || n == "."
                || n == ".."
                || n.chars().any(char::is_control)
            {
                self.err(path, format!("{n:?} is not a file name"));
            }
        }
        names
    }

    /// The candidate label, which an earlier promotion or the builder
    /// provides.
    fn candidate(&mut self, name: &str, body: &Mapping, cx: &Context) -> Option<Label> {
        let path = ["promotions", name, "candidate_label"];
        let Some(v) = body.get("candidate_label") else {
            self.err(
                &path,
                "missing: the label whose builds this promotion considers",
            );
            return None;
        };
        let c = match Label::any(&self.string(v, &path)?) {
            Ok(l) => l,
            Err(e) => {
                self.err(&path, e.to_string());
                return None;
            }
        };
        let provided = c.is_builder_link()
            || cx.before.iter().any(|o| o == c.as_str())
            || cx.external.contains(&c);
        if c.as_str() == name {
            self.err(
                &path,
                "a promotion cannot take candidates from its own label (a cycle)",
            );
        } else if !provided {
            self.err(&path, unprovided(cx.section, &c, name));
        }
        Some(c)
    }

    /// The list of names under `key`, each of which must be defined in the
    /// top-level section of the same name (`defined` tells).
    fn names_in(
        &mut self,
        body: &Mapping,
        promotion: &str,
        key: &str,
        what: &str,
        defined: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let path = ["promotions", promotion, key];
        let names = body
            .get(key)
            .map(|v| self.string_list(v, &path))
            .unwrap_or_default();
        for n in &names {
            if !defined(n) {
                self.err(&path, format!("{what} {n:?} is not defined under {key}"));
            }
        }
        names
    }

    fn criteria(&mut self, name: &str, body: &Mapping) -> Vec<JobId> {
        let path = ["promotions", name, "criteria"];
        let criteria = match body.get("criteria") {
            Some(v) => self.job_ids(v, &path),
            None => Vec::new(),
        };
        if criteria.is_empty() {
            self.err(
                &path,
                "the criteria are empty: a promotion needs at least one required job, so that an untested build is never promoted",
            );
        }
        criteria
    }

    fn alternative_criteria(
        &mut self,
        name: &str,
        v: &Value,
        criteria: &[JobId],
    ) -> BTreeMap<JobId, Vec<JobId>> {
        let path = ["promotions", name, "alternative_criteria"];
        let mut out = BTreeMap::new();
        let Some(m) = self.mapping(v, &path) else {
            return out;
        };
        for (k, alternatives) in m {
            let Some(k) = self.string(k, &path) else {
                continue;
            };
            let key_path = ["promotions", name, "alternative_criteria", k.as_str()];
            let Ok(id) = k.parse::<JobId>() else {
                self.err(&key_path, "not a valid job id");
                continue;
            };
            if !criteria.contains(&id) {
                self.err(
                    &key_path,
                    format!("{k:?} is not one of this promotion's criteria"),
                );
            }
            let list = self.job_ids(alternatives, &key_path);
            out.insert(id, list);
        }
        out
    }

    fn hooks(&mut self, name: &str, v: Option<&Value>) -> Vec<Vec<String>> {
        let path = ["promotions", name, "hooks"];
        let items = match v {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(items)) => items,
            Some(_) => {
                self.err(&path, "expected a list of commands (each an argv list)");
                return Vec::new();
            }
        };
        let mut hooks = Vec::new();
        for item in items {
            let argv = self.argv(item, &path);
            if argv.is_empty() {
                self.err(&path, "a hook is a non-empty argv list");
            } else {
                hooks.push(argv);
            }
        }
        hooks
    }
}

/// Why no promotion before `name` provides its candidate label `c`.
fn unprovided(section: &Mapping, c: &Label, name: &str) -> String {
    if !section.contains_key(c.as_str()) {
        format!("no earlier promotion and no builder link provides \"{c}\" (the builder provides current and consistent); if CI elsewhere moves it with repo-promote, declare it: external_labels: [{c}]")
    } else if leads_back(section, c.as_str(), name) {
        format!("\"{c}\" takes its candidates, directly or not, from {name:?}: a cycle")
    } else {
        format!("\"{c}\" is promoted later in the file; promotions run in file order, so move it before {name:?}")
    }
}

/// Whether following candidate labels from the promotion `from` comes back
/// to `to`.
fn leads_back(section: &Mapping, from: &str, to: &str) -> bool {
    let mut seen = HashSet::new();
    let mut cur = from.to_string();
    while let Some(next) = section
        .get(cur.as_str())
        .and_then(|b| b.get("candidate_label"))
        .and_then(Value::as_str)
    {
        if next == to {
            return true;
        }
        if !seen.insert(next.to_string()) {
            return false;
        }
        cur = next.to_string();
    }
    false
}
