//! Registry credentials and the authentication challenge: the
//! containers-auth.json file podman and skopeo write (`{"auths": {"host":
//! {"auth": base64("user:password")}}}`), and the `WWW-Authenticate`
//! header of a 401 (`Bearer realm=…,service=…,scope=…` or `Basic realm=…`).

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;

/// The largest credentials file read.
const MAX_AUTH_FILE: u64 = 1 << 20;

/// A user and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <hidden>)", self.user)
    }
}

impl Credentials {
    /// The value of a `Authorization: Basic` header.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Credentials by registry (`host[:port]`).
#[derive(Debug, Clone, Default)]
pub struct AuthFile {
    by_host: HashMap<String, Credentials>,
}

impl AuthFile {
    /// Reads a containers-auth.json file. Entries may be written as a
    /// bare host or as a URL (`https://host/v1/`, as docker's file has
    /// them); an entry without `auth` (a credential helper's) is skipped.
    pub fn read(path: &Path) -> Result<AuthFile, String> {
        let bytes = crate::input::read(path, MAX_AUTH_FILE)
            .map_err(|e| format!("cannot read the auth file {}: {e}", path.display()))?;
        AuthFile::parse(&bytes).map_err(|e| format!("auth file {}: {e}", path.display()))
    }

    pub fn parse(bytes: &[u8]) -> Result<AuthFile, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let mut by_host = HashMap::new();
        let Some(auths) = doc.get("auths") else {
            return Ok(AuthFile { by_host });
        };
        let auths = auths
            .as_object()
            .ok_or("\"auths\" is not an object of registries")?;
        for (key, entry) in auths {
            let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) else {
                continue;
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| format!("the auth of {key:?} is not base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| format!("the auth of {key:?} is not UTF-8"))?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or_else(|| format!("the auth of {key:?} is not user:password"))?;
            by_host.insert(
                host_of(key),
                Credentials {
                    user: user.into(),
                    password: password.into(),
                },
            );
        }
        Ok(AuthFile { by_host })
    }

    /// The credentials for `host` (`host[:port]`); docker.io's are also
    /// found under its historical names.
    pub fn get(&self, host: &str) -> Option<&Credentials> {
        self.by_host.get(host).or_else(|| match host {
            "docker.io" | "registry-1.docker.io" | "index.docker.io" => self
                .by_host
                .get("docker.io")
                .or_else(|| self.by_host.get("index.docker.io"))
                .or_else(|| self.by_host.get("registry-1.docker.io")),
            _ => None,
        })
    }
}

/// The registry an auth file's key names: `https://host:port/v1/` → `host:port`.
fn host_of(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// What a 401 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// A token from `realm`, for `service`, with the scope the registry
    /// named (if it did).
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

/// Reads a `WWW-Authenticate` header value; `None` for a scheme the
/// registry protocol does not use.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else {
        None
    }
}

/// `a="x, y",b=z` → [(a, "x, y"), (b, z)]: quoted values may hold commas
/// and `\"`.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_string(), value.trim().to_string()));
    }
}

/// The token in a token endpoint's answer (`token`, or OAuth's
/// `access_token`).
pub fn token_of(body: &[u8]) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the token answer is not JSON: {e}"))?;
    v.get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(String::from)
        .ok_or_else(|| "the token answer holds no token".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_challenges_are_read_with_quoted_commas() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm="https://quay.io/v2/auth""#),
            Some(Challenge::Bearer {
                realm: "https://quay.io/v2/auth".into(),
                service: None,
                scope: None,
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None, "no realm");
    }

    #[test]
    fn the_auth_file_gives_each_registry_its_user_and_password() {
        let f = AuthFile::parse(
            br#"{"auths": {"quay.io": {"auth": "dXNlcjpwYTpzcw=="},
                "https://index.docker.io/v1/": {"auth": "ZDpw"},
                "helper.example": {}}}"#,
        )
        .unwrap();
        let q = f.get("quay.io").unwrap();
        assert_eq!((q.user.as_str(), q.password.as_str()), ("user", "pa:ss"));
        assert_eq!(f.get("docker.io").unwrap().user, "d");
        assert!(f.get("helper.example").is_none());
        assert!(f.get("other:5000").is_none());
        assert_eq!(q.basic(), "Basic dXNlcjpwYTpzcw==");
        assert!(AuthFile::parse(b"{").is_err());
        assert!(AuthFile::parse(br#"{"auths": {"h": {"auth": "!!"}}}"#).is_err());
        assert!(AuthFile::parse(br#"{"auths": {"h": {"auth": "bm9jb2xvbg=="}}}"#).is_err());
        assert!(AuthFile::parse(b"{}").unwrap().get("h").is_none());
    }

    #[test]
    fn a_token_answer_gives_token_or_access_token() {
        assert_eq!(token_of(br#"{"token": "a"}"#).unwrap(), "a");
        assert_eq!(token_of(br#"{"access_token": "b"}"#).unwrap(), "b");
        assert!(token_of(br#"{"token": ""}"#).is_err());
        assert!(token_of(b"no").is_err());
    }
}
