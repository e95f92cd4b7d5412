//! A full disk: a publish and an import into a small tmpfs that the test
//! mounts (skipped, saying why, where mounting is not allowed). Each fails
//! cleanly, exit 1 with one error line, and leaves everything as it was.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::harness::*;
use crate::util::*;

/// A tmpfs mounted for the length of a test.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (such as `2m`) at `path`, or says why not.
    fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).unwrap();
        let target = CString::new(path.to_str().unwrap()).unwrap();
        let options = CString::new(format!("size={size},mode=0755")).unwrap();
        // SAFETY: mount(2) with valid C strings.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "cannot mount a tmpfs at {} ({}); it takes root with CAP_SYS_ADMIN",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// Bytes free for an unprivileged writer.
    fn free(&self) -> u64 {
        let p = CString::new(self.path.to_str().unwrap()).unwrap();
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: statvfs into a zeroed struct we own.
        assert_eq!(unsafe { libc::statvfs(p.as_ptr(), &mut s) }, 0);
        s.f_bavail as u64 * s.f_frsize as u64
    }

    /// Fills the file system until only about `leave` bytes are free.
    fn fill(&self, leave: u64) -> PathBuf {
        let filler = self.path.join("filler");
        let n = self.free().saturating_sub(leave);
        std::fs::write(&filler, vec![0u8; n as usize]).unwrap();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let p = CString::new(self.path.to_str().unwrap()).unwrap();
        // SAFETY: unmounting what this value mounted.
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    }
}

macro_rules! mount_or_skip {
    ($test:expr, $path:expr, $size:expr) => {
        match Tmpfs::mount($path, $size) {
            Ok(m) => m,
            Err(why) => {
                eprintln!("{}: skipped: {why}", $test);
                return;
            }
        }
    };
}

/// Asserts the shape of the failure: exit 1, one error line that says
/// `says`, `caused by:` lines, one of which says the disk is full.
#[track_caller]
fn assert_failed_for_space(r: &Run, says: &str, full: &str) {
    r.code(1).error_says(says);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("promoter: error:"))
        .collect();
    assert!(
        lines[1..].iter().all(|l| l.starts_with("caused by: ")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(full), "{full:?} not in\n{}", r.stderr);
}

#[test]
fn a_publish_that_runs_out_of_space_fails_cleanly_and_dest_stays() {
    let ws = Workspace::sample();
    let small = mount_or_skip!("disk::publish", &ws.path().join("small"), "2m");
    ws.write_config(
        "release: master
trunk: trunk
images: images
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
    publish: [images]
publish:
  images:
    source: images
    dest: small/images
    sidecars: [md5]
",
    );
    ws.run(&["import"]).ok();
    let full = |n: i64| -> String {
        ws.sql(&format!(
            "SELECT full_hash FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET {n}"
        ))
    };
    let (old, new) = (full(1), full(0));
    ws.run(&["publish", "--target", "images", "--hash", &old])
        .ok();
    let dest = ws.path().join("small/images");
    let manifest = std::fs::read(dest.join("SHA256SUMS")).unwrap();
    let free_before = small.free();
    // The new build's images do not fit.
    let big = ws.images().join(&new).join("undercloud.qcow2");
    std::fs::write(&big, vec![7u8; 3 << 20]).unwrap();
    let r = ws.run(&["publish", "--target", "images", "--hash", &new]);
    assert_failed_for_space(
        &r,
        &format!("failed to publish {new} to images"),
        "No space left on device",
    );
    assert_eq!(std::fs::read(dest.join("SHA256SUMS")).unwrap(), manifest);
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
    let versions = ws.path().join("small/.images.versions");
    let names: Vec<String> = std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains(".partial-") || n.contains(&new)),
        "the partial version is removed at once: {names:?}"
    );
    assert!(
        small.free() + 64 * 1024 >= free_before,
        "the space is given back: {} free, {free_before} before",
        small.free()
    );
    assert_eq!(
        ws.sql::<i64>("SELECT count(*) FROM publications"),
        1,
        "the failed publish is not recorded"
    );
    // `run` promotes, fails to publish for want of space: exit 1, and the
    // next run, with room again, publishes.
    let r = ws.run(&["run", "--wait"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert_eq!(std::fs::read(dest.join("SHA256SUMS")).unwrap(), manifest);
    std::fs::write(&big, vec![7u8; 256 << 10]).unwrap();
    ws.run(&["run", "--wait"]).ok();
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
    assert_ne!(std::fs::read(dest.join("SHA256SUMS")).unwrap(), manifest);
    assert_database_sound(&ws.db());
}

/// A fake build's hash directory with a `versions.csv` of `rows` packages.
fn synthetic_build(trunk: &Path, n: usize, rows: usize) {
    let ch = format!("e{n:05}{}", "0".repeat(34));
    let dir = trunk.join(format!("{}/{}/{ch}_cafecafe", &ch[..2], &ch[2..4]));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("commit.yaml"),
        format!(
            "commits:\n- commit_hash: {ch}\n  distro_hash: cafecafe{n:08}\n  dt_build: '{}'\n  project_name: p{n}\n  status: SUCCESS\n",
            1_500_000_000 + n
        ),
    )
    .unwrap();
    let mut csv = String::from("Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,Last Success Timestamp,Component,Extended Sha,Pkg NVR\n");
    for r in 0..rows {
        csv.push_str(&format!(
            "project-{n}-{r},https://git.example.org/p{r},{n:040},https://git.example.org/d{r},{r:040},SUCCESS,1500000000,None,None,p{r}-1.0-{n}.el9\n"
        ));
    }
    std::fs::write(dir.join("versions.csv"), csv).unwrap();
}

#[test]
fn an_import_that_runs_out_of_space_leaves_the_database_as_it_was() {
    let ws = Workspace::sample();
    let small = mount_or_skip!("disk::import", &ws.path().join("small"), "8m");
    ws.write_config(
        "release: master
trunk: trunk
images: images
database: small/state/master.sqlite
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
",
    );
    let db = ws.path().join("small/state/master.sqlite");
    ws.run(&["run", "--wait"]).ok();
    let (c, d) = hashes_of(&ws.builder_link("consistent"));
    ws.run(&[
        "--db",
        db.to_str().unwrap(),
        "report-result",
        "--job-id",
        "ci",
        "--commit-hash",
        &c,
        "--distro-hash",
        &d,
        "--info-url",
        "u",
        "--timestamp",
        "1700000000",
        "--success",
        "true",
    ])
    .ok();
    for n in 0..300 {
        synthetic_build(&ws.trunk(), n, 10);
    }
    let counts = || -> Vec<i64> {
        [
            "builds",
            "votes",
            "promotions",
            "package_versions",
            "build_packages",
        ]
        .iter()
        .map(|t| {
            let c = rusqlite::Connection::open(&db).unwrap();
            c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        })
        .collect()
    };
    let before = counts();
    let recorded = Recorded::read(&db);
    let filler = small.fill(128 * 1024);
    let r = ws.run(&["import"]);
    assert_failed_for_space(&r, "failed", "full");
    std::fs::remove_file(&filler).unwrap();
    assert_database_sound(&db);
    assert_eq!(counts(), before, "the import added nothing");
    assert_eq!(Recorded::read(&db), recorded);
    // With room again, the same import lands whole.
    ws.run(&["import"]).ok();
    let after = counts();
    assert_eq!(after[0], before[0] + 300);
    assert_eq!(after[4], before[4] + 300 * 10);
    assert_database_sound(&db);
}
