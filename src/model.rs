//! The model room, at the bottom of the house: the words of the domain
//! that several rooms share, each as one type with one spelling.

use serde::Serialize;

/// The status DLRN gives a build that built.
pub const SUCCESS: &str = "SUCCESS";

/// The bit of DLRN's `flags` that marks a build purged (its repo removed).
pub const PURGED_FLAG: i64 = 2;

/// The links the builder itself keeps, in the trunk and per component.
pub const CURRENT: &str = "current";
pub const CONSISTENT: &str = "consistent";

/// The `source` of a label row written by the builder, not by a promotion.
pub const BUILDER: &str = "builder";

/// The variable every process of a job inherits, naming its job run
/// (`<origin>:<id>`): what finds a job's processes after its runner died,
/// whatever their pids.
pub const JOB_MARKER_VAR: &str = "PROMOTER_JOB_RUN";

/// Where a candidate stands for a promotion, as `why`, `status`, the page
/// and the metrics say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The label points at it.
    Promoted,
    /// Every required job passed: the next run promotes it.
    Promotable,
    /// A required job has not passed.
    Blocked,
    /// It can never be promoted (failed, purged).
    Unpromotable,
    /// No candidate at all.
    NoCandidate,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Promoted => "promoted",
            Verdict::Promotable => "promotable",
            Verdict::Blocked => "blocked",
            Verdict::Unpromotable => "unpromotable",
            Verdict::NoCandidate => "no_candidate",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An enum stored in SQLite as text, with one spelling per value: `as_str`,
/// `parse`, `ToSql`, and a `FromSql` for which a value that is not one of
/// the spellings is an error, never a default (a wrong default could run a
/// promotion's hooks again).
#[macro_export]
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $spelling:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in the order declared.
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$( $name::$variant ),+];

            /// Its one spelling, as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $spelling ),+
                }
            }

            /// The value of a spelling; `None` for anything else.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $( $spelling => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                v: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let s = v.as_str()?;
                $name::parse(s).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!(concat!("unknown ", $what, " {:?}"), s).into(),
                    )
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::stored_enum! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Colour ("colour") { Red = "red", Blue = "blue" }
    }

    #[test]
    fn a_stored_enum_reads_back_its_spellings_and_refuses_any_other() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let read = |s: &str| c.query_row("SELECT ?1", [s], |r| r.get::<_, Colour>(0));
        assert_eq!(read("blue").unwrap(), Colour::Blue);
        let e = read("green").unwrap_err().to_string();
        assert!(e.contains("unknown colour \"green\""), "{e}");
        let back: String = c
            .query_row("SELECT ?1", [Colour::Red], |r| r.get(0))
            .unwrap();
        assert_eq!(back, "red");
    }
}
