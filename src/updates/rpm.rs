//! The RPMs of a build: each file's header read with the system `rpm`
//! (`rpm -qp --qf`), checked against the build's NVR.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Nvr;

/// What one RPM's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub file: PathBuf,
    pub name: String,
    pub epoch: i64,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// The source package it was built from (`(none)` for a source RPM).
    pub source_rpm: String,
}

/// How long `rpm` may take to read a build's headers.
const TIMEOUT: Duration = Duration::from_secs(300);
const FIELDS: usize = 6;

/// The binary RPMs of `dir` (source RPMs are not published), sorted by
/// file name.
pub fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rpm") && !name.ends_with(".src.rpm") && e.file_type()?.is_file() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Why headers could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    /// `rpm` could not be run: this host's problem, not the files'.
    #[error("{0}")]
    Tool(String),
    /// `rpm` refused a file: not an RPM, or a damaged one.
    #[error("{0}")]
    Bad(String),
}

/// Reads the headers of `files` with one `rpm -qp`.
pub fn headers(files: &[PathBuf]) -> Result<Vec<Header>, HeaderError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let mut args: Vec<String> = [
        "-qp",
        "--nosignature",
        "--nodigest",
        "--qf",
        "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n",
    ]
    .map(String::from)
    .into();
    args.extend(files.iter().map(|f| f.display().to_string()));
    let (ended, out) = crate::exec::output("rpm", args, &[], TIMEOUT, Duration::from_secs(5))
        .map_err(HeaderError::Tool)?;
    if let crate::exec::Ended::NotStarted { .. } = ended {
        return Err(HeaderError::Tool(format!(
            "cannot read RPM headers: {ended} (Debian's rpm package provides it)"
        )));
    }
    if !ended.passed() {
        let last = out.lines().last().unwrap_or("").trim();
        return Err(HeaderError::Bad(format!(
            "rpm could not read the headers ({ended}): {last}"
        )));
    }
    let lines: Vec<&str> = out.lines().filter(|l| l.contains('\t')).collect();
    if lines.len() != files.len() {
        return Err(HeaderError::Bad(format!(
            "rpm read {} headers of {} files: {}",
            lines.len(),
            files.len(),
            out.lines().last().unwrap_or("")
        )));
    }
    files
        .iter()
        .zip(lines)
        .map(|(f, l)| {
            let p: Vec<&str> = l.split('\t').collect();
            if p.len() != FIELDS {
                return Err(HeaderError::Bad(format!("{}: rpm gave {l:?}", f.display())));
            }
            Ok(Header {
                file: f.clone(),
                name: p[0].into(),
                epoch: p[1].parse().unwrap_or(0),
                version: p[2].into(),
                release: p[3].into(),
                arch: p[4].into(),
                source_rpm: p[5].into(),
            })
        })
        .collect()
}

/// Why the RPM `h` is not one of the build `id`: its file name must say
/// what its header says (`N-V-R.A.rpm`), its version and release must be
/// the build's, and it must come from the build's source package.
pub fn mismatch(h: &Header, id: &Nvr) -> Option<String> {
    let file = h.file.file_name()?.to_string_lossy().into_owned();
    let named = format!("{}-{}-{}.{}.rpm", h.name, h.version, h.release, h.arch);
    if file != named {
        return Some(format!(
            "{file}: its header says {named} (name, version, release and arch)"
        ));
    }
    if h.version != id.version || h.release != id.release {
        return Some(format!(
            "{file}: version-release {}-{} is not the build's {}-{} ({id})",
            h.version, h.release, id.version, id.release
        ));
    }
    let from_build = h.source_rpm == format!("{id}.src.rpm") || h.name == id.name;
    if !from_build {
        return Some(format!(
            "{file}: built from {}, not from {id}",
            h.source_rpm
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(file: &str, name: &str, v: &str, r: &str, src: &str) -> Header {
        Header {
            file: PathBuf::from(format!("/b/{file}")),
            name: name.into(),
            epoch: 0,
            version: v.into(),
            release: r.into(),
            arch: "noarch".into(),
            source_rpm: src.into(),
        }
    }

    #[test]
    fn an_rpm_belongs_to_its_build_by_name_version_release_and_arch() {
        let id: Nvr = "nova-1.0-1.el7".parse().unwrap();
        let ok = header(
            "nova-api-1.0-1.el7.noarch.rpm",
            "nova-api",
            "1.0",
            "1.el7",
            "nova-1.0-1.el7.src.rpm",
        );
        assert_eq!(mismatch(&ok, &id), None);
        let renamed = header(
            "nova-api-1.0-1.el7.x86_64.rpm",
            "nova-api",
            "1.0",
            "1.el7",
            "nova-1.0-1.el7.src.rpm",
        );
        assert!(mismatch(&renamed, &id).unwrap().contains("its header says"));
        let other = header(
            "nova-1.1-1.el7.noarch.rpm",
            "nova",
            "1.1",
            "1.el7",
            "nova-1.1-1.el7.src.rpm",
        );
        assert!(mismatch(&other, &id)
            .unwrap()
            .contains("is not the build's"));
        let foreign = header(
            "glance-1.0-1.el7.noarch.rpm",
            "glance",
            "1.0",
            "1.el7",
            "glance-1.0-1.el7.src.rpm",
        );
        assert!(mismatch(&foreign, &id).unwrap().contains("built from"));
    }
}
