//! Import: record new hash directories, aggregates and the builder's links.

use serde::Serialize;

use super::{Level, Sink};
use crate::error::{Error, Result};
use crate::trunk::import::{read_each, scan, Read};

#[derive(Debug, Serialize)]
pub struct Summary {
    hash_dirs: usize,
    new_builds: usize,
    new_aggregates: usize,
    consistent: usize,
    skipped: usize,
    incomplete: usize,
}

/// What `run` does first: a full import when the builder's links moved
/// since the last import (or point at builds not recorded), else nothing.
/// A new successful build moves `current`, a new consistent one
/// `consistent`, so an unchanged pair means no new candidate.
pub fn import_if_moved(
    out: &dyn Sink,
    store: &mut crate::store::Store,
    trunk: &std::path::Path,
) -> Result<Option<Summary>> {
    if links_unchanged(store, trunk)? {
        out.log(
            Level::Debug,
            "the builder's links have not moved: nothing new to import",
        );
        return Ok(None);
    }
    import(out, store, trunk).map(Some)
}

/// Whether the builder's links are where the last import recorded them,
/// each at a recorded build: then no import can find anything new.
pub fn links_unchanged(store: &crate::store::Store, trunk: &std::path::Path) -> Result<bool> {
    // A missing trunk has no links: a full import says so.
    let (links, _) = crate::trunk::import::builder_links(trunk);
    let recorded = store.labels()?;
    for l in &links {
        let seen = recorded.iter().find(|r| {
            r.name == l.name && r.component == l.component && r.source == crate::model::BUILDER
        });
        let same = match (seen.and_then(|r| r.build_id), &l.repo_dir) {
            (Some(id), Some(dir)) => store.build_by_id(id)?.is_some_and(|b| &b.repo_dir == dir),
            _ => false,
        };
        if !same {
            return Ok(false);
        }
    }
    Ok(!links.is_empty())
}

/// Imports the trunk into `store`, logging warnings; shared with `run`.
pub fn import(
    out: &dyn Sink,
    store: &mut crate::store::Store,
    trunk: &std::path::Path,
) -> Result<Summary> {
    if !trunk.is_dir() {
        return Err(Error::NotFound(format!(
            "trunk {} is not a directory",
            trunk.display()
        )));
    }
    let mut found = scan(trunk);
    // The walk's list becomes the list of what to read (one copy of the
    // trunk's names in memory, not two).
    let hash_dirs = found.hash_dirs.len();
    let mut todo = std::mem::take(&mut found.hash_dirs);
    if !todo.is_empty() {
        store.retain_unrecorded(&mut todo)?;
        todo.shrink_to_fit();
        // In the order of the builds' index on their hashes (DLRN shards
        // hash directories by commit hash): each new row lands next to
        // the last one, not on a page of its own.
        todo.sort_unstable();
    }
    let mut skipped = found.warnings.len();
    for w in &found.warnings {
        out.log(Level::Warn, w);
    }
    // Builds not settled yet: their package lists, read again.
    let mut rechecked = Vec::new();
    for (id, rel) in store.unsettled_builds()? {
        // An unreadable list counts as no package list (not consistent
        // unless the builder's link says so); a missing one is waited for.
        let packages = match crate::trunk::import::read_versions(&trunk.join(&rel)) {
            crate::trunk::import::Versions::Rows(packages) => packages,
            crate::trunk::import::Versions::Unreadable(_) => Vec::new(),
            crate::trunk::import::Versions::Incomplete(_) => continue,
        };
        rechecked.push(crate::store::builds::Recheck {
            build_id: id,
            packages,
        });
    }
    let mut incomplete = 0;
    let expected = todo.len();
    let (new_builds, consistent) = store.record_import(
        &found.links,
        &rechecked,
        crate::clock::now(),
        expected,
        |add| {
            // Moved in, so that the names are freed once they are read, before
            // the import settles and indexes what it wrote.
            let todo = todo;
            read_each(trunk, &todo, |r| match r {
                Read::Build(mut b) => {
                    if let Some(w) = b.warning.take() {
                        out.log(Level::Warn, &w);
                    }
                    add(*b)
                }
                Read::Incomplete(why) => {
                    incomplete += 1;
                    if let Some(why) = why {
                        out.log(Level::Info, &format!("not imported yet: {why}"));
                    }
                    Ok(())
                }
                Read::Skipped(w) => {
                    skipped += 1;
                    out.log(Level::Warn, &w);
                    Ok(())
                }
            })
        },
    )?;
    let aggregates = import_aggregates(out, store, trunk, &found.aggregate_dirs)?;
    if incomplete > 0 {
        out.log(
            Level::Info,
            &format!(
                "{incomplete} hash directories are not complete yet (no commit.yaml, or a successful build without its whole versions.csv); they will be read when they are"
            ),
        );
    }
    let level = if new_builds > 0 {
        Level::Info
    } else {
        Level::Debug
    };
    out.log(
        level,
        &format!(
            "imported {new_builds} new builds ({consistent} consistent){} from {} hash directories in {}",
            if aggregates > 0 {
                format!(" and {aggregates} aggregates")
            } else {
                String::new()
            },
            hash_dirs,
            trunk.display()
        ),
    );
    Ok(Summary {
        hash_dirs,
        new_builds,
        new_aggregates: aggregates,
        consistent,
        skipped,
        incomplete,
    })
}

/// Records the aggregate directories not recorded yet; each must name
/// recorded builds. Returns how many were added.
fn import_aggregates(
    out: &dyn Sink,
    store: &mut crate::store::Store,
    trunk: &std::path::Path,
    dirs: &[String],
) -> Result<usize> {
    if dirs.is_empty() {
        return Ok(0);
    }
    let known = store.known_aggregate_hashes()?;
    let mut new: Vec<crate::store::aggregates::NewAggregate> = Vec::new();
    // An aggregate that is under consistent/ is recorded there (it was
    // current too): consistent/ first.
    let mut dirs: Vec<&String> = dirs.iter().collect();
    dirs.sort_by_key(|d| !d.starts_with("consistent/"));
    for rel in dirs {
        let name = rel.rsplit('/').next().unwrap_or("");
        if known.contains(name) || new.iter().any(|a| a.agg_hash == name) {
            continue;
        }
        let agg = match crate::trunk::import::read_aggregate(trunk, rel) {
            Ok(a) => a,
            Err(w) => {
                out.log(Level::Warn, &w);
                continue;
            }
        };
        let mut ids = Vec::new();
        let mut created_at = 0;
        let mut missing = None;
        for d in &agg.hash_dirs {
            match store.build_by_repo_dir(d)? {
                Some(b) => {
                    created_at = created_at.max(b.dt_build);
                    ids.push(b.id);
                }
                None => {
                    missing = Some(d.clone());
                    break;
                }
            }
        }
        if let Some(d) = missing {
            out.log(
                Level::Warn,
                &format!(
                    "{}: skipped for now: it names {d}, which is not imported",
                    trunk.join(rel).display()
                ),
            );
            continue;
        }
        new.push(crate::store::aggregates::NewAggregate {
            agg_hash: agg.agg_hash,
            repo_dir: Some(agg.repo_dir),
            created_at,
            build_ids: ids,
        });
    }
    store.record_aggregates(&new)
}
