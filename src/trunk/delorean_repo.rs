//! A `delorean.repo`: the yum repo file DLRN writes into each hash
//! directory, and the aggregate ones it joins from every component's.
//! INI-like: `[section]` headers, then `key=value` lines.

/// One `[section]` of a repo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub id: String,
    pub name: Option<String>,
    pub baseurl: Option<String>,
}

/// Parses a repo file; the error says what is wrong, for a warning.
pub fn parse(text: &str) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let id = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: a section header without ']'", i + 1))?;
            if id.is_empty() {
                return Err(format!("line {}: an empty section name", i + 1));
            }
            sections.push(Section {
                id: id.to_string(),
                name: None,
                baseurl: None,
            });
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected key=value", i + 1))?;
        let section = sections
            .last_mut()
            .ok_or_else(|| format!("line {}: a key before any [section]", i + 1))?;
        match key.trim() {
            "name" => section.name = Some(value.trim().to_string()),
            "baseurl" => section.baseurl = Some(value.trim().to_string()),
            _ => {}
        }
    }
    if sections.is_empty() {
        return Err("it has no [section]".into());
    }
    Ok(sections)
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
    fn reads_dlrn_component_repo_files() {
        let s = parse(include_str!("../../fixtures/dlrn/generated-delorean.repo")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].id, "delorean-component-tripleo");
        assert_eq!(
            hash_dir_of(s[0].baseurl.as_deref().unwrap()).unwrap(),
            "component/tripleo/eb/fb/ebfb108bf1a19d70aec6c52cdd1952c0e86593fa_642db7af"
        );
    }

    #[test]
    fn reads_a_plain_repo_file() {
        let s = parse(include_str!(
            "../../fixtures/dlrn/centos7-master_tripleo-ci-testing.delorean.repo"
        ))
        .unwrap();
        assert_eq!(
            hash_dir_of(s[0].baseurl.as_deref().unwrap()).unwrap(),
            "54/48/544864ccc03b053317f5408b0c0349a42723ce73_ebb98bd9"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in ["", "baseurl=x", "[open", "[]\n", "[a]\nno equals sign"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(hash_dir_of("x"), None);
        assert_eq!(hash_dir_of("https://h/../../x"), None);
    }
}
