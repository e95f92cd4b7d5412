//! Files handed to the promoter to read (the config, a replay file, a
//! test-environment descriptor, what a builder wrote in the trunk): only
//! regular files, and no more than a stated size. A FIFO would block the
//! reader forever and `/dev/zero` would never end, so anything but a regular
//! file is refused before a byte is read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Why an input file was not read. The message reads well after the file's
/// name and a colon.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    NotFound(std::io::Error),
    #[error("it is not a regular file")]
    NotRegular,
    #[error("it is larger than {}", size(*.0))]
    TooLarge(u64),
    #[error("{0}")]
    Io(std::io::Error),
}

/// A size for a message: "1 GiB", "16 MiB", "4 KiB", "100 bytes".
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        1 => "1 byte".into(),
        b => format!("{b} bytes"),
    }
}

/// Opens `path` for reading if it is a regular file of at most `limit`
/// bytes. The open does not block on a FIFO (`O_NONBLOCK`, which changes
/// nothing for a regular file).
pub fn open(path: &Path, limit: u64) -> Result<File, InputError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => InputError::NotFound(e),
            _ => InputError::Io(e),
        })?;
    let meta = file.metadata().map_err(InputError::Io)?;
    if !meta.is_file() {
        return Err(InputError::NotRegular);
    }
    if meta.len() > limit {
        return Err(InputError::TooLarge(limit));
    }
    Ok(file)
}

/// Reads all of `path`, a regular file of at most `limit` bytes (checked
/// before reading, and again while reading, for a file that grows).
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let file = open(path, limit)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(len.min(limit) as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(InputError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_a_link_to_an_endless_file_and_a_directory_are_refused_unread() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let refused = |p: &Path| read(p, 1 << 20).unwrap_err().to_string();
        assert_eq!(
            refused(&fifo),
            "it is not a regular file",
            "a FIFO blocks no one"
        );
        let zero = d.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(refused(&zero), "it is not a regular file");
        assert_eq!(refused(d.path()), "it is not a regular file");
        assert!(matches!(
            read(&d.path().join("missing"), 1),
            Err(InputError::NotFound(_))
        ));
        std::fs::write(d.path().join("f"), "x").unwrap();
        assert_eq!(read(&d.path().join("f"), 1).unwrap(), b"x");
        std::fs::write(d.path().join("big"), "xx").unwrap();
        assert_eq!(
            read(&d.path().join("big"), 1).unwrap_err().to_string(),
            "it is larger than 1 byte"
        );
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(1 << 30), "1 GiB");
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(100), "100 bytes");
    }
}
