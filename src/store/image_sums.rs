//! Checksums of image files, remembered for the file as it was (its size,
//! modification time and inode): the image check hashes each file once.

use rusqlite::OptionalExtension;

use super::Store;
use crate::error::{DbContext, Result};

/// Which checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Md5,
    Sha256,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Md5 => "md5",
            Kind::Sha256 => "sha256",
        }
    }
}

/// A file as it was when hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: i64,
    pub mtime_ns: i64,
    pub inode: i64,
}

impl Store {
    /// The checksum remembered for `path` if the file is as it was then.
    pub fn image_sum(&self, path: &str, kind: Kind, stamp: Stamp) -> Result<Option<String>> {
        self.conn()
            .prepare_cached(
                "SELECT sum FROM image_sums WHERE path = ?1 AND kind = ?2
                   AND size = ?3 AND mtime_ns = ?4 AND inode = ?5",
            )
            .and_then(|mut s| {
                s.query_row(
                    (path, kind.as_str(), stamp.size, stamp.mtime_ns, stamp.inode),
                    |r| r.get(0),
                )
                .optional()
            })
            .context("failed to read image checksums")
    }

    /// Remembers the checksum of `path` as it is. One statement: no
    /// transaction needed, and a read-only caller may remember too.
    pub fn remember_image_sum(
        &self,
        path: &str,
        kind: Kind,
        stamp: Stamp,
        sum: &str,
    ) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO image_sums (path, kind, size, mtime_ns, inode, sum)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    path,
                    kind.as_str(),
                    stamp.size,
                    stamp.mtime_ns,
                    stamp.inode,
                    sum,
                ),
            )
            .context("failed to remember an image checksum")?;
        Ok(())
    }
}
