//! What one job run runs: its command, its variables, its log directory.

use std::path::{Path, PathBuf};

use super::executor::Launch;
use super::{Batch, Planned, MARKER_VAR};
use crate::exec::Spec;
use crate::store::testenvs::Lease;

/// The log directory of job instance `p` in run `run_id`:
/// `<logs>/<full_hash>/<job_id>-run<run_id>`.
pub fn log_dir(b: &Batch, p: &Planned) -> PathBuf {
    b.cfg
        .logs
        .join(&p.build.full_hash)
        .join(format!("{}-run{}", p.instance.id, b.run_id))
}

/// The process job run `job_run` of `p` runs, with its variables and its
/// marker `mark`.
pub fn launch(
    b: &Batch,
    p: &Planned,
    lease: Option<&Lease>,
    log_dir: &Path,
    job_run: i64,
    mark: &str,
    finish: super::record::Finish,
) -> Launch {
    let cfg = b.cfg;
    let def = cfg
        .job(&p.instance.job)
        .expect("planned jobs are configured");
    let mut env = crate::build_env::variables(cfg, b.promotion, &p.build);
    env.push(("PROMOTER_JOB_ID".into(), p.instance.id.to_string()));
    env.push(("PROMOTER_LOG_DIR".into(), log_dir.display().to_string()));
    for (axis, value) in &p.instance.matrix {
        env.push((
            format!("PROMOTER_MATRIX_{}", axis.to_ascii_uppercase()),
            value.clone(),
        ));
    }
    if let Some(l) = lease {
        env.push(("TE_DATAFILE".into(), l.data_file.clone()));
    }
    for (k, v) in &def.env {
        env.push((k.clone(), v.clone()));
    }
    env.push((MARKER_VAR.into(), mark.to_string()));
    Launch {
        job_run,
        job_id: p.instance.id.to_string(),
        spec: Spec {
            program: crate::build_env::resolve_program(&cfg.dir, &def.command[0]),
            args: def.command[1..].to_vec(),
            env,
            cwd: log_dir.to_path_buf(),
            log: log_dir.join("console.log"),
            timeout: def.timeout,
            grace: cfg.kill_grace,
        },
        finish,
    }
}
