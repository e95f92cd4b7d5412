//! A promotion's hooks: commands run before any link moves, each in its
//! own process group with `hook_timeout`; the first failure stops them.

use super::Carry;
use crate::ident::Label;
use crate::store::builds::Build;

/// Runs the hooks of `label`'s promotion with the `PROMOTER_*` variables
/// of `build`; the reason of the first failure.
pub(super) fn run(c: &Carry, label: &Label, build: &Build) -> Result<(), String> {
    let hooks = c
        .cfg
        .promotion(label.as_str())
        .map(|p| p.hooks.as_slice())
        .unwrap_or_default();
    if hooks.is_empty() {
        return Ok(());
    }
    let mut env = crate::build_env::variables(c.cfg, label.as_str(), build);
    env.push(("PROMOTER_LOG_DIR".into(), c.log_dir.display().to_string()));
    for (i, argv) in hooks.iter().enumerate() {
        let log = c.log_dir.join(format!("hook-{label}-{}.log", i + 1));
        let spec = crate::exec::Spec {
            program: crate::build_env::resolve_program(&c.cfg.dir, &argv[0]),
            args: argv[1..].to_vec(),
            env: env.clone(),
            cwd: c.cfg.dir.clone(),
            log: log.clone(),
            timeout: c.cfg.hook_timeout,
            grace: c.cfg.kill_grace,
        };
        let ended = crate::exec::run(&spec)
            .map_err(|e| format!("hook {} could not run: {e}", argv.join(" ")))?;
        if !ended.passed() {
            return Err(format!(
                "hook {} failed ({}); see {}",
                argv.join(" "),
                ended,
                log.display()
            ));
        }
    }
    Ok(())
}
