//! An image tree on another host (`images: user@host:/path`, or
//! `ssh://user@host[:port]/path`), as images.rdoproject.org was: a
//! promotion moves `previous-<label>` and `<label>` there with the
//! system's `ssh`, each link made under a temporary name and renamed over
//! the old one (atomic there too), then read back. Every call runs through
//! [`crate::exec`] within `push_timeout`.

use std::time::Duration;

use crate::exec::{self, shell_quote as quote};

/// A remote image tree and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTree {
    /// The ssh command and its options (the config's `ssh:`).
    pub ssh: Vec<String>,
    /// `user@host` or `host`.
    pub host: String,
    pub port: Option<u16>,
    /// The tree's absolute path there.
    pub path: String,
    pub timeout: Duration,
    pub grace: Duration,
}

/// How long a look at the remote tree (a link, a directory) may take: it
/// runs while the release's lock is held.
const LOOK_TIMEOUT: Duration = Duration::from_secs(60);

impl SshTree {
    /// How the tree is written in the config and in messages.
    pub fn shown(&self) -> String {
        match self.port {
            Some(p) => format!("ssh://{}:{p}{}", self.host, self.path),
            None => format!("{}:{}", self.host, self.path),
        }
    }

    /// Runs `script` in the tree's directory on the host; its stdout, or
    /// why it failed (ssh's or the script's last words).
    fn run(&self, script: &str) -> Result<String, String> {
        self.run_within(script, self.timeout.min(LOOK_TIMEOUT))
    }

    /// Runs `script` there within `timeout`.
    fn run_within(&self, script: &str, timeout: Duration) -> Result<String, String> {
        let mut args: Vec<String> = self.ssh[1..].to_vec();
        if let Some(p) = self.port {
            args.push("-p".into());
            args.push(p.to_string());
        }
        args.push("--".into());
        args.push(self.host.clone());
        args.push(format!("cd {} && {script}", quote(&self.path)));
        let (ended, out) = exec::output(&self.ssh[0], args, &[], timeout, self.grace)?;
        if ended.passed() {
            Ok(out)
        } else {
            let last = out.lines().last().unwrap_or("").trim().to_string();
            Err(format!("ssh to {} {ended}: {last}", self.host))
        }
    }

    /// Where link `name` points, if it is a link.
    pub fn readlink(&self, name: &str) -> Result<Option<String>, String> {
        let n = quote(name);
        let out = self.run(&format!(
            "if [ -L {n} ]; then printf 'L%s\\n' \"$(readlink -- {n})\"; else echo N; fi"
        ))?;
        match out.lines().last() {
            Some(l) if l.starts_with('L') => Ok(Some(l[1..].to_string())),
            Some("N") => Ok(None),
            other => Err(format!("unexpected answer from {}: {other:?}", self.host)),
        }
    }

    /// Whether the build's image directory `full_hash` is there.
    pub fn has_dir(&self, full_hash: &str) -> Result<bool, String> {
        let out = self.run(&format!(
            "if [ -d {} ]; then echo yes; else echo no; fi",
            quote(full_hash)
        ))?;
        Ok(out.trim_end().ends_with("yes"))
    }

    /// File `name` of the image directory `full_hash`, at most `limit`
    /// bytes of it; `None` when there is no such file.
    pub fn read_file(
        &self,
        full_hash: &str,
        name: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, String> {
        let q = quote(&format!("{full_hash}/{name}"));
        let out = self.run(&format!(
            "if [ -f {q} ]; then echo Y; head -c {limit} -- {q}; else echo N; fi"
        ))?;
        match out.split_once('\n') {
            Some(("Y", rest)) => Ok(Some(rest.as_bytes().to_vec())),
            Some(("N", _)) => Ok(None),
            _ => Err(format!("unexpected answer from {}", self.host)),
        }
    }

    /// Points `name` at `target`: a link under a temporary name renamed
    /// over the old one, then read back.
    pub fn swap(&self, name: &str, target: &str) -> Result<(), String> {
        let (n, t) = (quote(name), quote(target));
        let tmp = format!("'.{}.tmp-'$$", name.replace('\'', "'\\''"));
        let out = self.run(&format!(
            "ln -sfn -- {t} {tmp} && mv -Tf -- {tmp} {n} && readlink -- {n}"
        ))?;
        match out.lines().last() {
            Some(l) if l == target => Ok(()),
            other => Err(format!(
                "{name} on {} reads {other:?} after the move, not {target}",
                self.host
            )),
        }
    }

    /// Why the build's images there are not as their builder's sidecars
    /// say, if they are not: a missing required file, or `md5sum -c` /
    /// `sha256sum -c` of every sidecar failing.
    pub fn blocked(&self, full_hash: &str, required: &[String]) -> Result<Option<String>, String> {
        let mut script = format!("cd {} || exit 3; st=0; ", quote(full_hash));
        for f in required {
            let q = quote(f);
            script.push_str(&format!(
                "[ -f {q} ] || {{ echo \"its image directory lacks \"{q}\", which images_required names\"; exit 0; }}; "
            ));
        }
        // Each X.md5 checks X itself, whatever name the sidecar gives.
        script.push_str(
            "for s in *.md5 *.sha256; do [ -e \"$s\" ] || continue; \
               case \"$s\" in *.md5) f=${s%.md5}; t=md5sum;; *) f=${s%.sha256}; t=sha256sum;; esac; \
               printf '%s  %s\\n' \"$(cut -d' ' -f1 < \"$s\")\" \"$f\" | $t -c --quiet 2>&1 || st=1; \
             done; [ $st = 0 ] && echo OK; exit 0",
        );
        // Hashing gigabytes takes the time a push may.
        let out = self.run_within(&script, self.timeout)?;
        let last = out.lines().last().unwrap_or("");
        if last == "OK" {
            return Ok(None);
        }
        let said: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        Ok(Some(format!("on {}: {}", self.shown(), said.join("; "))))
    }
}

/// A remote tree as written: (`user@host`, port, absolute path).
pub type Written = (String, Option<u16>, String);

/// Reads an image tree written as `user@host:/path` or
/// `ssh://user@host[:port]/path`; `None` for a local path.
pub fn parse(s: &str) -> Option<Result<Written, String>> {
    if let Some(rest) = s.strip_prefix("ssh://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => return Some(Err(format!("{s:?} has no path after the host"))),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => match p.parse::<u16>() {
                Ok(p) => (h, Some(p)),
                Err(_) => return Some(Err(format!("{s:?}: {p:?} is not a port"))),
            },
            None => (authority, None),
        };
        return Some(check(s, host, port, path));
    }
    let (host, path) = s.split_once(':')?;
    if host.is_empty() || host.contains('/') {
        return None;
    }
    Some(check(s, host, None, path))
}

fn check(
    s: &str,
    host: &str,
    port: Option<u16>,
    path: &str,
) -> Result<(String, Option<u16>, String), String> {
    let user_host = host.rsplit('@').next().unwrap_or("");
    if user_host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\'')
    {
        return Err(format!("{s:?}: the host is not valid"));
    }
    if !path.starts_with('/') {
        return Err(format!("{s:?}: the remote path must be absolute"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{s:?}: the path has control characters"));
    }
    Ok((
        host.to_string(),
        port,
        path.trim_end_matches('/').to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_image_trees_are_read_and_bad_ones_refused() {
        assert_eq!(
            parse("uploader@images.rdoproject.org:/var/www/html/images/master/rdo_trunk/"),
            Some(Ok((
                "uploader@images.rdoproject.org".into(),
                None,
                "/var/www/html/images/master/rdo_trunk".into()
            )))
        );
        assert_eq!(
            parse("ssh://root@127.0.0.1:2222/srv/images"),
            Some(Ok((
                "root@127.0.0.1".into(),
                Some(2222),
                "/srv/images".into()
            )))
        );
        assert_eq!(parse("images"), None);
        assert_eq!(parse("/srv/images"), None);
        assert_eq!(parse("./a:b"), None);
        for bad in [
            "host:relative/path",
            "ssh://host",
            "ssh://h:port/x",
            ":/x",
            "ssh://@/x",
        ] {
            assert!(matches!(parse(bad), Some(Err(_)) | None), "{bad}");
        }
        assert!(matches!(parse("host:relative/path"), Some(Err(_))));
        assert!(matches!(parse("ssh://h:port/x"), Some(Err(_))));
    }
}
