//! `config import`: the old promoter's per-release config (the YAML of
//! ci-config's `dlrnapi_promoter`, or the older INI with `[promote_from]`)
//! turned into a `promoter.yaml`.
//!
//! What carries over: the release, the distro, `latest_hashes_count`, the
//! trunk's URL, and every promotion with its candidate label, criteria and
//! alternative criteria, written in dependency order. A candidate label
//! that no promotion here moves (RDO's `tripleo-ci-testing`, set by a Zuul
//! job) is declared in `external_labels`. Every key with no meaning here is
//! kept as a comment saying why; the container namespaces are kept as
//! comments for the `containers:` section.

use std::fmt::Write;

use serde_yaml::Value;

/// The old config, read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Old {
    pub format: Format,
    pub release: Option<String>,
    pub distro: Option<String>,
    pub trunk_url: Option<String>,
    pub latest_hashes_count: Option<u64>,
    /// In the order written.
    pub promotions: Vec<OldPromotion>,
    /// Container settings carried as comments: (key, value).
    pub containers: Vec<(String, String)>,
    /// Keys dropped: (key, value, why).
    pub dropped: Vec<(String, String, &'static str)>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    #[default]
    Yaml,
    Ini,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldPromotion {
    pub name: String,
    pub candidate_label: String,
    pub criteria: Vec<String>,
    /// Job → the jobs that may pass in its place, in the order written.
    pub alternatives: Vec<(String, Vec<String>)>,
}

/// Where the converted config puts the trees and the database.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub trunk: Option<String>,
    pub images: Option<String>,
    pub database: Option<String>,
}

/// Keys of the old YAML (and of the INI's `[main]`) that have no meaning
/// here, and why.
const DROPPED: &[(&str, &str)] = &[
    ("api_url", "there is no DLRN API to call: promoter keeps builds, votes and promotions in its own database, and CI reports with `promoter report-result`"),
    ("dlrn_api_host", "there is no DLRN API to call; see api_url"),
    ("dlrn_api_endpoint", "there is no DLRN API to call; see api_url"),
    ("dlrn_api_scheme", "there is no DLRN API to call; see api_url"),
    ("dlrn_api_port", "there is no DLRN API to call; see api_url"),
    ("username", "no API login: a vote or promotion is recorded with the caller's --username, DLRNAPI_USERNAME or login name"),
    ("dry_run", "a run without changes is `promoter run --dry-run`"),
    ("log_file", "promoter logs to stderr; the cron entry decides where it goes"),
    ("log_level", "the level is -v / -q on the command line"),
    ("allowed_clients", "promoter has no client modules to choose: links, images and publishing are its own steps"),
    ("create_previous", "previous-<label> links are always kept"),
    ("default_qcow_server", "images are promoted by linking in the image tree (images:)"),
    ("overcloud_images", "images are promoted by linking in the image tree (images:)"),
];

/// Keys of the old YAML carried into keys of another name.
const CARRIED: &[&str] = &["distro_name", "distro_version", "base_url", "repo_url"];

/// Keys of the old YAML about containers: kept as comments until the
/// `containers:` section takes them.
const CONTAINER_KEYS: &[&str] = &[
    "source_namespace",
    "target_namespace",
    "manifest_push",
    "ppc_manifests",
    "target_registries_push",
    "containers_list_base_url",
    "containers_list_path",
    "containers_list_exclude_config",
    "registries",
];

/// Reads an old config, YAML or INI (by its first meaningful line).
pub fn read(text: &str) -> Result<Old, String> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    match first {
        None => Err("the file is empty".into()),
        Some(l) if l.starts_with('[') => read_ini(text),
        Some(_) => read_yaml(text),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn shown(v: &Value) -> String {
    match scalar(v) {
        Some(s) => s,
        None => serde_yaml::to_string(v)
            .unwrap_or_default()
            .trim()
            .replace('\n', " "),
    }
}

fn read_yaml(text: &str) -> Result<Old, String> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let Value::Mapping(top) = doc else {
        return Err("expected a mapping of the old promoter's keys at the top".into());
    };
    let mut old = Old {
        format: Format::Yaml,
        ..Old::default()
    };
    let (mut distro_name, mut distro_version) = (None, None);
    for (k, v) in &top {
        let key = scalar(k).ok_or("a key that is not a string")?;
        match key.as_str() {
            "release" => old.release = scalar(v),
            "latest_hashes_count" => {
                old.latest_hashes_count = v.as_u64();
                if old.latest_hashes_count.is_none() {
                    return Err(format!("latest_hashes_count: {} is not a count", shown(v)));
                }
            }
            "promotions" => old.promotions = yaml_promotions(v)?,
            "distro_name" => distro_name = scalar(v),
            "distro_version" => distro_version = scalar(v),
            "base_url" | "repo_url" if old.trunk_url.is_none() => old.trunk_url = scalar(v),
            k if CONTAINER_KEYS.contains(&k) => old.containers.push((key.clone(), shown(v))),
            _ => {}
        }
        let kept = matches!(
            key.as_str(),
            "release" | "latest_hashes_count" | "promotions"
        ) || CARRIED.contains(&key.as_str())
            || CONTAINER_KEYS.contains(&key.as_str());
        if let Some((_, why)) = DROPPED.iter().find(|(d, _)| *d == key) {
            old.dropped.push((key.clone(), shown(v), why));
        } else if !kept {
            old.dropped.push((
                key.clone(),
                shown(v),
                "not a key of the old promoter that promoter knows",
            ));
        }
    }
    old.distro = match (distro_name, distro_version) {
        (Some(n), Some(v)) => Some(format!("{n}{v}")),
        (Some(n), None) => Some(n),
        _ => None,
    };
    if old.promotions.is_empty() {
        return Err("no promotions: the old config has no `promotions:` section".into());
    }
    Ok(old)
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| format!("{what}: expected job names")))
            .collect(),
        _ => Err(format!("{what}: expected a list of job names")),
    }
}

fn yaml_promotions(v: &Value) -> Result<Vec<OldPromotion>, String> {
    let Value::Mapping(m) = v else {
        return Err("promotions: expected a mapping of target labels".into());
    };
    let mut out = Vec::new();
    for (k, body) in m {
        let name = scalar(k).ok_or("promotions: a target that is not a string")?;
        let Value::Mapping(body) = body else {
            return Err(format!("promotions.{name}: expected a mapping"));
        };
        let candidate_label = body
            .get("candidate_label")
            .and_then(scalar)
            .ok_or_else(|| format!("promotions.{name}: no candidate_label"))?;
        let criteria = match body.get("criteria") {
            Some(c) => string_list(c, &format!("promotions.{name}.criteria"))?,
            None => Vec::new(),
        };
        let mut alternatives = Vec::new();
        if let Some(Value::Mapping(alt)) = body.get("alternative_criteria") {
            for (job, alts) in alt {
                let job = scalar(job).ok_or("alternative_criteria: a job that is not a string")?;
                let what = format!("promotions.{name}.alternative_criteria.{job}");
                alternatives.push((job, string_list(alts, &what)?));
            }
        }
        out.push(OldPromotion {
            name,
            candidate_label,
            criteria,
            alternatives,
        });
    }
    Ok(out)
}

/// The older INI: `[main]` (release, …), `[promote_from]` (target:
/// candidate), and one section per target whose lines are job names.
fn read_ini(text: &str) -> Result<Old, String> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            sections.push((name.trim().to_string(), Vec::new()));
            continue;
        }
        match sections.last_mut() {
            Some((_, lines)) => lines.push(l.to_string()),
            None => return Err(format!("line {}: a value before any [section]", n + 1)),
        }
    }
    let pairs = |lines: &[String]| -> Vec<(String, String)> {
        lines
            .iter()
            .map(|l| match l.find([':', '=']) {
                Some(i) => (l[..i].trim().to_string(), l[i + 1..].trim().to_string()),
                None => (l.clone(), String::new()),
            })
            .collect()
    };
    let section = |name: &str| sections.iter().find(|(n, _)| n == name).map(|(_, l)| l);
    let mut old = Old {
        format: Format::Ini,
        ..Old::default()
    };
    for (k, v) in pairs(section("main").map(Vec::as_slice).unwrap_or_default()) {
        match k.as_str() {
            "release" => old.release = Some(v),
            "latest_hashes_count" => {
                old.latest_hashes_count = Some(
                    v.parse()
                        .map_err(|_| format!("[main] latest_hashes_count: {v:?} is not a count"))?,
                )
            }
            _ => {
                let why = DROPPED
                    .iter()
                    .find(|(d, _)| *d == k)
                    .map(|(_, w)| *w)
                    .unwrap_or("not a key of the old promoter that promoter knows");
                old.dropped.push((k, v, why));
            }
        }
    }
    let from = section("promote_from").ok_or("no [promote_from] section: nothing to promote")?;
    for (target, candidate) in pairs(from) {
        let jobs = section(&target).ok_or_else(|| {
            format!("[promote_from] names {target}, but there is no [{target}] section of its jobs")
        })?;
        old.promotions.push(OldPromotion {
            name: target,
            candidate_label: candidate,
            criteria: jobs.clone(),
            alternatives: Vec::new(),
        });
    }
    for (name, _) in &sections {
        let known = name == "main"
            || name == "promote_from"
            || old.promotions.iter().any(|p| &p.name == name);
        if !known {
            old.dropped.push((
                format!("[{name}]"),
                String::new(),
                "a section [promote_from] does not name",
            ));
        }
    }
    Ok(old)
}

/// The promotions in an order where each comes after the one that moves
/// its candidate label (a stable order: as written, where it allows).
pub fn dependency_order(promotions: &[OldPromotion]) -> Result<Vec<&OldPromotion>, String> {
    let mut out: Vec<&OldPromotion> = Vec::new();
    let mut left: Vec<&OldPromotion> = promotions.iter().collect();
    while !left.is_empty() {
        let ready = left.iter().position(|p| {
            !left
                .iter()
                .any(|o| o.name == p.candidate_label && o.name != p.name)
        });
        match ready {
            Some(i) => out.push(left.remove(i)),
            None => {
                let names: Vec<&str> = left.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "the promotions {} take their candidates from each other: a cycle",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// A YAML scalar: plain when it reads back as the same string, else
/// double-quoted (JSON's quoting is YAML's).
fn q(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
        && !s.starts_with(['-', ':', '@', '.'])
        && !s.ends_with(':')
        && serde_yaml::from_str::<Value>(s).ok() == Some(Value::String(s.to_string()));
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// The `promoter.yaml` for `old`; `source` names the old file in the header.
pub fn render(old: &Old, source: &str, paths: &Paths) -> Result<String, String> {
    let release = old
        .release
        .as_deref()
        .ok_or("no release: the old config does not name its release")?;
    let ordered = dependency_order(&old.promotions)?;
    let promoted: Vec<&str> = old.promotions.iter().map(|p| p.name.as_str()).collect();
    let mut external: Vec<&str> = Vec::new();
    for p in &ordered {
        let c = p.candidate_label.as_str();
        let builder = c == crate::model::CURRENT || c == crate::model::CONSISTENT;
        if !builder && !promoted.contains(&c) && !external.contains(&c) {
            external.push(c);
        }
    }
    let kind = match old.format {
        Format::Yaml => "YAML",
        Format::Ini => "INI",
    };
    let mut o = String::new();
    let _ = writeln!(o, "# Converted by `promoter config import` from {source}");
    let _ = writeln!(
        o,
        "# (the old promoter's {kind} config). Check it with `promoter -c FILE config check`."
    );
    let _ = writeln!(o, "release: {}", q(release));
    if let Some(d) = &old.distro {
        let _ = writeln!(o, "distro: {}", q(d));
    }
    let database = paths
        .database
        .clone()
        .unwrap_or_else(|| format!("state/{release}.sqlite"));
    let _ = writeln!(o, "database: {}", q(&database));
    let path_line = |o: &mut String, key: &str, given: &Option<String>, what: &str| match given {
        Some(p) => {
            let _ = writeln!(o, "{key}: {}", q(p));
        }
        None => {
            let _ = writeln!(
                o,
                "{key}: {key}                      # {what}: set it (--{key} DIR)"
            );
        }
    };
    path_line(
        &mut o,
        "trunk",
        &paths.trunk,
        "the builder's repos directory",
    );
    path_line(&mut o, "images", &paths.images, "the image tree");
    if let Some(u) = &old.trunk_url {
        let _ = writeln!(o, "trunk_url: {}", q(u.trim_end_matches('/')));
    }
    if let Some(n) = old.latest_hashes_count {
        let _ = writeln!(o, "latest_hashes_count: {n}");
    }
    if !external.is_empty() {
        let _ = writeln!(
            o,
            "\n# Candidate labels no promotion here moves: CI elsewhere moves them"
        );
        let _ = writeln!(o, "# (with `promoter repo-promote`).");
        let list: Vec<String> = external.iter().map(|l| q(l)).collect();
        let _ = writeln!(o, "external_labels: [{}]", list.join(", "));
    }
    let _ = writeln!(o, "\npromotions:");
    for p in &ordered {
        render_promotion(&mut o, p);
    }
    if !old.containers.is_empty() {
        containers(&mut o, old);
    }
    if !old.dropped.is_empty() {
        let _ = writeln!(o, "\n# Not carried over, and why:");
        for (k, v, why) in &old.dropped {
            let shown = if v.is_empty() {
                String::new()
            } else {
                format!(": {v}")
            };
            let _ = writeln!(o, "#   {k}{shown}  -- {why}");
        }
    }
    Ok(o)
}

/// The old config's container settings as a `containers:` section to
/// finish: the namespaces carried, the registries and image list to set
/// (the old config named them elsewhere), commented out until then.
fn containers(o: &mut String, old: &Old) {
    let get = |k: &str| {
        old.containers
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let source = get("source_namespace").unwrap_or("NAMESPACE");
    let target = get("target_namespace").unwrap_or(source);
    let _ = writeln!(
        o,
        "\n# Containers, from the old config's namespaces: set the registries and the"
    );
    let _ = writeln!(
        o,
        "# image list, uncomment, and add `containers: true` to the promotions that move tags."
    );
    let _ = writeln!(o, "# containers:");
    let _ = writeln!(o, "#   registry: trunk.registry.rdoproject.org   # where CI pushed <namespace>/<image>:<full_hash>");
    let _ = writeln!(o, "#   namespace: {source}");
    let _ = writeln!(
        o,
        "#   images_from: containers-list               # a file in the build's image directory"
    );
    let _ = writeln!(o, "#   push:");
    let _ = writeln!(o, "#     - {{registry: quay.io, namespace: {target}}}");
    for (k, v) in &old.containers {
        if k != "source_namespace" && k != "target_namespace" {
            let _ = writeln!(o, "#   (old {k}: {v})");
        }
    }
}

fn render_promotion(o: &mut String, p: &OldPromotion) {
    let _ = writeln!(o, "  {}:", q(&p.name));
    let _ = writeln!(o, "    candidate_label: {}", q(&p.candidate_label));
    if p.criteria.is_empty() {
        // The old promoter promoted such a target on no evidence; here a
        // promotion needs criteria.
        let _ = writeln!(
            o,
            "    criteria: []                # the old config required no job: name at least one"
        );
    } else {
        let _ = writeln!(o, "    criteria:");
        for j in &p.criteria {
            let _ = writeln!(o, "      - {}", q(j));
        }
    }
    let alternatives: Vec<&(String, Vec<String>)> = p
        .alternatives
        .iter()
        .filter(|(_, alts)| !alts.is_empty())
        .collect();
    if !alternatives.is_empty() {
        let _ = writeln!(o, "    alternative_criteria:");
        for (job, alts) in alternatives {
            let _ = writeln!(o, "      {}:", q(job));
            for a in alts {
                let _ = writeln!(o, "        - {}", q(a));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promotion(name: &str, from: &str) -> OldPromotion {
        OldPromotion {
            name: name.into(),
            candidate_label: from.into(),
            criteria: vec!["j".into()],
            alternatives: Vec::new(),
        }
    }

    #[test]
    fn promotions_are_ordered_after_the_one_that_moves_their_candidate() {
        let ps = [
            promotion("c", "b"),
            promotion("b", "a"),
            promotion("a", "consistent"),
        ];
        let order: Vec<&str> = dependency_order(&ps)
            .unwrap()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
        let cycle = [promotion("x", "y"), promotion("y", "x")];
        assert!(dependency_order(&cycle).unwrap_err().contains("a cycle"));
    }

    #[test]
    fn a_scalar_is_quoted_only_when_plain_would_read_back_otherwise() {
        assert_eq!(
            q("periodic-tripleo-ci-centos-9-ovb-3ctlr_1comp-featureset001-master"),
            "periodic-tripleo-ci-centos-9-ovb-3ctlr_1comp-featureset001-master"
        );
        for s in [
            "true", "null", "123", "1e3", "a b", "-x", "x:", "", "yes: no", "#x",
        ] {
            let v: Value = serde_yaml::from_str(&q(s)).unwrap();
            assert_eq!(v, Value::String(s.to_string()), "{s:?} -> {}", q(s));
        }
    }

    #[test]
    fn an_ini_needs_the_section_of_every_target_it_promotes() {
        let e = read("[main]\nrelease: m\n[promote_from]\ncurrent-tripleo: tripleo-ci-testing\n")
            .unwrap_err();
        assert!(e.contains("no [current-tripleo] section"), "{e}");
        let old = read(
            "[main]\nrelease = m\nlog_file = x\n[promote_from]\nb = a\n[b]\njob-1\n# c\njob-2\n",
        )
        .unwrap();
        assert_eq!(old.promotions[0].criteria, ["job-1", "job-2"]);
        assert_eq!(old.promotions[0].candidate_label, "a");
        assert_eq!(old.dropped[0].0, "log_file");
    }

    #[test]
    fn what_is_not_a_config_is_refused_with_why() {
        assert!(read("").unwrap_err().contains("empty"));
        assert!(read("- a\n- b\n").unwrap_err().contains("mapping"));
        assert!(read("release: m\n").unwrap_err().contains("no promotions"));
        assert!(read("release: m\npromotions:\n  a: {}\n")
            .unwrap_err()
            .contains("candidate_label"));
    }
}
