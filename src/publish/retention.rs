//! Retention: which published versions of a target to remove, as a pure
//! function of the version names, the build `dest` shows, the builds
//! published before it, the labelled builds and `keep`.
//!
//! A version is named `<full_hash>`, or `<full_hash>.N` (N ≥ 2) when the
//! build was published again after its files changed: every version
//! belongs to one build, and a build may have several. The newest version
//! of a build (the one `dest` shows, else the highest-numbered) is the one
//! the build is served from; an older one holds bytes the build no longer
//! has.

use std::collections::HashSet;

/// A version directory's name, read as the build it belongs to and which
/// copy of it it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionName<'a> {
    pub full_hash: &'a str,
    /// 1 for `<full_hash>`, N for `<full_hash>.N`.
    pub copy: u64,
}

impl<'a> VersionName<'a> {
    /// Reads a version directory name. A full hash holds no `.`, so a
    /// suffix `.N` with N ≥ 2 is a later copy; anything else is a name of
    /// its own.
    pub fn parse(name: &'a str) -> VersionName<'a> {
        if let Some((hash, n)) = name.rsplit_once('.') {
            if !hash.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(copy @ 2..) = n.parse::<u64>() {
                    return VersionName {
                        full_hash: hash,
                        copy,
                    };
                }
            }
        }
        VersionName {
            full_hash: name,
            copy: 1,
        }
    }

    /// The directory name of copy `copy` of `full_hash`.
    pub fn format(full_hash: &str, copy: u64) -> String {
        if copy <= 1 {
            full_hash.to_string()
        } else {
            format!("{full_hash}.{copy}")
        }
    }
}

/// The versions among `versions` to remove. Kept: the version `dest` shows
/// (`current`); the version each of these builds is served from: the
/// build `dest` shows, the builds of `history` (published before, newest
/// first, full hashes) until `keep` builds are counted, and every build in
/// `protected` (the builds labels and `previous-` labels point at). Every
/// other version is removed, older copies of a kept build included. The
/// result is sorted.
pub fn to_remove(
    versions: &[String],
    current: Option<&str>,
    history: &[String],
    protected: &HashSet<String>,
    keep: usize,
) -> Vec<String> {
    let current_build = current.map(|c| VersionName::parse(c).full_hash);
    let mut kept_builds: Vec<&str> = current_build.into_iter().collect();
    for h in history {
        if kept_builds.len() >= keep.max(1) {
            break;
        }
        if !kept_builds.contains(&h.as_str()) {
            kept_builds.push(h);
        }
    }
    let served_from = |build: &str| -> Option<&str> {
        if current_build == Some(build) {
            return current;
        }
        versions
            .iter()
            .map(|v| (v.as_str(), VersionName::parse(v)))
            .filter(|(_, n)| n.full_hash == build)
            .max_by_key(|(_, n)| n.copy)
            .map(|(v, _)| v)
    };
    let kept: HashSet<&str> = current
        .into_iter()
        .chain(kept_builds.iter().filter_map(|b| served_from(b)))
        .chain(protected.iter().filter_map(|b| served_from(b)))
        .collect();
    let mut out: Vec<String> = versions
        .iter()
        .filter(|v| !kept.contains(v.as_str()))
        .cloned()
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn set(v: &[&str]) -> HashSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn version_names_belong_to_their_build() {
        let p = VersionName::parse;
        assert_eq!(
            p("abc_def"),
            VersionName {
                full_hash: "abc_def",
                copy: 1
            }
        );
        assert_eq!(
            p("abc_def.2"),
            VersionName {
                full_hash: "abc_def",
                copy: 2
            }
        );
        assert_eq!(
            p("abc_def.12"),
            VersionName {
                full_hash: "abc_def",
                copy: 12
            }
        );
        // Not a copy number: a name of its own.
        assert_eq!(p("abc.1").full_hash, "abc.1");
        assert_eq!(p("abc.x2").full_hash, "abc.x2");
        assert_eq!(p("abc.").full_hash, "abc.");
        assert_eq!(p(".2").full_hash, ".2");
        assert_eq!(p("abc.99999999999999999999999").copy, 1);
        assert_eq!(VersionName::format("abc", 1), "abc");
        assert_eq!(VersionName::format("abc", 3), "abc.3");
    }

    #[test]
    fn keep_counts_builds_and_keeps_the_version_each_is_served_from() {
        // (versions, current, history, protected, keep, removed)
        #[allow(clippy::type_complexity)]
        let cases: &[(&[&str], Option<&str>, &[&str], &[&str], usize, &[&str])] = &[
            // Plain: keep 2 of three builds.
            (&["a", "b", "c"], Some("c"), &["b", "a"], &[], 2, &["a"]),
            // The current build is counted once, whatever history says.
            (
                &["a", "b", "c"],
                Some("c"),
                &["c", "b", "a"],
                &[],
                2,
                &["a"],
            ),
            // A labelled build stays, beyond keep.
            (&["a", "b", "c"], Some("c"), &["b", "a"], &["a"], 1, &["b"]),
            // A rebuilt A (a, a.2) then B, keep 3: a.2 holds A's bytes.
            (
                &["a", "a.2", "b"],
                Some("b"),
                &["a", "a"],
                &["a"],
                3,
                &["a"],
            ),
            // The same without a label: A is within keep, served from a.2.
            (&["a", "a.2", "b"], Some("b"), &["a", "a"], &[], 3, &["a"]),
            // Outside keep and labelled: still its newest copy only.
            (
                &["a", "a.2", "a.3", "b", "c"],
                Some("c"),
                &["b", "a"],
                &["a"],
                2,
                &["a", "a.2"],
            ),
            // A previous- label (in protected like any label) keeps it.
            (
                &["a.2", "b", "c"],
                Some("c"),
                &["b", "a"],
                &["a", "c"],
                1,
                &["b"],
            ),
            // dest shows an older copy (its bytes came back): that one is
            // what the build is served from.
            (&["a", "a.2"], Some("a"), &["a"], &["a"], 3, &["a.2"]),
            // Copies need not be consecutive.
            (&["a.3", "a.5", "b"], Some("b"), &["a"], &[], 2, &["a.3"]),
            // Nothing shown yet: history alone decides.
            (&["a", "b"], None, &["b", "a"], &[], 1, &["a"]),
        ];
        for (i, (versions, current, history, protected, keep, want)) in cases.iter().enumerate() {
            let got = to_remove(
                &names(versions),
                *current,
                &names(history),
                &set(protected),
                *keep,
            );
            assert_eq!(got, names(want), "case {i}");
        }
    }
}

#[cfg(test)]
#[path = "retention_tests.rs"]
mod more_tests;
