//! The aggregate a batch writes: `<trunk>/<label>/<xx>/<yy>/<md5>/` with
//! `delorean.repo`, its `.md5` and `versions.csv`, and the links to them
//! under `<trunk>/<label>/`, named by the md5 of the repo file as DLRN
//! names it.

use std::path::Path;

use super::{AggregateSource, Trees};
use crate::error::{IoContext, Result};
use crate::ident::Label;
use crate::store::builds::Build;
use crate::trunk::links;

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
    let mut csv = crate::trunk::versions_csv::HEADER.join(",").into_bytes();
    csv.push(b'\n');
    for c in components {
        let dir = root.join(&c).join(label.as_str());
        let Ok(text) = std::fs::read(dir.join("delorean.repo")) else {
            continue;
        };
        repo.extend_from_slice(&text);
        repo.push(b'\n');
        if let Ok(v) = std::fs::read_to_string(dir.join("versions.csv")) {
            for line in v.lines().skip(1) {
                csv.extend_from_slice(line.as_bytes());
                csv.push(b'\n');
            }
        }
    }
    Ok((repo, csv))
}
