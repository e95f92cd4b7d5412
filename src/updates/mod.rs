//! Updates as rdopkg CI gated them: the update file (`builds:` of NVRs per
//! Release/Dist), the RPMs of each build read from their headers, RPM
//! version order, the pool of phase 2 (newest NVR of each package) and the
//! bisection that names the update breaking it. Pure, except for reading
//! RPM headers and making repos ([`repo`]).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Combination;
use crate::store::updates::Rpm;

pub mod metadata;
pub mod repo;
pub mod rpm;

/// Why `c` is disabled at `now` (the config's `disabled:`, or by hand),
/// with until when.
pub fn disabled(
    u: &crate::config::UpdatesDef,
    store: &crate::store::Store,
    c: &Combination,
    now: i64,
) -> crate::error::Result<Option<(String, Option<i64>)>> {
    if let Some(d) = u.disabled_reason(c, now) {
        return Ok(Some((d.reason.clone(), d.until)));
    }
    Ok(store
        .disabled_combinations(now)?
        .into_iter()
        .find(|d| d.release == c.release && d.dist == c.dist)
        .map(|d| (d.reason, d.expires_at)))
}

/// "disabled until 2015-02-03T00:00:00Z: f20 images broken".
pub fn describe_disabled(reason: &str, until: Option<i64>) -> String {
    match until {
        Some(t) => format!("disabled until {}: {reason}", crate::clock::iso(t)),
        None => format!("disabled: {reason}"),
    }
}

/// One build of an update file, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBuild {
    pub id: Nvr,
    pub combination: Combination,
    /// The directory of its RPMs (relative paths from the file's
    /// directory).
    pub source: PathBuf,
}

/// Why an update file cannot be taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("it has no builds: an update file is `builds: [{{id: NVR, repo: RELEASE, dist: DIST, source: DIR}}]`")]
    NoBuilds,
    #[error("build {0}: {1}")]
    Build(usize, String),
}

#[derive(serde::Deserialize)]
struct RawFile {
    builds: Option<Vec<serde_yaml::Value>>,
}

/// Reads an update file; `dir` anchors relative sources.
pub fn parse_file(text: &str, dir: &Path) -> Result<Vec<FileBuild>, FileError> {
    let raw: RawFile = serde_yaml::from_str(text).map_err(|e| FileError::Yaml(e.to_string()))?;
    let builds = raw.builds.unwrap_or_default();
    if builds.is_empty() {
        return Err(FileError::NoBuilds);
    }
    let mut out: Vec<FileBuild> = Vec::new();
    for (i, b) in builds.iter().enumerate() {
        let n = i + 1;
        let bad = |m: String| FileError::Build(n, m);
        let m = b
            .as_mapping()
            .ok_or_else(|| bad("expected {id, repo, dist, source}".into()))?;
        for k in m.keys() {
            let k = k.as_str().unwrap_or("?");
            if !["id", "repo", "dist", "source"].contains(&k) {
                return Err(bad(format!(
                    "unknown key {k:?} (expected id, repo, dist, source)"
                )));
            }
        }
        let field = |k: &str| -> Result<String, FileError> {
            match m.get(k) {
                Some(serde_yaml::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(serde_yaml::Value::Number(x)) => Ok(x.to_string()),
                _ => Err(bad(format!("{k} is missing or not a string"))),
            }
        };
        let id: Nvr = field("id")?.parse().map_err(bad)?;
        let combination = Combination {
            release: field("repo")?,
            dist: field("dist")?,
        };
        let source = dir.join(field("source")?);
        if out
            .iter()
            .any(|o| o.combination == combination && o.id.name == id.name)
        {
            return Err(bad(format!("{} is named twice for {combination}", id.name)));
        }
        out.push(FileBuild {
            id,
            combination,
            source,
        });
    }
    Ok(out)
}

/// A name-version-release, as rdopkg names a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nvr {
    pub name: String,
    pub version: String,
    pub release: String,
}

impl std::str::FromStr for Nvr {
    type Err = String;

    fn from_str(s: &str) -> Result<Nvr, String> {
        let bad = || format!("{s:?} is not a name-version-release");
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        {
            return Err(bad());
        }
        let (rest, release) = s.rsplit_once('-').ok_or_else(bad)?;
        let (name, version) = rest.rsplit_once('-').ok_or_else(bad)?;
        if name.is_empty() || version.is_empty() || release.is_empty() {
            return Err(bad());
        }
        Ok(Nvr {
            name: name.into(),
            version: version.into(),
            release: release.into(),
        })
    }
}

impl std::fmt::Display for Nvr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.name, self.version, self.release)
    }
}

/// RPM's order of two version (or release) strings: rpmvercmp, segment
/// by segment, numbers above letters, `~` before anything, `^` after the
/// end.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while !a.is_empty() && sep(a[0]) {
            a = &a[1..];
        }
        while !b.is_empty() && sep(b[0]) {
            b = &b[1..];
        }
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            _ => {}
        }
        let numeric = a[0].is_ascii_digit();
        let take = |s: &[u8]| {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (na, nb) = (take(a), take(b));
        if nb == 0 {
            // A number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[..na], &b[..nb]);
        let ord = if numeric {
            let ta = trim_zeros(sa);
            let tb = trim_zeros(sb);
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[na..];
        b = &b[nb..];
    }
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| **c == b'0').count();
    &s[n..]
}

/// RPM's order of two packages' epoch, version and release.
pub fn evr_cmp(a: &Rpm, b: &Rpm) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| vercmp(&a.version, &b.version))
        .then_with(|| vercmp(&a.release, &b.release))
}

/// The pool of one combination: of every package (name and arch) among
/// `rpms`, its newest build; on a tie, the later in the list.
pub fn newest(rpms: impl IntoIterator<Item = Rpm>) -> Vec<Rpm> {
    let mut best: BTreeMap<(String, String), Rpm> = BTreeMap::new();
    for r in rpms {
        let key = (r.name.clone(), r.arch.clone());
        match best.get(&key) {
            Some(b) if evr_cmp(b, &r) == Ordering::Greater => {}
            _ => {
                best.insert(key, r);
            }
        }
    }
    best.into_values().collect()
}

/// How the bisection of a failing pool goes on: the pool is `n` updates in
/// the order they passed phase 1, all of them together fail, and none
/// (production alone) is taken to pass. Each probe is a prefix length; the
/// answer is the first update whose addition makes the pool fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bisection {
    /// The longest prefix known to pass.
    good: usize,
    /// The shortest prefix known to fail.
    bad: usize,
}

impl Bisection {
    pub fn new(n: usize) -> Bisection {
        Bisection { good: 0, bad: n }
    }

    /// The prefix to probe next, or `None` once the breaking update is
    /// known.
    pub fn next(&self) -> Option<usize> {
        (self.bad - self.good > 1).then(|| self.good + (self.bad - self.good) / 2)
    }

    /// Records the result of probing `prefix`.
    pub fn record(&mut self, prefix: usize, passed: bool) {
        if passed {
            self.good = prefix;
        } else {
            self.bad = prefix;
        }
    }

    /// The index (0-based) of the breaking update, once known.
    pub fn culprit(&self) -> Option<usize> {
        self.next().is_none().then(|| self.bad - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_rpm_orders_them() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("2014.2.2", "2014.2.10", Less),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("a", "1", Less),
            ("010", "10", Equal),
            ("1.el7", "2.el7", Less),
            ("1_0", "1.0", Equal),
        ] {
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
            assert_eq!(vercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    fn rpm(name: &str, version: &str) -> Rpm {
        Rpm {
            name: name.into(),
            epoch: 0,
            version: version.into(),
            release: "1".into(),
            arch: "noarch".into(),
            path: format!("{name}-{version}"),
        }
    }

    #[test]
    fn the_pool_keeps_the_newest_build_of_each_package() {
        let pool = newest([
            rpm("a", "1.10"),
            rpm("b", "2"),
            rpm("a", "1.9"),
            rpm("b", "3"),
        ]);
        let got: Vec<&str> = pool.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(got, ["a-1.10", "b-3"]);
    }

    #[test]
    fn bisection_names_the_first_update_whose_addition_fails() {
        for n in 1..12 {
            for culprit in 0..n {
                let mut b = Bisection::new(n);
                let mut probes = 0;
                while let Some(k) = b.next() {
                    probes += 1;
                    b.record(k, k <= culprit);
                }
                assert_eq!(b.culprit(), Some(culprit), "{n} updates, culprit {culprit}");
                assert!(
                    probes <= (n as f64).log2().ceil() as usize,
                    "{probes} probes for {n}"
                );
            }
        }
    }

    #[test]
    fn an_update_file_names_its_builds() {
        let text = "builds:\n  - {id: openstack-nova-2014.2.2-1.el7, repo: juno, dist: epel-7, source: b/}\n";
        let b = parse_file(text, Path::new("/u")).unwrap();
        assert_eq!(b[0].id.name, "openstack-nova");
        assert_eq!(b[0].id.version, "2014.2.2");
        assert_eq!(b[0].id.release, "1.el7");
        assert_eq!(b[0].source, Path::new("/u/b/"));
        assert_eq!(
            parse_file("builds: []\n", Path::new("/")),
            Err(FileError::NoBuilds)
        );
        assert!(matches!(
            parse_file(
                "builds:\n  - {id: nova, repo: juno, dist: epel-7, source: b}\n",
                Path::new("/")
            ),
            Err(FileError::Build(1, _))
        ));
        assert!(matches!(
            parse_file("builds: [", Path::new("/")),
            Err(FileError::Yaml(_))
        ));
    }
}
