//! The DLRN trunk tree: hash-directory paths, `commit.yaml`,
//! `versions.csv`, `delorean.repo`, the import walk, and atomic link swaps.

use std::path::{Component, Path, PathBuf};

pub mod commit_yaml;
pub mod delorean_repo;
pub mod import;
pub mod links;
pub mod versions_csv;

/// DLRN's `getshardedcommitdir`: `[component/<c>/]<ch[0:2]>/<ch[2:4]>/<ch>_<dh[0:8]>[_<eh…>]`.
pub fn hash_dir(
    commit: &str,
    distro: &str,
    extended: Option<&str>,
    component: Option<&str>,
) -> String {
    let mut name = format!("{commit}_{}", prefix(distro, 8));
    if let Some(e) = extended.filter(|e| !e.is_empty()) {
        if e.len() < 49 {
            name.push('_');
            name.push_str(prefix(e, 8));
        } else {
            name.push('_');
            name.push_str(&e[..8]);
            name.push('_');
            name.push_str(&e[41..49]);
        }
    }
    let shard = format!(
        "{}/{}",
        prefix(commit, 2),
        commit.get(2..4.min(commit.len())).unwrap_or("")
    );
    match component {
        Some(c) => format!("component/{c}/{shard}/{name}"),
        None => format!("{shard}/{name}"),
    }
}

fn prefix(s: &str, n: usize) -> &str {
    &s[..n.min(s.len())]
}

/// Where a trunk keeps its labels. DLRN with `use_components` on keeps
/// each component's `current` and `consistent` (and every promoted label)
/// in `component/<c>/`, and an aggregate repo at the top; with it off,
/// every label is a link at the top of the trunk, also for builds that
/// carry a component (`<trunk>/<label>` → `component/<c>/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Every label at the top of the trunk.
    Flat,
    /// Labels per component, under `component/<c>/`.
    Components,
}

impl Layout {
    /// The layout the builder keeps: per component when any component
    /// directory holds a `current` or `consistent` link of its own.
    pub fn detect(trunk: &Path) -> Layout {
        let Ok(dirs) = std::fs::read_dir(trunk.join("component")) else {
            return Layout::Flat;
        };
        let per_component = dirs.flatten().any(|d| {
            [crate::model::CURRENT, crate::model::CONSISTENT]
                .iter()
                .any(|l| std::fs::symlink_metadata(d.path().join(l)).is_ok_and(|m| m.is_symlink()))
        });
        if per_component {
            Layout::Components
        } else {
            Layout::Flat
        }
    }

    /// The component whose directory holds a build's labels: its own in
    /// component mode, none (the top of the trunk) in a flat trunk.
    pub fn label_component(self, component: Option<&str>) -> Option<&str> {
        match self {
            Layout::Components => component,
            Layout::Flat => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Layout::Flat => "labels at the top of the trunk (DLRN without use_components)",
            Layout::Components => {
                "labels per component under component/<c>/ (DLRN with use_components)"
            }
        }
    }
}

/// The directory that holds the labels of a component (or of the whole
/// trunk), and the link target of a hash directory seen from there.
pub fn label_dir(root: &Path, component: Option<&str>) -> PathBuf {
    match component {
        Some(c) => root.join("component").join(c),
        None => root.to_path_buf(),
    }
}

/// The relative target a label link in [`label_dir`] gets for `repo_dir`.
pub fn label_target(repo_dir: &str, component: Option<&str>) -> String {
    match component {
        Some(c) => repo_dir
            .strip_prefix(&format!("component/{c}/"))
            .unwrap_or(repo_dir)
            .to_string(),
        None => repo_dir.to_string(),
    }
}

/// Resolves a link target read from `link_dir` (relative to `root`) to a
/// normalised path relative to `root`, or `None` when it leaves the root.
pub fn resolve_within(root: &Path, link_dir_rel: &Path, target: &Path) -> Option<PathBuf> {
    let joined = if target.is_absolute() {
        target.strip_prefix(root).ok()?.to_path_buf()
    } else {
        link_dir_rel.join(target)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Where the label `name` (of `component`, or of the whole trunk) points
/// on disk now, as a hash directory relative to the trunk root; `None`
/// when there is no link.
pub fn current_target(
    trunk: &Path,
    name: &str,
    component: Option<&str>,
) -> crate::error::Result<Option<String>> {
    use crate::error::{Error, IoContext};
    let dir = label_dir(trunk, component);
    let Some(target) = links::read(&dir, name).at("read link", &dir.join(name))? else {
        return Ok(None);
    };
    let dir_rel: PathBuf = match component {
        Some(c) => Path::new("component").join(c),
        None => PathBuf::new(),
    };
    let rel = resolve_within(trunk, &dir_rel, &target).ok_or_else(|| {
        Error::Failed(format!(
            "link {} points at {}, outside the trunk",
            dir.join(name).display(),
            target.display()
        ))
    })?;
    Ok(rel.to_str().map(String::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_dir_follows_dlrn() {
        assert_eq!(
            hash_dir(
                "17234e9ab9dfab4cf5600f67f1d24db5064f1025",
                "024e24f0cf4366c2290c22f24e42de714d1addd1",
                None,
                None
            ),
            "17/23/17234e9ab9dfab4cf5600f67f1d24db5064f1025_024e24f0"
        );
        assert_eq!(
            hash_dir("1c67b1ab", "8170b8686c38", Some("abcdef12345678"), None),
            "1c/67/1c67b1ab_8170b868_abcdef12"
        );
        let long = format!("{}_{}", "a".repeat(40), "b".repeat(40));
        assert_eq!(
            hash_dir("93eee776", "008678d7b0e2", Some(&long), Some("tripleo")),
            "component/tripleo/93/ee/93eee776_008678d7_aaaaaaaa_bbbbbbbb"
        );
    }

    #[test]
    fn resolve_within_refuses_escapes() {
        let root = Path::new("/srv/trunk");
        assert_eq!(
            resolve_within(root, Path::new(""), Path::new("17/23/x_y")),
            Some(PathBuf::from("17/23/x_y"))
        );
        assert_eq!(
            resolve_within(root, Path::new("component/c"), Path::new("../../17/23/x")),
            Some(PathBuf::from("17/23/x"))
        );
        assert_eq!(
            resolve_within(root, Path::new(""), Path::new("../etc")),
            None
        );
        assert_eq!(
            resolve_within(root, Path::new(""), Path::new("/etc/passwd")),
            None
        );
        assert_eq!(
            resolve_within(root, Path::new(""), Path::new("/srv/trunk/ab/cd/e")),
            Some(PathBuf::from("ab/cd/e"))
        );
    }
}
