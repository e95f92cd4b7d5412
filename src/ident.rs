//! Identifiers that come from outside (hashes, job ids, label names,
//! timestamps), validated once at the edge so the rest of the code cannot
//! hold an invalid one.

use std::fmt;
use std::str::FromStr;

/// Why an identifier from outside was not accepted: malformed (exit 2), or
/// well-formed and refused (a reserved name, exit 4). Its own type, so that
/// this room at the bottom depends on nothing above it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(String),
}

type Error = IdError;

/// Longest hash, job id or name we accept, in bytes.
pub const MAX_LEN: usize = 255;

/// The longest label a promotion may write: `.previous-` and `.tmp-<pid>`
/// (ten digits at most) around it still fit in [`MAX_LEN`].
pub const MAX_LABEL_LEN: usize = MAX_LEN - ".previous-".len() - ".tmp-".len() - 10;

/// The link names the builder maintains; never promotion names.
pub const RESERVED_LABELS: [&str; 2] = [crate::model::CURRENT, crate::model::CONSISTENT];

/// Latest timestamp we accept: 9999-12-31T23:59:59Z.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;

fn check_hash(kind: &str, s: &str, allow_underscore: bool) -> Result<(), Error> {
    if s.is_empty() {
        return Err(Error::Invalid(format!("{kind} is empty")));
    }
    if s.len() > MAX_LEN {
        return Err(Error::Invalid(format!(
            "{kind} is {} bytes long, longer than {MAX_LEN}",
            s.len()
        )));
    }
    let ok = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || (allow_underscore && b == b'_'));
    if !ok {
        let allowed = if allow_underscore {
            "letters, digits and '_'"
        } else {
            "letters and digits"
        };
        return Err(Error::Invalid(format!(
            "{kind} {:?} is not valid: only {allowed} are allowed",
            s
        )));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                self.0.as_ref()
            }
        }
        impl AsRef<std::ffi::OsStr> for $name {
            fn as_ref(&self) -> &std::ffi::OsStr {
                self.0.as_ref()
            }
        }
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

/// Stored as text; a value read back that is not valid is an error, never
/// taken as it is.
macro_rules! sql_newtype {
    ($name:ident) => {
        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.0.as_str().into())
            }
        }
        impl rusqlite::types::FromSql for $name {
            fn column_result(
                v: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let s = v.as_str()?;
                s.parse()
                    .map_err(|e: Error| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A hash newtype whose `FromStr` checks the characters allowed.
macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident, $kind:literal, underscore: $underscore:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);
        string_newtype!($name);
        sql_newtype!($name);

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                check_hash($kind, s, $underscore)?;
                Ok($name(s.to_string()))
            }
        }
    };
}

hash_newtype!(
    /// A DLRN commit hash (the upstream commit): letters and digits.
    CommitHash, "commit hash", underscore: false
);
hash_newtype!(
    /// A DLRN distro hash (the packaging commit): letters and digits.
    DistroHash, "distro hash", underscore: false
);
hash_newtype!(
    /// A DLRN extended hash: letters, digits and `_` (two hashes joined).
    ExtendedHash, "extended hash", underscore: true
);
hash_newtype!(
    /// An aggregate hash: the md5 of a combined `delorean.repo`.
    AggHash, "aggregate hash", underscore: false
);

/// `<commit_hash>_<distro_hash[0:8]>`: DLRN's repo hash, the name of an
/// image directory and of a published version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FullHash(String);
string_newtype!(FullHash);
sql_newtype!(FullHash);

impl FullHash {
    pub fn of(commit: &str, distro: &str) -> FullHash {
        let cut = distro.len().min(8);
        FullHash(format!("{commit}_{}", &distro[..cut]))
    }
}

impl FromStr for FullHash {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Invalid(format!(
                "full hash {s:?} is not valid: expected <commit_hash>_<distro_hash[0:8]>"
            ))
        };
        let (commit, distro) = s.split_once('_').ok_or_else(bad)?;
        check_hash("commit hash", commit, false).map_err(|_| bad())?;
        check_hash("distro hash", distro, false).map_err(|_| bad())?;
        if distro.len() > 8 {
            return Err(bad());
        }
        Ok(FullHash(s.to_string()))
    }
}

/// A CI job id: 1 to 255 bytes, no `/`, `..` or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);
string_newtype!(JobId);

impl FromStr for JobId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        check_name("job id", s)?;
        Ok(JobId(s.to_string()))
    }
}

impl JobId {
    /// For ids built from already valid parts (matrix expansion).
    pub(crate) fn from_valid(s: String) -> JobId {
        debug_assert!(check_name("job id", &s).is_ok());
        JobId(s)
    }
}

fn check_name(kind: &str, s: &str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(Error::Invalid(format!("{kind} is empty")));
    }
    if s.len() > MAX_LEN {
        return Err(Error::Invalid(format!(
            "{kind} is {} bytes long, longer than {MAX_LEN}",
            s.len()
        )));
    }
    if s.contains('/') || s.contains("..") {
        return Err(Error::Invalid(format!(
            "{kind} {s:?} is not valid: it may not contain '/' or '..'"
        )));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(Error::Invalid(format!(
            "{kind} {s:?} is not valid: it contains a control character"
        )));
    }
    Ok(())
}

/// A label (promotion name): a link name in the trunk root. Reserved names
/// are refused with [`Error::Refused`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(String);
string_newtype!(Label);

impl Label {
    /// Parses a name that may also be one of the builder's own links, for
    /// reading (`--candidate-label consistent`).
    pub fn any(s: &str) -> Result<Label, Error> {
        check_name("label", s)?;
        if s.starts_with('.') || s.chars().any(char::is_whitespace) {
            return Err(Error::Invalid(format!(
                "label {s:?} is not valid: it may not start with '.' or contain spaces"
            )));
        }
        Ok(Label(s.to_string()))
    }

    /// Parses a name that promotions may write. The longest file name a
    /// label makes, the temporary link `.previous-<name>.tmp-<pid>` of a
    /// swap, must fit in a file name: a longer label is refused here, not
    /// at its second promotion.
    pub fn promotable(s: &str) -> Result<Label, Error> {
        let label = Label::any(s)?;
        if s.len() > MAX_LABEL_LEN {
            return Err(Error::Invalid(format!(
                "label {:?}… is {} bytes long, longer than {MAX_LABEL_LEN}: its links (`.previous-<label>.tmp-<pid>`) must fit in a {MAX_LEN}-byte file name",
                s.chars().take(20).collect::<String>(),
                s.len()
            )));
        }
        if RESERVED_LABELS.contains(&s) {
            return Err(Error::Refused(format!(
                "{s:?} is reserved: the builder maintains the 'current' and 'consistent' links"
            )));
        }
        if s.starts_with("previous-") {
            return Err(Error::Refused(format!(
                "{s:?} is reserved: 'previous-<name>' links are kept by promotions of <name>"
            )));
        }
        Ok(label)
    }

    pub fn is_builder_link(&self) -> bool {
        RESERVED_LABELS.contains(&self.0.as_str())
    }

    /// The name of the link that keeps where this label pointed before.
    pub fn previous(&self) -> String {
        format!("previous-{}", self.0)
    }
}

/// Parses a Unix timestamp in seconds, refusing negative or absurd ones.
pub fn parse_timestamp(s: &str) -> Result<i64, Error> {
    let t: f64 = s
        .trim()
        .parse()
        .map_err(|_| Error::Invalid(format!("timestamp {s:?} is not a number of seconds")))?;
    if !t.is_finite() || t < 0.0 || t > MAX_TIMESTAMP as f64 {
        return Err(Error::Invalid(format!(
            "timestamp {s:?} is out of range: expected seconds between 0 and {MAX_TIMESTAMP}"
        )));
    }
    Ok(t as i64)
}

/// Parses `true`/`false` the way DLRN's `strtobool` does.
pub fn parse_bool(s: &str) -> Result<bool, Error> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Ok(false),
        _ => Err(Error::Invalid(format!(
            "{s:?} is not a boolean: expected true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_accept_alphanumerics_only() {
        assert!("17234e9ab9dfab4cf5600f67f1d24db5064f1025"
            .parse::<CommitHash>()
            .is_ok());
        for bad in ["", "abc def", "abc/def", "abc;drop", "ab_c", "é"] {
            assert!(bad.parse::<CommitHash>().is_err(), "{bad:?}");
        }
        assert!("1234567890_1234567890".parse::<ExtendedHash>().is_ok());
        assert!("12345/7890".parse::<ExtendedHash>().is_err());
        assert!("a".repeat(256).parse::<DistroHash>().is_err());
    }

    #[test]
    fn job_ids_refuse_paths_and_control_characters() {
        assert!(
            "periodic-tripleo-ci-centos-9-ovb-3ctlr_1comp-featureset001-master"
                .parse::<JobId>()
                .is_ok()
        );
        for bad in ["", "a/b", "a..b", "a\nb", "a\u{7f}b"] {
            assert!(bad.parse::<JobId>().is_err(), "{bad:?}");
        }
        assert!("x".repeat(255).parse::<JobId>().is_ok());
        assert!("x".repeat(256).parse::<JobId>().is_err());
    }

    #[test]
    fn reserved_labels_are_refused_not_invalid() {
        assert!(matches!(
            Label::promotable("current"),
            Err(Error::Refused(_))
        ));
        assert!(matches!(
            Label::promotable("consistent"),
            Err(Error::Refused(_))
        ));
        assert!(matches!(Label::promotable("../x"), Err(Error::Invalid(_))));
        assert!(matches!(
            Label::promotable(".hidden"),
            Err(Error::Invalid(_))
        ));
        assert!(Label::promotable("current-tripleo").is_ok());
        assert!(Label::any("consistent").is_ok());
    }

    #[test]
    fn timestamps_are_bounded() {
        assert_eq!(parse_timestamp("1441635089").unwrap(), 1441635089);
        assert_eq!(parse_timestamp("1616646661.0").unwrap(), 1616646661);
        for bad in ["-1", "abc", "1e300", "NaN", "inf", "253402300800"] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn full_hash_is_commit_and_distro_prefix() {
        assert_eq!(
            FullHash::of("17234e9a", "024e24f0cf4366c2").as_str(),
            "17234e9a_024e24f0"
        );
        assert!("17234e9a_024e24f0".parse::<FullHash>().is_ok());
        assert!("17234e9a".parse::<FullHash>().is_err());
        assert!("17234e9a_024e24f0cf".parse::<FullHash>().is_err());
    }
}
