//! A hash directory's `delorean.repo`: the yum/dnf repo file DLRN writes,
//! INI style, one `[section]` per repo followed by `key=value` lines
//! (`name`, `baseurl`, `enabled`, `gpgcheck`, `priority`, …).

/// One `[section]` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSection {
    /// The section name: the repo id (`delorean`, `delorean-component-tripleo`).
    pub id: String,
    pub name: Option<String>,
    /// Every URL of `baseurl` (yum allows several, one per line or separated by spaces).
    pub baseurls: Vec<String>,
    /// `enabled`, yum's way (default: enabled).
    pub enabled: bool,
    pub priority: Option<i64>,
    /// Every key and value, in the order written (`baseurl` included).
    pub options: Vec<(String, String)>,
}

impl RepoSection {
    /// Whether one of the base URLs names the hash directory `repo_dir`
    /// (relative to the trunk root, as in `builds.repo_dir`).
    pub fn points_at(&self, repo_dir: &str) -> bool {
        let want = repo_dir.trim_matches('/');
        !want.is_empty()
            && self.baseurls.iter().any(|u| {
                u.trim_end_matches('/')
                    .strip_suffix(want)
                    .is_some_and(|head| head.ends_with('/'))
            })
    }
}

/// Longest file we read: DLRN's are a few hundred bytes.
const MAX_LEN: usize = 1 << 20;

/// Parses the file; the error says what is wrong and on which line, for a
/// warning.
pub fn parse(text: &str) -> Result<Vec<RepoSection>, String> {
    if text.len() > MAX_LEN {
        return Err(format!("it is {} bytes long, more than 1 MiB", text.len()));
    }
    let mut sections: Vec<RepoSection> = Vec::new();
    // The key whose value an indented line continues.
    let mut continues: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            if let (Some(key), Some(section)) = (&continues, sections.last_mut()) {
                continue_value(section, key, trimmed);
                continue;
            }
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let section = new_section(rest, line_no, &sections)?;
            sections.push(section);
            continues = None;
            continue;
        }
        continues = Some(set_option(&mut sections, trimmed, line_no)?);
    }
    if sections.is_empty() {
        return Err("it has no [repo-id] section".into());
    }
    if let Some(s) = sections.iter().find(|s| s.baseurls.is_empty()) {
        return Err(format!("repo [{}] has no baseurl", s.id));
    }
    Ok(sections)
}

/// Appends an indented line to the value of `key`, the last key set.
fn continue_value(section: &mut RepoSection, key: &str, trimmed: &str) {
    let (_, value) = section
        .options
        .iter_mut()
        .rev()
        .find(|(k, _)| k == key)
        .expect("the continued key was recorded");
    value.push('\n');
    value.push_str(trimmed);
    if key == "baseurl" {
        section.baseurls.extend(urls(trimmed));
    }
}

/// The section a `[id]` header opens (`rest` is what follows the `[`); its
/// id must be one word, and new.
fn new_section(
    rest: &str,
    line_no: usize,
    sections: &[RepoSection],
) -> Result<RepoSection, String> {
    let id = rest
        .strip_suffix(']')
        .ok_or_else(|| format!("line {line_no}: a section header is not closed with ']'"))?
        .trim();
    if id.is_empty() || id.contains(['[', ']']) || id.chars().any(char::is_whitespace) {
        return Err(format!("line {line_no}: {id:?} is not a repo id"));
    }
    if sections.iter().any(|s| s.id == id) {
        return Err(format!("line {line_no}: repo [{id}] appears twice"));
    }
    Ok(RepoSection {
        id: id.to_string(),
        name: None,
        baseurls: Vec::new(),
        enabled: true,
        priority: None,
        options: Vec::new(),
    })
}

/// Records a `key=value` line in the last section; returns the key, which
/// an indented line may continue.
fn set_option(
    sections: &mut [RepoSection],
    trimmed: &str,
    line_no: usize,
) -> Result<String, String> {
    let Some((key, value)) = trimmed.split_once('=') else {
        return Err(format!(
            "line {line_no}: expected [repo-id] or key=value, found {:?}",
            shorten(trimmed)
        ));
    };
    let key = key.trim().to_ascii_lowercase();
    let value = value.trim().to_string();
    if key.is_empty() {
        return Err(format!("line {line_no}: a value without a key"));
    }
    let Some(section) = sections.last_mut() else {
        return Err(format!(
            "line {line_no}: {key}= comes before any [repo-id] section"
        ));
    };
    if section.options.iter().any(|(k, _)| *k == key) {
        return Err(format!(
            "line {line_no}: {key}= is set twice in [{}]",
            section.id
        ));
    }
    apply_known(section, &key, &value, line_no)?;
    section.options.push((key.clone(), value));
    Ok(key)
}

/// Sets the field a key yum knows stands for (`name`, `baseurl`,
/// `enabled`, `priority`); other keys are only kept as options.
fn apply_known(
    section: &mut RepoSection,
    key: &str,
    value: &str,
    line_no: usize,
) -> Result<(), String> {
    match key {
        "name" => section.name = Some(value.to_string()),
        "baseurl" => section.baseurls.extend(urls(value)),
        "enabled" => {
            section.enabled = yum_bool(value).ok_or_else(|| {
                format!("line {line_no}: enabled={value:?} is not 0/1, yes/no or true/false")
            })?
        }
        "priority" => {
            section.priority =
                Some(value.parse().map_err(|_| {
                    format!("line {line_no}: priority={value:?} is not a whole number")
                })?)
        }
        _ => {}
    }
    Ok(())
}

/// The URLs of a `baseurl` value, separated by spaces, commas or lines.
fn urls(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|u| !u.is_empty())
        .map(String::from)
}

/// A yum boolean: 1/0, yes/no, true/false, on/off, any case.
fn yum_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// The first 40 characters, for a message about a line of garbage.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The hash directory (relative to the trunk root) a `baseurl` points at:
/// its last three path components, behind `component/<c>/` when there.
pub fn hash_dir_of(baseurl: &str) -> Option<String> {
    let path = baseurl.trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() < 3 {
        return None;
    }
    let tail = &parts[parts.len() - 3..];
    if tail.iter().any(|p| p.is_empty() || *p == ".." || *p == ".") {
        return None;
    }
    let dir = tail.join("/");
    match parts.iter().rposition(|p| *p == "component") {
        Some(i) if i + 2 == parts.len() - 3 => Some(format!("component/{}/{dir}", parts[i + 1])),
        _ => Some(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_repo_file_dlrn_generates() {
        let s = parse(include_str!("../../fixtures/dlrn/generated-delorean.repo")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].id, "delorean-component-tripleo");
        assert_eq!(
            s[0].name.as_deref(),
            Some("delorean-puppet-apache-ebfb108bf1a19d70aec6c52cdd1952c0e86593fa")
        );
        assert!(s[0].enabled);
        assert_eq!(s[0].priority, Some(1));
        assert!(s[0].points_at(
            "component/tripleo/eb/fb/ebfb108bf1a19d70aec6c52cdd1952c0e86593fa_642db7af"
        ));
        assert!(!s[0].points_at(
            "component/tripleo/eb/fb/ebfb108bf1a19d70aec6c52cdd1952c0e86593fa_00000000"
        ));
        assert_eq!(s[0].options[2], ("enabled".to_string(), "1".to_string()));
    }

    #[test]
    fn every_sample_trunk_repo_file_points_at_its_own_hash_directory() {
        let trunk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/trunk");
        let mut seen = 0;
        for e in walkdir::WalkDir::new(&trunk).follow_links(false) {
            let e = e.unwrap();
            if e.file_name() != "delorean.repo" {
                continue;
            }
            let dir = e.path().parent().unwrap().strip_prefix(&trunk).unwrap();
            let sections = parse(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            assert!(
                sections.iter().any(|s| s.points_at(dir.to_str().unwrap())),
                "{}",
                e.path().display()
            );
            seen += 1;
        }
        assert!(seen > 10);
    }

    #[test]
    fn several_sections_comments_continuations_and_yum_booleans() {
        let text = "# written by hand\n[a]\nbaseurl=http://x/1\n  http://x/2\nenabled = no\n\n; other\n[b]\nBASEURL=http://y/ab/cd/h_1/\nenabled=True\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].baseurls, ["http://x/1", "http://x/2"]);
        assert!(!s[0].enabled);
        assert!(s[1].enabled);
        assert!(s[1].points_at("ab/cd/h_1"));
        assert!(!s[1].points_at("cd/h_1x"));
        assert!(!s[1].points_at(""));
    }

    #[test]
    fn garbage_is_an_error_that_names_the_line() {
        for (bad, says) in [
            ("", "no [repo-id] section"),
            ("baseurl=http://x\n", "line 1: baseurl= comes before"),
            ("[a\nbaseurl=x\n", "line 1: a section header is not closed"),
            ("[]\n", "line 1: \"\" is not a repo id"),
            ("[a b]\nbaseurl=x\n", "is not a repo id"),
            (
                "[a]\nbaseurl=x\n[a]\nbaseurl=y\n",
                "line 3: repo [a] appears twice",
            ),
            (
                "[a]\nbaseurl=x\nbaseurl=y\n",
                "line 3: baseurl= is set twice",
            ),
            ("[a]\nname=x\n", "repo [a] has no baseurl"),
            (
                "[a]\nbaseurl=x\nenabled=maybe\n",
                "line 3: enabled=\"maybe\"",
            ),
            ("[a]\nbaseurl=x\npriority=1e3\n", "line 3: priority=\"1e3\""),
            ("[a]\n=x\n", "line 2: a value without a key"),
            (
                "[a]\nbaseurl=x\n\u{0}\u{1}garbage\n",
                "line 3: expected [repo-id]",
            ),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_baseurl_names_its_hash_directory() {
        assert_eq!(
            hash_dir_of("https://trunk.rdoproject.org/centos9-master/component/tripleo/eb/fb/ebfb108b_642db7af").unwrap(),
            "component/tripleo/eb/fb/ebfb108b_642db7af"
        );
        assert_eq!(
            hash_dir_of("https://trunk.rdoproject.org/centos7/54/48/544864cc_ebb98bd9/").unwrap(),
            "54/48/544864cc_ebb98bd9"
        );
        assert_eq!(hash_dir_of("x"), None);
        assert_eq!(hash_dir_of("https://h/../../x"), None);
    }
}
