//! The aggregate a batch writes: `<trunk>/<label>/<xx>/<yy>/<md5>/` with
//! `delorean.repo`, its `.md5` and `versions.csv`, and the links to them
//! under `<trunk>/<label>/`, named by the md5 of the repo file as DLRN
//! names it.

use std::path::Path;

use super::{AggregateSource, Trees};
use crate::error::{IoContext, Result};
use crate::ident::Label;
use crate::store::builds::Build;
use crate::trunk::{links, versions_csv};

/// A written aggregate.
pub(super) struct Written {
    pub hash: String,
    /// Its directory, relative to the trunk.
    pub repo_dir: String,
    /// The build time of its newest build.
    pub created_at: i64,
}

/// Writes the aggregate of `label` under `<trunk>/<label>/` and points
/// `<trunk>/<label>/delorean.repo` (and its `.md5`, `versions.csv`) at it.
/// Writing it again writes the same bytes: a resumed batch may.
pub(super) fn write(
    trees: &Trees,
    label: &Label,
    builds: &[Build],
    source: &AggregateSource,
) -> Result<Written> {
    let created_at = builds.iter().map(|b| b.dt_build).max().unwrap_or(0);
    let (repo, csv) = match source {
        AggregateSource::Existing(a) => {
            let dir = trees.trunk.join(a.repo_dir.as_deref().unwrap_or_default());
            let repo =
                std::fs::read(dir.join("delorean.repo")).at("read", &dir.join("delorean.repo"))?;
            let csv = std::fs::read(dir.join("versions.csv")).unwrap_or_default();
            (repo, csv)
        }
        AggregateSource::Compute => joined(trees, label)?,
    };
    let md5 = crate::hex::md5(&repo);
    let rel = format!("{label}/{}/{}/{md5}", &md5[..2], &md5[2..4]);
    let base = super::check::aggregate_base(trees, label.as_str())?;
    let dir = trees.trunk.join(&rel);
    std::fs::create_dir_all(&dir).at("create", &dir)?;
    for (name, bytes) in [
        ("delorean.repo", &repo[..]),
        ("delorean.repo.md5", md5.as_bytes()),
        ("versions.csv", &csv[..]),
    ] {
        crate::atomic::write(&dir.join(name), bytes)?;
    }
    let inner = format!("{}/{}/{md5}", &md5[..2], &md5[2..4]);
    for name in ["delorean.repo", "delorean.repo.md5", "versions.csv"] {
        links::swap(&base, name, &Path::new(&inner).join(name))
            .at("write link", &base.join(name))?;
    }
    Ok(Written {
        hash: md5,
        repo_dir: rel,
        created_at,
    })
}

/// Every component that has the label, sorted, joined as DLRN joins them:
/// the repo files one after the other, the package lists under one header.
fn joined(trees: &Trees, label: &Label) -> Result<(Vec<u8>, Vec<u8>)> {
    let root = trees.trunk.join("component");
    let mut components: Vec<String> = std::fs::read_dir(&root)
        .at("read", &root)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    components.sort();
    let mut repo = Vec::new();
    let mut packages = Vec::new();
    for c in components {
        let dir = root.join(&c).join(label.as_str());
        let Ok(text) = std::fs::read(dir.join("delorean.repo")) else {
            continue;
        };
        repo.extend_from_slice(&text);
        repo.push(b'\n');
        // A package list that does not parse adds nothing, as one that
        // cannot be read: the import warned about it.
        if let Some(rows) = std::fs::read_to_string(dir.join("versions.csv"))
            .ok()
            .and_then(|v| versions_csv::parse(&v).ok())
        {
            packages.extend(rows);
        }
    }
    Ok((repo, versions_csv::write(&packages)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trunk whose components `a` and `b` have `label`, each with its
    /// repo file and `versions.csv`.
    fn trunk(components: &[(&str, &str)]) -> (tempfile::TempDir, Trees) {
        let dir = tempfile::tempdir().unwrap();
        let trees = Trees {
            trunk: dir.path().join("trunk"),
            layout: crate::trunk::Layout::Components,
            images: dir.path().join("images"),
            remote_images: None,
        };
        for (name, csv) in components {
            let d = trees.trunk.join("component").join(name).join("label");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("delorean.repo"), format!("[{name}]\n")).unwrap();
            std::fs::write(d.join("versions.csv"), csv).unwrap();
        }
        (dir, trees)
    }

    #[test]
    fn the_joined_package_list_quotes_its_fields_and_fills_an_older_components_columns() {
        let header = versions_csv::HEADER.join(",");
        let (_dir, trees) = trunk(&[
            (
                "b",
                "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status\r\nold,r,1,d,2,SUCCESS\r\n",
            ),
            (
                "a",
                &format!("{header}\r\n\"x,y\",r,1,d,2,SUCCESS,1,a,None,\"x \"\"1\"\"\"\r\n"),
            ),
        ]);
        let (repo, csv) = joined(&trees, &Label::any("label").unwrap()).unwrap();
        assert_eq!(repo, b"[a]\n\n[b]\n\n");
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            format!(
                "{header}\n\"x,y\",r,1,d,2,SUCCESS,1,a,None,\"x \"\"1\"\"\"\nold,r,1,d,2,SUCCESS,None,None,None,None\n"
            )
        );
    }
}
