//! A hash directory's `commit.yaml`, in DLRN's format: `{commits: [row]}`,
//! every value a string, NULL written `None`, `dt_commit` possibly a float
//! string such as `'1616646661.0'`.

use serde::Deserialize;

use crate::ident::{CommitHash, DistroHash, ExtendedHash};

/// One build, as read from a `commit.yaml` row and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitRow {
    pub commit_hash: CommitHash,
    pub distro_hash: DistroHash,
    pub extended_hash: Option<ExtendedHash>,
    pub component: Option<String>,
    pub project_name: String,
    pub commit_branch: Option<String>,
    pub status: String,
    pub flags: i64,
    pub dt_commit: Option<i64>,
    pub dt_distro: Option<i64>,
    pub dt_extended: Option<i64>,
    pub dt_build: i64,
    pub notes: Option<String>,
    pub dlrn_id: Option<i64>,
}

/// A YAML scalar that DLRN may have written as a string or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(self) -> Option<String> {
        let s = match self {
            Scalar::Str(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        };
        if s == "None" || s.is_empty() {
            None
        } else {
            Some(s)
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawFile {
    commits: Vec<RawRow>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRow {
    commit_hash: Option<Scalar>,
    distro_hash: Option<Scalar>,
    extended_hash: Option<Scalar>,
    component: Option<Scalar>,
    project_name: Option<Scalar>,
    commit_branch: Option<Scalar>,
    status: Option<Scalar>,
    flags: Option<Scalar>,
    dt_commit: Option<Scalar>,
    dt_distro: Option<Scalar>,
    dt_extended: Option<Scalar>,
    dt_build: Option<Scalar>,
    notes: Option<Scalar>,
    id: Option<Scalar>,
}

fn text(v: Option<Scalar>) -> Option<String> {
    v.and_then(Scalar::text)
}

fn seconds(field: &str, v: Option<Scalar>) -> Result<Option<i64>, String> {
    let Some(s) = text(v) else { return Ok(None) };
    let f: f64 = s
        .parse()
        .map_err(|_| format!("{field} {s:?} is not a number of seconds"))?;
    if !f.is_finite() || f < 0.0 || f > crate::ident::MAX_TIMESTAMP as f64 {
        return Err(format!("{field} {s:?} is out of range"));
    }
    Ok(Some(f as i64))
}

/// Parses a `commit.yaml`; the error says what is wrong, for a warning.
pub fn parse(text_in: &str) -> Result<Vec<CommitRow>, String> {
    let raw = match fast_parse(text_in) {
        Some(rows) => RawFile { commits: rows },
        None => serde_yaml::from_str(text_in).map_err(|e| e.to_string())?,
    };
    if raw.commits.is_empty() {
        return Err("it lists no commits".into());
    }
    raw.commits.into_iter().map(row).collect()
}

/// Reads the exact shape DLRN writes (`commits:` then `- key: value` and
/// `  key: value` lines, plain or single-quoted scalars) without a YAML
/// parser; `None` for anything else, which the YAML parser then reads.
fn fast_parse(text: &str) -> Option<Vec<RawRow>> {
    let mut lines = text.lines().filter(|l| !l.is_empty());
    if lines.next()? != "commits:" {
        return None;
    }
    let mut rows: Vec<RawRow> = Vec::new();
    for line in lines {
        let body = if let Some(b) = line.strip_prefix("- ") {
            rows.push(RawRow::default());
            b
        } else {
            line.strip_prefix("  ")?
        };
        let (key, value) = body.split_once(':')?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return None;
        }
        let value = match value {
            "" => None,
            v => Some(scalar(v.strip_prefix(' ')?)?),
        };
        let row = rows.last_mut()?;
        let slot = match key {
            "commit_hash" => &mut row.commit_hash,
            "distro_hash" => &mut row.distro_hash,
            "extended_hash" => &mut row.extended_hash,
            "component" => &mut row.component,
            "project_name" => &mut row.project_name,
            "commit_branch" => &mut row.commit_branch,
            "status" => &mut row.status,
            "flags" => &mut row.flags,
            "dt_commit" => &mut row.dt_commit,
            "dt_distro" => &mut row.dt_distro,
            "dt_extended" => &mut row.dt_extended,
            "dt_build" => &mut row.dt_build,
            "notes" => &mut row.notes,
            "id" => &mut row.id,
            _ => continue,
        };
        if slot.is_some() {
            return None; // a duplicate key: let the YAML parser judge
        }
        *slot = value.map(Scalar::Str);
    }
    Some(rows)
}

/// A plain or single-quoted scalar on one line; `None` when it takes a
/// real YAML parser to read.
fn scalar(v: &str) -> Option<String> {
    if let Some(inner) = v.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'')?;
        if inner.replace("''", "").contains('\'') {
            return None;
        }
        return Some(inner.replace("''", "'"));
    }
    let special = v.starts_with(|c: char| "\"[]{}&*!|>%@`#,?-".contains(c) || c.is_whitespace());
    if v.is_empty() || special || v.contains(": ") || v.contains(" #") || v.ends_with(' ') {
        return None;
    }
    Some(v.to_string())
}

fn row(r: RawRow) -> Result<CommitRow, String> {
    let commit_hash: CommitHash = text(r.commit_hash)
        .ok_or("commit_hash is missing")?
        .parse()
        .map_err(|e: crate::ident::IdError| e.to_string())?;
    let distro_hash: DistroHash = text(r.distro_hash)
        .ok_or("distro_hash is missing")?
        .parse()
        .map_err(|e: crate::ident::IdError| e.to_string())?;
    let extended_hash = match text(r.extended_hash) {
        Some(s) => Some(
            s.parse::<ExtendedHash>()
                .map_err(|e: crate::ident::IdError| e.to_string())?,
        ),
        None => None,
    };
    let flags = match text(r.flags) {
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| format!("flags {s:?} is not a number"))?,
        None => 0,
    };
    let dt_build = seconds("dt_build", r.dt_build)?.ok_or("dt_build is missing")?;
    Ok(CommitRow {
        commit_hash,
        distro_hash,
        extended_hash,
        component: text(r.component),
        project_name: text(r.project_name).ok_or("project_name is missing")?,
        commit_branch: text(r.commit_branch),
        status: text(r.status).ok_or("status is missing")?,
        flags,
        dt_commit: seconds("dt_commit", r.dt_commit)?,
        dt_distro: seconds("dt_distro", r.dt_distro)?,
        dt_extended: seconds("dt_extended", r.dt_extended)?,
        dt_build,
        notes: text(r.notes),
        dlrn_id: text(r.id).and_then(|s| s.parse().ok()),
    })
}

impl CommitRow {
    /// DLRN's purged flag.
    pub fn purged(&self) -> bool {
        self.flags & crate::model::PURGED_FLAG != 0
    }

    /// The hash directory path DLRN gives this build, relative to the
    /// trunk root (DLRN's `getshardedcommitdir`).
    pub fn repo_dir(&self) -> String {
        super::hash_dir(
            self.commit_hash.as_str(),
            self.distro_hash.as_str(),
            self.extended_hash.as_ref().map(|e| e.as_str()),
            self.component.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERATED: &str = include_str!("../../fixtures/dlrn/generated-commit.yaml");

    #[test]
    fn parses_dlrn_generated_commit_yaml() {
        let rows = parse(GENERATED).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            r.commit_hash.as_str(),
            "ebfb108bf1a19d70aec6c52cdd1952c0e86593fa"
        );
        assert_eq!(r.component.as_deref(), Some("tripleo"));
        assert_eq!(r.extended_hash, None);
        assert_eq!(r.dt_build, 1578665875);
        assert_eq!(r.dlrn_id, Some(2));
        assert!(!r.purged());
        assert_eq!(
            r.repo_dir(),
            "component/tripleo/eb/fb/ebfb108bf1a19d70aec6c52cdd1952c0e86593fa_642db7af"
        );
    }

    #[test]
    fn float_dt_commit_and_purged_flag() {
        let y = "commits:\n- commit_hash: abc123\n  distro_hash: def4567890\n  dt_build: '1616646700'\n  dt_commit: '1616646661.0'\n  flags: '2'\n  project_name: p\n  status: SUCCESS\n  extended_hash: None\n";
        let r = &parse(y).unwrap()[0];
        assert_eq!(r.dt_commit, Some(1616646661));
        assert!(r.purged());
        assert_eq!(r.repo_dir(), "ab/c1/abc123_def45678");
    }

    #[test]
    fn the_fast_reader_agrees_with_the_yaml_parser() {
        let samples = [
            GENERATED.to_string(),
            "commits:\n- commit_hash: abc123\n  distro_hash: def4567890\n  dt_build: '1616646700'\n  dt_commit: '1616646661.0'\n  flags: '2'\n  project_name: p\n  status: SUCCESS\n  extended_hash:\n  notes: 'it''s fine'\n".to_string(),
        ];
        for text in samples {
            assert!(fast_parse(&text).is_some(), "{text}");
            let fast = parse(&text).unwrap();
            let raw: RawFile = serde_yaml::from_str(&text).unwrap();
            let slow: Vec<CommitRow> = raw.commits.into_iter().map(|r| row(r).unwrap()).collect();
            assert_eq!(fast, slow);
        }
        // Shapes it leaves to the YAML parser.
        for text in [
            "commits:\n- notes: \"a\n\n  b\"\n",
            "commits:\n- notes: a: b\n",
            "commits: []\n",
            "commits:\n- commit_hash: a\n  commit_hash: b\n",
        ] {
            assert!(fast_parse(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "commits: []",
            "commits: 3",
            "- a\n- b",
            "commits:\n- commit_hash: 'a/b'\n  distro_hash: x\n  dt_build: '1'\n  project_name: p\n  status: SUCCESS\n",
            "commits:\n- commit_hash: a\n  distro_hash: x\n  dt_build: '-5'\n  project_name: p\n  status: SUCCESS\n",
            "\u{0}\u{1}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
