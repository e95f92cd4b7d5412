//! What a build's images must be before they are promoted or published:
//! the files its promotion requires, present; every sidecar its builder
//! wrote (`X.md5`, `X.sha256`) matching the bytes of `X`; and, for an
//! images promotion, an image directory at all. Checksums are remembered
//! per file as it was, so each image is hashed once.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::config::ImagesRule;
use crate::error::Result;
use crate::store::builds::Build;
use crate::store::image_sums::{Kind, Stamp};
use crate::store::Store;

/// The largest sidecar read: a checksum and a name.
const MAX_SIDECAR: u64 = 64 << 10;

/// Why `build`'s images may not be promoted under `rule`, if they may
/// not: a missing image directory or required file, or a file whose bytes
/// do not match its builder's sidecar (which file, expected, found).
pub fn blocked(
    store: &Store,
    trees: &super::Trees,
    build: &Build,
    rule: &ImagesRule,
) -> Result<Option<String>> {
    if let Some(r) = &trees.remote_images {
        let e = crate::error::Error::Failed;
        if !r.has_dir(&build.full_hash).map_err(e)? {
            return Ok(rule.dir_required.then(|| no_dir(&r.shown())));
        }
        return r.blocked(&build.full_hash, &rule.files).map_err(e);
    }
    let images = trees.images.as_path();
    let dir = images.join(&build.full_hash);
    if !dir.is_dir() {
        return Ok(rule
            .dir_required
            .then(|| no_dir(&images.display().to_string())));
    }
    for f in &rule.files {
        if !dir.join(f).is_file() {
            return Ok(Some(format!(
                "its image directory lacks {f}, which images_required names"
            )));
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| crate::error::Error::io(format!("failed to read {}", dir.display()), e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in &names {
        let (base, kind) = match name.rsplit_once('.') {
            Some((b, "md5")) => (b, Kind::Md5),
            Some((b, "sha256")) => (b, Kind::Sha256),
            _ => continue,
        };
        if let Some(reason) = mismatch(store, &dir, base, name, kind)? {
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

/// Why a build without an image directory in `tree` is blocked.
fn no_dir(tree: &str) -> String {
    format!(
        "it has no image directory in {tree} (a promotion with images: optional may go without)"
    )
}

/// How image `base` disagrees with its sidecar `sidecar`, if it does.
fn mismatch(
    store: &Store,
    dir: &Path,
    base: &str,
    sidecar: &str,
    kind: Kind,
) -> Result<Option<String>> {
    let data = dir.join(base);
    let Ok(meta) = std::fs::metadata(&data) else {
        return Ok(Some(format!("{sidecar} has no {base} beside it to check")));
    };
    let text = crate::input::read(&dir.join(sidecar), MAX_SIDECAR).unwrap_or_default();
    let expected = String::from_utf8_lossy(&text)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let found = sum(store, &data, &meta, kind)?;
    if expected == found {
        return Ok(None);
    }
    Ok(Some(format!(
        "image {base}: {} expected {} (its {sidecar}), found {found}",
        kind.as_str(),
        if expected.is_empty() {
            "(nothing)"
        } else {
            &expected
        }
    )))
}

/// The checksum of `path`, remembered or computed (and remembered).
fn sum(store: &Store, path: &Path, meta: &std::fs::Metadata, kind: Kind) -> Result<String> {
    let stamp = Stamp {
        size: meta.len() as i64,
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        inode: meta.ino() as i64,
    };
    let key = path.display().to_string();
    if let Some(s) = store.image_sum(&key, kind, stamp)? {
        return Ok(s);
    }
    let mut buf = vec![0u8; 1 << 20];
    let (sha256, md5) = crate::publish::apply::hash_file(path, kind == Kind::Md5, &mut buf)
        .map_err(|e| crate::error::Error::io(format!("failed to read {}", path.display()), e))?;
    let s = match kind {
        Kind::Md5 => md5.unwrap_or_default(),
        Kind::Sha256 => sha256,
    };
    store.remember_image_sum(&key, kind, stamp, &s)?;
    Ok(s)
}
