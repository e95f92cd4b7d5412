//! Container images in real registries: Debian's `docker-registry`
//! started on 127.0.0.1 (one open, one behind htpasswd basic auth, one
//! behind bearer tokens that a server of this test issues), filled by the
//! test with small real images (a config blob and one layer) through the
//! distribution API, each stopped by pid however the test ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::util::*;

const IMAGES: [&str; 3] = ["nova-api", "heat-api", "keystone"];
const SOURCE_NS: &str = "tripleomaster";
const PUSH_NS: &str = "tripleomastercentos9";
const USER: &str = "pusher";
const PASSWORD: &str = "s3cret";
const LABEL: &str = "tripleo-ci-testing";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// How a registry asks to be authenticated.
#[derive(Clone)]
enum Auth {
    Open,
    /// htpasswd basic auth with USER / PASSWORD.
    Basic,
    /// Bearer tokens from `realm`, signed by the key of `cert`.
    Token {
        realm: String,
        cert: PathBuf,
    },
}

/// A docker-registry on 127.0.0.1.
struct Registry {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    auth: Auth,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether the registry binary is here; a skip is said on stderr.
fn have_registry() -> bool {
    if Path::new("/usr/bin/docker-registry").is_file() {
        return true;
    }
    if std::env::var_os("PROMOTER_SKIP_REGISTRY").is_some() {
        eprintln!("SKIPPED: docker-registry is not installed (PROMOTER_SKIP_REGISTRY is set)");
        return false;
    }
    panic!("docker-registry is not installed: scripts/test.sh installs it");
}

impl Registry {
    fn start(auth: Auth) -> Registry {
        let mut r = Registry {
            dir: tempfile::tempdir().unwrap(),
            child: None,
            port: free_port(),
            auth,
        };
        r.run(false);
        r
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts it on its port and storage, read-only or not, and waits
    /// until it answers.
    fn run(&mut self, readonly: bool) {
        let d = self.dir.path();
        let auth = match &self.auth {
            Auth::Open => String::new(),
            Auth::Basic => {
                let hash = bcrypt::hash(PASSWORD, 4).unwrap();
                std::fs::write(d.join("htpasswd"), format!("{USER}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    d.join("htpasswd").display()
                )
            }
            Auth::Token { realm, cert } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                cert.display()
            ),
        };
        std::fs::write(
            d.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  maintenance:\n    uploadpurging:\n      enabled: false\n    readonly:\n      enabled: {readonly}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n{auth}",
                data = d.join("data").display(),
                port = self.port,
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("registry.log"))
            .unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = ureq_agent()
                .get(&format!("http://{}/v2/", self.host()))
                .call()
                .map(|r| r.status().as_u16());
            if matches!(status, Ok(200 | 401)) {
                break;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("docker-registry exited ({st}): {}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self, readonly: bool) {
        self.stop();
        self.run(readonly);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The Authorization header this test sends it, for `repo`.
    fn authorization(&self, repo: &str) -> Option<String> {
        match &self.auth {
            Auth::Open => None,
            Auth::Basic => Some(basic(USER, PASSWORD)),
            Auth::Token { .. } => Some(format!(
                "Bearer {}",
                TOKEN_KEY.with(|k| k.get().expect("a token key").sign(&[repo.to_string()]))
            )),
        }
    }

    /// The digest tag `tag` of `repo` names, if it is there.
    fn digest(&self, repo: &str, tag: &str) -> Option<String> {
        let mut req = ureq_agent()
            .get(&format!("http://{}/v2/{repo}/manifests/{tag}", self.host()))
            .header("Accept", OCI_MANIFEST);
        if let Some(a) = self.authorization(repo) {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().unwrap();
        match resp.status().as_u16() {
            200 => {
                let body = resp.body_mut().read_to_vec().unwrap();
                Some(sha256(&body))
            }
            404 => None,
            s => panic!(
                "GET {repo}:{tag}: {s}: {}",
                resp.body_mut().read_to_string().unwrap_or_default()
            ),
        }
    }

    /// Pushes a small real image as `repo:tag`: a one-file layer (a tar)
    /// and its config, both naming `seed`. Its manifest digest.
    fn push_image(&self, repo: &str, tag: &str, seed: &str) -> String {
        let mut layer = tar::Builder::new(Vec::new());
        let content = format!("built from {seed}\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        layer
            .append_data(&mut h, "etc/build", content.as_bytes())
            .unwrap();
        let layer = layer.into_inner().unwrap();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"build": seed}},
            "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
        })
        .to_string()
        .into_bytes();
        for blob in [&layer, &config] {
            self.push_blob(repo, blob);
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer.len()}],
        })
        .to_string()
        .into_bytes();
        let mut req = ureq_agent()
            .put(&format!("http://{}/v2/{repo}/manifests/{tag}", self.host()))
            .header("Content-Type", OCI_MANIFEST);
        if let Some(a) = self.authorization(repo) {
            req = req.header("Authorization", a);
        }
        let resp = req.send(&manifest[..]).unwrap();
        assert_eq!(resp.status().as_u16(), 201, "PUT manifest {repo}:{tag}");
        sha256(&manifest)
    }

    fn push_blob(&self, repo: &str, blob: &[u8]) {
        let auth = self.authorization(repo);
        let mut post =
            ureq_agent().post(&format!("http://{}/v2/{repo}/blobs/uploads/", self.host()));
        if let Some(a) = &auth {
            post = post.header("Authorization", a);
        }
        let resp = post.send_empty().unwrap();
        assert_eq!(
            resp.status().as_u16(),
            202,
            "POST upload to {repo}: {}",
            self.log()
        );
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let mut put = ureq_agent().put(&format!("{location}{sep}digest={}", sha256(blob)));
        if let Some(a) = &auth {
            put = put.header("Authorization", a);
        }
        let resp = put.send(blob).unwrap();
        assert_eq!(resp.status().as_u16(), 201, "PUT blob to {repo}");
    }
}

fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The key that signs this thread's tokens (each test is a thread).
struct TokenKey {
    pair: ring::signature::EcdsaKeyPair,
    kid: String,
}

thread_local! {
    static TOKEN_KEY: std::cell::OnceCell<Arc<TokenKey>> = const { std::cell::OnceCell::new() };
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl TokenKey {
    /// A P-256 key and its self-signed certificate (written to `cert`).
    fn make(cert: &Path) -> TokenKey {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["token-issuer".to_string()]).unwrap();
        let c = params.self_signed(&key).unwrap();
        std::fs::write(cert, c.pem()).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .unwrap();
        TokenKey {
            pair,
            kid: key_id(&rcgen::PublicKeyData::subject_public_key_info(&key)),
        }
    }

    /// An ES256 token granting pull and push on `repos`.
    fn sign(&self, repos: &[String]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "kid": self.kid});
        let access: Vec<serde_json::Value> = repos
            .iter()
            .map(|r| serde_json::json!({"type": "repository", "name": r, "actions": ["pull", "push"]}))
            .collect();
        let claims = serde_json::json!({
            "iss": "test-issuer", "sub": USER, "aud": "test-registry",
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", repos.len()),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = self
            .pair
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64url(sig.as_ref()))
    }
}

/// The key id the registry gives a trusted key (libtrust's): the sha256
/// of its DER public key, cut to 240 bits, in base32, in groups of four.
fn key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(spki_der);
    let bits = &digest[..30];
    let mut out = String::new();
    let (mut acc, mut n) = (0u32, 0);
    for &b in bits {
        acc = (acc << 8) | b as u32;
        n += 8;
        while n >= 5 {
            out.push(ALPHABET[((acc >> (n - 5)) & 31) as usize] as char);
            n -= 5;
        }
    }
    out.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

/// A token endpoint on 127.0.0.1: grants what each request's `scope`s
/// ask to a caller with USER / PASSWORD, refuses others (401).
struct TokenServer {
    port: u16,
    granted: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl TokenServer {
    fn start(key: Arc<TokenKey>) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let granted = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (g, r) = (granted.clone(), refused.clone());
        // The thread ends with the test process; it serves only loopback.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization")
                            && v.trim() == basic(USER, PASSWORD)
                        {
                            authorized = true;
                        }
                    }
                }
                let target = first.split_whitespace().nth(1).unwrap_or("");
                let query = target.split_once('?').map(|q| q.1).unwrap_or("");
                let repos: Vec<String> = query
                    .split('&')
                    .filter_map(|kv| kv.strip_prefix("scope="))
                    .map(|s| {
                        let s = percent_decode(s);
                        let mut parts = s.splitn(3, ':');
                        parts.next();
                        parts.next().unwrap_or("").to_string()
                    })
                    .collect();
                let (status, body) = if authorized {
                    g.fetch_add(1, Ordering::SeqCst);
                    (
                        "200 OK",
                        serde_json::json!({"token": key.sign(&repos), "expires_in": 300})
                            .to_string(),
                    )
                } else {
                    r.fetch_add(1, Ordering::SeqCst);
                    ("401 Unauthorized", "{}".to_string())
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.flush();
                let mut rest = Vec::new();
                let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
                let _ = s.read_to_end(&mut rest);
            }
        });
        TokenServer {
            port,
            granted,
            refused,
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The workspace and its two registries, the config naming them.
struct Setup {
    ws: Workspace,
    source: Registry,
    push: Registry,
    /// The consistent builds, newest first: (commit, distro, full hash).
    builds: Vec<(String, String, String)>,
}

fn config(source: &str, push: &str, images: &[&str]) -> String {
    format!(
        "release: master
trunk: trunk
images: images
containers:
  registry: {source}
  namespace: {SOURCE_NS}
  images: [{images}]
  push:
    - {{registry: {push}, namespace: {PUSH_NS}}}
  auth_file: auth.json
  insecure: [{source}, {push}]
promotions:
  {LABEL}:
    candidate_label: consistent
    criteria: [consistent]
    containers: true
",
        images = images.join(", ")
    )
}

fn auth_json(host: &str, user: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"{auth}\"}}}}}}")
}

impl Setup {
    /// Two registries, the source open and the push one behind basic
    /// auth; the source holds every image of the two newest consistent
    /// builds, except `leave_out`'s of the newest.
    fn new(leave_out: &[&str]) -> Option<Setup> {
        if !have_registry() {
            return None;
        }
        let source = Registry::start(Auth::Open);
        let push = Registry::start(Auth::Basic);
        let ws = Workspace::sample();
        ws.write_config(&config(&source.host(), &push.host(), &IMAGES));
        std::fs::write(
            ws.path().join("auth.json"),
            auth_json(&push.host(), USER, PASSWORD),
        )
        .unwrap();
        ws.run(&["import"]).ok();
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        let mut st = c
            .prepare("SELECT commit_hash, distro_hash, full_hash FROM builds WHERE consistent ORDER BY seq DESC, dt_order DESC LIMIT 2")
            .unwrap();
        let builds: Vec<(String, String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(builds.len(), 2);
        for (i, (_, _, full)) in builds.iter().enumerate() {
            for image in IMAGES {
                if i == 0 && leave_out.contains(&image) {
                    continue;
                }
                source.push_image(
                    &format!("{SOURCE_NS}/{image}"),
                    full,
                    &format!("{image}@{full}"),
                );
            }
        }
        Some(Setup {
            ws,
            source,
            push,
            builds,
        })
    }

    fn newest(&self) -> &str {
        &self.builds[0].2
    }

    /// The digest of `image` at the build's own tag in the source.
    fn built(&self, image: &str, full: &str) -> String {
        self.source
            .digest(&format!("{SOURCE_NS}/{image}"), full)
            .unwrap_or_else(|| panic!("{image}:{full} is in the source"))
    }

    /// Asserts that every image's label tag, in both registries, and its
    /// full-hash tag in the push registry, name the build `full`'s image.
    #[track_caller]
    fn assert_tagged(&self, full: &str) {
        for image in IMAGES {
            let want = self.built(image, full);
            let src = format!("{SOURCE_NS}/{image}");
            let dst = format!("{PUSH_NS}/{image}");
            assert_eq!(
                self.source.digest(&src, LABEL).as_deref(),
                Some(want.as_str()),
                "{src}:{LABEL}"
            );
            assert_eq!(
                self.push.digest(&dst, LABEL).as_deref(),
                Some(want.as_str()),
                "{dst}:{LABEL}"
            );
            assert_eq!(
                self.push.digest(&dst, full).as_deref(),
                Some(want.as_str()),
                "{dst}:{full}"
            );
        }
    }

    fn trunk_link(&self) -> Option<String> {
        self.ws.link(&format!("trunk/{LABEL}"))
    }
}

#[test]
fn a_promotion_tags_every_image_in_both_registries_and_records_the_digests() {
    let Some(s) = Setup::new(&[]) else { return };
    s.ws.run(&["config", "check"]).ok();
    let dry = s.ws.run(&["run", "--dry-run"]);
    dry.ok();
    let src = format!("{}/{SOURCE_NS}/nova-api:{}", s.source.host(), s.newest());
    assert!(
        dry.stdout.contains(&format!("would tag {src} as :{LABEL}")),
        "{}",
        dry.stdout
    );
    assert!(
        s.source
            .digest(&format!("{SOURCE_NS}/nova-api"), LABEL)
            .is_none(),
        "a dry run tags nothing"
    );
    let r = s.ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr.contains("tagged 3 images in 2 registries"),
        "{}",
        r.stderr
    );
    assert!(
        s.trunk_link().unwrap().ends_with(s.newest()),
        "{:?}",
        s.trunk_link()
    );
    s.assert_tagged(s.newest());
    // The table answers which digest each tag named.
    let rows: i64 = s.ws.sql(&format!(
        "SELECT count(*) FROM container_tags_view WHERE name = '{LABEL}' AND full_hash = '{}' AND promoted = 1 AND promotion_id IS NOT NULL",
        s.newest()
    ));
    assert_eq!(
        rows, 9,
        "three images: the label in two registries, the build's tag in the push one"
    );
    let nova: String = s.ws.sql(&format!(
        "SELECT digest FROM container_tags WHERE image = 'nova-api' AND registry = '{}' AND tag = '{LABEL}'",
        s.push.host()
    ));
    assert_eq!(nova, s.built("nova-api", s.newest()));
    let h = s.ws.run(&["history", "--containers", "--json"]);
    h.ok();
    assert_eq!(h.json().as_array().unwrap().len(), 9);
    let text = s.ws.run(&["history", "--containers"]);
    assert!(
        text.stdout
            .contains(&format!("{}/{PUSH_NS}/keystone", s.push.host())),
        "{}",
        text.stdout
    );
}

#[test]
fn a_missing_image_blocks_the_build_and_why_names_it() {
    let Some(s) = Setup::new(&["keystone"]) else {
        return;
    };
    let r = s.ws.run(&["run"]);
    r.ok();
    assert!(r.stderr.contains("keystone"), "{}", r.stderr);
    assert_eq!(s.trunk_link(), None, "the links did not move");
    assert!(
        s.source
            .digest(&format!("{SOURCE_NS}/nova-api"), LABEL)
            .is_none(),
        "no tag moved"
    );
    let why = s.ws.run(&["why", "--promotion", LABEL]);
    why.ok();
    let first = why.stdout.lines().next().unwrap_or("");
    assert!(
        first.contains("blocked")
            && first.contains(&format!(
                "container image keystone not in {}/{SOURCE_NS} at :{}",
                s.source.host(),
                s.newest()
            )),
        "{}",
        why.stdout
    );
    let status = s.ws.run(&["status"]);
    assert!(status.stdout.contains("keystone"), "{}", status.stdout);
    // CI pushes it: the next run asks again and promotes.
    s.source.push_image(
        &format!("{SOURCE_NS}/keystone"),
        s.newest(),
        &format!("keystone@{}", s.newest()),
    );
    s.ws.run(&["run"]).ok();
    assert!(s.trunk_link().unwrap().ends_with(s.newest()));
    s.assert_tagged(s.newest());
}

#[test]
fn a_registry_that_refuses_pushes_stops_the_promotion_and_the_next_run_completes_it() {
    let Some(mut s) = Setup::new(&[]) else { return };
    s.push.restart(true);
    let r = s.ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr.contains("did not promote") && r.stderr.contains(&s.push.host()),
        "{}",
        r.stderr
    );
    assert_eq!(s.trunk_link(), None, "the links did not move");
    assert_eq!(s.ws.link(&format!("images/{LABEL}")), None);
    for image in IMAGES {
        assert!(
            s.source
                .digest(&format!("{SOURCE_NS}/{image}"), LABEL)
                .is_none(),
            "{image}: no label tag moved"
        );
    }
    let stopped: String =
        s.ws.sql("SELECT note FROM attempts ORDER BY id DESC LIMIT 1");
    assert!(stopped.contains("no link moved"), "{stopped}");
    s.push.restart(false);
    s.ws.run(&["run"]).ok();
    assert!(s.trunk_link().unwrap().ends_with(s.newest()));
    s.assert_tagged(s.newest());
}

#[test]
fn wrong_credentials_stop_the_promotion_with_the_links_unmoved() {
    let Some(s) = Setup::new(&[]) else { return };
    std::fs::write(
        s.ws.path().join("auth.json"),
        auth_json(&s.push.host(), USER, "wrong"),
    )
    .unwrap();
    let r = s.ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr.contains("refused (401) after authenticating"),
        "{}",
        r.stderr
    );
    assert_eq!(s.trunk_link(), None);
    std::fs::write(
        s.ws.path().join("auth.json"),
        auth_json(&s.push.host(), USER, PASSWORD),
    )
    .unwrap();
    s.ws.run(&["run"]).ok();
    s.assert_tagged(s.newest());
}

#[test]
fn rollback_and_repo_promote_move_the_tags_with_the_links() {
    let Some(s) = Setup::new(&[]) else { return };
    let (c, d, older) = s.builds[1].clone();
    s.ws.repo_promote(&c, &d, LABEL).ok();
    s.assert_tagged(&older);
    s.ws.run(&["run"]).ok();
    s.assert_tagged(s.newest());
    let r =
        s.ws.run(&["rollback", "--promotion", LABEL, "--reason", "breaks ovb"]);
    r.ok();
    assert!(s.trunk_link().unwrap().ends_with(&older));
    s.assert_tagged(&older);
    let kinds: String = s.ws.sql(&format!(
        "SELECT group_concat(kind) FROM (SELECT kind FROM container_tags_view WHERE image = 'nova-api' AND tag = '{LABEL}' AND registry = '{}' ORDER BY id)",
        s.source.host()
    ));
    assert_eq!(kinds, "manual,promote,rollback");
}

#[test]
#[cfg_attr(
    not(feature = "fault"),
    ignore = "needs the crash hook: cargo test --features fault"
)]
fn a_run_killed_between_two_images_is_completed_by_the_next_run() {
    let Some(s) = Setup::new(&[]) else { return };
    let r =
        s.ws.run_env(&["run"], &[("PROMOTER_FAULT", "after-containers-image@2")]);
    assert_ne!(r.code, 0, "killed: {}", r.stderr);
    assert_eq!(s.trunk_link(), None, "the links did not move");
    let tagged: i64 = s.ws.sql("SELECT count(DISTINCT image) FROM container_tags");
    assert_eq!(tagged, 2, "two images were tagged before the kill");
    let step: String =
        s.ws.sql("SELECT step FROM attempts ORDER BY id DESC LIMIT 1");
    assert_eq!(step, "hooks");
    let r = s.ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr.contains("completing the promotion"),
        "{}",
        r.stderr
    );
    assert!(s.trunk_link().unwrap().ends_with(s.newest()));
    s.assert_tagged(s.newest());
    let attempts: i64 = s.ws.sql("SELECT count(*) FROM attempts");
    assert_eq!(attempts, 1, "completed, not started again");
}

#[test]
fn retagging_in_one_registry_moves_no_blob() {
    if !have_registry() {
        return;
    }
    let source = Registry::start(Auth::Open);
    let ws = Workspace::sample();
    let cfg = config(&source.host(), "unused:1", &IMAGES)
        .replace(
            &format!("  push:\n    - {{registry: unused:1, namespace: {PUSH_NS}}}\n"),
            "",
        )
        .replace("  auth_file: auth.json\n", "");
    ws.write_config(&cfg);
    ws.run(&["import"]).ok();
    let full: String = ws.sql(
        "SELECT full_hash FROM builds WHERE consistent ORDER BY seq DESC, dt_order DESC LIMIT 1",
    );
    for image in IMAGES {
        source.push_image(&format!("{SOURCE_NS}/{image}"), &full, image);
    }
    let r = ws.run(&["run"]);
    r.ok();
    // One look at each image when deciding (remembered), then per image one
    // GET, one PUT and one read-back.
    assert!(
        r.stderr
            .contains("tagged 3 images in 1 registry: 9 requests (3 manifest puts, 0 blobs moved)"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_bearer_token_flow_gets_a_token_from_the_realm_the_registry_names() {
    if !have_registry() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("token-cert.pem");
    let key = Arc::new(TokenKey::make(&cert));
    TOKEN_KEY.with(|k| k.set(key.clone()).ok());
    let tokens = TokenServer::start(key);
    let source = Registry::start(Auth::Open);
    let push = Registry::start(Auth::Token {
        realm: format!("http://127.0.0.1:{}/token", tokens.port),
        cert,
    });
    let ws = Workspace::sample();
    ws.write_config(&config(&source.host(), &push.host(), &IMAGES));
    std::fs::write(
        ws.path().join("auth.json"),
        auth_json(&push.host(), USER, PASSWORD),
    )
    .unwrap();
    ws.run(&["import"]).ok();
    let full: String = ws.sql(
        "SELECT full_hash FROM builds WHERE consistent ORDER BY seq DESC, dt_order DESC LIMIT 1",
    );
    for image in IMAGES {
        source.push_image(&format!("{SOURCE_NS}/{image}"), &full, image);
    }
    let r = ws.run(&["run"]);
    r.ok();
    assert!(
        r.stderr.contains("tagged 3 images in 2 registries"),
        "{}",
        r.stderr
    );
    assert!(
        tokens.granted.load(Ordering::SeqCst) >= 3,
        "a token per repository"
    );
    assert_eq!(tokens.refused.load(Ordering::SeqCst), 0);
    for image in IMAGES {
        let want = source.digest(&format!("{SOURCE_NS}/{image}"), &full);
        assert_eq!(
            push.digest(&format!("{PUSH_NS}/{image}"), LABEL),
            want,
            "{image}"
        );
    }
    // Without the right password the token endpoint refuses: nothing moves.
    std::fs::write(
        ws.path().join("auth.json"),
        auth_json(&push.host(), USER, "wrong"),
    )
    .unwrap();
    let (c, d, _) = {
        let c = rusqlite::Connection::open(ws.db()).unwrap();
        c.query_row(
            "SELECT commit_hash, distro_hash, full_hash FROM builds WHERE consistent ORDER BY seq DESC, dt_order DESC LIMIT 1 OFFSET 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
        )
        .unwrap()
    };
    let older: String = ws.sql("SELECT full_hash FROM builds WHERE consistent ORDER BY seq DESC, dt_order DESC LIMIT 1 OFFSET 1");
    for image in IMAGES {
        source.push_image(
            &format!("{SOURCE_NS}/{image}"),
            &older,
            &format!("{image}-old"),
        );
    }
    let r = ws.repo_promote(&c, &d, LABEL);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("token endpoint"), "{}", r.stderr);
    assert!(tokens.refused.load(Ordering::SeqCst) >= 1);
    let link = ws.link(&format!("trunk/{LABEL}")).unwrap();
    assert!(link.ends_with(&full), "the links did not move: {link}");
}
