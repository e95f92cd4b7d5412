//! A job's log directory, packed into a `.tar.gz` when the job ends, and
//! the tail of its console log for `why`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Packs `dir` into `<dir>.tar.gz` with deterministic headers (sorted
/// entries, mtime 0, owner 0), symlinks stored as links (never followed),
/// then removes `dir`. Returns the archive's path.
pub fn pack(dir: &Path) -> std::io::Result<PathBuf> {
    let name = dir
        .file_name()
        .ok_or_else(|| std::io::Error::other("a log directory has a name"))?;
    let mut archive = dir.as_os_str().to_owned();
    archive.push(".tar.gz");
    let archive = PathBuf::from(archive);
    let tmp = archive.with_extension("gz.tmp");
    {
        let file = File::create(&tmp)?;
        let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::default()));
        tar.follow_symlinks(false);
        let mut entries: Vec<_> = walkdir::WalkDir::new(dir)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(std::io::Error::other)?;
        entries.sort_by(|a, b| a.path().cmp(b.path()));
        for e in entries {
            let rel = e.path().strip_prefix(dir).map_err(std::io::Error::other)?;
            let path_in = Path::new(name).join(rel);
            let meta = e.path().symlink_metadata()?;
            let mut h = tar::Header::new_gnu();
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            let ft = meta.file_type();
            if ft.is_dir() {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, &path_in, std::io::empty())?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(e.path())?;
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                tar.append_link(&mut h, &path_in, target)?;
            } else if ft.is_file() {
                use std::os::unix::fs::PermissionsExt;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(meta.permissions().mode() & 0o777);
                h.set_size(meta.len());
                tar.append_data(&mut h, &path_in, File::open(e.path())?.take(meta.len()))?;
            }
            // Sockets, fifos and devices are not logs: left out.
        }
        tar.into_inner()?.finish()?.sync_all()?;
    }
    std::fs::rename(&tmp, &archive)?;
    std::fs::remove_dir_all(dir)?;
    Ok(archive)
}

/// How much of the end of a console log [`tail`] keeps: however long the
/// log, no more than this is ever held.
pub const TAIL_BYTES: usize = 64 << 10;

/// Longest line [`tail`] shows, in characters; a longer one is cut.
pub const TAIL_LINE_CHARS: usize = 400;

/// What marks a line [`tail`] cut: at its end when it went on, at its start
/// when it began before the tail.
pub const CUT: &str = "[…]";

/// The last `n` lines of `console.log` in a packed log archive, bounded in
/// bytes too: the member is streamed (never held whole) keeping only its
/// last [`TAIL_BYTES`], and a line longer than [`TAIL_LINE_CHARS`] is cut.
pub fn tail(archive: &Path, n: usize) -> std::io::Result<Vec<String>> {
    let mut tar = tar::Archive::new(GzDecoder::new(File::open(archive)?));
    for entry in tar.entries()? {
        let entry = entry?;
        let is_console = entry
            .path()
            .ok()
            .is_some_and(|p| p.components().count() == 2 && p.ends_with("console.log"));
        if is_console {
            return last_lines(entry, n);
        }
    }
    Ok(Vec::new())
}

fn last_lines(mut r: impl Read, n: usize) -> std::io::Result<Vec<String>> {
    // The end of the stream: cut back to TAIL_BYTES whenever it grows past
    // twice that, so at most three times that is ever held.
    let mut end: Vec<u8> = Vec::with_capacity(3 * TAIL_BYTES);
    let mut dropped = false;
    let mut chunk = vec![0u8; TAIL_BYTES];
    loop {
        let got = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        end.extend_from_slice(&chunk[..got]);
        if end.len() > 2 * TAIL_BYTES {
            end.drain(..end.len() - TAIL_BYTES);
            dropped = true;
        }
    }
    if end.len() > TAIL_BYTES {
        end.drain(..end.len() - TAIL_BYTES);
        dropped = true;
    }
    if end.last() == Some(&b'\n') {
        end.pop();
    }
    if end.is_empty() && !dropped {
        return Ok(Vec::new());
    }
    let mut lines: Vec<&[u8]> = end.rsplit(|&b| b == b'\n').take(n).collect();
    lines.reverse();
    // The first line kept began before the bytes kept when nothing shows
    // its start: a newline before it in the window, or the log's start.
    let first_is_whole = !dropped || lines.len() < end.split(|&b| b == b'\n').count();
    Ok(lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            let text = String::from_utf8_lossy(l);
            let mut shown: String = text.chars().take(TAIL_LINE_CHARS).collect();
            if shown.len() < text.len() {
                shown.push_str(CUT);
            }
            if i == 0 && !first_is_whole {
                shown.insert_str(0, CUT);
            }
            shown
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_is_bounded_in_lines_and_in_characters() {
        let tail = |log: &[u8], n| last_lines(log, n).unwrap();
        assert_eq!(tail(b"", 3), Vec::<String>::new());
        assert_eq!(tail(b"a\r\nb\n\nc\n", 3), ["b", "", "c"]);
        // One endless line: its last TAIL_BYTES, cut to TAIL_LINE_CHARS,
        // marked at both ends.
        let one = vec![b'x'; 10 * TAIL_BYTES];
        let got = tail(&one, 10);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0], format!("{CUT}{}{CUT}", "x".repeat(TAIL_LINE_CHARS)));
        // Whole lines after a long one: the long one is cut, at its start
        // only when it began before the bytes kept.
        let mut log = vec![b'y'; 3 * TAIL_BYTES];
        log.extend_from_slice(b"\nlast line\n");
        assert_eq!(
            tail(&log, 10),
            [
                format!("{CUT}{}{CUT}", "y".repeat(TAIL_LINE_CHARS)),
                "last line".into()
            ]
        );
        assert_eq!(tail(&log, 1), ["last line"]);
        let short = format!("{}\nok", "é".repeat(TAIL_LINE_CHARS + 1));
        assert_eq!(
            tail(short.as_bytes(), 10),
            [format!("{}{CUT}", "é".repeat(TAIL_LINE_CHARS)), "ok".into()]
        );
    }

    #[test]
    fn packs_deterministically_and_reads_the_tail_back() {
        let d = tempfile::tempdir().unwrap();
        let mut archives = Vec::new();
        for round in 0..2 {
            let dir = d.path().join(format!("r{round}/job"));
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            let text: String = (1..=50).map(|i| format!("line {i}\n")).collect();
            std::fs::write(dir.join("console.log"), text).unwrap();
            std::fs::write(dir.join("sub/x.txt"), "x").unwrap();
            std::os::unix::fs::symlink("/etc/passwd", dir.join("escape")).unwrap();
            let a = pack(&dir).unwrap();
            assert!(!dir.exists());
            assert_eq!(tail(&a, 3).unwrap(), ["line 48", "line 49", "line 50"]);
            archives.push(std::fs::read(a).unwrap());
        }
        assert_eq!(archives[0], archives[1], "same content, same bytes");
        // The symlink is stored as a link, not followed.
        let a = d.path().join("r0/job.tar.gz");
        let mut t = tar::Archive::new(GzDecoder::new(File::open(a).unwrap()));
        let link = t
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().ends_with("escape"))
            .unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
    }
}
