use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

const TARGETS: &str = "publish:
  tested-repo:
    source: trunk
    dest: buildlogs/centos/7/cloud/x86_64/rdo-trunk-master-tested
    keep: 2
  images:
    source: images
    dest: buildlogs/centos/7/cloud/x86_64/tripleo_images/master/delorean
    sidecars: [md5, sha256]
";

fn published() -> Workspace {
    let ws = Workspace::sample();
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: images
promotions:
  current-tripleo:
    candidate_label: consistent
    criteria: [consistent]
    publish: [tested-repo, images]
{TARGETS}"
    ));
    ws.run(&["import"]).ok();
    ws
}

fn repo_dest(ws: &Workspace) -> PathBuf {
    ws.path()
        .join("buildlogs/centos/7/cloud/x86_64/rdo-trunk-master-tested")
}

fn images_dest(ws: &Workspace) -> PathBuf {
    ws.path()
        .join("buildlogs/centos/7/cloud/x86_64/tripleo_images/master/delorean")
}

/// (repo_dir, full hash) of the n-th newest consistent build.
fn consistent(ws: &Workspace, n: i64) -> (String, String) {
    let c = rusqlite::Connection::open(ws.db()).unwrap();
    c.query_row(
        &format!("SELECT repo_dir, full_hash FROM builds WHERE consistent ORDER BY dt_build DESC LIMIT 1 OFFSET {n}"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// Every file under `dir` (following the top link), relative, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::metadata(&p).unwrap();
            if m.is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    let real = std::fs::canonicalize(dir).unwrap();
    walk(&real, &real, &mut out);
    out.sort();
    out
}

fn sh(dir: &Path, cmd: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn dest_shows_the_build_with_symlinks_dereferenced_and_checksums_that_sha256sum_accepts() {
    let ws = published();
    let (dir, full) = consistent(&ws, 0);
    let r = ws.run(&["publish", "--target", "tested-repo", "--hash", &full]);
    r.ok();
    assert!(
        r.stdout
            .contains(&format!("published {full} to tested-repo")),
        "{}",
        r.stdout
    );
    let dest = repo_dest(&ws);
    assert!(std::fs::symlink_metadata(&dest)
        .unwrap()
        .file_type()
        .is_symlink());
    let mut shown = files(&dest);
    shown.retain(|(p, _)| p != "SHA256SUMS");
    let source = files(&ws.trunk().join(&dir));
    assert_eq!(shown, source, "exactly the build's files, links followed");
    assert!(std::fs::read_link(ws.trunk().join(&dir)).is_err());
    let check = sh(&dest, "sha256sum -c --quiet SHA256SUMS");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let manifest = std::fs::read_to_string(dest.join("SHA256SUMS")).unwrap();
    assert_eq!(manifest.lines().count(), source.len());
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
}

#[test]
fn image_sidecars_are_written_from_the_published_bytes() {
    let ws = published();
    let (_, full) = consistent(&ws, 0);
    ws.run(&["publish", "--target", "images", "--hash", &full])
        .ok();
    let dest = images_dest(&ws);
    for f in ["overcloud-full.tar", "ironic-python-agent.tar"] {
        for (tool, ext) in [("md5sum", "md5"), ("sha256sum", "sha256")] {
            let out = sh(&dest, &format!("{tool} -c {f}.{ext}"));
            assert!(
                out.status.success(),
                "{tool} {f}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    let out = sh(&dest, "sha256sum -c --quiet SHA256SUMS");
    assert!(out.status.success());
    let manifest = std::fs::read_to_string(dest.join("SHA256SUMS")).unwrap();
    assert!(
        manifest.contains("  overcloud-full.tar.md5\n"),
        "sidecars are covered:\n{manifest}"
    );
}

#[test]
fn verify_catches_a_changed_a_missing_and_an_extra_file() {
    let ws = published();
    let (_, full) = consistent(&ws, 0);
    ws.run(&["publish", "--target", "tested-repo", "--hash", &full])
        .ok();
    // A copy elsewhere, as a mirror would hold it.
    let copy = ws.path().join("mirror");
    let out = Command::new("cp")
        .arg("-rL")
        .arg(repo_dest(&ws))
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success());
    ws.run(&["verify", copy.to_str().unwrap()]).ok();
    std::fs::write(copy.join("delorean.repo"), "[tampered]\n").unwrap();
    std::fs::remove_file(copy.join("versions.csv")).unwrap();
    std::fs::write(copy.join("intruder.rpm"), "x").unwrap();
    let r = ws.run(&["verify", copy.to_str().unwrap()]);
    r.code(1);
    assert!(r.stdout.contains("changed  delorean.repo"), "{}", r.stdout);
    assert!(r.stdout.contains("missing  versions.csv"), "{}", r.stdout);
    assert!(r.stdout.contains("extra    intruder.rpm"), "{}", r.stdout);
    let j = ws.run(&["verify", "--json", copy.to_str().unwrap()]).json();
    assert_eq!(j["changed"][0], "delorean.repo");
    ws.run(&["verify", ws.path().to_str().unwrap()])
        .code(3)
        .error_says("SHA256SUMS");
}

#[test]
fn unchanged_files_are_reused_not_copied() {
    let ws = published();
    let (_, old) = consistent(&ws, 1);
    let (_, new) = consistent(&ws, 0);
    ws.run(&["publish", "--target", "tested-repo", "--hash", &old])
        .ok();
    let versions = repo_dest(&ws).with_file_name(".rdo-trunk-master-tested.versions");
    let r = ws.run(&[
        "publish",
        "--target",
        "tested-repo",
        "--hash",
        &new,
        "--json",
    ]);
    r.ok();
    let j = r.json();
    assert!(j["copied_files"].as_u64().unwrap() < j["files"].as_u64().unwrap());
    let ino = |h: &str, f: &str| {
        std::fs::metadata(versions.join(h).join(f))
            .map(|m| m.ino())
            .ok()
    };
    let mut shared = 0;
    for e in std::fs::read_dir(versions.join(&new)).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rpm") {
            if let (Some(a), Some(b)) = (ino(&old, &name), ino(&new, &name)) {
                assert_eq!(a, b, "{name} is the same file in both versions");
                shared += 1;
            }
        }
    }
    assert!(shared > 0, "the builds share RPMs");
    assert_ne!(
        ino(&old, "versions.csv"),
        ino(&new, "versions.csv"),
        "changed files are new"
    );
}

#[test]
fn an_escaping_symlink_refuses_the_publish_and_dest_stays_as_it_was() {
    let ws = published();
    let (_, old) = consistent(&ws, 1);
    let (dir, new) = consistent(&ws, 0);
    ws.run(&["publish", "--target", "tested-repo", "--hash", &old])
        .ok();
    let before = files(&repo_dest(&ws));
    std::os::unix::fs::symlink("/etc/hostname", ws.trunk().join(&dir).join("escape.rpm")).unwrap();
    let r = ws.run(&["publish", "--target", "tested-repo", "--hash", &new]);
    r.code(4)
        .error_says("escape.rpm leads outside the source root");
    assert_eq!(files(&repo_dest(&ws)), before);
    std::fs::remove_file(ws.trunk().join(&dir).join("escape.rpm")).unwrap();
    std::os::unix::fs::symlink("loop.rpm", ws.trunk().join(&dir).join("loop.rpm")).unwrap();
    ws.run(&["publish", "--target", "tested-repo", "--hash", &new])
        .code(4)
        .error_says("loop");
    assert_eq!(files(&repo_dest(&ws)), before);
}

#[test]
fn a_publish_killed_at_random_moments_leaves_the_old_or_the_new_build_and_the_next_completes() {
    let ws = published();
    let (_, old) = consistent(&ws, 1);
    let (_, new) = consistent(&ws, 0);
    // Make the new image build big enough to be killed in the middle.
    let big = ws.images().join(&new);
    for i in 0..40 {
        let bytes: Vec<u8> = (0..262_144u32)
            .map(|j| (j.wrapping_mul(2654435761).wrapping_add(i) >> 7) as u8)
            .collect();
        std::fs::write(big.join(format!("layer-{i:02}.qcow2")), bytes).unwrap();
    }
    ws.run(&["publish", "--target", "images", "--hash", &old])
        .ok();
    let dest = images_dest(&ws);
    let old_files = files(&dest);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..12 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_micros((seed >> 33) % 60_000);
        let mut child = Command::new(BIN)
            .args([
                "-q",
                "-c",
                ws.config().to_str().unwrap(),
                "publish",
                "--target",
                "images",
                "--hash",
                &new,
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(delay); // the random moment of the kill
        let _ = child.kill();
        child.wait().unwrap();
        let now = files(&dest);
        let shown = std::fs::read_link(&dest).unwrap();
        if shown.ends_with(&old) {
            assert_eq!(now, old_files, "round {round}: exactly the old build");
        } else {
            assert!(shown.ends_with(&new), "round {round}: {shown:?}");
            ws.run(&["verify", dest.to_str().unwrap()]).ok();
        }
        // Undo a publish that finished, so the next round starts over.
        if shown.ends_with(&new) {
            ws.run(&["publish", "--target", "images", "--hash", &old])
                .ok();
            let v = dest.with_file_name(".delorean.versions").join(&new);
            let _ = std::fs::remove_dir_all(v);
            let c = rusqlite::Connection::open(ws.db()).unwrap();
            c.execute("DELETE FROM publications WHERE full_hash = ?1", [&new])
                .unwrap();
        }
    }
    ws.run(&["publish", "--target", "images", "--hash", &new])
        .ok();
    assert!(std::fs::read_link(&dest).unwrap().ends_with(&new));
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
    let leftovers: Vec<_> = std::fs::read_dir(dest.with_file_name(".delorean.versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn keep_never_removes_a_labelled_version() {
    let ws = published();
    let builds: Vec<(String, String)> = (0..4).map(|n| consistent(&ws, n)).collect();
    // current-tripleo points at the oldest; previous-current-tripleo at the next.
    let (c0, d0) = hashes_of(&builds[3].0);
    let (c1, d1) = hashes_of(&builds[2].0);
    ws.repo_promote(&c1, &d1, "current-tripleo").ok();
    ws.repo_promote(&c0, &d0, "current-tripleo").ok();
    for (_, full) in builds.iter().rev() {
        ws.run(&["publish", "--target", "tested-repo", "--hash", full])
            .ok();
    }
    let versions = repo_dest(&ws).with_file_name(".rdo-trunk-master-tested.versions");
    let listing = || -> Vec<String> {
        std::fs::read_dir(&versions)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    let mut left = listing();
    left.sort();
    let mut want: Vec<String> = vec![
        builds[0].1.clone(), // current
        builds[1].1.clone(), // the one before it (keep: 2)
        builds[2].1.clone(), // previous-current-tripleo
        builds[3].1.clone(), // current-tripleo
    ];
    want.sort();
    assert_eq!(left, want, "nothing labelled was removed");
    // Once the labels move on, the old versions go.
    let (c, d) = hashes_of(&builds[0].0);
    ws.repo_promote(&c, &d, "current-tripleo").ok();
    ws.run(&["publish", "--target", "tested-repo", "--hash", &builds[0].1])
        .ok();
    assert_eq!(listing().len(), 3, "keep 2, plus previous-current-tripleo");
    let indexes = std::fs::read_dir(&versions)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".index-")
        })
        .count();
    assert_eq!(indexes, 3, "a removed version's index goes with it");
}

#[test]
fn run_publishes_after_the_promotion_that_names_the_target() {
    let ws = published();
    let (_, full) = consistent(&ws, 0);
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(
        r.stderr
            .contains(&format!("published {full} to tested-repo")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("published {full} to images")),
        "{}",
        r.stderr
    );
    assert!(std::fs::read_link(repo_dest(&ws)).unwrap().ends_with(&full));
    ws.run(&["verify", images_dest(&ws).to_str().unwrap()]).ok();
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM publications"), 2);
    // status and the metrics say what each target shows.
    let st = ws.run(&["status"]);
    assert!(
        st.stdout
            .contains(&format!("published {full} to tested-repo at ")),
        "{}",
        st.stdout
    );
    let metrics = ws.path().join("metrics.prom");
    ws.run(&["status", "--metrics", metrics.to_str().unwrap()])
        .ok();
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.lines().any(
            |l| l.starts_with("promoter_last_publish_timestamp_seconds{")
                && l.contains("target=\"images\"")
                && l.contains(&full)
        ),
        "{text}"
    );
    // Nothing new: nothing published again.
    ws.run(&["run", "--wait"]).ok();
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM publications"), 2);
    // Without --hash, publish takes the newest promotion naming the target.
    ws.run(&["publish", "--target", "images"]).ok();
    ws.run(&["publish", "--target", "nope"]).code(3);
}

/// An rsync daemon on 127.0.0.1 serving `root` as module `mod`.
pub(crate) struct Daemon {
    child: std::process::Child,
    pub(crate) port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn rsync_daemon(root: &Path, work: &Path) -> Option<Daemon> {
    if Command::new("rsync").arg("--version").output().is_err() {
        if std::env::var_os("PROMOTER_SKIP_RSYNC").is_some() {
            eprintln!("skipped: rsync is not installed (PROMOTER_SKIP_RSYNC is set)");
            return None;
        }
        panic!("rsync is not installed: scripts/test.sh installs it");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = work.join("rsyncd.conf");
    std::fs::write(
        &conf,
        format!(
            "use chroot = no\nmunge symlinks = no\npid file = {}\n[mod]\n  path = {}\n  read only = no\n  uid = root\n  gid = root\n",
            work.join("rsyncd.pid").display(),
            root.display()
        ),
    )
    .unwrap();
    let child = Command::new("rsync")
        .args(["--daemon", "--no-detach", "--address=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--config={}", conf.display()))
        .spawn()
        .unwrap();
    // Ready when it accepts a connection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the rsync daemon did not start"
        );
        std::thread::yield_now();
    }
    Some(Daemon { child, port })
}

#[test]
fn a_remote_target_round_trips_through_an_rsync_daemon() {
    let ws = published();
    let remote = ws.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let Some(daemon) = rsync_daemon(&remote, ws.path()) else {
        return;
    };
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: images
promotions:
  current-tripleo:
    candidate_label: consistent
    criteria: [consistent]
    publish: [cdn]
publish:
  cdn:
    source: trunk
    dest: rsync://127.0.0.1:{}/mod/centos/7/rdo-trunk-master-tested
    keep: 2
",
        daemon.port
    ));
    let (dir, old) = consistent(&ws, 1);
    let (_, new) = consistent(&ws, 0);
    ws.run(&["publish", "--target", "cdn", "--hash", &old]).ok();
    let dest = remote.join("centos/7/rdo-trunk-master-tested");
    assert_eq!(
        std::fs::read_link(&dest).unwrap(),
        PathBuf::from(format!(".rdo-trunk-master-tested.versions/{old}"))
    );
    let out = sh(&dest, "sha256sum -c --quiet SHA256SUMS");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut shown = files(&dest);
    shown.retain(|(p, _)| p != "SHA256SUMS");
    assert_eq!(shown, files(&ws.trunk().join(&dir)));
    ws.run(&["publish", "--target", "cdn", "--hash", &new]).ok();
    assert!(std::fs::read_link(&dest).unwrap().ends_with(&new));
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
    // --link-dest: an RPM both builds share is one file on the remote.
    let versions = remote.join("centos/7/.rdo-trunk-master-tested.versions");
    let mut shared = 0;
    for e in std::fs::read_dir(versions.join(&new)).unwrap() {
        let name = e.unwrap().file_name();
        let (a, b) = (
            versions.join(&old).join(&name),
            versions.join(&new).join(&name),
        );
        if name.to_string_lossy().ends_with(".rpm")
            && a.exists()
            && std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap()
        {
            assert_eq!(
                std::fs::metadata(a).unwrap().ino(),
                std::fs::metadata(b).unwrap().ino()
            );
            shared += 1;
        }
    }
    assert!(shared > 0);
    // keep: 2 applies on the remote too: the oldest version is gone there.
    let (_, third) = consistent(&ws, 2);
    ws.run(&["publish", "--target", "cdn", "--hash", &third])
        .ok();
    let mut left: Vec<String> = std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want = vec![new.clone(), third.clone()];
    want.sort();
    assert_eq!(left, want, "the current version and the one before it stay");
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
    // What the remote serves, checked from here: clean, then one file
    // changed on the remote is found.
    let remote_dest = format!(
        "rsync://127.0.0.1:{}/mod/centos/7/rdo-trunk-master-tested",
        daemon.port
    );
    let r = ws.run(&["verify", "--remote", &remote_dest]);
    r.ok();
    assert!(
        r.stdout.contains("0 missing, 0 changed, 0 extra"),
        "{}",
        r.stdout
    );
    let served = std::fs::canonicalize(&dest).unwrap();
    let repo = served.join("delorean.repo");
    let mut perms = std::fs::metadata(&repo).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&repo, perms).unwrap();
    std::fs::write(&repo, "[delorean]\nbaseurl=http://elsewhere\n").unwrap();
    let r = ws.run(&["verify", "--remote", &remote_dest]);
    r.code(1);
    assert!(r.stdout.contains("changed  delorean.repo"), "{}", r.stdout);
    ws.run(&["verify", "--remote", "/not/remote"]).code(2);
}

#[test]
fn republishing_a_build_whose_files_changed_publishes_the_new_files() {
    let ws = published();
    let (_, full) = consistent(&ws, 0);
    ws.run(&["publish", "--target", "images", "--hash", &full])
        .ok();
    let dest = images_dest(&ws);
    // The image is rebuilt (run --rerun build-images), same build.
    rebuild_image(&ws.images().join(&full));
    ws.run(&["publish", "--target", "images", "--hash", &full])
        .ok();
    assert_eq!(
        std::fs::read(dest.join("overcloud-full.tar")).unwrap(),
        b"rebuilt image\n"
    );
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
    let out = sh(&dest, "md5sum -c overcloud-full.tar.md5");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Nothing changed since: the version is reused as it is.
    let shown = std::fs::read_link(&dest).unwrap();
    ws.run(&["publish", "--target", "images", "--hash", &full])
        .ok();
    assert_eq!(std::fs::read_link(&dest).unwrap(), shown);
}

/// The names in a target's versions directory (indexes and partials aside).
fn version_names(versions: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(versions)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Publishes A, rebuilds A's image and publishes it again (version `A.2`),
/// then publishes B: the steps of the retention regression, for any target
/// `target` whose source is the image tree. Returns (A, B).
/// The image builder runs again: a new overcloud-full.tar, and the .md5
/// it writes beside it.
fn rebuild_image(dir: &Path) {
    std::fs::write(dir.join("overcloud-full.tar"), "rebuilt image\n").unwrap();
    let md5 = sh(dir, "md5sum overcloud-full.tar");
    std::fs::write(dir.join("overcloud-full.tar.md5"), md5.stdout).unwrap();
}

fn publish_rebuilt_then_other(ws: &Workspace, target: &str) -> (String, String) {
    let (dir_a, a) = consistent(ws, 1);
    let (_, b) = consistent(ws, 0);
    let (c, d) = hashes_of(&dir_a);
    ws.repo_promote(&c, &d, "current-tripleo").ok();
    ws.run(&["publish", "--target", target, "--hash", &a]).ok();
    rebuild_image(&ws.images().join(&a));
    ws.run(&["publish", "--target", target, "--hash", &a]).ok();
    ws.run(&["publish", "--target", target, "--hash", &b]).ok();
    (a, b)
}

/// After A, A rebuilt and B were published: the versions kept are `A.2`
/// (A's current bytes) and B; the stale A is of no use to anyone.
#[track_caller]
fn assert_kept_rebuilt(versions: &Path, a: &str, b: &str) {
    assert_eq!(version_names(versions), [format!("{a}.2"), b.to_string()]);
    assert_eq!(
        std::fs::read(versions.join(format!("{a}.2/overcloud-full.tar"))).unwrap(),
        b"rebuilt image\n"
    );
}

#[test]
fn keep_never_removes_the_version_a_labelled_rebuilt_build_is_served_from() {
    let ws = published();
    let (a, b) = publish_rebuilt_then_other(&ws, "images");
    let dest = images_dest(&ws);
    let versions = dest.with_file_name(".delorean.versions");
    assert_kept_rebuilt(&versions, &a, &b);
    // Rolling the target back to A switches to that version, copying nothing.
    let r = ws.run(&["publish", "--target", "images", "--hash", &a, "--json"]);
    r.ok();
    assert_eq!(r.json()["copied_files"], 0, "{}", r.stdout);
    assert_eq!(
        std::fs::read_link(&dest).unwrap(),
        PathBuf::from(format!(".delorean.versions/{a}.2"))
    );
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
}

#[test]
fn keep_on_a_remote_target_never_removes_the_version_a_labelled_rebuilt_build_is_served_from() {
    let ws = published();
    let remote = ws.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let Some(daemon) = rsync_daemon(&remote, ws.path()) else {
        return;
    };
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: images
promotions:
  current-tripleo:
    candidate_label: consistent
    criteria: [consistent]
    publish: [cdn-images]
publish:
  cdn-images:
    source: images
    dest: rsync://127.0.0.1:{}/mod/images/delorean
    keep: 3
",
        daemon.port
    ));
    let (a, b) = publish_rebuilt_then_other(&ws, "cdn-images");
    let dest = remote.join("images/delorean");
    let versions = remote.join("images/.delorean.versions");
    assert_kept_rebuilt(&versions, &a, &b);
    ws.run(&["publish", "--target", "cdn-images", "--hash", &a])
        .ok();
    assert_eq!(
        std::fs::read_link(&dest).unwrap(),
        PathBuf::from(format!(".delorean.versions/{a}.2"))
    );
    ws.run(&["verify", dest.to_str().unwrap()]).ok();
}

/// Copies `dir` (links followed) to `<workspace>/elsewhere/<name>` with a
/// private key added, and leaves a symlink to the copy where it was.
fn replace_with_link_out(ws: &Workspace, dir: &Path) -> PathBuf {
    let outside = ws.path().join("elsewhere").join(dir.file_name().unwrap());
    std::fs::create_dir_all(outside.parent().unwrap()).unwrap();
    let out = Command::new("cp")
        .arg("-rL")
        .arg(dir)
        .arg(&outside)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::write(
        outside.join("id_rsa"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, dir).unwrap();
    outside
}

/// Every path under `dir`, links not followed.
fn all_names(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn publish_refuses_an_image_directory_that_is_a_symlink_out_of_the_image_tree() {
    let ws = published();
    let (_, old) = consistent(&ws, 1);
    let (_, new) = consistent(&ws, 0);
    ws.run(&["publish", "--target", "images", "--hash", &old])
        .ok();
    let before = files(&images_dest(&ws));
    let tree_before = all_names(&ws.path().join("buildlogs"));
    replace_with_link_out(&ws, &ws.images().join(&new));
    let r = ws.run(&["publish", "--target", "images", "--hash", &new]);
    r.code(4)
        .error_says(&format!("images/{new} leads outside the source root"));
    assert_eq!(files(&images_dest(&ws)), before, "dest shows the old build");
    assert_eq!(
        all_names(&ws.path().join("buildlogs")),
        tree_before,
        "nothing written"
    );
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM publications"), 1);
}

#[test]
fn publish_refuses_a_hash_directory_made_a_symlink_out_of_the_trunk_after_import() {
    let ws = published();
    let (dir, full) = consistent(&ws, 0);
    replace_with_link_out(&ws, &ws.trunk().join(&dir));
    let r = ws.run(&["publish", "--target", "tested-repo", "--hash", &full]);
    r.code(4)
        .error_says(&format!("{dir} leads outside the source root"));
    assert!(
        !ws.path().join("buildlogs").exists(),
        "nothing written: {:?}",
        all_names(&ws.path().join("buildlogs"))
    );
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM publications"), 0);
}

#[test]
fn run_does_not_promote_a_build_whose_image_directory_leads_out_of_the_image_tree() {
    let ws = published();
    let (_, full) = consistent(&ws, 0);
    replace_with_link_out(&ws, &ws.images().join(&full));
    let r = ws.run(&["run", "--wait"]);
    assert!(
        r.stderr.contains(&format!(
            "current-tripleo: not promoting: build {full}: its image directory"
        )) && r.stderr.contains("leads outside the image tree"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(ws.link("images/current-tripleo"), None);
    assert_eq!(ws.link("trunk/current-tripleo"), None);
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM promotions"), 0);
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM publications"), 0);
    assert!(!ws.path().join("buildlogs").exists());
    // By hand too.
    let (c, d) = hashes_of(&consistent(&ws, 0).0);
    ws.repo_promote(&c, &d, "current-tripleo")
        .code(4)
        .error_says("leads outside the image tree");
    assert_eq!(ws.link("images/current-tripleo"), None);
}

/// `promoter -c <config> ARGS`, failed if it has not ended within `limit`
/// (a command that blocks forever fails the test instead of hanging it).
fn run_within(ws: &Workspace, args: &[&str], limit: std::time::Duration) -> Run {
    let child = Command::new(BIN)
        .current_dir(ws.path())
        .arg("-c")
        .arg(ws.config())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.unwrap();
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            // SAFETY: the child we started and have not reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("promoter {args:?} still running after {limit:?}");
        }
    }
}

#[test]
fn verify_reports_symlinks_and_fifos_as_such_without_opening_them() {
    let ws = published();
    let (_, full) = consistent(&ws, 0);
    ws.run(&["publish", "--target", "tested-repo", "--hash", &full])
        .ok();
    let copy = ws.path().join("mirror");
    let out = Command::new("cp")
        .arg("-rL")
        .arg(repo_dest(&ws))
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success());
    // A listed file swapped for a link to the same bytes outside the tree.
    let outside = ws.path().join("versions.csv.elsewhere");
    std::fs::copy(copy.join("versions.csv"), &outside).unwrap();
    std::fs::remove_file(copy.join("versions.csv")).unwrap();
    std::os::unix::fs::symlink(&outside, copy.join("versions.csv")).unwrap();
    let limit = std::time::Duration::from_secs(60);
    let r = run_within(&ws, &["verify", copy.to_str().unwrap()], limit);
    r.code(1);
    assert!(
        r.stdout.lines().any(|l| l == "symlink  versions.csv"),
        "{}",
        r.stdout
    );
    // A listed file swapped for a FIFO nobody writes to: opened for
    // reading, it blocks.
    std::fs::remove_file(copy.join("delorean.repo")).unwrap();
    let fifo = std::ffi::CString::new(copy.join("delorean.repo").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    // A link to an endless device, listed in the manifest.
    std::os::unix::fs::symlink("/dev/zero", copy.join("zero")).unwrap();
    let mut manifest = std::fs::read_to_string(copy.join("SHA256SUMS")).unwrap();
    manifest.push_str("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  zero\n");
    std::fs::write(copy.join("SHA256SUMS"), manifest).unwrap();

    let r = run_within(&ws, &["verify", copy.to_str().unwrap()], limit);
    r.code(1);
    for line in [
        "fifo     delorean.repo",
        "symlink  versions.csv",
        "symlink  zero",
    ] {
        assert!(
            r.stdout.lines().any(|l| l == line),
            "{line:?} in\n{}",
            r.stdout
        );
    }
    assert!(
        !r.stdout
            .lines()
            .any(|l| l.starts_with("missing ") || l.starts_with("extra ")),
        "neither missing nor extra, but what they are:\n{}",
        r.stdout
    );
    assert!(
        r.stdout
            .trim_end()
            .ends_with("0 missing, 0 changed, 0 extra, 3 neither a file nor a directory"),
        "{}",
        r.stdout
    );
    let j = run_within(&ws, &["verify", "--json", copy.to_str().unwrap()], limit).json();
    assert_eq!(j["special"][0]["path"], "delorean.repo");
    assert_eq!(j["special"][0]["kind"], "fifo");
    assert_eq!(j["special"][1]["kind"], "symlink");

    // The manifest itself is looked at before it is read.
    std::fs::remove_file(copy.join("SHA256SUMS")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", copy.join("SHA256SUMS")).unwrap();
    let r = run_within(&ws, &["verify", copy.to_str().unwrap()], limit);
    r.code(1);
    assert!(
        r.stdout.lines().any(|l| l == "symlink  SHA256SUMS"),
        "{}",
        r.stdout
    );
}

/// A real RPM, built with rpmbuild: what a real client can install.
fn real_rpm(dir: &Path) -> PathBuf {
    let top = dir.join("rpmbuild");
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    std::fs::write(
        top.join("SPECS/sample.spec"),
        "Name: promoter-sample\nVersion: 1.0\nRelease: 1\nSummary: A package the tests publish\nLicense: MIT\nBuildArch: noarch\n%description\nA package the tests publish.\n%files\n",
    )
    .unwrap();
    let out = Command::new("rpmbuild")
        .args(["-bb", "--quiet", "--define"])
        .arg(format!("_topdir {}", top.display()))
        .arg(top.join("SPECS/sample.spec"))
        .output()
        .expect("rpmbuild is installed: scripts/test.sh installs rpm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    top.join("RPMS/noarch/promoter-sample-1.0-1.noarch.rpm")
}

#[test]
fn a_published_repo_file_points_at_its_tree_and_dnf_lists_the_builds_packages_from_it() {
    let ws = Workspace::sample();
    let dest = repo_dest(&ws);
    let url = format!("file://{}", dest.display());
    ws.write_config(&format!(
        "release: master
trunk: trunk
images: images
publish:
  tested-repo:
    source: trunk
    dest: buildlogs/centos/7/cloud/x86_64/rdo-trunk-master-tested
    url: {url}/
"
    ));
    ws.run(&["import"]).ok();
    let (dir, full) = consistent(&ws, 0);
    // The hash directory holds a real package and real repo metadata.
    let hash_dir = ws.trunk().join(&dir);
    std::fs::copy(
        real_rpm(ws.path()),
        hash_dir.join("promoter-sample-1.0-1.noarch.rpm"),
    )
    .unwrap();
    let made = Command::new("createrepo_c")
        .args(["-q", "--update"])
        .arg(&hash_dir)
        .output()
        .expect("createrepo_c is installed: scripts/test.sh installs createrepo-c");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let before = std::fs::read_to_string(hash_dir.join("delorean.repo")).unwrap();
    assert!(before.contains("baseurl=https://trunk.rdoproject.org/"));
    ws.run(&["publish", "--target", "tested-repo", "--hash", &full])
        .ok();
    let repo = std::fs::read_to_string(dest.join("delorean.repo")).unwrap();
    let baseurls: Vec<&str> = repo.lines().filter(|l| l.starts_with("baseurl=")).collect();
    assert_eq!(baseurls, [format!("baseurl={url}").as_str()], "{repo}");
    assert_eq!(
        std::fs::read_to_string(hash_dir.join("delorean.repo")).unwrap(),
        before,
        "the trunk's own file is left as the builder wrote it"
    );
    let check = sh(&dest, "sha256sum -c --quiet SHA256SUMS");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // A real client, given only the published repo file, finds the
    // build's package in the published tree.
    let client = ws.path().join("client");
    std::fs::create_dir_all(client.join("repos.d")).unwrap();
    std::fs::copy(
        dest.join("delorean.repo"),
        client.join("repos.d/delorean.repo"),
    )
    .unwrap();
    let out = Command::new("dnf")
        .arg("-q")
        .arg(format!("--installroot={}", client.join("root").display()))
        .arg(format!(
            "--setopt=reposdir={}",
            client.join("repos.d").display()
        ))
        .arg(format!(
            "--setopt=cachedir={}",
            client.join("cache").display()
        ))
        .args(["--releasever=9", "--disablerepo=*", "--enablerepo=delorean"])
        .args([
            "repoquery",
            "--available",
            "--qf",
            "%{name}-%{version}-%{release}",
        ])
        .output()
        .expect("dnf is installed: scripts/test.sh installs dnf");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.lines().any(|l| l == "promoter-sample-1.0-1"),
        "dnf listed {listed:?}; {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without url:, config check warns that users would download from the trunk.
    let cfg = std::fs::read_to_string(ws.config()).unwrap();
    ws.write_config(&cfg.replace(&format!("    url: {url}/\n"), ""));
    let r = ws.run(&["config", "check"]);
    r.ok();
    assert!(
        r.stderr
            .contains("publish.tested-repo.source: a trunk target without url:"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_rollback_republishes_the_targets_of_the_promotion_it_took_back() {
    let ws = published();
    let (old_dir, old) = consistent(&ws, 1);
    let (_, new) = consistent(&ws, 0);
    let (commit, distro) = hashes_of(&old_dir);
    ws.repo_promote(&commit, &distro, "current-tripleo").ok();
    ws.run(&["run", "--wait"]).ok();
    let shown = |dest: &Path| {
        std::fs::read_link(dest)
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(
        shown(&repo_dest(&ws)),
        new,
        "the run published the new build"
    );
    assert_eq!(shown(&images_dest(&ws)), new);
    let r = ws.run(&[
        "rollback",
        "--promotion",
        "current-tripleo",
        "--reason",
        "broke CI",
    ]);
    r.ok();
    assert!(
        r.stdout.contains(&format!("back from {new} to {old}")),
        "{}",
        r.stdout
    );
    // Before it returned, both trees went back too.
    assert_eq!(shown(&repo_dest(&ws)), old, "{}", r.stderr);
    assert_eq!(shown(&images_dest(&ws)), old);
    let check = sh(&repo_dest(&ws), "sha256sum -c --quiet SHA256SUMS");
    assert!(check.status.success());
    let published: i64 = ws.sql(&format!(
        "SELECT count(*) FROM publications WHERE full_hash = '{old}'"
    ));
    assert_eq!(published, 2, "recorded for both targets");
}

#[test]
fn a_corrupted_image_blocks_its_build_nothing_moves_and_nothing_is_published() {
    let ws = published();
    let (dir, full) = consistent(&ws, 0);
    let image = ws.images().join(&full).join("overcloud-full.tar");
    let expected = std::fs::read_to_string(ws.images().join(&full).join("overcloud-full.tar.md5"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Corrupted after its builder wrote the .md5.
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&image, &bytes).unwrap();
    let found =
        String::from_utf8(sh(image.parent().unwrap(), "md5sum overcloud-full.tar").stdout).unwrap();
    let found = found.split_whitespace().next().unwrap();
    let r = ws.run(&["run", "--wait"]);
    r.ok();
    assert!(ws.link("trunk/current-tripleo").is_none(), "{}", r.stderr);
    assert!(ws.link("images/current-tripleo").is_none());
    assert!(!repo_dest(&ws).exists() && !images_dest(&ws).exists());
    let why = ws.run(&["why", "--promotion", "current-tripleo"]);
    let first = why.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!("current-tripleo: {full} is blocked: its images: image overcloud-full.tar: md5 expected {expected} (its overcloud-full.tar.md5), found {found}")
    );
    let status = ws.run(&["status"]);
    let line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("current-tripleo "))
        .unwrap();
    assert!(
        line.contains("blocked: its images: image overcloud-full.tar: md5 expected"),
        "{line}"
    );
    // The page's criteria grid says blocked too.
    let page = ws.path().join("status.html");
    ws.run(&["status", "--html", page.to_str().unwrap()]).ok();
    let html = std::fs::read_to_string(&page).unwrap();
    let column = html
        .split("data-hash=\"")
        .find(|c| c.starts_with(&full))
        .unwrap_or_else(|| panic!("no column for {full}"));
    let head = &column[..column.find("</th>").unwrap()];
    assert!(head.contains("verdict blocked"), "{head}");
    // By hand neither: repo-promote is refused, publish fails, nothing written.
    let (commit, distro) = hashes_of(&dir);
    ws.repo_promote(&commit, &distro, "current-tripleo")
        .code(4)
        .error_says("image overcloud-full.tar: md5 expected");
    assert!(ws.link("trunk/current-tripleo").is_none());
    let r = ws.run(&["publish", "--target", "images", "--hash", &full]);
    r.code(1);
    assert!(
        r.stderr
            .contains("caused by: overcloud-full.tar: md5 expected"),
        "{}",
        r.stderr
    );
    assert!(!images_dest(&ws).exists());
    assert_eq!(ws.sql::<i64>("SELECT count(*) FROM promotions"), 0);
}

#[test]
fn a_missing_required_image_blocks_and_an_images_promotion_needs_an_image_directory_unless_optional(
) {
    let ws = published();
    let cfg = std::fs::read_to_string(ws.config()).unwrap();
    ws.write_config(&cfg.replace(
        "trunk: trunk\n",
        "trunk: trunk\nimages_required: [undercloud.qcow2]\n",
    ));
    let (_, full) = consistent(&ws, 0);
    ws.run(&["run", "--wait"]).ok();
    assert!(ws.link("trunk/current-tripleo").is_none());
    let why = ws.run(&["why", "--promotion", "current-tripleo"]);
    assert!(
        why.stdout.starts_with(&format!(
            "current-tripleo: {full} is blocked: its images: its image directory lacks undercloud.qcow2"
        )),
        "{}",
        why.stdout
    );
    // A build without an image directory: blocked for a promotion that
    // publishes images, unless it says images: optional.
    ws.write_config(&cfg);
    std::fs::remove_dir_all(ws.images().join(&full)).unwrap();
    ws.run(&["run", "--wait"]).ok();
    assert!(ws.link("trunk/current-tripleo").is_none());
    let why = ws.run(&["why", "--promotion", "current-tripleo"]);
    assert!(
        why.stdout.contains("it has no image directory"),
        "{}",
        why.stdout
    );
    ws.write_config(&cfg.replace(
        "    publish: [tested-repo, images]\n",
        "    publish: [tested-repo]\n    images: optional\n",
    ));
    ws.run(&["run", "--wait"]).ok();
    assert!(ws.link("trunk/current-tripleo").is_some());
}
