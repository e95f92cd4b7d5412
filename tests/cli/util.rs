//! Helpers for driving the real binary on workspaces copied from fixtures/.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_promoter");

/// A scratch copy of the sample trunk, images and config.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

/// What one invocation gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        self.code(0)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts stderr holds exactly one error line (plus `caused by:` lines)
    /// that contains `needle`.
    #[track_caller]
    pub fn error_says(&self, needle: &str) -> &Run {
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("promoter: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "one error line expected:\n{}", self.stderr);
        assert!(
            errors[0].contains(needle),
            "{needle:?} not in the error:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Copies a tree, keeping symlinks as symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if t.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &dest).unwrap();
        } else if t.is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

impl Workspace {
    /// The sample trunk, images and config.
    pub fn sample() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixtures().join("trunk"), &dir.path().join("trunk"));
        copy_tree(&fixtures().join("images"), &dir.path().join("images"));
        copy_tree(&fixtures().join("jobs"), &dir.path().join("jobs"));
        std::fs::copy(
            fixtures().join("promoter.yaml"),
            dir.path().join("promoter.yaml"),
        )
        .unwrap();
        Workspace { dir }
    }

    /// The component-mode sample trunk, with `config` as the config.
    pub fn components(config: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(
            &fixtures().join("trunk-components"),
            &dir.path().join("trunk"),
        );
        std::fs::write(dir.path().join("promoter.yaml"), config).unwrap();
        Workspace { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn trunk(&self) -> PathBuf {
        self.path().join("trunk")
    }

    pub fn images(&self) -> PathBuf {
        self.path().join("images")
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("state/master.sqlite")
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("promoter.yaml")
    }

    /// Replaces the config with `text`.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    /// Runs `promoter -c <config> ARGS` in the workspace.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = Command::new(BIN);
        c.current_dir(self.path())
            .arg("-c")
            .arg(self.config())
            .args(args)
            .env_remove("PROMOTER_CONFIG")
            .env("USER", "tester")
            .env_remove("DLRNAPI_USERNAME");
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.output().unwrap())
    }

    /// Runs the binary with only `--db`, as a CI job elsewhere would.
    pub fn run_db(&self, args: &[&str]) -> Run {
        let out = Command::new(BIN)
            .current_dir(self.path())
            .arg("--db")
            .arg(self.db())
            .args(args)
            .env_remove("PROMOTER_CONFIG")
            .env("USER", "ci")
            .env_remove("DLRNAPI_USERNAME")
            .output()
            .unwrap();
        Run::from(out)
    }

    /// `repo-promote` of one build by its hashes, by hand.
    pub fn repo_promote(&self, commit: &str, distro: &str, name: &str) -> Run {
        self.run(&[
            "repo-promote",
            "--commit-hash",
            commit,
            "--distro-hash",
            distro,
            "--promote-name",
            name,
        ])
    }

    /// Writes an executable shell script `name` in the workspace.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    }

    /// Reports a vote for a build as CI elsewhere would (`--db` only).
    pub fn vote(&self, job: &str, commit: &str, distro: &str, success: bool) {
        self.run_db(&[
            "report-result",
            "--job-id",
            job,
            "--commit-hash",
            commit,
            "--distro-hash",
            distro,
            "--info-url",
            &format!("https://logs.example.org/{job}"),
            "--timestamp",
            "1700000000",
            "--success",
            if success { "true" } else { "false" },
        ])
        .ok();
    }

    /// Reads one value with SQL, straight from the database file.
    /// Moves `label` by hand to the build the running job tests: that
    /// job's build will not be promoted here any more.
    pub fn promote_running_jobs_build(&self, label: &str) {
        let repo_dir: String = self.sql(
            "SELECT b.repo_dir FROM job_runs j JOIN builds b ON b.id = j.build_id WHERE j.outcome = 'running'",
        );
        let (commit, distro) = hashes_of(&repo_dir);
        self.repo_promote(&commit, &distro, label).ok();
    }

    /// Waits (bounded) until no job run is recorded as running: the jobs'
    /// supervisors have recorded their ends.
    pub fn wait_for_jobs(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.sql::<i64>("SELECT count(*) FROM job_runs WHERE outcome = 'running'") > 0 {
            assert!(std::time::Instant::now() < deadline, "the jobs never ended");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Waits (bounded) until every job run recorded as running has lost
    /// its supervisor (or whoever recorded it): the jobs a killed run left
    /// have ended and recorded their votes, or are left for the next run
    /// to find interrupted.
    pub fn wait_for_supervisors(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let c = rusqlite::Connection::open(self.db()).unwrap();
            let pids: Vec<i64> = c
                .prepare("SELECT runner_pid FROM job_runs WHERE outcome = 'running'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            if pids.iter().all(|p| !process_alive(*p)) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the jobs never ended");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Asserts that no test environment was ever leased to two holders at
    /// once: the leases of each environment do not overlap.
    pub fn assert_leases_never_overlap(&self) {
        let overlaps: i64 = self.sql(
            "SELECT count(*) FROM leases a JOIN leases b
               ON a.testenv = b.testenv AND a.id < b.id
             WHERE b.acquired_at < coalesce(a.released_at, 1 << 62)
               AND a.acquired_at < coalesce(b.released_at, 1 << 62)
               AND NOT (a.released_at = b.acquired_at)",
        );
        assert_eq!(overlaps, 0, "two leases of one environment overlap");
    }

    pub fn sql<T: rusqlite::types::FromSql>(&self, q: &str) -> T {
        let c = rusqlite::Connection::open(self.db()).unwrap();
        c.query_row(q, [], |r| r.get(0)).unwrap()
    }

    /// The target of a link under the workspace.
    pub fn link(&self, rel: &str) -> Option<String> {
        std::fs::read_link(self.path().join(rel))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// The hash directory (relative to the trunk) a builder link names.
    pub fn builder_link(&self, name: &str) -> String {
        self.link(&format!("trunk/{name}")).unwrap()
    }
}

/// The commit hash and distro hash of a hash directory path.
pub fn hashes_of(repo_dir: &str) -> (String, String) {
    let name = repo_dir.rsplit('/').next().unwrap();
    let commit_yaml =
        std::fs::read_to_string(fixtures().join("trunk").join(repo_dir).join("commit.yaml"))
            .unwrap();
    let field = |k: &str| {
        commit_yaml
            .lines()
            .find_map(|l| {
                l.trim_start_matches("- ")
                    .trim()
                    .strip_prefix(&format!("{k}: "))
            })
            .unwrap()
            .to_string()
    };
    let c = field("commit_hash");
    assert!(name.starts_with(&c));
    (c, field("distro_hash"))
}

/// Whether process `pid` lives (a zombie does not).
pub fn process_alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next()),
            Some("Z" | "X") | None
        ),
        Err(_) => false,
    }
}

/// Writes a script (or any file) that may be run.
pub fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let made = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(made, 0, "mkfifo {}", path.display());
}
