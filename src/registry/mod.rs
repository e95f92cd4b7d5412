//! A client of the OCI distribution API (what Docker's registry, quay.io
//! and docker.io speak): manifests by tag and by digest, blobs checked,
//! mounted from another repository of the same registry or copied between
//! registries, and the registry's authentication (a bearer token from the
//! realm its `WWW-Authenticate` challenge names, or basic), over HTTPS,
//! or plain HTTP for a registry named insecure. Blocking, one request at
//! a time: a promotion is a batch job.
//!
//! Retagging in one registry moves no blob: the manifest's bytes are put
//! under the new tag. Copying to another registry sends only what it
//! lacks: the whole manifest is skipped when the target has its digest,
//! else each blob it lacks is mounted or uploaded, children of an index
//! first, the manifest last.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

pub mod auth;
pub mod manifest;

pub use auth::AuthFile;
use auth::Challenge;
pub use manifest::{Manifest, Refs};

/// The largest manifest read (registries refuse larger ones).
const MAX_MANIFEST: u64 = 4 << 20;
/// The largest error or token answer read.
const MAX_SMALL: u64 = 1 << 20;

/// A repository of a registry: `host[:port]` and `namespace/image`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repo {
    pub registry: String,
    pub name: String,
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// How many requests of each kind a client made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub manifest_head: u64,
    pub manifest_get: u64,
    pub manifest_put: u64,
    pub blob_head: u64,
    pub blob_mount: u64,
    pub blob_get: u64,
    pub blob_upload: u64,
    pub token: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.manifest_head
            + self.manifest_get
            + self.manifest_put
            + self.blob_head
            + self.blob_mount
            + self.blob_get
            + self.blob_upload
            + self.token
    }

    /// Blobs sent to a registry (mounted or uploaded).
    pub fn blobs_moved(&self) -> u64 {
        self.blob_mount + self.blob_upload
    }
}

/// What the client keeps between requests.
#[derive(Default)]
struct State {
    /// How each registry asked to be authenticated.
    challenges: HashMap<String, Challenge>,
    /// Bearer tokens by (registry, scope).
    tokens: HashMap<(String, String), String>,
    counts: Counts,
}

/// A registry client.
pub struct Client {
    agent: ureq::Agent,
    auth: AuthFile,
    insecure: Vec<String>,
    state: RefCell<State>,
}

enum Method {
    Head,
    Get,
    Put,
    Post,
}

enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    File(&'a File),
}

type Response = ureq::http::Response<ureq::Body>;

/// One request: where, with which scope of access, what it sends.
struct Call<'a> {
    method: Method,
    url: String,
    registry: &'a str,
    /// Token scopes: `repository:<name>:pull[,push]`, one or more.
    scopes: Vec<String>,
    headers: Vec<(&'static str, String)>,
    body: Body<'a>,
}

impl Client {
    /// A client with the credentials of `auth` that speaks plain HTTP to
    /// the registries of `insecure`.
    pub fn new(auth: AuthFile, insecure: Vec<String>, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(timeout))
            .user_agent(concat!("promoter/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            auth,
            insecure,
            state: RefCell::default(),
        }
    }

    /// The requests made so far.
    pub fn counts(&self) -> Counts {
        self.state.borrow().counts
    }

    fn base(&self, registry: &str) -> String {
        let scheme = if self.insecure.iter().any(|h| h == registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{registry}")
    }

    fn url(&self, repo: &Repo, kind: &str, reference: &str) -> String {
        format!(
            "{}/v2/{}/{kind}/{reference}",
            self.base(&repo.registry),
            repo.name
        )
    }

    /// The digest `reference` (a tag or a digest) names in `repo`; `None`
    /// when there is no such manifest.
    pub fn manifest_digest(&self, repo: &Repo, reference: &str) -> Result<Option<String>, String> {
        self.count(|c| c.manifest_head += 1);
        let resp = self.send(Call {
            method: Method::Head,
            url: self.url(repo, "manifests", reference),
            registry: &repo.registry,
            scopes: vec![pull(repo)],
            headers: vec![("Accept", manifest::ACCEPT.into())],
            body: Body::Empty,
        })?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(failure(&format!("HEAD {repo}:{reference}"), resp)),
        }
        if let Some(d) = header(&resp, "docker-content-digest").filter(|d| manifest::is_digest(d)) {
            return Ok(Some(d));
        }
        // Not every registry says the digest on HEAD: the bytes tell.
        Ok(self.get_manifest(repo, reference)?.map(|m| m.digest))
    }

    /// The manifest `reference` names in `repo`, if there is one. One
    /// fetched by digest is checked against it.
    pub fn get_manifest(&self, repo: &Repo, reference: &str) -> Result<Option<Manifest>, String> {
        self.count(|c| c.manifest_get += 1);
        let what = format!("GET {repo}:{reference}");
        let resp = self.send(Call {
            method: Method::Get,
            url: self.url(repo, "manifests", reference),
            registry: &repo.registry,
            scopes: vec![pull(repo)],
            headers: vec![("Accept", manifest::ACCEPT.into())],
            body: Body::Empty,
        })?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(failure(&what, resp)),
        }
        let content_type = header(&resp, "content-type");
        let bytes = read_body(resp, MAX_MANIFEST).map_err(|e| format!("{what}: {e}"))?;
        let m = Manifest::new(content_type.as_deref(), bytes)
            .map_err(|e| format!("{repo}:{reference}: {e}"))?;
        if manifest::is_digest(reference) && m.digest != reference {
            return Err(format!(
                "{what}: the registry served a manifest whose digest is {}",
                m.digest
            ));
        }
        Ok(Some(m))
    }

    /// Puts `m`'s bytes under `reference` (a tag, or its digest) in
    /// `repo`. The digest the registry says it stored must be `m`'s.
    pub fn put_manifest(&self, repo: &Repo, reference: &str, m: &Manifest) -> Result<(), String> {
        self.count(|c| c.manifest_put += 1);
        let what = format!("PUT {repo}:{reference}");
        let resp = self.send(Call {
            method: Method::Put,
            url: self.url(repo, "manifests", reference),
            registry: &repo.registry,
            scopes: vec![push(repo)],
            headers: vec![("Content-Type", m.media_type.clone())],
            body: Body::Bytes(&m.bytes),
        })?;
        if !matches!(resp.status().as_u16(), 200 | 201 | 202 | 204) {
            return Err(failure(&what, resp));
        }
        match header(&resp, "docker-content-digest") {
            Some(d) if d != m.digest => Err(format!(
                "{what}: the registry stored digest {d}, not {}",
                m.digest
            )),
            _ => Ok(()),
        }
    }

    /// Whether `repo` has blob `digest`.
    pub fn has_blob(&self, repo: &Repo, digest: &str) -> Result<bool, String> {
        self.count(|c| c.blob_head += 1);
        let resp = self.send(Call {
            method: Method::Head,
            url: self.url(repo, "blobs", digest),
            registry: &repo.registry,
            scopes: vec![pull(repo)],
            headers: Vec::new(),
            body: Body::Empty,
        })?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(failure(&format!("HEAD {repo} blob {digest}"), resp)),
        }
    }

    /// Makes sure `dst` holds everything `m` (of `src`) refers to: nothing
    /// when it has the manifest already; else each blob it lacks, and each
    /// child of an index (put by its digest), before the caller puts `m`.
    pub fn copy_content(&self, src: &Repo, dst: &Repo, m: &Manifest) -> Result<(), String> {
        if self.manifest_digest(dst, &m.digest)?.is_some() {
            return Ok(());
        }
        match m.refs().map_err(|e| format!("{src}@{}: {e}", m.digest))? {
            Refs::Index(children) => {
                for c in children {
                    let child = self.get_manifest(src, &c)?.ok_or_else(|| {
                        format!("{src} lacks {c}, a manifest of its index {}", m.digest)
                    })?;
                    self.copy_content(src, dst, &child)?;
                    self.put_manifest(dst, &c, &child)?;
                }
            }
            Refs::Image(blobs) => {
                for b in blobs {
                    self.copy_blob(src, dst, &b)?;
                }
            }
        }
        Ok(())
    }

    /// Gives `dst` blob `digest` of `src` unless it has it: mounted when
    /// both are in one registry, else fetched (and checked) and uploaded.
    fn copy_blob(&self, src: &Repo, dst: &Repo, digest: &str) -> Result<(), String> {
        if self.has_blob(dst, digest)? {
            return Ok(());
        }
        let mut location = None;
        if src.registry == dst.registry {
            match self.mount(src, dst, digest)? {
                None => return Ok(()),
                Some(l) => location = Some(l),
            }
        }
        let file = self.fetch_blob(src, digest)?;
        self.upload(dst, digest, &file, location)
    }

    /// Mounts `digest` of `src` into `dst` (one registry); `None` when
    /// mounted, else the upload the registry started instead.
    fn mount(&self, src: &Repo, dst: &Repo, digest: &str) -> Result<Option<String>, String> {
        self.count(|c| c.blob_mount += 1);
        let what = format!("mount of {digest} from {src} into {dst}");
        let resp = self.send(Call {
            method: Method::Post,
            url: format!(
                "{}/v2/{}/blobs/uploads/?mount={digest}&from={}",
                self.base(&dst.registry),
                dst.name,
                src.name
            ),
            registry: &dst.registry,
            scopes: vec![push(dst), pull(src)],
            headers: Vec::new(),
            body: Body::Empty,
        })?;
        match resp.status().as_u16() {
            201 => Ok(None),
            202 => Ok(Some(self.location(&resp, &dst.registry, &what)?)),
            _ => Err(failure(&what, resp)),
        }
    }

    /// Blob `digest` of `repo` in a temporary file, its bytes checked.
    fn fetch_blob(&self, repo: &Repo, digest: &str) -> Result<File, String> {
        self.count(|c| c.blob_get += 1);
        let what = format!("GET {repo} blob {digest}");
        let resp = self.send(Call {
            method: Method::Get,
            url: self.url(repo, "blobs", digest),
            registry: &repo.registry,
            scopes: vec![pull(repo)],
            headers: Vec::new(),
            body: Body::Empty,
        })?;
        if resp.status().as_u16() != 200 {
            return Err(failure(&what, resp));
        }
        let mut file =
            tempfile::tempfile().map_err(|e| format!("{what}: a temporary file: {e}"))?;
        let mut reader = resp.into_body().into_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf).map_err(|e| format!("{what}: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| format!("{what}: writing a temporary file: {e}"))?;
        }
        let found = format!("sha256:{}", crate::hex::encode(&hasher.finalize()));
        if found != digest {
            return Err(format!("{what}: the bytes served have digest {found}"));
        }
        Ok(file)
    }

    /// Uploads `file` as blob `digest` of `repo`, in one request, into
    /// the upload `location` when one was started.
    fn upload(
        &self,
        repo: &Repo,
        digest: &str,
        file: &File,
        location: Option<String>,
    ) -> Result<(), String> {
        self.count(|c| c.blob_upload += 1);
        let what = format!("upload of {digest} to {repo}");
        let location = match location {
            Some(l) => l,
            None => {
                let resp = self.send(Call {
                    method: Method::Post,
                    url: format!(
                        "{}/v2/{}/blobs/uploads/",
                        self.base(&repo.registry),
                        repo.name
                    ),
                    registry: &repo.registry,
                    scopes: vec![push(repo)],
                    headers: Vec::new(),
                    body: Body::Empty,
                })?;
                if resp.status().as_u16() != 202 {
                    return Err(failure(&what, resp));
                }
                self.location(&resp, &repo.registry, &what)?
            }
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self.send(Call {
            method: Method::Put,
            url: format!("{location}{sep}digest={digest}"),
            registry: &repo.registry,
            scopes: vec![push(repo)],
            headers: vec![("Content-Type", "application/octet-stream".into())],
            body: Body::File(file),
        })?;
        if resp.status().as_u16() != 201 {
            return Err(failure(&what, resp));
        }
        Ok(())
    }

    /// An upload's `Location`, made absolute.
    fn location(&self, resp: &Response, registry: &str, what: &str) -> Result<String, String> {
        let l = header(resp, "location")
            .ok_or_else(|| format!("{what}: the registry gave no upload location"))?;
        Ok(if l.starts_with('/') {
            format!("{}{l}", self.base(registry))
        } else {
            l
        })
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.state.borrow_mut().counts);
    }

    /// Sends `call`, authenticated as its registry asked before; on a 401
    /// learns how (a token for the call's scopes, or basic) and sends it
    /// once more.
    fn send(&self, call: Call) -> Result<Response, String> {
        let scope_key = call.scopes.join(" ");
        for round in 0..2 {
            let authorization = self.authorization(call.registry, &call.scopes, &scope_key)?;
            let resp = self.send_once(&call, authorization.as_deref())?;
            if resp.status().as_u16() != 401 {
                return Ok(resp);
            }
            if round == 1 {
                return Err(format!(
                    "{} {}: refused (401) after authenticating: the auth file's credentials for {} are wrong or lack access",
                    call.method.as_str(),
                    call.url,
                    call.registry
                ));
            }
            let challenge = header(&resp, "www-authenticate")
                .and_then(|h| auth::parse_challenge(&h))
                .ok_or_else(|| {
                    format!(
                        "{} refused the request (401) without a challenge this promoter understands",
                        call.registry
                    )
                })?;
            let mut st = self.state.borrow_mut();
            // A token that no longer serves (expired) is asked for anew.
            st.tokens
                .remove(&(call.registry.to_string(), scope_key.clone()));
            st.challenges.insert(call.registry.to_string(), challenge);
        }
        unreachable!("the loop returns")
    }

    /// The `Authorization` header for a request to `registry`, as it
    /// asked before (fetching a token when needed); none for a registry
    /// that never asked.
    fn authorization(
        &self,
        registry: &str,
        scopes: &[String],
        key: &str,
    ) -> Result<Option<String>, String> {
        let challenge = self.state.borrow().challenges.get(registry).cloned();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => match self.auth.get(registry) {
                Some(c) => Ok(Some(c.basic())),
                None => Err(format!(
                    "{registry} asks for a user and password, and the auth file has none for it"
                )),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let cached = self
                    .state
                    .borrow()
                    .tokens
                    .get(&(registry.to_string(), key.to_string()))
                    .cloned();
                if let Some(t) = cached {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let mut wanted: Vec<String> = scopes.to_vec();
                if let Some(s) = scope.filter(|s| !wanted.contains(s)) {
                    wanted.push(s);
                }
                let token = self.token(registry, &realm, service.as_deref(), &wanted)?;
                self.state
                    .borrow_mut()
                    .tokens
                    .insert((registry.to_string(), key.to_string()), token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// A token from `realm` for `scopes`, with the registry's credentials
    /// when the auth file has them (anonymous otherwise).
    fn token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, String> {
        self.count(|c| c.token += 1);
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        if let Some(s) = service {
            url.push_str(&format!("{sep}service={}", encode(s)));
            sep = '&';
        }
        for s in scopes {
            url.push_str(&format!("{sep}scope={}", encode(s)));
            sep = '&';
        }
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            return Err(format!(
                "{registry}: the token realm {realm:?} is not an http(s) URL"
            ));
        }
        if realm.starts_with("http://") && !self.insecure.iter().any(|h| h == registry) {
            return Err(format!(
                "{registry}: its token realm {realm} is plain HTTP; name the registry under insecure to allow it"
            ));
        }
        let mut req = self.agent.get(&url);
        if let Some(c) = self.auth.get(registry) {
            req = req.header("Authorization", c.basic());
        }
        let what = format!("the token endpoint {realm} of {registry}");
        let resp = req.call().map_err(|e| format!("{what}: {e}"))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(failure(&what, resp));
        }
        let body = read_body(resp, MAX_SMALL).map_err(|e| format!("{what}: {e}"))?;
        auth::token_of(&body).map_err(|e| format!("{what}: {e}"))
    }

    fn send_once(&self, call: &Call, authorization: Option<&str>) -> Result<Response, String> {
        let fail = |e: ureq::Error| format!("{} {}: {e}", call.method.as_str(), call.url);
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut req = $req;
                for (k, v) in &call.headers {
                    req = req.header(*k, v.as_str());
                }
                if let Some(a) = authorization {
                    req = req.header("Authorization", a);
                }
                req
            }};
        }
        match call.method {
            Method::Head => with_headers!(self.agent.head(&call.url))
                .call()
                .map_err(fail),
            Method::Get => with_headers!(self.agent.get(&call.url))
                .call()
                .map_err(fail),
            Method::Put | Method::Post => {
                let req = match call.method {
                    Method::Put => self.agent.put(&call.url),
                    _ => self.agent.post(&call.url),
                };
                let req = with_headers!(req);
                match &call.body {
                    Body::Empty => req.send_empty().map_err(fail),
                    Body::Bytes(b) => req.send(*b).map_err(fail),
                    Body::File(f) => {
                        let mut f: &File = f;
                        f.rewind().map_err(|e| format!("{}: {e}", call.url))?;
                        req.send(f).map_err(fail)
                    }
                }
            }
        }
    }
}

impl Method {
    fn as_str(&self) -> &'static str {
        match self {
            Method::Head => "HEAD",
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

fn pull(repo: &Repo) -> String {
    format!("repository:{}:pull", repo.name)
}

fn push(repo: &Repo) -> String {
    format!("repository:{}:pull,push", repo.name)
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

fn read_body(mut resp: Response, limit: u64) -> Result<Vec<u8>, String> {
    resp.body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| e.to_string())
}

/// Why a request failed: its status and the registry's own words (the
/// distribution API's `{"errors": [{"code", "message"}]}`).
fn failure(what: &str, resp: Response) -> String {
    let status = resp.status().as_u16();
    let body = read_body(resp, MAX_SMALL).unwrap_or_default();
    let said = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let errors = v.get("errors")?.as_array()?.clone();
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    format!("{code}: {msg}")
                })
                .collect();
            Some(parts.join("; "))
        })
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body);
            text.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect()
        });
    if said.is_empty() {
        format!("{what}: the registry answered {status}")
    } else {
        format!("{what}: the registry answered {status} ({said})")
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `h` can name a registry: `host[:port]`.
pub fn check_host(h: &str) -> Result<(), String> {
    if h.contains('/') {
        return Err("not a registry host[:port] (no scheme, no path)".into());
    }
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        || host.starts_with(['.', '-'])
    {
        return Err("not a registry host[:port] (no scheme, no path)".into());
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("{p:?} is not a port"));
        }
    }
    Ok(())
}

/// Whether `n` can name a repository (or a namespace, or an image):
/// lowercase components, each of letters and digits joined by `.`, `_`
/// or `-`, separated by `/`.
pub fn check_repository(n: &str) -> Result<(), String> {
    let ok = n.len() <= 255
        && n.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        });
    if ok {
        Ok(())
    } else {
        Err("not a repository name (lowercase letters, digits, '.', '_', '-', components separated by '/')".into())
    }
}

/// Whether `t` can be a tag: up to 128 of letters, digits, `_`, `.`, `-`,
/// not starting with `.` or `-`.
pub fn check_tag(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !t.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{t:?} cannot be a tag (up to 128 letters, digits, '_', '.', '-')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_repositories_and_tags_are_checked() {
        for ok in ["quay.io", "127.0.0.1:5000", "trunk.registry.rdoproject.org"] {
            assert_eq!(check_host(ok), Ok(()), "{ok}");
        }
        for bad in ["", "https://quay.io", "quay.io/ns", "h:0", "h:x", ".h"] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        for ok in ["tripleomaster", "a/b-c/d_e.f", "openstack-nova-api"] {
            assert_eq!(check_repository(ok), Ok(()), "{ok}");
        }
        for bad in ["", "A", "a//b", "-a", "a-", "a b", "../a"] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
        assert!(check_tag("current-tripleo").is_ok());
        assert!(check_tag(&"a".repeat(128)).is_ok());
        assert!(check_tag(&"a".repeat(129)).is_err());
        assert!(check_tag("-x").is_err());
        assert!(check_tag("a/b").is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(encode("Docker registry"), "Docker%20registry");
    }
}
