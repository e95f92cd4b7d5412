//! `verify`: recompute every checksum of a published tree against its
//! `SHA256SUMS`, and list what is missing, extra or changed.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::apply::{hash_file, parse_manifest};
use super::MANIFEST;

/// What `verify` found.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub checked: usize,
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub changed: Vec<String>,
}

impl Report {
    pub fn clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }
}

/// Checks the tree at `dir` (a published version, or `dest` itself).
pub fn verify(dir: &Path, threads: usize) -> std::io::Result<Report> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot read {}: {e}", dir.join(MANIFEST).display()),
        )
    })?;
    let listed = parse_manifest(&text);
    let mut present = BTreeSet::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1) {
        let e = e.map_err(std::io::Error::other)?;
        if e.file_type().is_dir() {
            continue;
        }
        let rel = e.path().strip_prefix(dir).expect("under dir");
        present.insert(rel.to_string_lossy().into_owned());
    }
    present.remove(MANIFEST);
    let mut report = Report::default();
    let mut to_check: Vec<(&String, &String)> = Vec::new();
    for (rel, sum) in &listed {
        if present.contains(rel) {
            to_check.push((rel, sum));
        } else {
            report.missing.push(rel.clone());
        }
    }
    report.extra = present
        .iter()
        .filter(|p| !listed.contains_key(*p))
        .cloned()
        .collect();
    let next = AtomicUsize::new(0);
    let changed = Mutex::new(Vec::new());
    let failure: Mutex<Option<std::io::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, 16) {
            s.spawn(|| {
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((rel, sum)) = to_check.get(i) else {
                        break;
                    };
                    match hash_file(&dir.join(rel), false, &mut buf) {
                        Ok((got, _)) if &got == *sum => {}
                        Ok(_) => changed.lock().expect("lock").push((*rel).clone()),
                        Err(e) => {
                            failure.lock().expect("lock").get_or_insert(e);
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("lock") {
        return Err(e);
    }
    report.checked = to_check.len();
    report.changed = changed.into_inner().expect("lock");
    report.missing.sort();
    report.changed.sort();
    Ok(report)
}
