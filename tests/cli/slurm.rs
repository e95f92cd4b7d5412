//! Jobs on a real single-node Slurm cluster: munged, slurmctld and slurmd
//! started on loopback ports this test picks, stopped by pid however the
//! test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// A running single-node Slurm cluster, its daemons stopped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // slurmd first: it runs the jobs; then the controller, then munge.
        for d in self.daemons.iter_mut().rev() {
            // SAFETY: a signal to a daemon this test started.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
        }
        for d in self.daemons.iter_mut().rev() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(d.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(program).is_file()
}

fn sbin(program: &str) -> PathBuf {
    let p = Path::new("/usr/sbin").join(program);
    if p.is_file() {
        p
    } else {
        PathBuf::from(program)
    }
}

impl Cluster {
    /// Starts the cluster, or says why it cannot and returns `None`.
    fn start() -> Option<Cluster> {
        for p in [
            "munged",
            "slurmctld",
            "slurmd",
            "sbatch",
            "squeue",
            "scontrol",
            "scancel",
        ] {
            if !have(p) {
                if std::env::var_os("PROMOTER_SKIP_SLURM").is_some() {
                    eprintln!("SKIPPED: {p} is not installed (PROMOTER_SKIP_SLURM is set)");
                    return None;
                }
                panic!("{p} is not installed: scripts/test.sh installs slurm-wlm and munge");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["state", "spool", "log", "shared"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let key = d.join("munge.key");
        let mut bytes = vec![0u8; 1024];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
            .unwrap();
        std::fs::write(&key, bytes).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o400))
            .unwrap();
        let socket = d.join("munge.sock");
        let mut cluster = Cluster {
            dir,
            daemons: Vec::new(),
        };
        let d = cluster.dir.path().to_path_buf();
        let munged = Command::new(sbin("munged"))
            .args(["-F", "-f"])
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--pid-file={}", d.join("munged.pid").display()))
            .arg(format!("--log-file={}", d.join("log/munged.log").display()))
            .arg(format!("--seed-file={}", d.join("munged.seed").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match munged {
            Ok(c) => cluster.daemons.push(c),
            Err(e) => {
                eprintln!("SKIPPED: munged cannot start: {e}");
                return None;
            }
        }
        if !wait_for(|| socket.exists(), Duration::from_secs(10)) {
            eprintln!("SKIPPED: munged did not create its socket");
            return None;
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .to_string();
        let (ctld, slurmd) = (free_port(), free_port());
        std::fs::write(
            cluster.conf(),
            format!(
                "ClusterName=promoter
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={socket}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
KillWait=2
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=ci Nodes={host} Default=YES MaxTime=INFINITE State=UP
",
                socket = socket.display(),
                d = d.display()
            ),
        )
        .unwrap();
        for (daemon, extra) in [
            ("slurmctld", vec!["-D", "-i"]),
            ("slurmd", vec!["-D", "-N", host.as_str()]),
        ] {
            match Command::new(sbin(daemon))
                .args(&extra)
                .env("SLURM_CONF", cluster.conf())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => cluster.daemons.push(c),
                Err(e) => {
                    eprintln!("SKIPPED: {daemon} cannot start: {e}");
                    return None;
                }
            }
        }
        let idle = wait_for(
            || {
                cluster
                    .cmd("sinfo", &["-h", "-o", "%T"])
                    .is_some_and(|s| s.trim() == "idle")
            },
            Duration::from_secs(60),
        );
        if !idle {
            let log = std::fs::read_to_string(d.join("log/slurmctld.log")).unwrap_or_default();
            panic!("the Slurm node never became idle:\n{log}");
        }
        Some(cluster)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    /// A directory the node shares with this host (it is this host).
    fn shared(&self) -> PathBuf {
        self.dir.path().join("shared")
    }

    /// Runs a Slurm client command against this cluster; its stdout.
    fn cmd(&self, program: &str, args: &[&str]) -> Option<String> {
        let out = Command::new(program)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The Slurm jobs still queued or running.
    fn queued(&self) -> Vec<String> {
        self.cmd("squeue", &["-h", "-o", "%i"])
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

fn wait_for(mut ok: impl FnMut() -> bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !ok() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// A workspace whose jobs (YAML under `jobs:`, each `executor: hpc`) run
/// on the cluster, required by tripleo-ci-testing; its logs on the tree
/// the node shares.
fn on_slurm(c: &Cluster, jobs: &str, criteria: &str, extra: &str) -> Workspace {
    let ws = Workspace::sample();
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: images
logs: {logs}
{extra}
executors:
  hpc:
    kind: slurm
    partition: ci
jobs:
{jobs}
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    jobs: [{criteria}]
    criteria: [{criteria}]
",
        logs = c.shared().join("logs").display()
    ));
    ws
}

impl Workspace {
    fn on_cluster(&self, c: &Cluster, args: &[&str]) -> Run {
        self.run_env(args, &[("SLURM_CONF", c.conf().to_str().unwrap())])
    }
}

#[test]
fn jobs_on_slurm_promote_when_they_pass_and_block_with_their_exit_status_and_log_when_one_fails() {
    let Some(c) = Cluster::start() else { return };
    let ws = on_slurm(
        &c,
        "  ok:\n    command: [./ok.sh]\n    executor: hpc\n  bad:\n    command: [./bad.sh, one arg]\n    executor: hpc\n",
        "ok, bad",
        "",
    );
    ws.script("ok.sh", "echo \"ok on $PROMOTER_FULL_HASH\"");
    ws.script(
        "bad.sh",
        "echo \"argument: $1\"\necho 'Error: overcloud deploy failed' >&2\nexit 3",
    );
    ws.on_cluster(&c, &["run", "--wait"]).ok();
    let executors: String = ws.sql("SELECT group_concat(DISTINCT executor) FROM job_runs");
    assert_eq!(executors, "hpc");
    let ids: i64 = ws.sql("SELECT count(*) FROM job_runs WHERE executor_id GLOB '[0-9]*'");
    assert_eq!(ids, 2, "each job run has its Slurm job id");
    assert!(ws.link("trunk/tripleo-ci-testing").is_none(), "bad failed");
    let why = ws.on_cluster(&c, &["why", "--promotion", "tripleo-ci-testing"]);
    why.ok();
    assert!(why.stdout.contains("exit status 3"), "{}", why.stdout);
    assert!(why.stdout.contains("argument: one arg"), "{}", why.stdout);
    assert!(
        why.stdout.contains("Error: overcloud deploy failed"),
        "{}",
        why.stdout
    );
    let ok: String = ws.sql("SELECT notes FROM job_runs WHERE job_id = 'ok'");
    assert!(ok.starts_with("passed"), "{ok}");
    // Only ok required: promoted on its vote.
    let cfg = std::fs::read_to_string(ws.config()).unwrap();
    ws.write_config(&cfg.replace("criteria: [ok, bad]", "criteria: [ok]"));
    ws.on_cluster(&c, &["run", "--wait"]).ok();
    assert!(ws.link("trunk/tripleo-ci-testing").is_some());
}

#[test]
fn a_slurm_job_past_its_time_limit_is_recorded_as_timed_out() {
    let Some(c) = Cluster::start() else { return };
    let ws = on_slurm(
        &c,
        "  slow:\n    command: [./slow.sh]\n    executor: hpc\n    timeout: 1m\n",
        "slow",
        "",
    );
    ws.script("slow.sh", "exec sleep 600");
    ws.on_cluster(&c, &["run", "--wait"]).ok();
    let (outcome, notes): (String, String) = (
        ws.sql("SELECT outcome FROM job_runs"),
        ws.sql("SELECT notes FROM job_runs"),
    );
    assert_eq!(outcome, "timed_out", "{notes}");
    assert!(notes.contains("timed out after 1m"), "{notes}");
}

#[test]
fn a_superseded_slurm_job_is_cancelled_and_one_cancelled_from_outside_is_an_error_run_tried_again()
{
    let Some(c) = Cluster::start() else { return };
    let ws = on_slurm(
        &c,
        "  hold:\n    command: [./hold.sh]\n    executor: hpc\n",
        "hold",
        "",
    );
    ws.script("hold.sh", "exec sleep 600");
    ws.on_cluster(&c, &["run"]).ok();
    let first: String = ws.sql("SELECT executor_id FROM job_runs");
    assert!(wait_for(
        || c.queued() == [first.clone()],
        Duration::from_secs(30)
    ));
    // Cancelled from outside: an error of the cluster, not the build's
    // failure; the next run submits it again.
    c.cmd("scancel", &[&first]).unwrap();
    assert!(wait_for(|| c.queued().is_empty(), Duration::from_secs(30)));
    let r = ws.on_cluster(&c, &["run"]);
    r.ok();
    let outcome: String = ws.sql(&format!(
        "SELECT outcome FROM job_runs WHERE executor_id = '{first}'"
    ));
    assert_eq!(outcome, "error", "{}", r.stderr);
    let votes: i64 = ws.sql("SELECT count(*) FROM votes WHERE job_id = 'hold' AND in_progress = 0");
    assert_eq!(votes, 0, "an error is no vote");
    let second: String = ws.sql("SELECT executor_id FROM job_runs WHERE outcome = 'running'");
    assert_ne!(second, first);
    assert!(wait_for(
        || c.queued() == [second.clone()],
        Duration::from_secs(30)
    ));
    // Its build is promoted by hand: the job is superseded and cancelled.
    ws.promote_running_jobs_build("tripleo-ci-testing");
    let r = ws.on_cluster(&c, &["run"]);
    r.ok();
    assert!(r.stderr.contains("superseded"), "{}", r.stderr);
    assert!(
        wait_for(|| c.queued().is_empty(), Duration::from_secs(30)),
        "squeue still lists {:?}",
        c.queued()
    );
    let outcome: String = ws.sql(&format!(
        "SELECT outcome FROM job_runs WHERE executor_id = '{second}'"
    ));
    assert_eq!(outcome, "interrupted");
}

#[test]
fn a_slurm_job_on_a_test_environment_holds_its_lease_until_slurm_says_it_ended() {
    let Some(c) = Cluster::start() else { return };
    let ws = on_slurm(
        &c,
        "  deploy:\n    command: [./deploy.sh]\n    executor: hpc\n    testenv: ovb\n",
        "deploy",
        "",
    );
    std::fs::write(ws.path().join("env.json"), "{\"host\": \"h\"}").unwrap();
    ws.run(&[
        "testenv", "add", "e1", "--pool", "ovb", "--data", "env.json",
    ])
    .ok();
    let go = c.shared().join("go");
    ws.script(
        "deploy.sh",
        &format!(
            "test -s \"$TE_DATAFILE\" || exit 9\nwhile [ ! -e {} ]; do sleep 0.1; done",
            go.display()
        ),
    );
    ws.on_cluster(&c, &["run"]).ok();
    let id: String = ws.sql("SELECT executor_id FROM job_runs");
    assert!(wait_for(
        || c.queued() == [id.clone()],
        Duration::from_secs(30)
    ));
    for _ in 0..2 {
        ws.on_cluster(&c, &["run"]).ok();
        ws.run(&["testenv", "acquire", "--pool", "ovb", "--holder", "other"])
            .code(75);
    }
    std::fs::write(&go, "").unwrap();
    assert!(wait_for(|| c.queued().is_empty(), Duration::from_secs(30)));
    ws.run(&["testenv", "acquire", "--pool", "ovb", "--holder", "other"])
        .code(75);
    // The run that finds it ended records it and gives the lease back.
    ws.on_cluster(&c, &["run"]).ok();
    assert_eq!(ws.sql::<String>("SELECT outcome FROM job_runs"), "passed");
    ws.run(&["testenv", "acquire", "--pool", "ovb", "--holder", "other"])
        .ok();
    ws.assert_leases_never_overlap();
}

#[test]
fn a_run_with_fifty_jobs_pending_in_slurm_asks_squeue_once_and_returns_at_once() {
    let Some(c) = Cluster::start() else { return };
    let mut jobs = String::new();
    let mut names = Vec::new();
    for i in 0..50 {
        jobs.push_str(&format!(
            "  j{i}:\n    command: [./j.sh]\n    executor: hpc\n"
        ));
        names.push(format!("j{i}"));
    }
    // They cannot start for an hour: pending all along.
    let ws = on_slurm(&c, &jobs, &names.join(", "), "");
    let cfg = std::fs::read_to_string(ws.config()).unwrap();
    ws.write_config(&cfg.replace(
        "    partition: ci\n",
        "    partition: ci\n    sbatch_args: [--begin=now+1hour]\n",
    ));
    ws.script("j.sh", "true");
    ws.on_cluster(&c, &["run"]).ok();
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM job_runs WHERE outcome = 'running'"),
        50
    );
    // Count the Slurm calls of the next run through a PATH of wrappers.
    let shims = ws.path().join("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let calls = ws.path().join("calls");
    for tool in ["squeue", "scontrol", "sbatch", "scancel"] {
        let real = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let real = String::from_utf8(real.stdout).unwrap();
        std::fs::write(
            shims.join(tool),
            format!(
                "#!/bin/sh\necho {tool} >> {}\nexec {} \"$@\"\n",
                calls.display(),
                real.trim()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            shims.join(tool),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let path = format!("{}:{}", shims.display(), std::env::var("PATH").unwrap());
    let t = Instant::now();
    let r = ws.run_env(
        &["run"],
        &[("SLURM_CONF", c.conf().to_str().unwrap()), ("PATH", &path)],
    );
    let took = t.elapsed();
    r.ok();
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["squeue"],
        "one squeue, nothing else"
    );
    eprintln!("slurm: a run with 50 jobs pending took {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    for id in c.queued() {
        c.cmd("scancel", &[&id]);
    }
}

#[test]
fn a_rerun_of_a_slurm_job_that_runs_cancels_it_and_submits_it_again() {
    let Some(c) = Cluster::start() else { return };
    let ws = on_slurm(
        &c,
        "  hold:\n    command: [./hold.sh]\n    executor: hpc\n",
        "hold",
        "",
    );
    ws.script("hold.sh", "exec sleep 600");
    ws.on_cluster(&c, &["run"]).ok();
    let first: String = ws.sql("SELECT executor_id FROM job_runs");
    assert!(wait_for(
        || c.queued() == [first.clone()],
        Duration::from_secs(30)
    ));
    let r = ws.on_cluster(&c, &["run", "--rerun", "hold"]);
    r.ok();
    assert!(
        r.stderr.contains("to run it again (--rerun)"),
        "{}",
        r.stderr
    );
    let outcome: String = ws.sql(&format!(
        "SELECT outcome FROM job_runs WHERE executor_id = '{first}'"
    ));
    assert_eq!(outcome, "interrupted");
    let second: String = ws.sql("SELECT executor_id FROM job_runs WHERE outcome = 'running'");
    assert_ne!(second, first, "submitted again at once");
    assert!(
        wait_for(|| c.queued() == [second.clone()], Duration::from_secs(30)),
        "squeue lists {:?}",
        c.queued()
    );
    c.cmd("scancel", &[&second]);
}
