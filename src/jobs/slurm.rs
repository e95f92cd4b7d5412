//! Jobs on a Slurm cluster: submitted with `sbatch` (the job's timeout as
//! `--time`, its output in its log directory, its variables exported),
//! found at each run with one `squeue` call and `scontrol` for the ones
//! that left the queue, stopped with `scancel`. Nothing runs here while
//! they run: each run collects what ended, as a local job's supervisor
//! would record it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::executor::{Executor, Handle, Launch};
use crate::config::SlurmDef;
use crate::exec::{self, Ended, Status, Stop};

/// How long one call of a Slurm command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A Slurm executor of the config.
pub struct Slurm<'a> {
    pub name: &'a str,
    pub def: &'a SlurmDef,
    pub release: &'a str,
}

impl Executor for Slurm<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn slots(&self, _local: usize) -> usize {
        // The cluster schedules its own.
        usize::MAX
    }

    fn start(&mut self, job: &Launch) -> Result<Handle, String> {
        let s = &job.spec;
        let minutes = s.timeout.as_secs().div_ceil(60).max(1);
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name=promoter-{}-{}", self.release, job.job_id),
            format!("--time={minutes}"),
            // sbatch expands `%` in the path: `%%` is a `%`.
            format!(
                "--output={}",
                s.log.display().to_string().replace('%', "%%")
            ),
            format!("--chdir={}", s.cwd.display()),
            format!("--partition={}", self.def.partition),
        ];
        if let Some(a) = &self.def.account {
            args.push(format!("--account={a}"));
        }
        if let Some(q) = &self.def.qos {
            args.push(format!("--qos={q}"));
        }
        args.extend(self.def.sbatch_args.iter().cloned());
        let argv: Vec<String> = std::iter::once(s.program.display().to_string())
            .chain(s.args.iter().cloned())
            .map(|a| exec::shell_quote(&a))
            .collect();
        // The command exactly as a local job runs it, then its exit status
        // beside its log: what a run reads when Slurm has forgotten the job
        // (after MinJobAge) and has no accounting to ask.
        let status = exec::shell_quote(&exit_file(&s.cwd).display().to_string());
        args.push(format!(
            "--wrap={}; s=$?; echo $s > {status}; exit $s",
            argv.join(" ")
        ));
        std::fs::create_dir_all(&s.cwd).map_err(|e| {
            format!(
                "could not create the log directory {}: {e}",
                s.cwd.display()
            )
        })?;
        // sbatch exports its own environment (--export=ALL): the job's
        // variables are set on it.
        let out = call("sbatch", &args, &s.env)?;
        let id = out
            .lines()
            .rev()
            .find_map(|l| {
                let id = l.trim().split(';').next()?;
                (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
            })
            .ok_or_else(|| format!("sbatch gave no job id: {}", out.trim()))?;
        Ok(Handle {
            job_run: job.job_run,
            pid: None,
            id: Some(id),
        })
    }

    fn cancel(&mut self, h: &Handle) {
        if let Some(id) = &h.id {
            let _ = scancel(id);
        }
    }
}

/// Cancels Slurm job `id`; why not, when `scancel` failed.
pub fn scancel(id: &str) -> Result<(), String> {
    call("scancel", &[id.to_string()], &[]).map(drop)
}

/// Runs Slurm command `program` with `args` (and `env` added), bounded by
/// [`CALL_TIMEOUT`]; its output (stdout and stderr), or why it failed.
fn call(program: &str, args: &[String], env: &[(String, String)]) -> Result<String, String> {
    let grace = Duration::from_secs(5);
    let (ended, out) = exec::output(program, args.to_vec(), env, CALL_TIMEOUT, grace)?;
    if ended.passed() {
        Ok(out)
    } else {
        Err(format!("{program} {ended}: {}", out.trim()))
    }
}

/// Where a Slurm job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Pending, running, or on its way out: not ended yet.
    Active,
    /// Ended so, to be recorded.
    Ended(Ended),
}

/// The states of Slurm jobs `ids`: one `squeue` call for all of them, and
/// `scontrol show job` for each that left the queue (how it ended). A job
/// Slurm no longer knows ended as lost.
pub fn states(ids: &[(String, PathBuf, Duration)]) -> Result<HashMap<String, State>, String> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let list: Vec<&str> = ids.iter().map(|(i, _, _)| i.as_str()).collect();
    let args = [
        "--noheader".to_string(),
        "--states=all".to_string(),
        "--format=%i|%T".to_string(),
        format!("--jobs={}", list.join(",")),
    ];
    // An id Slurm forgot can make squeue refuse the whole list: then each
    // is asked for on its own below.
    let listed = call("squeue", &args, &[]).unwrap_or_default();
    let mut queue: HashMap<&str, &str> = HashMap::new();
    for l in listed.lines() {
        if let Some((id, state)) = l.trim().split_once('|') {
            queue.insert(id, state);
        }
    }
    for (id, log_dir, timeout) in ids {
        let state = match queue.get(id.as_str()) {
            Some(s) if active(s) => State::Active,
            _ => ended(id, log_dir, *timeout)?,
        };
        out.insert(id.clone(), state);
    }
    Ok(out)
}

/// Whether a Slurm job state is one the job has not ended in.
fn active(state: &str) -> bool {
    matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "SUSPENDED"
            | "REQUEUED"
            | "RESIZING"
            | "SIGNALING"
            | "STAGE_OUT"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "RESV_DEL_HOLD"
            | "STOPPED"
    )
}

/// Where a Slurm job's wrapper writes its command's exit status.
pub fn exit_file(log_dir: &Path) -> PathBuf {
    log_dir.join(".exit-status")
}

/// How job `id`, which `scontrol` no longer knows, ended: from accounting
/// (`sacct`) where the cluster keeps it, else from the exit status its
/// wrapper wrote beside its log; lost when neither tells.
fn forgotten(id: &str, log_dir: &Path, timeout: Duration) -> Result<State, String> {
    let args = [
        "-j".to_string(),
        id.to_string(),
        "-n".into(),
        "-P".into(),
        "-X".into(),
        "-o".into(),
        "State,ExitCode".into(),
    ];
    if let Ok(out) = call("sacct", &args, &[]) {
        let line = out.lines().find(|l| l.contains('|'));
        if let Some((state, code)) = line.and_then(|l| l.trim().split_once('|')) {
            let state = state.split_whitespace().next().unwrap_or("");
            let (c, sig) = code
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .unwrap_or((0, 0));
            if !state.is_empty() && !active(state) {
                return Ok(State::Ended(outcome(id, state, c, sig, timeout)));
            }
        }
    }
    let status = std::fs::read_to_string(exit_file(log_dir)).ok();
    Ok(State::Ended(
        match status.and_then(|s| s.trim().parse::<i32>().ok()) {
            // A shell reports a command a signal ended as 128 + the signal.
            Some(n) if n > 128 => Ended::Finished(Status::Signal(n - 128)),
            Some(n) => Ended::Finished(Status::Code(n)),
            None => Ended::Lost(format!(
                "Slurm no longer knows job {id}, and it left no exit status"
            )),
        },
    ))
}

/// How job `id` ended, from `scontrol show job`.
fn ended(id: &str, log_dir: &Path, timeout: Duration) -> Result<State, String> {
    let args = [
        "--oneliner".to_string(),
        "show".into(),
        "job".into(),
        id.to_string(),
    ];
    let text = match call("scontrol", &args, &[]) {
        Ok(t) => t,
        Err(e) if e.contains("Invalid job id") => return forgotten(id, log_dir, timeout),
        Err(e) => return Err(e),
    };
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    let state = field("JobState").unwrap_or_default();
    if active(&state) {
        return Ok(State::Active);
    }
    let (code, signal) = field("ExitCode")
        .and_then(|c| {
            let (a, b) = c.split_once(':')?;
            Some((a.parse::<i32>().ok()?, b.parse::<i32>().ok()?))
        })
        .unwrap_or((0, 0));
    Ok(State::Ended(outcome(id, &state, code, signal, timeout)))
}

/// What a Slurm end state means for the job: its own pass or failure (an
/// exit status, a signal, its time limit), or a failure of the cluster
/// (a node failure, a preemption, a cancel from outside), an error.
pub fn outcome(id: &str, state: &str, code: i32, signal: i32, timeout: Duration) -> Ended {
    match state {
        "COMPLETED" => Ended::Finished(Status::Code(code)),
        "FAILED" | "OUT_OF_MEMORY" if signal != 0 => Ended::Finished(Status::Signal(signal)),
        "FAILED" | "OUT_OF_MEMORY" => {
            Ended::Finished(Status::Code(if code == 0 { 1 } else { code }))
        }
        "TIMEOUT" => Ended::TimedOut {
            after: timeout,
            stopped_with: Stop::Term,
            status: None,
        },
        other => Ended::Lost(format!("Slurm job {id} ended {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_end_states_are_the_jobs_own_or_the_clusters() {
        let t = Duration::from_secs(600);
        assert_eq!(
            outcome("1", "COMPLETED", 0, 0, t),
            Ended::Finished(Status::Code(0))
        );
        assert_eq!(
            outcome("1", "FAILED", 3, 0, t),
            Ended::Finished(Status::Code(3))
        );
        assert_eq!(
            outcome("1", "FAILED", 0, 9, t),
            Ended::Finished(Status::Signal(9))
        );
        assert!(matches!(
            outcome("1", "TIMEOUT", 0, 15, t),
            Ended::TimedOut { .. }
        ));
        for infra in [
            "NODE_FAIL",
            "PREEMPTED",
            "CANCELLED",
            "BOOT_FAIL",
            "DEADLINE",
        ] {
            assert!(
                matches!(outcome("7", infra, 0, 0, t), Ended::Lost(ref m) if m.contains(infra)),
                "{infra}"
            );
        }
    }
}
