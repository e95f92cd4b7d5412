//! Text from outside (vote urls and notes, users, job ids, reasons, log
//! lines, names a builder chose) as a person's screen or a log record shows
//! it: control characters escaped, so that it cannot clear the screen, set
//! the terminal's title or forge a line of its own. JSON needs none of this
//! (serde escapes) and the HTML page escapes for HTML.

use std::borrow::Cow;
use std::path::Path;

/// `text` with every control character (newlines, escape, DEL, C1) written
/// as a Rust escape (`\n`, `\u{1b}`); borrowed when there is none.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A path as `display` shows it, control characters escaped.
pub fn escaped_path(path: &Path) -> String {
    escaped(&path.display().to_string()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let cases = [
            ("plain text, é and ✓", "plain text, é and ✓"),
            ("a\nb", "a\\nb"),
            ("\x1b[2J\x1b]0;owned\x07", "\\u{1b}[2J\\u{1b}]0;owned\\u{7}"),
            ("tab\there\r", "tab\\there\\r"),
            ("del\u{7f} c1\u{85}", "del\\u{7f} c1\\u{85}"),
        ];
        for (text, want) in cases {
            assert_eq!(escaped(text), want, "{text:?}");
        }
        assert!(matches!(escaped("same"), Cow::Borrowed("same")));
        assert_eq!(escaped_path(Path::new("dir/a\nb")), "dir/a\\nb");
    }
}
