//! The `publish` section: each target's source, dest, sidecars and how
//! many versions it keeps; and the dests that would collide, with each
//! other or with the trees the promoter only reads.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::validate::Reader;
use super::{is_remote_dest, PublishTarget, Sidecar, Source};

const PUBLISH_KEYS: &[&str] = &["source", "dest", "sidecars", "keep", "url"];

/// Where a target publishes, as compared with the others.
enum Dest<'t> {
    /// By its whole string.
    Remote(&'t str),
    /// Normalised and absolute, with the symlinks of its existing part
    /// resolved.
    Local(PathBuf),
}

impl Reader<'_> {
    pub(super) fn publish_targets(&mut self, v: &Value) -> Vec<PublishTarget> {
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
            out.push(self.target(name, body));
        }
        out
    }

    fn target(&mut self, name: String, body: &Mapping) -> PublishTarget {
        let key = |k: &'static str| ["publish", name.as_str(), k];
        self.check_keys(body, PUBLISH_KEYS, &["publish", &name]);
        let source = match body.get("source").and_then(Value::as_str) {
            Some("trunk") => Source::Trunk,
            Some("images") => Source::Images,
            Some("updates") => Source::Updates,
            _ => {
                self.err(&key("source"), "expected trunk, images or updates");
                Source::Trunk
            }
        };
        let dest = match body.get("dest") {
            Some(v) => self.string(v, &key("dest")).unwrap_or_default(),
            None => String::new(),
        };
        if dest.is_empty() {
            self.err(&key("dest"), "missing: where to publish");
        }
        let sidecars = match body.get("sidecars") {
            Some(v) => self.sidecars(v, &key("sidecars")),
            None => Vec::new(),
        };
        let keep = match body.get("keep") {
            Some(v) => self.count(v, &key("keep"), 1, 1000).unwrap_or(3),
            None => 3,
        };
        let url = body.get("url").and_then(|v| self.string(v, &key("url")));
        if let Some(u) = &url {
            let scheme = ["http://", "https://", "file://"]
                .iter()
                .any(|s| u.starts_with(s));
            if !scheme || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.err(
                    &key("url"),
                    format!("{u:?} is not a URL a repo file can point at (http://, https:// or file://, no spaces)"),
                );
            }
        } else if source == Source::Trunk {
            let w = self.error_at(
                &["publish", name.as_str(), "source"],
                "a trunk target without url: publishes delorean.repo as the builder wrote it, so its users download from the trunk, not from this tree; give the tree's public URL as url:",
            );
            self.warnings.push(w);
        }
        PublishTarget {
            name,
            source,
            dest,
            sidecars,
            keep,
            url: url.map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    fn sidecars(&mut self, v: &Value, path: &[&str]) -> Vec<Sidecar> {
        let mut sidecars = Vec::new();
        for s in self.string_list(v, path) {
            match s.as_str() {
                "md5" => sidecars.push(Sidecar::Md5),
                "sha256" => sidecars.push(Sidecar::Sha256),
                other => self.err(
                    path,
                    format!("unknown sidecar {other:?} (expected md5 or sha256)"),
                ),
            }
        }
        sidecars
    }

    /// Refuses dests that collide: two targets with one dest (or, local,
    /// one inside the other's published tree), and a local dest in the
    /// trunk or the image tree (a label there, a hash directory, anywhere
    /// the promoter only reads). Local paths are compared normalised and
    /// absolute, with the symlinks of their existing part resolved; remote
    /// dests by their whole string. Each error is the later target's.
    pub(super) fn check_dests(
        &mut self,
        targets: &[PublishTarget],
        base: &Path,
        trunk: Option<&Path>,
        images: Option<&Path>,
        labels: &[String],
    ) {
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
                if let Some(message) = collision(&dest, before, other) {
                    self.err(&key, message);
                }
            }
            if let Dest::Local(d) = &dest {
                for (root, tree) in &trees {
                    if let Ok(rel) = d.strip_prefix(root) {
                        self.err(&key, in_tree(d, root, rel, *tree, labels));
                    }
                }
            }
            seen.push((&t.name, dest));
        }
    }
}

/// Why `dest` cannot be published to when the target `other` publishes to
/// `before`, if it cannot.
fn collision(dest: &Dest, before: &Dest, other: &str) -> Option<String> {
    Some(match (dest, before) {
        (Dest::Remote(d), Dest::Remote(o)) if d == o => format!(
            "{d:?} is also the dest of publish target {other:?}: one would replace the other's tree"
        ),
        (Dest::Local(d), Dest::Local(o)) if d == o => format!(
            "{} is also the dest of publish target {other:?}: one would replace the other's tree",
            d.display()
        ),
        (Dest::Local(d), Dest::Local(o)) if d.starts_with(o) || o.starts_with(d) => format!(
            "{} {} the dest of publish target {other:?} ({}): one would write into the other's published tree",
            d.display(),
            if d.starts_with(o) { "is inside" } else { "holds" },
            o.display()
        ),
        _ => return None,
    })
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
