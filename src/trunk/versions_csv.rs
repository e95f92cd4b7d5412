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

/// One row, fields as written, in [`HEADER`] order. The fields live in one
/// string (one allocation per row: a trunk has millions of rows).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageRow {
    text: String,
    ends: [u32; 10],
}

impl PackageRow {
    /// Field `i` (0-based, in [`HEADER`] order).
    pub fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
    pub fn project(&self) -> &str {
        self.field(0)
    }
    pub fn status(&self) -> &str {
        self.field(5)
    }
}

/// Parses the file; the error says what is wrong, for a warning.
pub fn parse(text: &str) -> Result<Vec<PackageRow>, String> {
    if text.len() > u32::MAX as usize {
        return Err("it is larger than 4 GiB".into());
    }
    let mut records = Records {
        rest: text,
        line: 0,
    };
    let mut buf = String::new();
    let mut ends = Vec::with_capacity(10);
    match records.next_into(&mut buf, &mut ends) {
        None => return Err("it is empty".into()),
        Some(Err(e)) => return Err(format!("line 1: {e}")),
        Some(Ok(())) => {}
    }
    let header: Vec<&str> = split(&buf, &ends).map(str::trim).collect();
    // Older DLRN wrote fewer columns; require the ones we read.
    if header.len() < 6 || header[..6] != HEADER[..6] {
        return Err(format!(
            "line 1: the header is not DLRN's (expected {})",
            HEADER.join(",")
        ));
    }
    let width = header.len();
    let mut rows = Vec::new();
    loop {
        buf.clear();
        ends.clear();
        let line = records.line + 1;
        match records.next_into(&mut buf, &mut ends) {
            None => break,
            Some(Err(e)) => return Err(format!("line {line}: {e}")),
            Some(Ok(())) => {}
        }
        if ends.len() == 1 && buf.is_empty() {
            continue;
        }
        if ends.len() != width {
            return Err(format!(
                "line {line}: {} fields where the header has {width}",
                ends.len()
            ));
        }
        let mut text = buf.clone();
        let mut fixed = [0u32; 10];
        for (i, slot) in fixed.iter_mut().enumerate() {
            *slot = match ends.get(i) {
                Some(e) => *e,
                None => {
                    text.push_str("None");
                    text.len() as u32
                }
            };
        }
        rows.push(PackageRow { text, ends: fixed });
    }
    Ok(rows)
}

fn split<'a>(buf: &'a str, ends: &'a [u32]) -> impl Iterator<Item = &'a str> {
    ends.iter().enumerate().map(move |(i, &e)| {
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        &buf[start..e as usize]
    })
}

/// Whether every package of the repo built: DLRN's consistency.
pub fn is_consistent(rows: &[PackageRow]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.status() == crate::model::SUCCESS)
}

/// An RFC 4180 record reader (Python's csv module writes this).
struct Records<'a> {
    rest: &'a str,
    line: usize,
}

impl Records<'_> {
    /// Reads the next record's fields into `buf`, one after the other,
    /// recording where each ends.
    fn next_into(&mut self, buf: &mut String, ends: &mut Vec<u32>) -> Option<Result<(), String>> {
        if self.rest.is_empty() {
            return None;
        }
        self.line += 1;
        // The common case, a line without quotes: split it on commas.
        let line_end = self.rest.find('\n').unwrap_or(self.rest.len());
        let line = &self.rest[..line_end];
        if !line.contains('"') {
            for field in line.trim_end_matches('\r').split(',') {
                buf.push_str(field);
                ends.push(buf.len() as u32);
            }
            self.rest = self.rest.get(line_end + 1..).unwrap_or("");
            return Some(Ok(()));
        }
        let mut chars = self.rest.char_indices().peekable();
        let mut in_quotes = false;
        let mut at_start = true;
        while let Some((i, c)) = chars.next() {
            if in_quotes {
                if c == '"' {
                    if let Some(&(_, '"')) = chars.peek() {
                        buf.push('"');
                        chars.next();
                    } else {
                        in_quotes = false;
                    }
                } else {
                    if c == '\n' {
                        self.line += 1;
                    }
                    buf.push(c);
                }
                continue;
            }
            match c {
                '"' if at_start => {
                    in_quotes = true;
                    at_start = false;
                }
                ',' => {
                    ends.push(buf.len() as u32);
                    at_start = true;
                }
                '\r' => {}
                '\n' => {
                    ends.push(buf.len() as u32);
                    self.rest = &self.rest[i + 1..];
                    return Some(Ok(()));
                }
                _ => {
                    buf.push(c);
                    at_start = false;
                }
            }
        }
        self.rest = "";
        if in_quotes {
            return Some(Err("a quoted field is not closed".into()));
        }
        ends.push(buf.len() as u32);
        Some(Ok(()))
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
        assert_eq!(rows[0].field(9), "x \"y\"");
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
