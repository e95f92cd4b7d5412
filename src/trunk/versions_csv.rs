//! A hash directory's `versions.csv`: one row per package of the repo.
//! The repo is consistent when every row's `Status` is `SUCCESS`.

use std::cell::RefCell;
use std::io::{Cursor, SeekFrom};

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

    /// The row of `record`, its fields copied in one allocation; the
    /// columns an older header lacks read `None`, as DLRN writes them.
    fn new(record: &csv::StringRecord) -> PackageRow {
        const MISSING: &str = "None";
        let missing = HEADER.len().saturating_sub(record.len());
        let mut text = String::with_capacity(record.as_slice().len() + missing * MISSING.len());
        text.push_str(record.as_slice());
        let mut ends = [0u32; 10];
        let mut fields = record.iter();
        let mut end = 0;
        for slot in &mut ends {
            match fields.next() {
                Some(field) => end += field.len(),
                None => {
                    text.push_str(MISSING);
                    end = text.len();
                }
            }
            *slot = end as u32;
        }
        PackageRow { text, ends }
    }
}

/// Parses the file; the error says what is wrong, for a warning.
pub fn parse(text: &str) -> Result<Vec<PackageRow>, String> {
    if text.len() > u32::MAX as usize {
        return Err("it is larger than 4 GiB".into());
    }
    READER.with_borrow_mut(|reader| {
        let rows = Records::new(reader, text).and_then(|mut records| read_rows(&mut records));
        // Keep a buffer for the next file, not one the size of the largest.
        let input = reader.get_mut().get_mut();
        input.clear();
        input.shrink_to(KEEP);
        rows
    })
}

/// The rows of the file `records` reads, under its header.
fn read_rows(records: &mut Records) -> Result<Vec<PackageRow>, String> {
    let mut record = csv::StringRecord::new();
    if !records.next(&mut record)? {
        return Err("it is empty".into());
    }
    let header: Vec<&str> = record.iter().map(str::trim).collect();
    // Older DLRN wrote fewer columns; require the ones we read.
    if header.len() < 6 || header[..6] != HEADER[..6] {
        return Err(format!(
            "line 1: the header is not DLRN's (expected {})",
            HEADER.join(",")
        ));
    }
    let width = header.len();
    let mut rows = Vec::new();
    while records.next(&mut record)? {
        if record.len() != width {
            return Err(format!(
                "line {}: {} fields where the header has {width}",
                records.line_of(&record),
                record.len()
            ));
        }
        rows.push(PackageRow::new(&record));
    }
    Ok(rows)
}

/// The file of `rows` under [`HEADER`], its lines ended with `\n` as DLRN
/// ends them; a field holding a comma, a quote or a line end is quoted, its
/// quotes doubled, as Python's csv module (DLRN's reader) expects.
pub fn write<'a>(rows: impl IntoIterator<Item = &'a PackageRow>) -> Vec<u8> {
    fn write_all<'a>(rows: impl IntoIterator<Item = &'a PackageRow>) -> csv::Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(HEADER)?;
        for row in rows {
            writer.write_record((0..HEADER.len()).map(|i| row.field(i)))?;
        }
        writer.into_inner().map_err(|e| e.into_error().into())
    }
    write_all(rows).expect("writing to memory cannot fail")
}

/// Whether every package of the repo built: DLRN's consistency.
pub fn is_consistent(rows: &[PackageRow]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.status() == crate::model::SUCCESS)
}

/// A record the reader is given after the file's end. csv closes a quoted
/// field left open at the end of its input, silently; with this record
/// after the file, an open quote swallows it, so the record that reaches
/// the end of the input is this one when every quote was closed, and a
/// record of the file when one was not.
const END: &[u8] = b"\n-\n";

/// csv's reader of a `versions.csv` (it takes the `\r\n` and the quoting
/// of Python's csv module, and skips blank lines), given each file in turn.
type Reader = csv::Reader<Cursor<Vec<u8>>>;

thread_local! {
    /// One reader per thread: building one builds csv's DFA, which takes
    /// longer than reading a whole versions.csv of DLRN's, and an import
    /// reads tens of thousands of them.
    static READER: RefCell<Reader> = RefCell::new(
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(Cursor::new(Vec::new())),
    );
}

/// The largest input buffer a reader keeps between two files.
const KEEP: usize = 1 << 20;

/// The records of one file, blank lines skipped.
struct Records<'a> {
    text: &'a str,
    reader: &'a mut Reader,
}

impl<'a> Records<'a> {
    /// Gives `reader` the file `text`, then [`END`], from the start.
    fn new(reader: &'a mut Reader, text: &'a str) -> Result<Records<'a>, String> {
        let input = reader.get_mut().get_mut();
        input.clear();
        input.extend_from_slice(text.as_bytes());
        input.extend_from_slice(END);
        // Back to the first byte and line, out of the last file's end.
        reader
            .seek_raw(SeekFrom::Start(0), csv::Position::new())
            .map_err(|e| e.to_string())?;
        Ok(Records { text, reader })
    }

    /// Reads the next record into `record`; `false` at the end of the file.
    fn next(&mut self, record: &mut csv::StringRecord) -> Result<bool, String> {
        // Cannot fail: the input is in memory and valid UTF-8.
        let read = self.reader.read_record(record).map_err(|e| e.to_string())?;
        let at_end = self.reader.position().byte() == (self.text.len() + END.len()) as u64;
        match (read, at_end) {
            (false, _) => Ok(false),
            (true, false) => Ok(true),
            (true, true) if record.len() == 1 && &record[0] == "-" => Ok(false),
            (true, true) => Err(format!(
                "line {}: a quoted field is not closed",
                self.line_of(record)
            )),
        }
    }

    /// The line `record` starts on, 1-based. csv's own count lags behind
    /// the blank lines and the `\n` of a `\r\n` before a record.
    fn line_of(&self, record: &csv::StringRecord) -> usize {
        let bytes = self.text.as_bytes();
        let after = record
            .position()
            .map_or(0, |p| p.byte() as usize)
            .min(bytes.len());
        let start = after
            + bytes[after..]
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
        1 + bytes[..start].iter().filter(|&&b| b == b'\n').count()
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

    const H: &str = "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Extended Sha,Pkg NVR";

    fn fields(row: &PackageRow) -> Vec<&str> {
        (0..HEADER.len()).map(|i| row.field(i)).collect()
    }

    #[test]
    fn a_comma_a_quote_and_a_line_end_in_a_field_round_trip_quoted_as_python_quotes_them() {
        let text = format!(
            "{H}\n\"a,b\",r,1,d,2,SUCCESS,1,None,None,\"x \"\"y\"\"\"\nc,\"two\nlines\",3,d,4,FAILED,2,None,None,c-1\n"
        );
        let rows = parse(&text).unwrap();
        assert_eq!(fields(&rows[0])[0], "a,b");
        assert_eq!(fields(&rows[0])[9], "x \"y\"");
        assert_eq!(fields(&rows[1])[1], "two\nlines");
        let written = write(&rows);
        assert_eq!(String::from_utf8(written.clone()).unwrap(), text);
        assert_eq!(parse(std::str::from_utf8(&written).unwrap()).unwrap(), rows);
    }

    #[test]
    fn a_crlf_file_with_blank_lines_parses_as_its_lf_twin() {
        let lf = format!(
            "{H}\na,r,1,d,2,SUCCESS,1,None,None,\"a,1\"\n\nb,r,1,d,2,SUCCESS,1,None,None,b-1\n"
        );
        let crlf = lf.replace('\n', "\r\n");
        let rows = parse(&crlf).unwrap();
        assert_eq!(rows, parse(&lf).unwrap());
        assert_eq!(rows.len(), 2);
        assert_eq!(fields(&rows[0])[9], "a,1");
        assert_eq!(
            fields(&rows[1]),
            ["b", "r", "1", "d", "2", "SUCCESS", "1", "None", "None", "b-1"]
        );
    }

    #[test]
    fn errors_name_the_line_the_record_starts_on() {
        let row = "a,r,1,d,2,SUCCESS,1,None,None,a-1";
        for (text, want) in [
            (
                format!("{H}\r\n{row}\r\n\r\n\r\na,r\r\n"),
                "line 5: 2 fields where the header has 10",
            ),
            (
                format!("{H}\n\"a\nb\",r,1,d,2,SUCCESS,1,None,None,a-1\nshort\n"),
                "line 4: 1 fields where the header has 10",
            ),
            (
                format!("{H}\n{row}\n\"open,r\n{row}\n"),
                "line 3: a quoted field is not closed",
            ),
            (
                format!("{H}\n{row}\na,\"b\"\"\n"),
                "line 3: a quoted field is not closed",
            ),
            (format!("\"{H}\n"), "line 1: a quoted field is not closed"),
            ("\r\n\n".to_string(), "it is empty"),
        ] {
            assert_eq!(parse(&text).unwrap_err(), want, "{text:?}");
        }
        // A closed quote at the very end, without a line end, is a field.
        let rows = parse(&format!("{H}\na,r,1,d,2,SUCCESS,1,None,None,\"-\"")).unwrap();
        assert_eq!(fields(&rows[0])[9], "-");
    }

    #[test]
    fn a_file_read_after_one_left_midway_is_read_from_its_own_start() {
        let row = "a,r,1,d,2,SUCCESS,1,None,None,a-1";
        let long = format!("{H}\n{row}\nshort\n{row}\n{row}\n{row}\n");
        let short = format!("{H}\n{row}\nb,r\n");
        for _ in 0..2 {
            assert_eq!(
                parse(&long).unwrap_err(),
                "line 3: 1 fields where the header has 10"
            );
            assert_eq!(
                parse(&short).unwrap_err(),
                "line 3: 2 fields where the header has 10"
            );
            assert_eq!(parse(&format!("{H}\n{row}\n")).unwrap().len(), 1);
        }
    }

    #[test]
    fn an_older_header_reads_none_for_the_columns_it_lacks() {
        let rows = parse(
            "Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status\r\na,r,1,d,2,SUCCESS\r\n",
        )
        .unwrap();
        assert_eq!(
            fields(&rows[0]),
            ["a", "r", "1", "d", "2", "SUCCESS", "None", "None", "None", "None"]
        );
        assert!(is_consistent(&rows));
    }
}
