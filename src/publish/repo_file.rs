//! A published `delorean.repo` points at the tree it is published in: with
//! the target's `url:`, every `baseurl` is rewritten to that URL, and the
//! builder's `delorean.repo.md5` beside it is recomputed from the
//! rewritten bytes. The rewritten files are written to a scratch
//! directory and published in place of the builder's; the manifest and
//! sidecars are computed from what is published, as for any file.

use std::io;
use std::path::Path;

use super::Entry;

/// The repo file a hash directory holds, and its md5 beside it.
pub const REPO_FILE: &str = "delorean.repo";
pub const REPO_MD5: &str = "delorean.repo.md5";

/// The largest repo file rewritten: a few lines a component.
const MAX_REPO_FILE: u64 = 1 << 20;

/// `text` with the value of every `baseurl` set to `url`; every other
/// line, and every line ending, as it was.
pub fn rewrite(text: &str, url: &str) -> String {
    let mut out = String::with_capacity(text.len() + url.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let key = body.split_once('=').map(|(k, _)| k.trim());
        if key.is_some_and(|k| k.eq_ignore_ascii_case("baseurl")) {
            let indent = &body[..body.len() - body.trim_start().len()];
            out.push_str(&format!("{indent}baseurl={url}{ending}"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Points the repo file among `entries` at `url`: the rewritten file (and
/// its recomputed md5) are written into `scratch` and published in place
/// of the builder's. Nothing to do without a repo file.
pub fn point_at(entries: &mut [Entry], url: &str, scratch: &Path) -> io::Result<()> {
    let Some(i) = entries.iter().position(|e| e.rel == Path::new(REPO_FILE)) else {
        return Ok(());
    };
    let bytes = crate::input::read(&entries[i].src, MAX_REPO_FILE)
        .map_err(|e| io::Error::other(format!("cannot read {}: {e}", entries[i].src.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| io::Error::other(format!("{} is not UTF-8 text", entries[i].src.display())))?;
    let new = rewrite(&text, url);
    let repo = scratch.join(REPO_FILE);
    std::fs::write(&repo, &new)?;
    entries[i].src = repo;
    entries[i].size = new.len() as u64;
    if let Some(j) = entries.iter().position(|e| e.rel == Path::new(REPO_MD5)) {
        let old = std::fs::read_to_string(&entries[j].src).unwrap_or_default();
        let ending = if old.ends_with('\n') { "\n" } else { "" };
        let md5 = format!("{}{ending}", crate::hex::md5(new.as_bytes()));
        let path = scratch.join(REPO_MD5);
        std::fs::write(&path, &md5)?;
        entries[j].src = path;
        entries[j].size = md5.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_baseurl_points_at_the_url_and_nothing_else_changes() {
        let text = "[delorean]\nname=delorean-x\nbaseurl=https://trunk.rdoproject.org/centos7/ab/cd/abcd_1234\nenabled=1\r\n\n[delorean-component]\n  BaseURL = https://trunk/x\ngpgcheck=0";
        let out = rewrite(text, "https://buildlogs.example.org/tested");
        assert_eq!(
            out,
            "[delorean]\nname=delorean-x\nbaseurl=https://buildlogs.example.org/tested\nenabled=1\r\n\n[delorean-component]\n  baseurl=https://buildlogs.example.org/tested\ngpgcheck=0"
        );
    }

    #[test]
    fn the_repo_file_and_its_md5_are_published_from_the_rewritten_bytes() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        let scratch = d.path().join("scratch");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&scratch).unwrap();
        std::fs::write(src.join(REPO_FILE), "[d]\nbaseurl=https://trunk/a\n").unwrap();
        std::fs::write(src.join(REPO_MD5), "0123\n").unwrap();
        let entry = |rel: &str| Entry {
            rel: rel.into(),
            src: src.join(rel),
            size: std::fs::metadata(src.join(rel)).unwrap().len(),
        };
        let mut entries = vec![entry(REPO_FILE), entry(REPO_MD5)];
        point_at(&mut entries, "file:///srv/tested", &scratch).unwrap();
        let repo = std::fs::read_to_string(&entries[0].src).unwrap();
        assert_eq!(repo, "[d]\nbaseurl=file:///srv/tested\n");
        assert_eq!(entries[0].size, repo.len() as u64);
        let md5 = std::fs::read_to_string(&entries[1].src).unwrap();
        assert_eq!(md5, format!("{}\n", crate::hex::md5(repo.as_bytes())));
        // The builder's files are left as they were.
        assert_eq!(
            std::fs::read_to_string(src.join(REPO_FILE)).unwrap(),
            "[d]\nbaseurl=https://trunk/a\n"
        );
    }
}
