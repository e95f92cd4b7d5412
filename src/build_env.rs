//! What a job or a hook is started with: the `PROMOTER_*` variables of a
//! build, and its program resolved against the config's directory.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::store::builds::Build;

/// The variables for `build` under `promotion`, in a stable order.
pub fn variables(cfg: &Config, promotion: &str, build: &Build) -> Vec<(String, String)> {
    let repo_dir = cfg.trunk.join(&build.repo_dir);
    let vars = [
        ("PROMOTER_PROMOTION", promotion.to_string()),
        ("PROMOTER_RELEASE", cfg.release.clone()),
        ("PROMOTER_COMMIT_HASH", build.commit_hash.to_string()),
        ("PROMOTER_DISTRO_HASH", build.distro_hash.to_string()),
        (
            "PROMOTER_EXTENDED_HASH",
            build
                .extended_hash
                .as_deref()
                .unwrap_or_default()
                .to_string(),
        ),
        ("PROMOTER_FULL_HASH", build.full_hash.to_string()),
        ("PROMOTER_REPO_DIR", repo_dir.display().to_string()),
        (
            "PROMOTER_REPO_FILE",
            repo_dir.join("delorean.repo").display().to_string(),
        ),
        (
            "PROMOTER_IMAGES_DIR",
            match &cfg.remote_images {
                // On its host: the job reaches it as the promoter does.
                Some((host, _, path)) => format!("{host}:{path}/{}", build.full_hash),
                None => cfg.images.join(&build.full_hash).display().to_string(),
            },
        ),
    ];
    vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A command with a relative path is relative to `base`; a bare name is
/// looked up in `PATH`.
pub fn resolve_program(base: &Path, program: &str) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        base.join(p)
    } else {
        p.to_path_buf()
    }
}

/// Where `program` is found on the PATH, if it is.
pub fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
