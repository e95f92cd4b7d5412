//! A hash directory's `versions.csv`: one row per package of the repo.
//! The repo is consistent when every row's `Status` is `SUCCESS`.

/// The header DLRN writes.
pub const HEADER: [&str; 10] = [
    "Project",
    "Source Repo",
    "Source Sha",
    "Dist Repo",
    "Dist Sha",
    "Status",
    "Last Success Timestamp",
    "Component",
    "Extended Sha",
    "Pkg NVR",
];

/// One row, fields as written, in [`HEADER`] order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageRow(pub [String; 10]);

impl PackageRow {
    pub fn project(&self) -> &str {
        &self.0[0]
    }
    pub fn status(&self) -> &str {
        &self.0[5]
    }
}

/// Parses the file; the error says what is wrong, for a warning.
pub fn parse(text: &str) -> Result<Vec<PackageRow>, String> {
    let mut rows = Vec::new();
    let mut records = Records {
        rest: text,
        line: 0,
    };
    let header = records
        .next()
        .ok_or("it is empty")?
        .map_err(|e| format!("line 1: {e}"))?;
    let header: Vec<&str> = header.iter().map(|s| s.trim()).collect();
    // Older DLRN wrote fewer columns; require the ones we read.
    if header.len() < 6 || header[..6] != HEADER[..6] {
        return Err(format!(
            "line 1: the header is not DLRN's (expected {})",
            HEADER.join(",")
        ));
    }
    while let Some(rec) = records.next() {
        let line = records.line;
        let mut fields = rec.map_err(|e| format!("line {line}: {e}"))?;
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        if fields.len() != header.len() {
            return Err(format!(
                "line {line}: {} fields where the header has {}",
                fields.len(),
                header.len()
            ));
        }
        fields.resize(10, "None".to_string());
        let arr: [String; 10] = fields.try_into().expect("ten fields");
        rows.push(PackageRow(arr));
    }
    Ok(rows)
}

/// Whether every package of the repo built: DLRN's consistency.
pub fn is_consistent(rows: &[PackageRow]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.status() == "SUCCESS")
}

/// An RFC 4180 record reader (Python's csv module writes this).
struct Records<'a> {
    rest: &'a str,
    line: usize,
}

impl Iterator for Records<'_> {
    type Item = Result<Vec<String>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        self.line += 1;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut in_quotes = false;
        let mut at_start = true;
        while let Some((i, c)) = chars.next() {
            if in_quotes {
                if c == '"' {
                    if let Some(&(_, '"')) = chars.peek() {
                        field.push('"');
                        chars.next();
                    } else {
                        in_quotes = false;
                    }
                } else {
                    if c == '\n' {
                        self.line += 1;
                    }
                    field.push(c);
                }
                continue;
            }
            match c {
                '"' if at_start => {
                    in_quotes = true;
                    at_start = false;
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    at_start = true;
                }
                '\r' => {}
                '\n' => {
                    fields.push(field);
                    self.rest = &self.rest[i + 1..];
                    return Some(Ok(fields));
                }
                _ => {
                    field.push(c);
                    at_start = false;
                }
            }
        }
        if in_quotes {
            self.rest = "";
            return Some(Err("a quoted field is not closed".into()));
        }
        fields.push(field);
        self.rest = "";
        Some(Ok(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dlrn_versions_csv() {
        let rows = parse(include_str!("../../fixtures/dlrn/versions.csv")).unwrap();
        assert!(rows.len() > 5);
        assert_eq!(rows[0].project(), "openstack-ironic");
        assert!(rows.iter().all(|r| r.status() == "SUCCESS"));
    }

    #[test]
    fn consistency_needs_every_row_to_succeed() {
        let ok = "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Extended Sha,Pkg NVR\na,r,1,d,2,SUCCESS,1,None,None,a-1\n";
        let bad = format!("{ok}b,r,1,d,2,FAILED,1,None,None,b-1\n");
        assert!(is_consistent(&parse(ok).unwrap()));
        assert!(!is_consistent(&parse(&bad).unwrap()));
    }

    #[test]
    fn quoted_fields_and_garbage() {
        let q = "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Extended Sha,Pkg NVR\n\"a,b\",r,1,d,2,SUCCESS,1,None,None,\"x \"\"y\"\"\"\n";
        let rows = parse(q).unwrap();
        assert_eq!(rows[0].project(), "a,b");
        assert_eq!(rows[0].0[9], "x \"y\"");
        for bad in [
            "",
            "not,a,header\n",
            "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status\n\"open",
            "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status\na,b\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
