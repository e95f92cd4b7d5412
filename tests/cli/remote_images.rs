//! An image tree on another host, reached with the system's ssh: an sshd
//! on 127.0.0.1 with a host key and a user key this test makes, started
//! on a port it picks and stopped by pid however the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::*;

struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn start() -> Option<Sshd> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.is_file() || Command::new("ssh-keygen").arg("-?").output().is_err() {
            if std::env::var_os("PROMOTER_SKIP_SSHD").is_some() {
                eprintln!("SKIPPED: sshd is not installed (PROMOTER_SKIP_SSHD is set)");
                return None;
            }
            panic!("sshd is not installed: scripts/test.sh installs openssh-server");
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (key, file) in [("host", "host_ed25519"), ("user", "id_ed25519")] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(d.join(file))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel ERROR\n",
                d = d.display()
            ),
        )
        .unwrap();
        // Its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Sshd { dir, child, port })
    }

    /// The config's `ssh:` for this server: its key, no host checks.
    fn ssh_yaml(&self) -> String {
        format!(
            "ssh: [ssh, -i, {}, -o, StrictHostKeyChecking=no, -o, UserKnownHostsFile=/dev/null, -o, BatchMode=yes, -o, LogLevel=ERROR]",
            self.dir.path().join("id_ed25519").display()
        )
    }
}

fn user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

#[test]
fn image_links_on_a_remote_host_move_atomically_over_ssh_and_are_read_back() {
    let Some(sshd) = Sshd::start() else { return };
    let ws = Workspace::sample();
    // The image tree is on the "remote" host: this one, reached over ssh.
    let remote: PathBuf = ws.path().join("remote-images");
    copy_tree(&ws.images(), &remote);
    std::fs::remove_dir_all(ws.images()).unwrap();
    let cfg = format!(
        "release: master
trunk: trunk
images: ssh://{user}@127.0.0.1:{port}{remote}
{ssh}
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
    images: required
",
        user = user(),
        port = sshd.port,
        remote = remote.display(),
        ssh = sshd.ssh_yaml()
    );
    ws.write_config(&cfg);
    ws.run(&["config", "check"]).ok();
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    let label = remote.join("tripleo-ci-testing");
    let first = std::fs::read_link(&label).unwrap_or_else(|_| panic!("{}", r.stderr));
    let newest: String =
        ws.sql("SELECT full_hash FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1");
    assert_eq!(first, PathBuf::from(&newest));
    assert!(r.stderr.contains("(trunk and images)"), "{}", r.stderr);
    // A reader on the remote never sees the link missing while it moves.
    let (older_dir, older): (String, String) = (
        ws.sql("SELECT repo_dir FROM builds WHERE full_hash = 'a22f0781852b662e1eabaa379019e3b471398dd9_f9019a4c'"),
        "a22f0781852b662e1eabaa379019e3b471398dd9_f9019a4c".into(),
    );
    let stop = AtomicBool::new(false);
    let missing = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut missing = 0;
            while !stop.load(Ordering::Relaxed) {
                if std::fs::read_link(&label).is_err() {
                    missing += 1;
                }
            }
            missing
        });
        let (commit, distro) = hashes_of(&older_dir);
        ws.repo_promote(&commit, &distro, "tripleo-ci-testing").ok();
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert_eq!(missing, 0, "the link was missing {missing} times");
    assert_eq!(std::fs::read_link(&label).unwrap(), PathBuf::from(&older));
    assert_eq!(
        std::fs::read_link(remote.join("previous-tripleo-ci-testing")).unwrap(),
        PathBuf::from(&newest)
    );
    let leftovers: Vec<_> = std::fs::read_dir(&remote)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A build with no image directory there is blocked (images: required).
    let bare = "bae3a7b3075eca835bff1eca121d9c822ca32494_aa9b6c85";
    std::fs::remove_dir_all(remote.join(bare)).unwrap();
    let why = ws.run(&["why", "--promotion", "tripleo-ci-testing", "--hash", bare]);
    why.ok();
    assert!(
        why.stdout.starts_with(&format!(
            "tripleo-ci-testing: {bare} is blocked: its images: it has no image directory in ssh://"
        )),
        "{}",
        why.stdout
    );
    // A corrupted image there blocks its build: checked with md5sum there.
    let img = remote.join(&newest).join("overcloud-full.tar");
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&img, bytes).unwrap();
    let (commit, distro) = hashes_of(&ws.sql::<String>(&format!(
        "SELECT repo_dir FROM builds WHERE full_hash = '{newest}'"
    )));
    let r = ws.repo_promote(&commit, &distro, "tripleo-ci-testing");
    r.code(4);
    assert!(
        r.stderr.contains("overcloud-full.tar: FAILED"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_link(&label).unwrap(),
        PathBuf::from(&older),
        "unmoved"
    );
}

#[test]
fn a_remote_image_tree_that_cannot_be_read_is_refused_by_config_check() {
    let ws = Workspace::sample();
    for (images, says) in [
        (
            "uploader@images.example.org:relative/path",
            "the remote path must be absolute",
        ),
        (
            "ssh://uploader@images.example.org:port/srv",
            "is not a port",
        ),
    ] {
        ws.write_config(&format!(
            "release: master\ntrunk: trunk\nimages: {images}\n"
        ));
        let r = ws.run(&["config", "check"]);
        r.code(2);
        assert!(r.stderr.contains(says), "{images}: {}", r.stderr);
    }
    // An images target cannot publish from a tree that is not here.
    ws.write_config(
        "release: master\ntrunk: trunk\nimages: uploader@images.example.org:/srv/images\npublish:\n  imgs:\n    source: images\n    dest: out\n",
    );
    ws.run(&["config", "check"])
        .code(2)
        .error_says("publish.imgs.source");
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "the crash hook is built only with --features fault, as scripts/test.sh builds it"
)]
fn a_command_killed_between_the_two_remote_links_leaves_the_old_label_and_the_next_completes() {
    let Some(sshd) = Sshd::start() else { return };
    let ws = Workspace::sample();
    let remote: PathBuf = ws.path().join("remote-images");
    copy_tree(&ws.images(), &remote);
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: ssh://{user}@127.0.0.1:{port}{remote}
{ssh}
promotions:
  tripleo-ci-testing:
    candidate_label: consistent
    criteria: [consistent]
",
        user = user(),
        port = sshd.port,
        remote = remote.display(),
        ssh = sshd.ssh_yaml()
    ));
    ws.run(&["import"]).ok();
    let old = "a22f0781852b662e1eabaa379019e3b471398dd9_f9019a4c";
    let new: String =
        ws.sql("SELECT full_hash FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1");
    let (c, d) = hashes_of(&ws.sql::<String>(&format!(
        "SELECT repo_dir FROM builds WHERE full_hash = '{old}'"
    )));
    ws.repo_promote(&c, &d, "tripleo-ci-testing").ok();
    let label = remote.join("tripleo-ci-testing");
    assert_eq!(std::fs::read_link(&label).unwrap(), PathBuf::from(old));
    // Killed after previous- moved, before the label did.
    let (c, d) = hashes_of(&ws.sql::<String>(&format!(
        "SELECT repo_dir FROM builds WHERE full_hash = '{new}'"
    )));
    let r = ws.run_env(
        &[
            "repo-promote",
            "--commit-hash",
            &c,
            "--distro-hash",
            &d,
            "--promote-name",
            "tripleo-ci-testing",
        ],
        &[("PROMOTER_FAULT", "after-remote-previous")],
    );
    assert_eq!(r.code, -1, "killed: {}", r.stderr);
    assert_eq!(
        std::fs::read_link(&label).unwrap(),
        PathBuf::from(old),
        "the old label stays"
    );
    assert_eq!(
        std::fs::read_link(remote.join("previous-tripleo-ci-testing")).unwrap(),
        PathBuf::from(old)
    );
    // The next command completes the recorded promotion.
    ws.run(&["run"]).ok();
    assert_eq!(std::fs::read_link(&label).unwrap(), PathBuf::from(&new));
    assert!(ws.link("trunk/tripleo-ci-testing").unwrap().ends_with(&new));
}
