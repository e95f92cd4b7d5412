//! More tests of [`to_remove`], beside the table of cases in
//! `retention.rs`: edges of `keep`, history and labels that name builds
//! with no version on disk, names that are no version of any build, the
//! order of the result, and the rules checked over many generated cases.

use std::collections::HashSet;

use super::{to_remove, VersionName};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn set(v: &[&str]) -> HashSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn remove(
    versions: &[&str],
    current: Option<&str>,
    history: &[&str],
    protected: &[&str],
    keep: usize,
) -> Vec<String> {
    to_remove(
        &names(versions),
        current,
        &names(history),
        &set(protected),
        keep,
    )
}

#[test]
fn nothing_on_disk_removes_nothing() {
    assert!(remove(&[], None, &[], &[], 3).is_empty());
    assert!(remove(&[], Some("a"), &["b", "a"], &["c"], 1).is_empty());
}

#[test]
fn keep_zero_still_keeps_the_version_dest_shows() {
    assert_eq!(
        remove(&["a", "b", "c"], Some("c"), &["b", "a"], &[], 0),
        names(&["a", "b"])
    );
    // With nothing shown, keep 0 counts as 1: the newest published stays.
    assert_eq!(
        remove(&["a", "b"], None, &["b", "a"], &[], 0),
        names(&["a"])
    );
}

#[test]
fn a_keep_larger_than_the_history_removes_only_older_copies() {
    assert_eq!(
        remove(&["a", "a.2", "b", "c"], Some("c"), &["b", "a"], &[], 10),
        names(&["a"])
    );
}

#[test]
fn a_build_published_twice_in_a_row_is_counted_once() {
    // History c, b, b, a with keep 3: c, b and a are the three builds.
    assert!(remove(&["a", "b", "c"], Some("c"), &["b", "b", "a"], &[], 3).is_empty());
    // keep 2: c and b; a goes.
    assert_eq!(
        remove(&["a", "b", "c"], Some("c"), &["b", "b", "a"], &[], 2),
        names(&["a"])
    );
}

#[test]
fn builds_of_history_and_labels_with_no_version_on_disk_keep_nothing_else() {
    // b was published and removed long ago; x is labelled but was never
    // published here: neither keeps a version of another build, and b
    // still counts towards keep (it is one of the builds published).
    assert_eq!(
        remove(&["a", "c"], Some("c"), &["b", "a"], &["x"], 2),
        names(&["a"])
    );
}

#[test]
fn names_that_are_no_copy_of_a_build_are_removed_unless_kept() {
    // "a.1" and "a.x" are names of their own, not copies of a.
    assert_eq!(
        remove(&["a", "a.1", "a.x", "b"], Some("b"), &["a"], &[], 2),
        names(&["a.1", "a.x"])
    );
    // A protected name of its own is kept as any build is.
    assert_eq!(
        remove(&["a", "a.1", "b"], Some("b"), &[], &["a.1"], 1),
        names(&["a"])
    );
}

#[test]
fn when_dest_shows_a_later_copy_the_older_copies_of_that_build_go() {
    assert_eq!(
        remove(&["a", "a.2", "a.3", "b"], Some("a.3"), &["b"], &[], 2),
        names(&["a", "a.2"])
    );
}

#[test]
fn a_version_dest_shows_is_kept_even_when_the_directory_list_lacks_it() {
    // dest may name a version the listing missed; nothing of that build
    // is kept in its place.
    assert_eq!(
        remove(&["a", "b"], Some("c"), &["b", "a"], &[], 1),
        names(&["a", "b"])
    );
}

#[test]
fn the_result_is_sorted_whatever_the_order_of_the_listing() {
    assert_eq!(
        remove(&["e", "c", "a.2", "d", "a", "b"], Some("e"), &[], &[], 1),
        names(&["a", "a.2", "b", "c", "d"])
    );
}

/// splitmix64: reproducible cases without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn over_many_generated_cases_what_must_stay_stays_and_the_rest_goes() {
    let builds = ["a", "b", "c", "d", "e", "f"];
    let mut rng = Rng(0x5eed);
    for case in 0..2000 {
        let mut versions: Vec<String> = Vec::new();
        for b in builds {
            for copy in 1..=3 {
                if rng.below(3) == 0 {
                    versions.push(VersionName::format(b, copy));
                }
            }
        }
        let current = match rng.below(4) {
            0 => None,
            _ if versions.is_empty() => None,
            _ => Some(versions[rng.below(versions.len() as u64) as usize].clone()),
        };
        let history: Vec<String> = (0..rng.below(6))
            .map(|_| builds[rng.below(6) as usize].to_string())
            .collect();
        let protected: HashSet<String> = builds
            .iter()
            .filter(|_| rng.below(5) == 0)
            .map(|b| b.to_string())
            .collect();
        let keep = rng.below(5) as usize;
        let out = to_remove(&versions, current.as_deref(), &history, &protected, keep);
        let at = format!(
            "case {case}: versions {versions:?} current {current:?} history {history:?} protected {protected:?} keep {keep} -> {out:?}"
        );
        // Sorted, without duplicates, and only what is on disk.
        let mut sorted = out.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(out, sorted, "{at}");
        assert!(out.iter().all(|v| versions.contains(v)), "{at}");
        // What dest shows stays.
        if let Some(c) = &current {
            assert!(!out.contains(c), "{at}");
        }
        // Every build that must stay keeps the version it is served from:
        // dest's version for its build, else its highest copy on disk.
        let shown = current.as_deref().map(|c| VersionName::parse(c).full_hash);
        let mut kept_builds: Vec<&str> = shown.into_iter().collect();
        for h in &history {
            if kept_builds.len() >= keep.max(1) {
                break;
            }
            if !kept_builds.contains(&h.as_str()) {
                kept_builds.push(h);
            }
        }
        kept_builds.extend(protected.iter().map(String::as_str));
        let served = |b: &str| -> Option<String> {
            if shown == Some(b) {
                return current.clone();
            }
            versions
                .iter()
                .filter(|v| VersionName::parse(v).full_hash == b)
                .max_by_key(|v| VersionName::parse(v).copy)
                .cloned()
        };
        let must_stay: HashSet<String> = kept_builds.iter().filter_map(|b| served(b)).collect();
        for v in &must_stay {
            assert!(!out.contains(v), "{v} must stay: {at}");
        }
        // Everything else goes: one version per kept build, no more.
        let stays: HashSet<&String> = versions.iter().filter(|v| !out.contains(v)).collect();
        let expected: HashSet<&String> = must_stay.iter().chain(current.iter()).collect();
        assert_eq!(stays, expected, "{at}");
    }
}
