//! A repo's metadata taken apart by package and put together again: the
//! pool of phase 2 is the newest packages of updates whose phase-1 repos
//! `createrepo_c` made already, so its `repodata/` is written from their
//! `<package>` entries (primary, filelists, other) without reading an RPM
//! again. The XML that `createrepo_c` writes is regular: one `<package`
//! element a line apart, which is all this reader relies on; anything else
//! (another compression, a missing part) is an error, and the caller makes
//! the repo with `createrepo_c` instead.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// The three parts of the metadata, as repomd.xml names them, and the root
/// element of each.
const PARTS: [(&str, &str); 3] = [
    ("primary", "metadata"),
    ("filelists", "filelists"),
    ("other", "otherdata"),
];

/// One package's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageXml {
    pub href: String,
    pub pkgid: String,
    /// Its `<package>` element in primary, filelists and other.
    pub parts: [String; 3],
}

/// A repo's metadata: its packages by location, and the opening line of
/// each part (the root element with its namespaces).
#[derive(Debug, Clone, Default)]
pub struct RepoMetadata {
    pub packages: BTreeMap<String, PackageXml>,
    heads: [String; 3],
}

/// Reads the metadata `createrepo_c` wrote in `repo/repodata`.
pub fn read(repo: &Path) -> Result<RepoMetadata, String> {
    let repomd_path = repo.join("repodata/repomd.xml");
    let repomd = std::fs::read_to_string(&repomd_path)
        .map_err(|e| format!("cannot read {}: {e}", repomd_path.display()))?;
    let mut texts: Vec<String> = Vec::new();
    for (part, _) in PARTS {
        let href = location_of(&repomd, part)
            .ok_or_else(|| format!("{} names no {part}", repomd_path.display()))?;
        if !href.ends_with(".xml.gz") {
            return Err(format!("{href}: only gzip metadata is read"));
        }
        let path = repo.join(&href);
        let mut text = String::new();
        GzDecoder::new(
            std::fs::File::open(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        )
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        texts.push(text);
    }
    let mut heads: [String; 3] = Default::default();
    let mut by_pkgid: [BTreeMap<String, String>; 2] = Default::default();
    let mut primary: Vec<(String, String, String)> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let (head, chunks) = split(text, PARTS[i].1).ok_or_else(|| {
            format!(
                "{}: the {} metadata is not as createrepo_c writes it",
                repo.display(),
                PARTS[i].0
            )
        })?;
        heads[i] = head;
        for c in chunks {
            if i == 0 {
                let href = between(c, "<location href=\"", "\"")
                    .ok_or_else(|| format!("{}: a package without a location", repo.display()))?;
                let pkgid = between(c, "pkgid=\"YES\">", "</checksum>")
                    .ok_or_else(|| format!("{}: a package without a checksum", repo.display()))?;
                primary.push((href.to_string(), pkgid.to_string(), c.to_string()));
            } else {
                let pkgid = between(c, "pkgid=\"", "\"")
                    .ok_or_else(|| format!("{}: a package without a pkgid", repo.display()))?;
                by_pkgid[i - 1].insert(pkgid.to_string(), c.to_string());
            }
        }
    }
    let mut packages = BTreeMap::new();
    for (href, pkgid, p) in primary {
        let f = by_pkgid[0].get(&pkgid);
        let o = by_pkgid[1].get(&pkgid);
        let (Some(f), Some(o)) = (f, o) else {
            return Err(format!(
                "{}: {href} is not in every part of the metadata",
                repo.display()
            ));
        };
        packages.insert(
            href.clone(),
            PackageXml {
                href,
                pkgid,
                parts: [p, f.clone(), o.clone()],
            },
        );
    }
    Ok(RepoMetadata { packages, heads })
}

/// The `<location href>` of the `<data type="part">` of a repomd.xml.
fn location_of(repomd: &str, part: &str) -> Option<String> {
    let start = repomd.find(&format!("<data type=\"{part}\">"))?;
    let rest = &repomd[start..];
    let end = rest.find("</data>")?;
    between(&rest[..end], "<location href=\"", "\"").map(String::from)
}

fn between<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

/// A part's text as (its head: the XML declaration and the opening root
/// element, and its `<package>` elements).
fn split<'t>(text: &'t str, root: &str) -> Option<(String, Vec<&'t str>)> {
    let open = text.find(&format!("<{root} "))?;
    let head_end = open + text[open..].find(">\n")? + 2;
    let close = text.rfind(&format!("</{root}>"))?;
    let body = &text[head_end..close];
    let mut chunks = Vec::new();
    let mut rest = body;
    while let Some(s) = rest.find("<package") {
        let e = s + rest[s..].find("</package>\n")? + "</package>\n".len();
        chunks.push(&rest[s..e]);
        rest = &rest[e..];
    }
    if !rest.trim().is_empty() {
        return None;
    }
    Some((text[..head_end].to_string(), chunks))
}

/// Writes `dir/repodata` for `packages` (in this order), each part's head
/// taken from `like`: the new directory is written beside the old one,
/// then renamed over it.
pub fn write(dir: &Path, like: &RepoMetadata, packages: &[&PackageXml]) -> Result<(), String> {
    let io =
        |what: &str, p: &Path, e: std::io::Error| format!("cannot {what} {}: {e}", p.display());
    let pid = std::process::id();
    let fresh = dir.join(format!(".repodata.new-{pid}"));
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh).map_err(|e| io("make", &fresh, e))?;
    let now = crate::clock::now();
    let mut repomd = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>{now}</revision>\n"
    );
    for (i, (part, root)) in PARTS.iter().enumerate() {
        let head = set_count(&like.heads[i], packages.len());
        let mut text = head;
        for p in packages {
            text.push_str(&p.parts[i]);
        }
        text.push_str(&format!("</{root}>\n"));
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes())
            .map_err(|e| io("compress", &fresh, e))?;
        let gz = gz.finish().map_err(|e| io("compress", &fresh, e))?;
        let sum = hex(&Sha256::digest(&gz));
        let open_sum = hex(&Sha256::digest(text.as_bytes()));
        let name = format!("{sum}-{part}.xml.gz");
        let path = fresh.join(&name);
        std::fs::write(&path, &gz).map_err(|e| io("write", &path, e))?;
        repomd.push_str(&format!(
            "  <data type=\"{part}\">\n    <checksum type=\"sha256\">{sum}</checksum>\n    <open-checksum type=\"sha256\">{open_sum}</open-checksum>\n    <location href=\"repodata/{name}\"/>\n    <timestamp>{now}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            gz.len(),
            text.len()
        ));
    }
    repomd.push_str("</repomd>\n");
    let path = fresh.join("repomd.xml");
    std::fs::write(&path, repomd).map_err(|e| io("write", &path, e))?;
    let live = dir.join("repodata");
    let old: PathBuf = dir.join(format!(".repodata.old-{pid}"));
    if live.exists() {
        std::fs::rename(&live, &old).map_err(|e| io("move aside", &live, e))?;
    }
    std::fs::rename(&fresh, &live).map_err(|e| io("rename into place", &fresh, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// The head with its `packages="N"` set to `n`.
fn set_count(head: &str, n: usize) -> String {
    match between(head, "packages=\"", "\"") {
        Some(old) => head.replacen(
            &format!("packages=\"{old}\""),
            &format!("packages=\"{n}\""),
            1,
        ),
        None => head.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"2\">\n<package type=\"rpm\">\n  <name>a</name>\n  <checksum type=\"sha256\" pkgid=\"YES\">aa</checksum>\n  <location href=\"a-1-1.noarch.rpm\"/>\n</package>\n<package type=\"rpm\">\n  <name>b</name>\n  <checksum type=\"sha256\" pkgid=\"YES\">bb</checksum>\n  <location href=\"b-1-1.noarch.rpm\"/>\n</package>\n</metadata>\n";

    #[test]
    fn a_part_splits_into_its_head_and_one_chunk_per_package() {
        let (head, chunks) = split(PRIMARY, "metadata").unwrap();
        assert!(head.ends_with("packages=\"2\">\n"));
        assert_eq!(chunks.len(), 2);
        assert!(chunks[1].starts_with("<package type=\"rpm\">\n  <name>b</name>"));
        assert_eq!(set_count(&head, 7).matches("packages=\"7\"").count(), 1);
        assert_eq!(
            split("<metadata x=\"1\">\njunk</metadata>\n", "metadata"),
            None
        );
    }
}
