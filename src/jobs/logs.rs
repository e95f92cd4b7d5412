//! A job's log directory, packed into a `.tar.gz` when the job ends, and
//! the tail of its console log for `why`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
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

/// The last `n` lines of `console.log` in a packed log archive.
pub fn tail(archive: &Path, n: usize) -> std::io::Result<Vec<String>> {
    let mut tar = tar::Archive::new(GzDecoder::new(File::open(archive)?));
    for entry in tar.entries()? {
        let entry = entry?;
        let is_console = entry
            .path()
            .ok()
            .is_some_and(|p| p.components().count() == 2 && p.ends_with("console.log"));
        if is_console {
            return Ok(last_lines(BufReader::new(entry), n));
        }
    }
    Ok(Vec::new())
}

fn last_lines(r: impl BufRead, n: usize) -> Vec<String> {
    let mut ring = VecDeque::with_capacity(n + 1);
    for line in r.split(b'\n').map_while(Result::ok) {
        ring.push_back(String::from_utf8_lossy(&line).into_owned());
        if ring.len() > n {
            ring.pop_front();
        }
    }
    ring.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
